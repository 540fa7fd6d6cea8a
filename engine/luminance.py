"""Colour to grey: ITU-R BT.601 luminance ``Y = 0.299 R + 0.587 G + 0.114 B``.

Shared by the raster readers (:mod:`engine.io`) and the DICOM reader (:mod:`engine.dicom.read`),
which therefore need not import each other.
"""

from __future__ import annotations

import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def to_luminance(array: np.ndarray) -> np.ndarray:
    """(H, W) stays; (H, W, 3|4) becomes BT.601 luminance (alpha dropped); (H, W, 1) squeezed."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[..., :3].astype(np.float64) @ LUMA_WEIGHTS
    if array.ndim == 3 and array.shape[2] == 1:
        return array[..., 0]
    return array
