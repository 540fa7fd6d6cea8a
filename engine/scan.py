"""A loaded scan: float pixels plus what the file knew about them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidImageError

#: Largest side we accept (pixels). Larger arrays are almost certainly not a single 2-D slice.
MAX_SIDE = 8192
#: Smallest side we accept: below this no fusion method has anything to work with.
MIN_SIDE = 4


def size_text(shape: tuple[int, ...]) -> str:
    """An image size as the viewer and every message write it: width x height of an array
    of shape (height, width), e.g. ``"600 x 400 px"``."""
    return f"{shape[1]} x {shape[0]} px"


@dataclass(frozen=True)
class ScanInfo:
    """Metadata a file may carry. Everything is optional; DICOM fills most of it."""

    modality: str | None = None
    #: (row spacing, column spacing) in millimetres, when the file knows it.
    pixel_spacing_mm: tuple[float, float] | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    study_instance_uid: str | None = None
    study_id: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    study_description: str | None = None
    accession_number: str | None = None
    referring_physician_name: str | None = None
    series_instance_uid: str | None = None
    series_description: str | None = None
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    window_center: float | None = None
    window_width: float | None = None
    #: number of frames in the file and which one was taken (multi-frame US cine)
    frame_count: int = 1
    frame_index: int = 0
    #: free-form provenance from non-DICOM files (e.g. PNG text chunks)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scan:
    """One 2-D image ready for fusion.

    ``pixels`` is a float64 (H, W) array in the file's own units (after the DICOM modality LUT);
    ``dataset`` is the DICOM header (pydicom Dataset without pixel data) when the source was DICOM,
    kept so that an exported derived image can reference it.
    """

    pixels: np.ndarray
    info: ScanInfo = field(default_factory=ScanInfo)
    path: Path | None = None
    dataset: Any | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "(in memory)"

    def with_pixels(self, pixels: np.ndarray) -> Scan:
        return replace(self, pixels=pixels)


def validate_pixels(pixels: np.ndarray, what: str = "image") -> np.ndarray:
    """Check that ``pixels`` is a usable 2-D image and return it as float64.

    Raises :class:`InvalidImageError` for empty, non-2-D, huge, non-finite or constant input.
    """
    array = np.asarray(pixels)
    if array.dtype.kind not in "biuf":
        raise InvalidImageError(f"The {what} does not contain numeric pixel values.")
    if array.ndim != 2:
        raise InvalidImageError(
            f"The {what} has {array.ndim} dimensions ({array.shape}); a single 2-D slice is needed."
        )
    if array.size == 0 or min(array.shape) < MIN_SIDE:
        raise InvalidImageError(
            f"The {what} is empty or too small ({size_text(array.shape)})."
        )
    if max(array.shape) > MAX_SIDE:
        raise InvalidImageError(
            f"The {what} is {size_text(array.shape)}, larger than the "
            f"{size_text((MAX_SIDE, MAX_SIDE))} this program handles; crop it to the region of "
            "interest."
        )
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InvalidImageError(
            f"The {what} contains {bad} pixels that are not numbers (NaN or infinite); "
            "re-export it from the scanner or workstation."
        )
    if float(array.max()) == float(array.min()):
        raise InvalidImageError(
            f"The {what} is blank (every pixel equals {float(array.min()):g}); "
            "check that the right series was exported."
        )
    return array
