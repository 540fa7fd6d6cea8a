"""The one place where a batch calls the engine's fusion path: load, pair, fuse, measure, export.

Every other module of :mod:`engine.batch` deals with plans, workers and files; swapping these
calls for a shared pipeline changes this module only.

Checks a batch adds to the interactive pairing, made before the fusion starts:

* the two scans must not name different patients (PatientID, when both files carry one);
* the scale factor must be known: from the manifest's ``d`` or from the pixel spacing of both
  files. Guessing d from the image sizes is fine when a user looks at the result, not for a
  cohort fused unattended.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..scan import Scan
from .plan import PairingError, PairTask

#: output formats: name -> file suffix (DICOM derived image, or :func:`engine.io.save_image`)
FORMATS = {"dcm": ".dcm", "png": ".png", "tiff": ".tiff", "npy": ".npy"}
#: longest side of the report's thumbnails, in pixels
THUMB_SIDE = 160


def check_pair(mri: Scan, us: Scan, task: PairTask) -> None:
    """The batch's own checks (module docstring); :class:`PairingError` names what is wrong."""
    a, b = mri.info.patient_id, us.info.patient_id
    if a and b and a != b:
        raise PairingError(
            f"The MRI belongs to patient {a} and the ultrasound to patient {b}; "
            "a pair must show one patient."
        )
    if task.d is None:
        for what, scan in (("MRI", mri), ("ultrasound", us)):
            if not scan.info.pixel_spacing_mm:
                raise PairingError(
                    f"The {what} file {scan.name} has no pixel spacing, so the scale factor is "
                    "unknown; give it in the manifest's d column or export the scan with its "
                    "pixel spacing."
                )


def measure(fusion_input, fused: np.ndarray) -> dict[str, float]:
    """The standard fusion metrics of F against A = US and B = MRI upsampled to the US grid,
    each brought to 0..255 by its own min-max (as the viewer's metrics panel does)."""
    from ..metrics import fusion_metrics
    from ..resample import imresize_bicubic

    mri_up = imresize_bicubic(fusion_input.y_m, fusion_input.d)
    values = fusion_metrics(fusion_input.y_u, mri_up, fused, data_range="minmax").standard
    return {key: float(value) for key, value in values.items()}


def write_outputs(
    result, mri: Scan, us: Scan, folder: Path, formats: tuple[str, ...]
) -> list[Path]:
    """The fused image in every format of ``formats``, then a thumbnail; the written paths."""
    from ..dicom import export_derived_dicom
    from ..io import save_image

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        path = folder / f"fused{FORMATS[name]}"
        if name == "dcm":
            written.append(export_derived_dicom(result, mri, us, path))
        else:
            written.append(save_image(path, result.fused, result.provenance()))
    written.append(write_thumbnail(result.fused, folder / "thumb.png"))
    return written


def write_thumbnail(image: np.ndarray, path: Path) -> Path:
    """An 8-bit min-max scaled preview whose longest side is at most :data:`THUMB_SIDE`."""
    from PIL import Image

    lo, hi = float(image.min()), float(image.max())
    scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    thumb = Image.fromarray(np.round(scaled * 255).astype(np.uint8))
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumb.save(path)
    return path


def fuse_pair(task: PairTask, folder: Path, formats: tuple[str, ...]):
    """Load, check, pair, fuse, measure and export one pair.

    Returns ``(metrics, written paths, seconds per stage)``; engine errors propagate.
    """
    from ..commands.fuse import method_params
    from ..io import load_scan
    from ..methods import run as run_method
    from ..pairing import pair_scans

    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[stage] = round(now - started, 4)
        started = now

    params = method_params(task.method, dict(task.overrides), None, None)
    mri, us = load_scan(task.mri), load_scan(task.us)
    check_pair(mri, us, task)
    fusion_input = pair_scans(mri, us, d=task.d)
    lap("load")
    result = run_method(task.method, fusion_input, params)
    lap("fuse")
    metrics = measure(fusion_input, result.fused)
    lap("measure")
    written = write_outputs(result, mri, us, folder, formats)
    lap("export")
    return metrics, written, seconds
