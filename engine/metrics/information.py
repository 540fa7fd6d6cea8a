"""Mutual information of two images, in nats, from a joint histogram of co-located pixels.

For a joint histogram n_ij of N pixel pairs, with p_ij = n_ij / N and marginals p_i., p_.j:

    MI = sum_{p_ij > 0} p_ij ln(p_ij / (p_i. p_.j))

which is what ``sklearn.metrics.mutual_info_score`` computes from a contingency table (it also
zeroes terms below 2.2e-16 in magnitude and clips the total at 0; neither changes a value beyond
1e-15, so both are reproduced here). The two sets of the field differ only in the histogram:

* the Evaluator (standard set): every grey level is its own class, a 256 x 256 co-occurrence;
* the seed set: 20 equal-width bins between each image's own min and max
  (``numpy.histogram2d(x, f, bins=20)``).
"""

from __future__ import annotations

import numpy as np

_TINY_TERM = 2.220446049250313e-16


def mutual_information_levels(x_levels: np.ndarray, y_levels: np.ndarray) -> float:
    """MI of two uint8 images with one class per grey level (256 x 256 joint histogram).

    Equals ``mutual_info_score(x.ravel(), y.ravel())``; symmetric in its arguments.
    """
    x = np.asarray(x_levels, dtype=np.uint8).ravel().astype(np.intp)
    y = np.asarray(y_levels, dtype=np.uint8).ravel().astype(np.intp)
    joint = np.bincount(x * 256 + y, minlength=256 * 256).reshape(256, 256)
    return mutual_information_from_joint(joint)


def mutual_information_binned(x: np.ndarray, y: np.ndarray, bins: int = 20) -> float:
    """MI from a ``bins`` x ``bins`` histogram with equal-width bins over each image's min..max.

    Bin edges are ``linspace(min, max, bins + 1)``; v falls in bin k when edge_k <= v < edge_k+1,
    and v = max in the last bin (``numpy.histogram2d`` semantics, including its widening of a
    constant image's range to min - 0.5 .. max + 0.5). This is the seed's ``compute_mi``.
    """
    ix = bin_index(np.asarray(x), bins)
    iy = bin_index(np.asarray(y), bins)
    joint = np.bincount(ix * bins + iy, minlength=bins * bins).reshape(bins, bins)
    return mutual_information_from_joint(joint)


def mutual_information_from_joint(joint: np.ndarray) -> float:
    """MI (nats) of a joint count table n_ij; 0 for a table with a single occupied row or column."""
    joint = np.asarray(joint, dtype=np.float64)
    total = joint.sum()
    rows = joint.sum(axis=1)
    cols = joint.sum(axis=0)
    i, j = np.nonzero(joint)
    n = joint[i, j]
    terms = (n / total) * (np.log(n) + np.log(total) - np.log(rows[i]) - np.log(cols[j]))
    terms[np.abs(terms) < _TINY_TERM] = 0.0
    return float(max(np.sum(terms), 0.0))


def bin_index(image: np.ndarray, bins: int) -> np.ndarray:
    """Flat bin number (0..bins-1) of every pixel, ``numpy.histogram2d`` edge semantics.

    uint8 images are binned through a 256-entry table of the same rule (same result, faster).
    """
    values = image.ravel()
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    if values.dtype == np.uint8:
        return _bin_of(np.arange(256, dtype=np.float64), edges)[values]
    return _bin_of(values.astype(np.float64), edges)


def _bin_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = len(edges) - 2
    return index
