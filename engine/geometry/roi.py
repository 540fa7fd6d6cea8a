"""The region of an ultrasound frame that holds the image.

Scanners store the whole screen: the image sits in a box surrounded by burned-in text, calipers,
colour bars and, in dual mode, a second pane. The DICOM *Sequence of Ultrasound Regions*
(C.8.5.5) lists these boxes; a region holds the tissue image when its spatial format is 2-D
(``RegionSpatialFormat = 1``) and its data type is tissue (``RegionDataType = 1``), and its
calibration ``PhysicalDeltaX/Y`` is in cm when ``PhysicalUnits* = 3``. The box is
``[MinX0, MaxX1] x [MinY0, MaxY1]`` in pixels, both ends inclusive.

Of several image regions the largest is used (the first on a tie) and the choice is stated; the
user's box (``--roi x,y,w,h`` / the viewer's rectangle) always wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GeometryError
from ..scan import MIN_SIDE, Scan, size_text

US_SPATIAL_2D, US_DATA_TISSUE, US_UNITS_CM = 1, 1, 3


@dataclass(frozen=True)
class Roi:
    """A box of ``w`` x ``h`` pixels whose top-left pixel is column ``x``, row ``y``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def rows(self) -> slice:
        return slice(self.y, self.y + self.h)

    @property
    def cols(self) -> slice:
        return slice(self.x, self.x + self.w)

    def text(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"

    def checked(self, shape: tuple[int, int], what: str = "The region of interest") -> Roi:
        """This box when it lies inside an image of ``shape`` and is large enough, else an error."""
        rows, cols = shape
        if self.x < 0 or self.y < 0 or self.x + self.w > cols or self.y + self.h > rows:
            raise GeometryError(
                f"{what} {self.text()} (x,y,w,h) lies outside the {size_text(shape)} ultrasound "
                "image; "
                f"draw it inside the image (x + w <= {cols}, y + h <= {rows})."
            )
        if min(self.w, self.h) < MIN_SIDE:
            raise GeometryError(
                f"{what} {self.text()} is smaller than {size_text((MIN_SIDE, MIN_SIDE))}; "
                "draw a larger box."
            )
        return self


@dataclass(frozen=True)
class RoiChoice:
    """The box fused, its spacing (row, col mm), what to tell the user, and the box that the MRI
    field is centred on (the image region holding ``roi``)."""

    roi: Roi
    spacing_mm: tuple[float, float] | None
    note: str
    anchor: Roi


def parse_roi(text: str) -> Roi:
    """``"x,y,w,h"`` (pixels) to a :class:`Roi`."""
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise GeometryError(
            f"--roi expects four whole numbers x,y,w,h (pixels), not {text!r}."
        ) from exc
    return Roi(x, y, w, h)


def _int(item, keyword: str) -> int | None:
    try:
        return int(item.get(keyword))
    except (TypeError, ValueError):
        return None


def _image_regions(dataset) -> list[tuple[Roi, tuple[float, float] | None]]:
    """The tissue-image regions of a DICOM header with their (row, col) spacing in mm."""
    found = []
    try:
        regions = list(dataset.get("SequenceOfUltrasoundRegions", None) or [])
    except Exception:  # a damaged sequence means "no regions"
        return []
    for item in regions:
        if (_int(item, "RegionSpatialFormat"), _int(item, "RegionDataType")) != (
            US_SPATIAL_2D,
            US_DATA_TISSUE,
        ):
            continue
        box = [
            _int(item, k)
            for k in (
                "RegionLocationMinX0",
                "RegionLocationMinY0",
                "RegionLocationMaxX1",
                "RegionLocationMaxY1",
            )
        ]
        if None in box:
            continue
        x0, y0, x1, y1 = box
        spacing = None
        units = (_int(item, "PhysicalUnitsXDirection"), _int(item, "PhysicalUnitsYDirection"))
        try:
            dx, dy = abs(float(item.get("PhysicalDeltaX"))), abs(float(item.get("PhysicalDeltaY")))
        except (TypeError, ValueError):
            dx = dy = 0.0
        if units == (US_UNITS_CM, US_UNITS_CM) and dx > 0 and dy > 0:
            spacing = (dy * 10.0, dx * 10.0)
        found.append((Roi(x0, y0, x1 - x0 + 1, y1 - y0 + 1), spacing))
    return found


def _clip(roi: Roi, shape: tuple[int, int]) -> Roi | None:
    x0, y0 = max(roi.x, 0), max(roi.y, 0)
    x1, y1 = min(roi.x + roi.w, shape[1]), min(roi.y + roi.h, shape[0])
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        return None
    return Roi(x0, y0, x1 - x0, y1 - y0)


def us_image_roi(us: Scan, roi: Roi | None = None) -> RoiChoice:
    """The US box to fuse: the user's ``roi``, else the DICOM image region, else the whole frame.

    The MRI is centred on the image region holding the box (the whole frame when none does).
    """
    whole = Roi(0, 0, us.shape[1], us.shape[0])
    regions = _image_regions(us.dataset) if us.dataset is not None else []
    usable = [(clipped, s) for r, s in regions if (clipped := _clip(r, us.shape)) is not None]
    if roi is not None:
        roi = roi.checked(us.shape)
        holding = [(r, s) for r, s in usable if _contains(r, roi)]
        anchor, spacing = holding[0] if holding else (whole, None)
        note = f"ultrasound region of interest {roi.text()} (x,y,w,h) set by the user"
        return RoiChoice(roi, spacing or us.info.pixel_spacing_mm, note, anchor)
    if not usable:
        note = "whole ultrasound frame used (no image region in the file)"
        return RoiChoice(whole, us.info.pixel_spacing_mm, note, whole)
    best = max(range(len(usable)), key=lambda i: (usable[i][0].w * usable[i][0].h, -i))
    chosen, spacing = usable[best]
    note = f"ultrasound image region {chosen.text()} (x,y,w,h) taken from the DICOM US regions"
    if len(usable) > 1:
        note += f" (largest of {len(usable)} image panes; give --roi to choose another)"
    return RoiChoice(chosen, spacing or us.info.pixel_spacing_mm, note, chosen)


def _contains(outer: Roi, inner: Roi) -> bool:
    return (
        outer.x <= inner.x
        and outer.y <= inner.y
        and inner.x + inner.w <= outer.x + outer.w
        and inner.y + inner.h <= outer.y + outer.h
    )
