"""Grey-level statistics of one image and pixel-wise comparisons of two (0..255 scale, float64).

Definitions follow ``utils/Evaluator.py`` of the MMIF-CDDFuse repository (the evaluator of the
multi-modal image fusion literature) and, for EN/SD, the seed repository's ``metrics.py``.
Undefined cases return NaN instead of warning or raising; each function says when.
"""

from __future__ import annotations

import numpy as np


def entropy_bits(levels: np.ndarray) -> float:
    """EN = -sum_k p_k log2 p_k over the grey levels present (bits).

    ``levels`` holds integer grey levels (uint8); p_k is the fraction of pixels at level k and empty
    levels are ignored. This is ``skimage.measure.shannon_entropy(base=2)`` on uint8 input and the
    Evaluator's 256-bin EN (which rounds to uint8 first).
    """
    counts = np.bincount(np.asarray(levels, dtype=np.uint8).ravel(), minlength=256)
    p = counts[counts > 0] / levels.size
    return float(-np.sum(p * np.log2(p)))


def standard_deviation(image: np.ndarray) -> float:
    """SD = sqrt(mean((F - mean F)^2)): population standard deviation (ddof = 0), float64."""
    return float(np.std(np.asarray(image, dtype=np.float64)))


def spatial_frequency(image: np.ndarray) -> float:
    """SF = sqrt(RF^2 + CF^2) with RF^2 = mean((F[:, 1:] - F[:, :-1])^2) over H x (W-1) and
    CF^2 = mean((F[1:, :] - F[:-1, :])^2) over (H-1) x W (each mean over its own array)."""
    f = np.asarray(image, dtype=np.float64)
    row = np.mean(np.square(f[:, 1:] - f[:, :-1]))
    col = np.mean(np.square(f[1:, :] - f[:-1, :]))
    return float(np.sqrt(row + col))


def average_gradient(image: np.ndarray) -> float:
    """AG = mean over all H x W pixels of sqrt((Gx^2 + Gy^2) / 2).

    Gx, Gy are ``numpy.gradient``: central differences (F[j+1] - F[j-1]) / 2 inside, one-sided
    differences F[1] - F[0] and F[-1] - F[-2] on the first and last column (row).
    """
    f = np.asarray(image, dtype=np.float64)
    grad_y, grad_x = np.gradient(f)
    return float(np.mean(np.sqrt((np.square(grad_x) + np.square(grad_y)) / 2.0)))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """r(X, Y) = sum((X - mean X)(Y - mean Y)) / sqrt(sum((X - mean X)^2) sum((Y - mean Y)^2)).

    NaN when X or Y is constant (0/0): the correlation is undefined there.
    """
    dx = np.asarray(x, dtype=np.float64).ravel()
    dy = np.asarray(y, dtype=np.float64).ravel()
    dx = dx - dx.mean()
    dy = dy - dy.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))  # sums, not BLAS dot: no threads
    if denominator == 0:
        return float("nan")
    return float(np.sum(dx * dy) / denominator)


def mean_squared_error(x: np.ndarray, y: np.ndarray) -> float:
    """MSE(X, Y) = mean((X - Y)^2)."""
    diff = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return float(np.mean(np.square(diff)))


def psnr_db(peak: float, mse: float) -> float:
    """PSNR = 10 log10(peak^2 / MSE) in dB; +inf when MSE = 0, -inf when peak = 0 < MSE."""
    if mse == 0:
        return float("inf")
    if peak == 0:
        return float("-inf")
    return float(10.0 * np.log10(peak * peak / mse))


def difference_correlation(source: np.ndarray, fused: np.ndarray, other: np.ndarray) -> float:
    """One SCD term: r(X, F - Y), the correlation of a source with what F adds to the other source.

    SCD = r(A, F - B) + r(B, F - A) (Aslantas and Bendes 2015). NaN when X or F - Y is constant.
    """
    f = np.asarray(fused, dtype=np.float64)
    return pearson(source, f - np.asarray(other, dtype=np.float64))
