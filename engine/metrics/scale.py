"""How pixels reach the metrics: the 0..255 scale, and the checks every metric relies on.

The fusion literature computes its metrics on 8-bit grey levels (0..255). Constants inside the
definitions (VIF's noise variance 2, the SSIM constants, MI's grey-level classes, PSNR's peak)
assume that scale, so every image is brought to it explicitly by :func:`to_uint8_scale`, with one
rule per dtype and no guessing beyond the rules below:

============================  =====================================================================
input                         becomes (float64, values in 0..255)
============================  =====================================================================
``uint8``                     as is
``uint16``                    ``x / 257`` (65535 -> 255, the scaling of a 16-bit to an 8-bit range)
other integer dtypes          as is when every value lies in 0..255, else :class:`InvalidImageError`
float, all values in [0, 1]   ``x * 255``
float, values in [0, 255]     as is (some value is above 1)
float, any other range        :class:`InvalidImageError`; pass ``data_range``
``data_range=(lo, hi)``       ``(x - lo) / (hi - lo) * 255``; a value outside [lo, hi] is an error
``data_range="minmax"``       ``(x - min) / (max - min) * 255`` (only on request; blank images fail)
``bool``                      :class:`InvalidImageError` (a mask, not an image)
============================  =====================================================================

The one ambiguous case is a float image of 0..255 grey levels whose every value is at most 1 (an
almost black image): the rule reads it as 0..1 and multiplies by 255. Pass ``data_range=(0, 255)``
to say otherwise.

The results stay float64: nothing is rounded here. Metrics that need grey-level classes (EN, the
exact MI) and the seed-compatible set (which saw uint8 arrays) quantise with :func:`quantise_uint8`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..errors import GeometryError, InvalidImageError
from ..scan import size_text

#: ``None`` (the dtype rules), ``"minmax"``, or an explicit ``(low, high)`` of the input's units.
DataRange = Literal["minmax"] | tuple[float, float] | None

#: Smallest side the metrics accept: the 7x7 SSIM window must fit.
MIN_METRIC_SIDE = 7


def to_uint8_scale(
    image: np.ndarray, data_range: DataRange = None, what: str = "image"
) -> np.ndarray:
    """Return ``image`` as float64 on the 0..255 scale, following the table in the module docstring.

    Raises :class:`InvalidImageError` for non-numeric, non-2-D, too small or non-finite input, and
    for values the chosen rule cannot map into 0..255.
    """
    array = np.asarray(image)
    _check_array(array, what)
    if isinstance(data_range, str):
        if data_range != "minmax":
            raise InvalidImageError(
                f"Unknown intensity range {data_range!r} for the {what}; "
                "use 'minmax' or (low, high)."
            )
        return _scale_linear(array.astype(np.float64), *_min_max(array, what))
    if data_range is not None:
        low, high = (float(v) for v in data_range)
        if not high > low:
            raise InvalidImageError(
                f"The intensity range ({low:g}, {high:g}) given for the {what} is empty."
            )
        values = array.astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        if lo < low or hi > high:
            raise InvalidImageError(
                f"The {what} has values {lo:g}..{hi:g}, outside the stated range "
                f"{low:g}..{high:g}; state the range the image really uses."
            )
        return _scale_linear(values, low, high)
    if array.dtype == np.uint8:
        return array.astype(np.float64)
    if array.dtype == np.uint16:
        return array.astype(np.float64) / 257.0
    values = array.astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    if array.dtype.kind in "iu":
        if lo >= 0 and hi <= 255:
            return values
        raise InvalidImageError(
            f"The {what} is {array.dtype} with values {lo:g}..{hi:g}, not 8-bit grey levels; "
            "state its intensity range (e.g. 0..4095) or ask for min-max scaling."
        )
    if lo >= 0 and hi <= 1:
        return values * 255.0
    if lo >= 0 and hi <= 255:
        return values
    raise InvalidImageError(
        f"The {what} holds floating-point values {lo:g}..{hi:g}, neither 0..1 nor 0..255; "
        "state its intensity range or ask for min-max scaling."
    )


def quantise_uint8(scaled: np.ndarray) -> np.ndarray:
    """Round 0..255-scale values to the nearest grey level (ties to even, as ``np.round``)."""
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def check_same_shape(images: dict[str, np.ndarray]) -> None:
    """Raise :class:`GeometryError` unless every image has the same (H, W)."""
    shapes = {name: np.shape(image) for name, image in images.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {size_text(s)}" for name, s in shapes.items() if len(s) == 2)
        raise GeometryError(
            f"The images to compare must have the same size ({listed or shapes}); "
            "resample the sources onto the fused image's grid first."
        )


def _check_array(array: np.ndarray, what: str) -> None:
    if array.dtype == np.bool_:
        raise InvalidImageError(f"The {what} is a binary mask, not a grey-level image.")
    if array.dtype.kind not in "iuf":
        raise InvalidImageError(f"The {what} does not contain numeric pixel values.")
    if array.ndim != 2:
        raise InvalidImageError(
            f"The {what} has {array.ndim} dimensions {array.shape}; "
            "a single 2-D grey image is needed."
        )
    if min(array.shape) < MIN_METRIC_SIDE:
        raise InvalidImageError(
            f"The {what} is {size_text(array.shape)}; the metrics need at least "
            f"{size_text((MIN_METRIC_SIDE, MIN_METRIC_SIDE))}."
        )
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise InvalidImageError(
            f"The {what} contains {bad} pixels that are not numbers (NaN or infinite); "
            "metrics cannot be computed on it."
        )


def _min_max(array: np.ndarray, what: str) -> tuple[float, float]:
    lo, hi = float(array.min()), float(array.max())
    if hi == lo:
        raise InvalidImageError(
            f"The {what} is blank (every pixel equals {lo:g}), so it cannot be min-max scaled."
        )
    return lo, hi


def _scale_linear(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (values - low) * (255.0 / (high - low))
