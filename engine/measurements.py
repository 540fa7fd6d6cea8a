"""What a reader measures on the images: distances and ellipse / rectangle regions, in mm.

These are the user's calipers, not the quality scores of :mod:`engine.pipeline.measure`.

**Grid.** Coordinates are data units of one named pixel grid (the viewer draws every pane on the
US grid of the pair, see :mod:`app.image_pane`): ``x`` = column, ``y`` = row, and pixel (r, c)
covers ``[c, c+1) x [r, r+1)``, its centre at ``(c + 1/2, r + 1/2)``.

**Calibration.** One grid unit is ``s_r`` mm tall and ``s_c`` mm wide (:class:`Calibration`; the
two may differ). It comes from the file's pixel size as :mod:`engine.dicom.read` found it
(``PixelSpacing`` ..., or the US region calibration ``PhysicalDeltaY/X`` in cm times 10); on the
fusion grid from the US spacing, else the MRI spacing divided by d (:func:`grid_calibration`, the
rule of the viewer's scale bar). Without one every length is in ``px`` and every area in
``px²``: nothing claims millimetres it does not know.

**Distance** between (x0, y0) and (x1, y1)::

    L = sqrt((Δy s_r)^2 + (Δx s_c)^2)

**Regions** (:class:`RoiShape`): an ellipse inscribed in, or the rectangle itself of, a ``w x h``
box centred on (x, y) and rotated by θ (its width axis along (cos θ, sin θ) in data units).
The area is the **analytic** one, ``π (w/2)(h/2) s_r s_c`` for the ellipse and ``w h s_r s_c``
for the rectangle (scaling x by s_c and y by s_r multiplies every area by s_c s_r, whatever θ):
it is the area of the shape drawn and does not jump as the shape slides over the pixel grid,
while the count of pixels inside differs from it by up to about one pixel per unit of perimeter.
That count ``n`` is reported beside it as the sample size of the statistics.

**Statistics** on each layer: mean and sample standard deviation (n - 1) of the pixels whose
centre lies inside the shape. A layer with coarser pixels (the MRI, ``cell = d`` grid units per
pixel) is read on the pane grid: grid pixel (r, c) takes the layer's pixel (r // d, c // d), as the
pane draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .formatting import format_number
from .scan import Scan

RoiKind = Literal["ellipse", "rectangle"]
ROI_KINDS: tuple[str, ...] = ("ellipse", "rectangle")
#: the grid every viewer pane draws on
US_GRID = "US pixels"


@dataclass(frozen=True)
class Calibration:
    """Size of one grid unit: ``row_mm`` (y) by ``col_mm`` (x), and where the numbers came from."""

    row_mm: float
    col_mm: float
    source: str = "pixel spacing"

    @property
    def pixel_area_mm2(self) -> float:
        return self.row_mm * self.col_mm

    def describe(self) -> str:
        return (f"{format_number(self.col_mm)} x {format_number(self.row_mm)} mm/px "
                f"(w x h, {self.source})")


@dataclass(frozen=True)
class Quantity:
    """A number and its unit ("mm", "mm²", "px" or "px²")."""

    value: float
    unit: str

    @property
    def calibrated(self) -> bool:
        return self.unit.startswith("mm")

    def text(self) -> str:
        return f"{self.value:.1f} {self.unit}"


def scan_calibration(scan: Scan | None, cell: float = 1.0) -> Calibration | None:
    """The grid unit of a pane showing ``scan`` with ``cell`` grid units per pixel."""
    if scan is None or not scan.info.pixel_spacing_mm:
        return None
    row, col = scan.info.pixel_spacing_mm
    source = scan.info.notes.get("spacing-source", "pixel spacing")
    return Calibration(float(row) / cell, float(col) / cell, source)


def grid_calibration(us: Scan | None, mri: Scan | None, d: int) -> Calibration | None:
    """One unit of the fusion (US) grid: the US spacing, else the MRI spacing divided by d."""
    return scan_calibration(us) or scan_calibration(mri, d)


def _units(calibration: Calibration | None) -> tuple[float, float, str]:
    """(s_r, s_c, length unit): px when there is no calibration."""
    if calibration is None:
        return 1.0, 1.0, "px"
    return calibration.row_mm, calibration.col_mm, "mm"


# ----------------------------------------------------------------------------------- distance
@dataclass(frozen=True)
class Distance:
    """A segment from ``start`` to ``end``, each (x, y) in units of the named ``grid``."""

    start: tuple[float, float]
    end: tuple[float, float]
    grid: str = US_GRID

    def length(self, calibration: Calibration | None) -> Quantity:
        """``sqrt((Δy s_r)^2 + (Δx s_c)^2)``, in px without a calibration."""
        s_r, s_c, unit = _units(calibration)
        dx = (self.end[0] - self.start[0]) * s_c
        dy = (self.end[1] - self.start[1]) * s_r
        return Quantity(math.hypot(dx, dy), unit)

    def describe(self, calibration: Calibration | None) -> str:
        (x0, y0), (x1, y1) = self.start, self.end
        where = f"({x0:.1f}, {y0:.1f}) to ({x1:.1f}, {y1:.1f}) {self.grid}"
        return f"distance {self.length(calibration).text()}, {where}"


# ------------------------------------------------------------------------------------ regions
@dataclass(frozen=True)
class RoiShape:
    """An ellipse or rectangle: centre (x, y), size (w, h) and rotation θ in degrees (its width
    axis along (cos θ, sin θ)), all in units of the named ``grid``."""

    kind: RoiKind
    centre: tuple[float, float]
    size: tuple[float, float]
    angle_deg: float = 0.0
    grid: str = US_GRID

    def area(self, calibration: Calibration | None) -> Quantity:
        """Analytic area: ``π w h / 4`` (ellipse) or ``w h`` (rectangle), times ``s_r s_c``."""
        s_r, s_c, unit = _units(calibration)
        w, h = abs(self.size[0]), abs(self.size[1])
        shape = math.pi * w * h / 4.0 if self.kind == "ellipse" else w * h
        return Quantity(shape * s_r * s_c, f"{unit}²")

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the rotated shape's box."""
        theta = math.radians(self.angle_deg)
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        half_w, half_h = abs(self.size[0]) / 2.0, abs(self.size[1]) / 2.0
        ex, ey = half_w * c + half_h * s, half_w * s + half_h * c
        x, y = self.centre
        return x - ex, y - ey, x + ex, y + ey

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where the points (x, y) lie inside (the boundary included).

        With the offsets rotated into the shape's axes, ``u = Δx cos θ + Δy sin θ`` and
        ``v = -Δx sin θ + Δy cos θ``: the ellipse holds ``(2u/w)^2 + (2v/h)^2 <= 1``, the
        rectangle ``|u| <= w/2`` and ``|v| <= h/2``.
        """
        theta = math.radians(self.angle_deg)
        dx, dy = x - self.centre[0], y - self.centre[1]
        u = dx * math.cos(theta) + dy * math.sin(theta)
        v = -dx * math.sin(theta) + dy * math.cos(theta)
        half_w, half_h = abs(self.size[0]) / 2.0, abs(self.size[1]) / 2.0
        if half_w == 0 or half_h == 0:
            return np.zeros(np.broadcast(u, v).shape, dtype=bool)
        if self.kind == "ellipse":
            return (u / half_w) ** 2 + (v / half_h) ** 2 <= 1.0
        return (np.abs(u) <= half_w) & (np.abs(v) <= half_h)

    def pixels_inside(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the grid pixels (of a ``shape`` grid) whose centre lies inside."""
        x0, y0, x1, y1 = self.bounds()
        r0, c0 = max(0, math.floor(y0)), max(0, math.floor(x0))
        r1, c1 = min(shape[0], math.ceil(y1) + 1), min(shape[1], math.ceil(x1) + 1)
        if r1 <= r0 or c1 <= c0:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        rows, cols = np.mgrid[r0:r1, c0:c1]
        mask = self.inside(cols + 0.5, rows + 0.5)
        return rows[mask], cols[mask]


