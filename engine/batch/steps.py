"""The one place where a batch calls the engine's fusion path (:mod:`engine.pipeline`): load,
pair, fuse, measure, export.

Every other module of :mod:`engine.batch` deals with plans, workers and files.

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

#: output formats: name -> file suffix (:func:`engine.pipeline.export` picks the writer by suffix)
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


def write_outputs(record, folder: Path, formats: tuple[str, ...]) -> list[Path]:
    """The record's image in every format of ``formats``, then a thumbnail; the written paths.

    A pair redone after its input changed replaces its earlier files."""
    from ..pipeline import export

    folder.mkdir(parents=True, exist_ok=True)
    written = [export(record, folder / f"fused{FORMATS[name]}", overwrite=True)
               for name in formats]
    written.append(write_thumbnail(record.pixels(), folder / "thumb.png"))
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
    """Load, check, pair, fuse, measure and export one pair (:mod:`engine.pipeline`).

    Returns ``(standard metrics, written paths, seconds per stage)``; engine errors propagate.
    The image written and measured is ``task.image`` (``mri``: the MRI-contrast estimate,
    ``us``: the US-appearance image).
    """
    from .. import pipeline
    from ..methods import get_method
    from ..params import params_with_overrides

    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[stage] = round(now - started, 4)
        started = now

    params = params_with_overrides(get_method(task.method).params_type(), dict(task.overrides))
    mri, us = pipeline.load(task.mri), pipeline.load(task.us)
    check_pair(mri, us, task)
    options = None
    if task.transform is not None:
        from ..geometry.transform import read_transform
        from ..pairing import PairingOptions

        options = PairingOptions(transform=read_transform(task.transform))
    fusion_input = pipeline.pair(mri, us, d=task.d, options=options)
    lap("load")
    record = pipeline.fuse(fusion_input, task.method, params, image=task.image,
                           with_metrics=False)
    lap("fuse")
    measurement = pipeline.measure(record)  # a metric that fails leaves the row's cells empty
    metrics = {key: float(value) for key, value in measurement.standard.items()}
    lap("measure")
    written = write_outputs(record, folder, formats)
    lap("export")
    return metrics, written, seconds
