"""Orientation markers of a DICOM image: which patient direction each edge of the image faces.

DICOM's patient coordinate system is LPS: +x towards the patient's Left, +y Posterior, +z Head.
``ImageOrientationPatient`` holds two unit vectors: the row direction ``r`` (the way the column
index grows, left to right on the screen) and the column direction ``c`` (the way the row index
grows, top to bottom). The letters of a direction ``v`` name its components from largest to
smallest magnitude, the positive end of each axis being L, P, H and the negative end R, A, F;
components below :data:`OBLIQUE_MIN` are left out, and at most :data:`MAX_LETTERS` are kept (the
usual viewer convention: an axial image reads ``R``/``L`` on its left/right edges and ``A``/``P``
at its top/bottom; an oblique one two letters such as ``LH``). The edges are then

    right = letters(r),  left = letters(-r),  bottom = letters(c),  top = letters(-c).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: (positive, negative) letter of each LPS axis
AXIS_LETTERS = (("L", "R"), ("P", "A"), ("H", "F"))
#: smallest |component| of a unit direction that still earns a letter (about 6 degrees of tilt)
OBLIQUE_MIN = 0.1
#: letters per edge (dominant axis first)
MAX_LETTERS = 2


@dataclass(frozen=True)
class OrientationMarkers:
    """The patient direction letters at the four edges of an image as displayed."""

    left: str
    right: str
    top: str
    bottom: str


def direction_letters(vector: Sequence[float]) -> str:
    """Letters of a direction in LPS, largest component first (see the module docstring)."""
    v = np.asarray(vector, dtype=np.float64)
    v = v / np.linalg.norm(v)
    order = np.argsort(-np.abs(v), kind="stable")
    letters = [AXIS_LETTERS[i][0 if v[i] > 0 else 1] for i in order if abs(v[i]) >= OBLIQUE_MIN]
    return "".join(letters[:MAX_LETTERS])


def orientation_markers(cosines: Sequence[float] | None) -> OrientationMarkers | None:
    """Markers from the six values of ImageOrientationPatient; None when they are missing,
    not six finite numbers, or either direction is (close to) zero."""
    if cosines is None:
        return None
    try:
        values = [float(v) for v in cosines]
    except (TypeError, ValueError):
        return None
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        return None
    row, column = np.array(values[:3]), np.array(values[3:])
    if np.linalg.norm(row) < 1e-6 or np.linalg.norm(column) < 1e-6:
        return None
    return OrientationMarkers(
        left=direction_letters(-row),
        right=direction_letters(row),
        top=direction_letters(-column),
        bottom=direction_letters(column),
    )


def scan_markers(scan) -> OrientationMarkers | None:
    """Markers of a :class:`engine.scan.Scan` from its DICOM header, None without one."""
    dataset = getattr(scan, "dataset", None)
    if dataset is None:
        return None
    return orientation_markers(dataset.get("ImageOrientationPatient"))
