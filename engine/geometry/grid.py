"""The fusion grid of a pair: the scale factor d, the common field and the resampled MRI.

Frames (see :mod:`engine.geometry`): US pixel (r, c) covers ``[c s_x, (c+1) s_x) x [r s_y, (r+1)
s_y)`` mm and is sampled at its top-left corner ``(c s_x, r s_y)``; the MRI of ``H_m x W_m``
pixels with spacing ``(m_y, m_x)`` is placed with its field centred on the US image region (the
*anchor*, by default the region of interest) ``[x0, x0 + w) x [y0, y0 + h)`` (pixels), its pixel
(i, j) at

    o + (j m_x, i m_y),   o = (x0 s_x + (w s_x - W_m m_x) / 2,  y0 s_y + (h s_y - H_m m_y) / 2).

With the transform T (US mm -> MRI mm) the MRI footprint in the US frame is ``T^-1`` of the MRI
box; the common field is that footprint's inscribed axis-aligned box intersected with the region of
interest, cut to whole multiples of d US pixels: ``h_m d x w_m d`` US pixels starting at
``(r0, c0)``. The MRI on the fusion grid is

    y_m[k, l] = MRI(T(p_kl)),   p_kl = ((c0 + l d) s_x, (r0 + k d) s_y),

so that MRI pixel (k, l) sits on US pixel (r0 + k d, c0 + l d): the decimation of the fusion model
(keep every d-th pixel, starting at the first). Its spacing is exactly ``d`` times the US spacing.
Sampling is a cubic spline (``scipy.ndimage.map_coordinates``, edges repeated) after a Gaussian
anti-aliasing filter of standard deviation ``max(0, (f - 1) / 2)`` MRI pixels when the grid is
``f = d s / m > 1`` times coarser than the MRI (the rule of ``skimage.transform.resize``); when
every sample falls on an MRI pixel the (filtered) values are copied exactly.

d is ``round(sqrt((m_y / s_y) (m_x / s_x)))``, at least 1 (an MRI finer than the US is
downsampled to the US grid), unless the user gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError
from ..scan import MIN_SIDE
from .roi import Roi
from .transform import AffineTransform2D

#: positions closer than this to a whole pixel are taken as that pixel (no interpolation)
ON_PIXEL = 1e-6


def resolve_spacing(
    found: tuple[float, float] | None,
    given: float | tuple[float, float] | None,
    what: str,
    flag: str,
) -> tuple[float, float]:
    """The (row, col) spacing in mm: the user's value, else the file's, else one sentence."""
    if given is not None:
        spacing = (float(given), float(given)) if np.isscalar(given) else tuple(map(float, given))
        if not all(math.isfinite(s) and s > 0 for s in spacing):
            raise GeometryError(f"The {what} pixel spacing must be a positive number of mm.")
        return spacing  # type: ignore[return-value]
    if found is None:
        raise GeometryError(
            f"The {what} file does not say its pixel size; give it in mm with {flag} "
            "(the viewer asks for it in the pairing panel)."
        )
    return found


def choose_scale_factor(mri_spacing: tuple[float, float], us_spacing: tuple[float, float]) -> int:
    """``d = max(1, round(sqrt(r_y r_x)))`` with ``r = m / s`` per axis."""
    ratio = math.sqrt((mri_spacing[0] / us_spacing[0]) * (mri_spacing[1] / us_spacing[1]))
    return max(1, round(ratio))


@dataclass(frozen=True)
class PairGeometry:
    """Everything that places the MRI on the US: spacings (row, col mm), ROI, d and transform."""

    us_spacing: tuple[float, float]
    mri_spacing: tuple[float, float]
    mri_shape: tuple[int, int]
    roi: Roi
    d: int
    transform: AffineTransform2D = AffineTransform2D()
    #: the box the MRI field is centred on (default: ``roi``)
    anchor: Roi | None = None

    @property
    def mri_origin(self) -> np.ndarray:
        """``o`` (x, y) in mm: the MRI field centred on the region of interest."""
        (sy, sx), (my, mx), (hm, wm) = self.us_spacing, self.mri_spacing, self.mri_shape
        roi = self.anchor or self.roi
        return np.array(
            [roi.x * sx + (roi.w * sx - wm * mx) / 2, roi.y * sy + (roi.h * sy - hm * my) / 2]
        )

    @property
    def roi_center(self) -> tuple[float, float]:
        """Centre (x, y) mm of the region of interest: the natural centre of rotation."""
        (sy, sx), roi = self.us_spacing, self.roi
        return (roi.x + roi.w / 2) * sx, (roi.y + roi.h / 2) * sy

    def _footprint(self) -> tuple[float, float, float, float]:
        """Inscribed box (x_lo, x_hi, y_lo, y_hi) mm of the MRI field mapped into the US frame."""
        (my, mx), (hm, wm) = self.mri_spacing, self.mri_shape
        ox, oy = self.mri_origin
        corners = np.array(
            [[ox, oy], [ox + wm * mx, oy], [ox, oy + hm * my], [ox + wm * mx, oy + hm * my]]
        )
        back = self.transform.inverse().apply(corners)
        xs, ys = np.sort(back[:, 0]), np.sort(back[:, 1])
        return xs[1], xs[2], ys[1], ys[2]

    def common_box(self) -> Roi:
        """The US pixels fused: ``h_m d x w_m d`` from ``(r0, c0)``; one sentence when too small."""
        (sy, sx), d, roi = self.us_spacing, self.d, self.roi
        x_lo, x_hi, y_lo, y_hi = self._footprint()
        c0 = max(roi.x, math.ceil(x_lo / sx - ON_PIXEL))
        c1 = min(roi.x + roi.w, math.ceil(x_hi / sx - ON_PIXEL))
        r0 = max(roi.y, math.ceil(y_lo / sy - ON_PIXEL))
        r1 = min(roi.y + roi.h, math.ceil(y_hi / sy - ON_PIXEL))
        w_m, h_m = max(c1 - c0, 0) // d, max(r1 - r0, 0) // d
        if min(w_m, h_m) < MIN_SIDE:
            raise GeometryError(
                f"The MRI and the ultrasound overlap on only {max(c1 - c0, 0) * sx:.1f} x "
                f"{max(r1 - r0, 0) * sy:.1f} mm, less than {MIN_SIDE} MRI pixels a side at d = {d};"
                " check the region of interest and the registration, or lower d."
            )
        return Roi(c0, r0, w_m * d, h_m * d)

    def mri_sample_positions(self, box: Roi) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) MRI pixel coordinates of every fusion-grid pixel, each (h_m, w_m)."""
        (sy, sx), (my, mx), d = self.us_spacing, self.mri_spacing, self.d
        cols = (box.x + d * np.arange(box.w // d)) * sx
        rows = (box.y + d * np.arange(box.h // d)) * sy
        points = np.stack(np.meshgrid(cols, rows, indexing="xy"), axis=-1)
        q = self.transform.apply(points) - self.mri_origin
        return q[..., 1] / my, q[..., 0] / mx

    def sample_mri(self, mri: np.ndarray, box: Roi) -> np.ndarray:
        """``y_m`` on the fusion grid (see module docstring): exact copy, or anti-aliased spline."""
        from scipy import ndimage

        rows, cols = self.mri_sample_positions(box)
        coarser = [self.d * s / m for s, m in zip(self.us_spacing, self.mri_spacing, strict=True)]
        sigma = [(f - 1) / 2 if f > 1 + ON_PIXEL else 0.0 for f in coarser]
        source = ndimage.gaussian_filter(mri, sigma, mode="nearest") if max(sigma) > 0 else mri
        nearest_r, nearest_c = np.rint(rows), np.rint(cols)
        on_pixels = (
            np.max(np.abs(rows - nearest_r)) < ON_PIXEL
            and np.max(np.abs(cols - nearest_c)) < ON_PIXEL
        )
        if on_pixels:
            r = np.clip(nearest_r.astype(int), 0, mri.shape[0] - 1)
            c = np.clip(nearest_c.astype(int), 0, mri.shape[1] - 1)
            return source[r, c].astype(np.float64)
        return ndimage.map_coordinates(source, [rows, cols], order=3, mode="nearest")

    def describe(self) -> str:
        (sy, sx), (my, mx) = self.us_spacing, self.mri_spacing
        return (
            f"US spacing {sx:.4g} x {sy:.4g} mm, MRI spacing {mx:.4g} x {my:.4g} mm resampled "
            f"to {self.d * sx:.4g} x {self.d * sy:.4g} mm (d = {self.d}; width x height)"
        )
