"""What the registration compares: gradient magnitudes, then the US against an MRI-made US.

US samples whose MRI point lies outside the MRI's valid area (``mri_mask``, eroded by the reach
of the MRI smoothing: features there would mix in pixels that hold no image) are left out of both
metrics and of the link fit, so that those pixels do not change either; by default the valid
area is the MRI's whole grid.

Both feature pairs live in millimetres: the fixed image is the US region of interest sampled every
``step`` US pixels after its smoothing (a finer grid would only repeat what the smoothing
averaged), the moving one is on the MRI grid, placed at ``mri_origin`` with the MRI spacing.

1. **Edges** (``metric="mi"``): the gradient magnitudes
   ``|grad (G_su * U)|`` of the US and ``|grad (G_sm * M)|`` of the MRI (Gaussian derivatives of
   scales ``su`` US pixels and ``sm`` MRI pixels). The US shows echoes where the tissue changes,
   i.e. where the MRI has edges; on real pairs, mutual information of the raw intensities has its
   optimum far from the true pose (a bright MRI region over the bright echoes below it).
2. **Link** (``metric="cc"``): the MRI turned into a pseudo-US with the polynomial link of the
   fusion model, ``f(x, g) = sum_k c_k phi_k(x, g)`` with
   ``phi = (1, x, x^2, x^3, g, g^2, x g)``, ``x = G_sm * M`` and ``g = |grad (G_sm * M)|`` (each
   standardised), the ``c`` fitted by least squares to the smoothed US at the current pose, and
   compared with that US by normalised correlation.
"""

from __future__ import annotations

import functools

import numpy as np

from .geometry.grid import PairGeometry
from .geometry.roi import Roi
from .geometry.transform import AffineTransform2D
from .registration_sitk import FeaturePair, image, inner_mask


class FeatureFrame:
    """The US region of interest and the MRI of one registration, in millimetres."""

    def __init__(
        self,
        us_region: np.ndarray,
        mri: np.ndarray,
        geometry: PairGeometry,
        roi: Roi,
        margin: float,
        mri_mask: np.ndarray | None = None,
        mri_sigma_px: float = 1.0,
    ):
        self.us_region, self.mri, self.geometry, self.margin = us_region, mri, geometry, margin
        #: MRI pixels that hold image content, less the reach of the MRI smoothing (scipy's kernel
        #: stops at 4 sigma) and of the linear interpolation (1 pixel) at their edge; None when
        #: the whole grid does
        reach = 4 * mri_sigma_px + 1
        self.mri_valid = None if mri_mask is None else _eroded(mri_mask, reach)
        (self.sy, self.sx) = geometry.us_spacing
        self.origin = (roi.x * self.sx, roi.y * self.sy)

    def _fixed(self, pixels: np.ndarray, step: int):
        fixed = image(pixels[::step, ::step], (self.sy * step, self.sx * step), self.origin)
        return fixed, inner_mask(pixels[::step, ::step].shape, self.margin, fixed)

    def _moving(self, pixels: np.ndarray):
        return image(pixels, self.geometry.mri_spacing, self.geometry.mri_origin)

    @functools.cached_property
    def _moving_mask(self):
        """``mri_valid`` as a uint8 SimpleITK image on the MRI's grid (built once per frame)."""
        if self.mri_valid is None:
            return None
        return image(self.mri_valid, self.geometry.mri_spacing, self.geometry.mri_origin,
                     dtype=np.uint8)

    def edges(self, us_sigma_px: float, mri_sigma_px: float, step: int) -> FeaturePair:
        """Gradient magnitudes of both (item 1 of the module docstring)."""
        from scipy import ndimage

        fixed, mask = self._fixed(
            ndimage.gaussian_gradient_magnitude(self.us_region, us_sigma_px), step
        )
        moving = self._moving(ndimage.gaussian_gradient_magnitude(self.mri, mri_sigma_px))
        return FeaturePair(fixed, moving, mask, "mi", self._moving_mask)

    def link(
        self, pose: AffineTransform2D, us_sigma_px: float, mri_sigma_px: float, step: int
    ) -> FeaturePair:
        """The smoothed US against the MRI's pseudo-US fitted at ``pose`` (item 2)."""
        from scipy import ndimage

        smooth = ndimage.gaussian_filter(self.us_region, us_sigma_px)
        fixed, mask = self._fixed(smooth, step)
        us = smooth[::step, ::step]
        basis = link_basis(self.mri, mri_sigma_px)
        rows, cols = np.nonzero(_array(mask))
        points = np.stack(
            [self.origin[0] + cols * self.sx * step, self.origin[1] + rows * self.sy * step],
            axis=-1,
        )
        (my, mx) = self.geometry.mri_spacing
        q = (pose.apply(points) - np.asarray(self.geometry.mri_origin)) / np.array([mx, my])
        inside = self._on_mri(q[:, 1], q[:, 0])
        q, rows, cols = q[inside], rows[inside], cols[inside]
        design = np.stack(
            [ndimage.map_coordinates(b, [q[:, 1], q[:, 0]], order=1) for b in basis], axis=-1
        )
        c, *_ = np.linalg.lstsq(design, us[rows, cols], rcond=None)
        pseudo = np.tensordot(c, np.stack(basis), axes=1)
        return FeaturePair(fixed, self._moving(pseudo), mask, "cc", self._moving_mask)

    def _on_mri(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Whether MRI pixel coordinates (r, c) lie on the grid and in its valid area."""
        h, w = self.mri.shape
        inside = (r >= 0) & (r <= h - 1) & (c >= 0) & (c <= w - 1)
        if self.mri_valid is not None:
            near_r = np.clip(np.rint(r), 0, h - 1).astype(int)
            near_c = np.clip(np.rint(c), 0, w - 1).astype(int)
            inside &= self.mri_valid[near_r, near_c]
        return inside


def link_basis(mri: np.ndarray, sigma_px: float) -> list[np.ndarray]:
    """``phi = (1, x, x^2, x^3, g, g^2, x g)`` of the standardised ``x`` and ``g``."""
    from scipy import ndimage

    x = ndimage.gaussian_filter(mri, sigma_px)
    g = ndimage.gaussian_gradient_magnitude(mri, sigma_px)
    x = (x - x.mean()) / (x.std() or 1.0)
    g = (g - g.mean()) / (g.std() or 1.0)
    return [np.ones_like(x), x, x * x, x**3, g, g * g, x * g]


def _array(sitk_image) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk_image)


def _eroded(mask: np.ndarray, pixels: float) -> np.ndarray:
    """``mask`` less every pixel within ``pixels`` of a pixel outside it (the grid's edge is not
    an edge of the content: outside the grid the metric samples nothing anyway)."""
    from scipy import ndimage

    inside = np.asarray(mask, dtype=bool)
    if inside.all():
        return inside
    distance = ndimage.distance_transform_edt(np.pad(inside, 1, constant_values=True))
    return distance[1:-1, 1:-1] > pixels