@dataclass(frozen=True)
class Layer:
    """Pixels measured under a region: ``cell`` grid units per pixel (1 on the grid itself)."""

    name: str
    pixels: np.ndarray
    cell: int = 1

    @property
    def grid_shape(self) -> tuple[int, int]:
        h, w = np.shape(self.pixels)
        return h * self.cell, w * self.cell


@dataclass(frozen=True)
class LayerStats:
    """Mean and sample SD (n - 1) of the ``n`` pixels of one layer inside a region."""

    name: str
    mean: float
    sd: float
    n: int

    def text(self) -> str:
        if self.n == 0:
            return f"{self.name} (no pixels)"
        return f"{self.name} {format_number(self.mean, 3, scale=self.sd or None)} ± " \
               f"{format_number(self.sd, 3)}"


@dataclass(frozen=True)
class RoiStats:
    """A region, its analytic area and the statistics of every layer under it."""

    shape: RoiShape
    area: Quantity
    layers: tuple[LayerStats, ...]

    def describe(self) -> str:
        n = max((s.n for s in self.layers), default=0)
        x, y = self.shape.centre
        w, h = self.shape.size
        parts = [
            f"{self.shape.kind} area {self.area.text()}",
            f"n {n} px",
            *(s.text() for s in self.layers),
            f"centre ({x:.1f}, {y:.1f}) size {abs(w):.1f} x {abs(h):.1f} "
            f"angle {self.shape.angle_deg:.1f}° {self.shape.grid}",
        ]
        return ", ".join(parts)


def layer_stats(shape: RoiShape, layer: Layer) -> LayerStats:
    """Mean and SD (n - 1) of ``layer`` over the grid pixels whose centre lies inside ``shape``."""
    rows, cols = shape.pixels_inside(layer.grid_shape)
    values = np.asarray(layer.pixels, dtype=np.float64)[rows // layer.cell, cols // layer.cell]
    n = int(values.size)
    if n == 0:
        return LayerStats(layer.name, math.nan, math.nan, 0)
    sd = float(np.std(values, ddof=1)) if n > 1 else 0.0
    return LayerStats(layer.name, float(np.mean(values)), sd, n)


def roi_stats(
    shape: RoiShape, layers: list[Layer] | tuple[Layer, ...], calibration: Calibration | None
) -> RoiStats:
    """The region's analytic area and the statistics on each layer."""
    return RoiStats(shape, shape.area(calibration), tuple(layer_stats(shape, x) for x in layers))
