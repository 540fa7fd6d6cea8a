"""MATLAB-compatible bicubic resizing (``imresize(A, scale, 'bicubic')`` for scale >= 1).

For an output index x (1-based) MATLAB maps to the input coordinate

    u = x / s + 0.5 * (1 - 1/s),

takes the P = 6 input indices  floor(u - 2) + (0..5), weights them with the Keys cubic kernel
(a = -0.5)

    k(t) = 1.5|t|^3 - 2.5|t|^2 + 1                 for |t| <= 1
    k(t) = -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2         for 1 < |t| <= 2,   0 otherwise,

normalises the weights of each output pixel to sum 1, and mirrors indices outside the image
symmetrically (the edge pixel is repeated: ..., 2, 1, 1, 2, ...). The resize is separable:
rows first, then columns. We build the two (out x in) weight matrices once and apply them as
``W_rows @ A @ W_cols.T``.
"""

from __future__ import annotations

import numpy as np


def keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """The Keys cubic convolution kernel with parameter ``a`` (MATLAB uses a = -0.5)."""
    t = np.abs(t)
    t2, t3 = t * t, t * t * t
    near = (a + 2) * t3 - (a + 3) * t2 + 1
    far = a * t3 - 5 * a * t2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t <= 2, far, 0.0))


def symmetric_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map 0-based indices outside [0, n) by symmetric reflection with the edge repeated."""
    period = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    return period[np.mod(index, 2 * n)]


def bicubic_weights(n_in: int, scale: float) -> np.ndarray:
    """Dense (n_out x n_in) interpolation matrix of MATLAB's bicubic imresize along one axis."""
    if scale < 1:
        raise ValueError("only upsampling (scale >= 1) is supported")
    n_out = int(np.ceil(n_in * scale))
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - 2)
    taps = left[:, None] + np.arange(6)[None, :]  # 1-based input indices
    weights = keys_cubic(u[:, None] - taps)
    weights /= weights.sum(axis=1, keepdims=True)
    columns = symmetric_index(taps.astype(np.int64) - 1, n_in)
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), 6), columns.ravel()), weights.ravel())
    return matrix


def imresize_bicubic(image: np.ndarray, scale: int) -> np.ndarray:
    """Upsample a 2-D image by an integer ``scale`` exactly as MATLAB's bicubic ``imresize``."""
    image = np.asarray(image, dtype=np.float64)
    if scale == 1:
        return image.copy()
    rows = bicubic_weights(image.shape[0], scale)
    cols = bicubic_weights(image.shape[1], scale)
    return (rows @ image) @ cols.T
