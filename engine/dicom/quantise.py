"""16-bit encoding of a float image for DICOM (``x`` the image, ``lo``/``hi`` its extremes)::

    stored = round((x - lo) / (hi - lo) * 65535)      uint16, MONOCHROME2
    x'     = RescaleSlope * stored + RescaleIntercept  slope = (hi - lo) / 65535, intercept = lo

so a reader that applies the modality LUT gets ``|x' - x| <= slope / 2`` (plus the 16-character
decimal string rounding of slope and intercept, below 1e-9 relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidImageError

#: highest stored value of the 16-bit encoding
STORED_MAX = 65535


@dataclass(frozen=True)
class Quantised:
    stored: np.ndarray
    slope: float
    intercept: float
    lo: float
    hi: float


def quantise(image: np.ndarray) -> Quantised:
    """16-bit stored values and the rescale that maps them back (module docstring).

    Slope and intercept are first rounded to what a decimal string (VR DS) holds, with the
    intercept at or below ``lo`` and ``slope * 65535 + intercept`` at or above ``hi``; the stored
    values are then computed from these rounded numbers, so the half-step bound holds for what
    a reader actually gets back.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise InvalidImageError(
            f"The fused image has shape {image.shape}; a 2-D image is needed for DICOM export."
        )
    if not np.all(np.isfinite(image)):
        raise InvalidImageError(
            "The fused image contains values that are not numbers (NaN or infinite); "
            "run the fusion again before exporting."
        )
    lo, hi = float(image.min()), float(image.max())
    intercept = ds_value(lo)
    nudge = 1e-9 * max(abs(lo), np.finfo(float).tiny)
    while intercept > lo:
        intercept, nudge = ds_value(lo - nudge), 2 * nudge
    if hi > lo:
        slope = ds_value((hi - intercept) / STORED_MAX)
        while slope * STORED_MAX + intercept < hi:
            slope = ds_value(slope * (1 + 1e-9))
        stored = np.clip(np.round((image - intercept) / slope), 0, STORED_MAX)
    else:
        slope = 1.0
        stored = np.round(image - intercept)
    return Quantised(stored.astype(np.uint16), slope, intercept, lo, hi)


def ds_value(value: float) -> float:
    """The float that a 16-character decimal string (VR DS) can hold closest to ``value``."""
    from pydicom.valuerep import format_number_as_ds

    return float(format_number_as_ds(float(value)))


def ds_text(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))
