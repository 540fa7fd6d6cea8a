"""Burned-in annotation of a derived image, and blanking outside the ultrasound image region.

Scanners burn patient text (name, ID, date) into ultrasound frames outside the image sector; it
survives fusion. What the export says, from the sources' Burned In Annotation (0028,0301):

    derived = YES   when a source says YES, or the US source does not say NO (unknown counts
                    as YES for ultrasound: a PNG, or a DICOM without the attribute)
    derived = NO    otherwise, or when every pixel outside the US image region was blanked

The US image region is the union of the boxes of the Sequence of Ultrasound Regions
(RegionLocationMinX0/MinY0/MaxX1/MaxY1, inclusive, in source pixels), scaled to the fused grid
``(H, W)`` by ``(H / h_us, W / w_us)`` when the grids differ, or the user's region of interest
``(row0, col0, row1, col1)`` (end-exclusive, fused-grid pixels). Blanked pixels take the image's
minimum, so they are stored as 0.
"""

from __future__ import annotations

import math

import numpy as np

from ..scan import Scan

#: a region of interest on the fused grid: (row0, col0, row1, col1), ends exclusive
Box = tuple[int, int, int, int]


def _attribute(scan: Scan, keyword: str):
    if scan.dataset is None:
        return None
    try:
        return scan.dataset.get(keyword)
    except Exception:  # a damaged value is unknown
        return None


def burned_in_annotation(mri: Scan, us: Scan) -> str:
    """``YES`` or ``NO`` for the derived image, from both sources (module docstring)."""
    says = {name: str(_attribute(scan, "BurnedInAnnotation") or "").strip().upper()
            for name, scan in (("mri", mri), ("us", us))}
    if "YES" in says.values() or says["us"] != "NO":
        return "YES"
    return "NO"


def us_region_boxes(us: Scan, shape: tuple[int, int]) -> list[Box]:
    """The US source's image regions as end-exclusive boxes on a grid of ``shape``."""
    boxes = []
    (height, width), (us_h, us_w) = shape, us.shape
    sy, sx = height / us_h, width / us_w
    for region in _attribute(us, "SequenceOfUltrasoundRegions") or []:
        try:
            x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
            x1, y1 = int(region.RegionLocationMaxX1), int(region.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        box = (math.floor(y0 * sy), math.floor(x0 * sx),
               math.ceil((y1 + 1) * sy), math.ceil((x1 + 1) * sx))
        box = (max(box[0], 0), max(box[1], 0), min(box[2], height), min(box[3], width))
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return boxes


def blank_outside(image: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """A copy of ``image`` whose pixels outside every box equal the image's minimum."""
    inside = np.zeros(image.shape, dtype=bool)
    for row0, col0, row1, col1 in boxes:
        inside[max(row0, 0):row1, max(col0, 0):col1] = True
    blanked = np.array(image, dtype=np.float64, copy=True)
    blanked[~inside] = float(np.min(image))
    return blanked
