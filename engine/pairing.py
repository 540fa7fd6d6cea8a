"""Pair an MRI scan with a US scan: the scale factor d and the normalised fusion input.

The MRI grid must be d times coarser than the US grid in both directions, with the same field of
view: ``us.shape == (d * h, d * w)`` for the MRI shape (h, w). d comes, in this order, from the
caller, from the pixel spacings when both files know them (d = round(s_mri / s_us), accepted when
within 5 % of an integer), or from the sizes.
"""

from __future__ import annotations

import numpy as np

from .errors import GeometryError
from .fusion import FusionInput
from .scan import Scan

#: relative deviation of the spacing ratio from an integer that we still accept
SPACING_TOLERANCE = 0.05


def scale_factor_from_spacing(
    mri_spacing: tuple[float, float], us_spacing: tuple[float, float]
) -> int:
    """d = round(s_mri / s_us), identical in both directions and within 5 % of an integer."""
    ratios = [m / u for m, u in zip(mri_spacing, us_spacing, strict=True)]
    factors = [round(r) for r in ratios]
    if factors[0] != factors[1]:
        raise GeometryError(
            f"The MRI/US pixel-size ratio differs between rows and columns ({ratios[0]:.3f} vs "
            f"{ratios[1]:.3f}); resample one scan so that both directions use the same ratio."
        )
    d = factors[0]
    if d < 1 or any(abs(r - d) > SPACING_TOLERANCE * d for r in ratios):
        raise GeometryError(
            f"The MRI pixels are {ratios[0]:.3f} times the US pixels, not a whole number; "
            "resample the MRI to a whole multiple of the US pixel size."
        )
    return d


def scale_factor_from_shapes(mri_shape: tuple[int, int], us_shape: tuple[int, int]) -> int:
    (h, w), (H, W) = mri_shape, us_shape
    if h > H or w > W:
        raise GeometryError(
            f"The MRI ({h}x{w}) is larger than the ultrasound ({H}x{W}); the MRI must be the "
            "coarser scan. Check that the two files were not swapped."
        )
    if H % h or W % w or H // h != W // w:
        raise GeometryError(
            f"The ultrasound ({H}x{W}) is not a whole multiple of the MRI ({h}x{w}) in both "
            "directions; crop both scans to the same field of view."
        )
    return H // h


def normalise_by_max(image: np.ndarray, what: str) -> np.ndarray:
    peak = float(np.max(image))
    if peak <= 0:
        raise GeometryError(f"The {what} has no positive pixel values; it cannot be normalised.")
    return image / peak


def pair_scans(
    mri: Scan, us: Scan, d: int | None = None, clean_us: np.ndarray | None = None
) -> FusionInput:
    """Build the :class:`FusionInput` for an MRI/US pair (see module docstring for d)."""
    from_shapes = scale_factor_from_shapes(mri.shape, us.shape)
    if d is None and mri.info.pixel_spacing_mm and us.info.pixel_spacing_mm:
        d = scale_factor_from_spacing(mri.info.pixel_spacing_mm, us.info.pixel_spacing_mm)
    if d is not None and d != from_shapes:
        raise GeometryError(
            f"The scale factor d = {d} does not match the image sizes (MRI {mri.shape[0]}x"
            f"{mri.shape[1]}, US {us.shape[0]}x{us.shape[1]} give d = {from_shapes})."
        )
    return FusionInput(
        y_m=normalise_by_max(mri.pixels, "MRI"),
        y_u=normalise_by_max(us.pixels, "ultrasound"),
        d=from_shapes,
        mri=mri,
        us=us,
        clean_us=clean_us,
    )
