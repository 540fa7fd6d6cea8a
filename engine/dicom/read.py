"""Read one DICOM file into a :class:`~engine.scan.Scan` (single-frame grayscale for now)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanReadError
from ..scan import Scan, ScanInfo, validate_pixels


def _text(ds, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value)


def _first_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value[0]) if hasattr(value, "__len__") and not isinstance(value, str) else float(value)
    except (TypeError, ValueError, IndexError):
        return None


def read_dicom(path: str | Path, frame: int | None = None) -> Scan:
    """Read a DICOM image; the modality LUT (rescale slope/intercept) is applied."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ScanReadError(f"{path.name} is not a readable DICOM file ({exc}).") from exc
    if "PixelData" not in ds:
        raise ScanReadError(f"{path.name} is a DICOM file without an image (no pixel data).")
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken/unsupported pixel data
        raise ScanReadError(f"The image in {path.name} cannot be decoded ({exc}).") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    index = 0
    if frames > 1:
        index = frames // 2 if frame is None else int(frame)
        pixels = pixels[index]
    pixels = apply_modality_lut(pixels, ds)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    info = ScanInfo(
        modality=_text(ds, "Modality"),
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])) if spacing else None,
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        series_instance_uid=_text(ds, "SeriesInstanceUID"),
        series_description=_text(ds, "SeriesDescription"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        window_center=_first_float(ds.get("WindowCenter")),
        window_width=_first_float(ds.get("WindowWidth")),
        frame_count=frames,
        frame_index=index,
    )
    header = ds.copy()
    del header.PixelData
    return Scan(validate_pixels(np.asarray(pixels), f"image in {path.name}"), info, path, header)
