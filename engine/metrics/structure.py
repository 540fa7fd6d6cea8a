"""Structural similarity (Wang et al. 2004) with scikit-image's default settings.

``skimage.metrics.structural_similarity`` implements the definition both reference sets use, so it
is called rather than rewritten: 7 x 7 uniform windows (boundary 'reflect', half-sample
symmetric), sample covariances (factor 49/48), K1 = 0.01, K2 = 0.03, C1 = (K1 R)^2,
C2 = (K2 R)^2,

    S = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)),

and SSIM is the mean of S over the pixels at least 3 from every border.

R is the data range. On the 0..255 scale the correct R is 255 (:data:`DATA_RANGE_8BIT`). The
MMIF-CDDFuse Evaluator called it on float 0..255 arrays without a data range, and the
scikit-image it pins (0.19.2) then took the float dtype range -1..1, i.e. R = 2
(:data:`DATA_RANGE_LEGACY`): an almost unstabilised SSIM. It is kept only to compare with
published tables (``SSIM_legacy``).
"""

from __future__ import annotations

import numpy as np

DATA_RANGE_8BIT = 255.0
#: what scikit-image 0.19 assumed for float input without data_range (-1..1)
DATA_RANGE_LEGACY = 2.0


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = DATA_RANGE_8BIT) -> float:
    """Mean SSIM of two same-size images (float64) with the given data range R. Symmetric."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.asarray(x, dtype=np.float64),
            np.asarray(y, dtype=np.float64),
            data_range=float(data_range),
        )
    )
