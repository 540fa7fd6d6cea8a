"""Two images in one pane: swipe, blend, checkerboard and flip, as plain NumPy functions.

Both images live on the same (US) grid and are first brought to a common display scale with
:func:`display_scale` (robust min-max to 0..1), so that the composite can be shown with a single
window. Every composite takes pixels from A or B only (blend mixes them linearly), so the ends of
the blend slider show exactly one image: ``blend(a, b, 0) is a`` and ``blend(a, b, 1) is b``.
"""

from __future__ import annotations

import numpy as np


def display_scale(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """``(x - p_low) / (p_high - p_low)``: the robust range of ``image`` to 0..1 (unclipped)."""
    image = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(image, [low_pct, high_pct])
    if hi <= lo:
        lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros_like(image)
    return (image - lo) / (hi - lo)


def swipe(a: np.ndarray, b: np.ndarray, position: float, vertical: bool = True) -> np.ndarray:
    """A left of (or above) ``position`` (in pixels along the swipe axis), B beyond it."""
    axis_len = a.shape[1] if vertical else a.shape[0]
    cut = int(np.clip(round(position), 0, axis_len))
    out = b.copy()
    if vertical:
        out[:, :cut] = a[:, :cut]
    else:
        out[:cut, :] = a[:cut, :]
    return out


def blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """``(1 - t) a + t b``; t = 0 returns A and t = 1 returns B unchanged."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    return (1.0 - t) * a + t * b


def checker_mask(shape: tuple[int, int], square: int) -> np.ndarray:
    """True where A shows: squares of ``square`` pixels, the top-left one from A."""
    square = max(1, int(square))
    rows = (np.arange(shape[0]) // square)[:, None]
    cols = (np.arange(shape[1]) // square)[None, :]
    return (rows + cols) % 2 == 0


def checkerboard(a: np.ndarray, b: np.ndarray, square: int) -> np.ndarray:
    return np.where(checker_mask(a.shape, square), a, b)


def on_grid(image: np.ndarray, d: int) -> np.ndarray:
    """A coarse image shown on the d-times finer grid: each pixel becomes a d x d block."""
    if d == 1:
        return np.asarray(image, dtype=np.float64)
    return np.kron(np.asarray(image, dtype=np.float64), np.ones((d, d)))


def unit_window(image: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """``clip((v - lo) / (hi - lo), 0, 1)``: the grey level of each pixel through a window."""
    lo, hi = levels
    span = hi - lo if hi > lo else 1.0
    return np.clip((np.asarray(image, dtype=np.float32) - lo) / span, 0.0, 1.0)


def overlay(bottom: np.ndarray, top: np.ndarray, alpha: float, lut: np.ndarray) -> np.ndarray:
    """The top layer in colour over the bottom one in grey, with one constant opacity:

    ``rgb = alpha * lut[top] / 255 + (1 - alpha) * (bottom, bottom, bottom)``

    ``bottom`` and ``top`` are grey levels in 0..1 on one grid (values outside are clipped),
    ``lut`` an (N, 3) uint8 colour table indexed by ``round(top (N - 1))``, ``alpha`` in 0..1.
    Returns float32 RGB (H, W, 3) in 0..1: ``alpha = 0`` gives the bottom layer unchanged (as
    grey), ``alpha = 1`` the top layer's colours; in between every pixel is the same linear mix,
    so 40 % means 40 % everywhere.
    """
    if bottom.shape != top.shape:
        raise ValueError("overlay layers must share one grid")
    alpha = float(np.clip(alpha, 0.0, 1.0))
    colours = np.asarray(lut, dtype=np.float32)[:, :3] / 255.0
    index = np.rint(np.clip(top, 0.0, 1.0) * (len(colours) - 1)).astype(np.intp)
    grey = np.clip(np.asarray(bottom, dtype=np.float32), 0.0, 1.0)[..., None]
    return alpha * colours[index] + (1.0 - alpha) * grey
