"""Edge-transfer metrics: Xydeas-Petrovic Q^AB/F (as coded in the MMIF-CDDFuse Evaluator) and the
seed repository's Sobel-correlation proxy that its table calls "QAB/F".

Q^AB/F (Xydeas and Petrovic 2000), Evaluator form, for source X and fused F:

* SX, SY: 'same'-size 2-D convolution with zero padding of h3 = [[-1,0,1],[-2,0,2],[-1,0,1]] and
  h1 = [[1,2,1],[0,0,0],[-1,-2,-1]]. Convolution flips the kernel, so in pixel terms
  SX(i,j) = [I(i-1,j-1) + 2I(i,j-1) + I(i+1,j-1)] - [I(i-1,j+1) + 2I(i,j+1) + I(i+1,j+1)] and
  SY(i,j) = [I(i+1,j-1) + 2I(i+1,j) + I(i+1,j+1)] - [I(i-1,j-1) + 2I(i-1,j) + I(i-1,j+1)].
* g = sqrt(SX^2 + SY^2); alpha = arctan(SY / SX), pi/2 where SX = 0 (arctan, not arctan2).
* G = gF / gX where gX > gF, gX / gF where gX < gF, and gF (not 1) where gX = gF.
* A = 1 - |alphaX - alphaF| / (pi/2) (no wrap-around).
* Q_XF = 0.9994 / (1 + exp(-15 (G - 0.5))) * 0.9879 / (1 + exp(-22 (A - 0.8))).
* Qabf = sum(Q_AF gA + Q_BF gB) / sum(gA + gB); NaN when both sources have no gradient at all.

The zero padding creates false edges on the border and G = gF on ties; both are the reference's
and are needed to reproduce its values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TG, _KG, _DG = 0.9994, -15.0, 0.5
_TA, _KA, _DA = 0.9879, -22.0, 0.8


@dataclass(frozen=True)
class EdgeField:
    """Sobel magnitude g and arctan orientation alpha of one image."""

    magnitude: np.ndarray
    angle: np.ndarray


def edge_field(image: np.ndarray) -> EdgeField:
    """Zero-padded Sobel responses of a 0..255-scale image (see the module docstring)."""
    p = np.pad(np.asarray(image, dtype=np.float64), 1)
    smooth_rows = p[:-2, :] + 2.0 * p[1:-1, :] + p[2:, :]  # [1,2,1] down the rows
    sx = smooth_rows[:, :-2] - smooth_rows[:, 2:]  # left minus right
    smooth_cols = p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]  # [1,2,1] along the columns
    sy = smooth_cols[2:, :] - smooth_cols[:-2, :]  # bottom minus top
    magnitude = np.sqrt(sx * sx + sy * sy)
    vertical = sx == 0
    angle = np.arctan(sy / np.where(vertical, 1.0, sx))
    angle[vertical] = np.pi / 2
    return EdgeField(magnitude, angle)


def edge_preservation(source: EdgeField, fused: EdgeField) -> np.ndarray:
    """Q_XF per pixel: how well F keeps the strength and orientation of X's edges."""
    g_x, g_f = source.magnitude, fused.magnitude
    stronger_source = g_x > g_f
    strength = np.where(g_x == g_f, g_f, 0.0)
    strength = np.where(stronger_source, g_f / np.where(stronger_source, g_x, 1.0), strength)
    weaker_source = g_x < g_f
    strength = np.where(weaker_source, g_x / np.where(weaker_source, g_f, 1.0), strength)
    orientation = 1.0 - np.abs(source.angle - fused.angle) / (np.pi / 2)
    q_strength = _TG / (1.0 + np.exp(_KG * (strength - _DG)))
    q_orientation = _TA / (1.0 + np.exp(_KA * (orientation - _DA)))
    return q_strength * q_orientation


@dataclass(frozen=True)
class EdgeTransfer:
    """Sums of one source's Q^AB/F term: ``kept`` = sum(Q_XF gX), ``strength`` = sum(gX)."""

    kept: float
    strength: float


def edge_transfer(x: EdgeField, f: EdgeField) -> EdgeTransfer:
    """The two sums that source X contributes to Q^AB/F."""
    return EdgeTransfer(
        float(np.sum(edge_preservation(x, f) * x.magnitude)), float(np.sum(x.magnitude))
    )


def qabf_from(*terms: EdgeTransfer) -> float:
    """Q^AB/F = sum(Q_AF gA + Q_BF gB) / sum(gA + gB) from the sources' sums; with one source,
    the one-source form Qabf(F, X, X) = sum(Q_XF gX) / sum(gX). NaN when no source has any
    gradient (0/0)."""
    strength = sum(t.strength for t in terms)
    return sum(t.kept for t in terms) / strength if strength > 0 else float("nan")


def qabf(a: EdgeField, b: EdgeField, f: EdgeField) -> float:
    """Q^AB/F of F for the sources A and B (see the module docstring)."""
    return qabf_from(edge_transfer(a, f), edge_transfer(b, f))


def wrapped_sobel(levels: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.sobel`` of a uint8 image as the seed saw it: the exact integer response,
    modulo 256.

    scipy's default Sobel differentiates along the last axis (I[r, c+1] - I[r, c-1]) and smooths
    with [1, 2, 1] along the rows, with 'reflect' (half-sample symmetric) borders. On uint8 input
    scipy writes the response into a uint8 array, which on x86-64 wraps it modulo 256 (-3 -> 253).
    Here scipy computes the response into int32, where it is exact, and it is wrapped with
    ``np.mod``, so the result does not depend on the platform's float-to-uint8 conversion.
    """
    from scipy.ndimage import sobel

    response = sobel(np.asarray(levels, dtype=np.int32))
    return np.mod(response, 256).astype(np.float64)


def sobel_correlation_proxy(source_levels: np.ndarray, fused_levels: np.ndarray) -> float:
    """One term of the seed's "QAB/F": Pearson r of the wrapped Sobel responses of F and X.

    Not an edge-transfer metric (the wrap dominates it); kept for seed-compatible comparisons.
    NaN when either wrapped response is constant.
    """
    from .statistics import pearson

    return pearson(wrapped_sobel(fused_levels), wrapped_sobel(source_levels))
