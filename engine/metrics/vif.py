"""Pixel-domain visual information fidelity (VIFp, Sheikh and Bovik 2006), as coded in
``sewar.full_ref.vifp`` and in the MMIF-CDDFuse Evaluator's ``compare_viff`` (they agree to 3e-13).

With ``ref`` the reference (a source image) and ``dist`` the distorted image (the fused one)::

    for scale s = 1..4:
        N = 2^(5-s) + 1                        # 17, 9, 5, 3
        w = N x N Gaussian, sigma = N / 5, entries < eps * max set to 0, normalised to sum 1
        if s > 1: ref, dist = valid(ref, w)[::2, ::2], valid(dist, w)[::2, ::2]
        mu1, mu2 = valid(ref, w), valid(dist, w)
        s1 = valid(ref^2, w) - mu1^2;  s2 = valid(dist^2, w) - mu2^2
        s12 = valid(ref dist, w) - mu1 mu2
        s1[s1 < 0] = 0;  s2[s2 < 0] = 0
        g = s12 / (s1 + 1e-10);  sv = s2 - g s12
        where s1 < 1e-10: g = 0, sv = s2, s1 = 0      (in this order)
        where s2 < 1e-10: g = 0, sv = 0
        where g < 0:      sv = s2, g = 0
        sv[sv <= 1e-10] = 1e-10
        num += sum log10(1 + g^2 s1 / (sv + 2));  den += sum log10(1 + s1 / 2)
    VIFp = num / den

``valid`` is 'valid' 2-D filtering (output (H-N+1) x (W-N+1)). The Gaussian is separable and none
of its entries falls below the eps threshold for these sizes, so it is applied as two 1-D passes;
this changes rounding only (agreement with the 2-D form is checked by the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: noise variance sigma_n^2 of the VIF model, on the 0..255 scale
SIGMA_N_SQ = 2.0
_EPS = 1e-10
_SCALES = (1, 2, 3, 4)


@dataclass(frozen=True)
class VifTerms:
    """Numerator and denominator sums of VIFp; ``value`` = num / den, NaN when undefined."""

    numerator: float
    denominator: float
    #: False when the image is too small for the four-scale pyramid
    fits: bool = True

    @property
    def value(self) -> float:
        if not self.fits or self.denominator == 0:
            return float("nan")
        return self.numerator / self.denominator


def window_1d(size: int) -> np.ndarray:
    """1-D factor of the N x N Gaussian window (sigma = N / 5), normalised to sum 1."""
    half = (size - 1) / 2.0
    offsets = np.arange(-half, half + 1.0)
    sigma = size / 5.0
    taps = np.exp(-(offsets * offsets) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def window_2d(size: int) -> np.ndarray:
    """The N x N window exactly as the references build it (for tests)."""
    half = (size - 1) / 2.0
    y, x = np.ogrid[-half : half + 1, -half : half + 1]
    sigma = size / 5.0
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def smallest_side() -> int:
    """Smallest image side for which all four scales have at least one valid window position."""
    side = 1
    while not _pyramid_fits((side, side)):
        side += 1
    return side


def vif_terms(ref: np.ndarray, dist: np.ndarray) -> VifTerms:
    """VIFp sums of ``dist`` against the reference ``ref`` (float arrays on the 0..255 scale)."""
    return vif_terms_many([ref], dist)[0]


def vif_terms_many(refs: Sequence[np.ndarray], dist: np.ndarray) -> tuple[VifTerms, ...]:
    """:func:`vif_terms` of ``dist`` against each of ``refs``, filtering ``dist`` only once."""
    dist = np.asarray(dist, dtype=np.float64)
    refs = [np.asarray(ref, dtype=np.float64) for ref in refs]
    if not _pyramid_fits(dist.shape):
        return tuple(VifTerms(0.0, 0.0, fits=False) for _ in refs)
    num = [0.0] * len(refs)
    den = [0.0] * len(refs)
    for scale in _SCALES:
        size = 2 ** (5 - scale) + 1
        w = window_1d(size)
        if scale > 1:
            dist = _valid(dist, w)[::2, ::2]
            refs = [_valid(ref, w)[::2, ::2] for ref in refs]
        mu2 = _valid(dist, w)
        s2 = _valid(dist * dist, w) - mu2 * mu2
        for k, ref in enumerate(refs):
            mu1 = _valid(ref, w)
            s1 = _valid(ref * ref, w) - mu1 * mu1
            s12 = _valid(ref * dist, w) - mu1 * mu2
            n, d = _scale_sums(s1, s2, s12)
            num[k] += n
            den[k] += d
    return tuple(VifTerms(float(n), float(d)) for n, d in zip(num, den, strict=True))


def vif(ref: np.ndarray, dist: np.ndarray) -> float:
    """VIFp(ref, dist); NaN for a constant reference (0/0) or an image smaller than
    :func:`smallest_side`."""
    return vif_terms(ref, dist).value


def _scale_sums(s1: np.ndarray, s2: np.ndarray, s12: np.ndarray) -> tuple[float, float]:
    """One scale's sums. Modifies ``s1``; of ``s2`` only clamps negatives (idempotent)."""
    s1[s1 < 0] = 0
    s2[s2 < 0] = 0
    g = s12 / (s1 + _EPS)
    sv = s2 - g * s12
    flat_ref = s1 < _EPS
    g[flat_ref] = 0
    sv[flat_ref] = s2[flat_ref]
    s1[flat_ref] = 0
    flat_dist = s2 < _EPS
    g[flat_dist] = 0
    sv[flat_dist] = 0
    negative = g < 0
    sv[negative] = s2[negative]
    g[negative] = 0
    sv[sv <= _EPS] = _EPS
    num = np.sum(np.log10(1.0 + g * g * s1 / (sv + SIGMA_N_SQ)))
    den = np.sum(np.log10(1.0 + s1 / SIGMA_N_SQ))
    return float(num), float(den)


def _valid(image: np.ndarray, w: np.ndarray) -> np.ndarray:
    """'valid' correlation with the separable window w (x) w: output (H-N+1) x (W-N+1)."""
    from scipy.ndimage import correlate1d

    half = len(w) // 2
    rows = correlate1d(image, w, axis=0, mode="constant")[half : image.shape[0] - half]
    return correlate1d(rows, w, axis=1, mode="constant")[:, half : image.shape[1] - half]


def _pyramid_fits(shape: tuple[int, ...]) -> bool:
    height, width = shape
    for scale in _SCALES:
        size = 2 ** (5 - scale) + 1
        if height < size or width < size:
            return False
        if scale > 1:  # valid filtering with this scale's window, then every second row/column
            height = (height - size + 2) // 2
            width = (width - size + 2) // 2
            if height < size or width < size:
                return False
    return True
