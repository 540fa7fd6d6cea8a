"""Physical geometry of an MRI/US pair: spacing, region of interest, transform, common grid.

Coordinates are millimetres in the frame of the ultrasound image: ``x`` along columns, ``y`` along
rows, the centre of US pixel (row r, column c) at ``(c * s_x, r * s_y)``. The MRI is placed with its
field centred on the US region of interest and then moved by an affine transform
(:mod:`engine.geometry.transform`); :mod:`engine.geometry.grid` samples it on a grid exactly ``d``
times coarser than the US.
"""

from .grid import PairGeometry, choose_scale_factor, resolve_spacing
from .roi import Roi, parse_roi, us_image_roi
from .transform import AffineTransform2D, read_transform, write_transform

__all__ = [
    "AffineTransform2D",
    "PairGeometry",
    "Roi",
    "choose_scale_factor",
    "parse_roi",
    "read_transform",
    "resolve_spacing",
    "us_image_roi",
    "write_transform",
]
