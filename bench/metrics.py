"""Benchmark of the fusion metrics on a 600x600 triple.

Prints, for each metric (or group of cheap ones), the time of our implementation and of a
straightforward one written as the reference code writes it (2-D windows with
``scipy.signal.convolve2d``, boolean-mask indexing, ``np.unique`` contingency tables,
``np.histogram2d``), measured in the same run, and their ratio; then the time of the whole sets.
The target is standard + seed-compatible in at most 1 s on 2 CPU cores.

    .venv/bin/python bench/metrics.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics as stats
import time

import numpy as np

from engine.metrics import (
    edges,
    fusion_metrics,
    information,
    quantise_uint8,
    seed_metrics,
    standard_metrics,
    statistics,
    structure,
    vif,
)

SIDE = 600


def synthetic_triple(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A speckled 'US', a blocky upsampled 'MRI' and their blend, uint8, 600x600."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    tissue = 110 + 70 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    us = tissue * rng.rayleigh(0.8, tissue.shape)
    mri = np.kron(rng.integers(0, 256, (100, 100)), np.ones((6, 6))) * 0.6 + 0.4 * tissue
    mri[:150, :200] = 0
    fused = 0.5 * us + 0.5 * mri + rng.normal(0, 4, tissue.shape)
    return tuple(np.clip(np.round(x), 0, 255).astype(np.uint8) for x in (us, mri, fused))


# --------------------------------------------------------------------------- straightforward forms


def naive_vif(ref, dist):
    from scipy.signal import convolve2d

    ref, dist = ref.astype(np.float64), dist.astype(np.float64)
    num = den = 0.0
    for scale in (1, 2, 3, 4):
        w = np.rot90(vif.window_2d(2 ** (5 - scale) + 1), 2)
        if scale > 1:
            ref = convolve2d(ref, w, mode="valid")[::2, ::2]
            dist = convolve2d(dist, w, mode="valid")[::2, ::2]
        mu1, mu2 = convolve2d(ref, w, mode="valid"), convolve2d(dist, w, mode="valid")
        s1 = convolve2d(ref * ref, w, mode="valid") - mu1 * mu1
        s2 = convolve2d(dist * dist, w, mode="valid") - mu2 * mu2
        s12 = convolve2d(ref * dist, w, mode="valid") - mu1 * mu2
        n, d = vif._scale_sums(s1, s2, s12)
        num, den = num + n, den + d
    return num / den


def _naive_edge_field(image):
    from scipy.signal import convolve2d

    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
    sx = convolve2d(image, h3, mode="same")
    sy = convolve2d(image, h1, mode="same")
    angle = np.full(image.shape, np.pi / 2)
    angle[sx != 0] = np.arctan(sy[sx != 0] / sx[sx != 0])
    return np.sqrt(sx * sx + sy * sy), angle


def _naive_q(g_x, a_x, g_f, a_f):
    strength = np.zeros_like(g_x)
    strength[g_x > g_f] = g_f[g_x > g_f] / g_x[g_x > g_f]
    strength[g_x == g_f] = g_f[g_x == g_f]
    strength[g_x < g_f] = g_x[g_x < g_f] / g_f[g_x < g_f]
    orientation = 1 - np.abs(a_x - a_f) / (np.pi / 2)
    return (
        0.9994
        / (1 + np.exp(-15 * (strength - 0.5)))
        * 0.9879
        / (1 + np.exp(-22 * (orientation - 0.8)))
    )


def naive_qabf(a, b, f):
    (ga, aa), (gb, ab), (gf, af) = (_naive_edge_field(x.astype(np.float64)) for x in (a, b, f))
    return np.sum(_naive_q(ga, aa, gf, af) * ga + _naive_q(gb, ab, gf, af) * gb) / np.sum(ga + gb)


def naive_mi_levels(x, y):
    _, ix = np.unique(x.ravel(), return_inverse=True)
    _, iy = np.unique(y.ravel(), return_inverse=True)
    table = np.zeros((ix.max() + 1, iy.max() + 1))
    np.add.at(table, (ix, iy), 1)
    return information.mutual_information_from_joint(table)


def naive_mi_binned(x, y):
    table, _, _ = np.histogram2d(x.ravel().astype(float), y.ravel().astype(float), bins=20)
    return information.mutual_information_from_joint(table)


def naive_entropy(levels):
    _, counts = np.unique(levels, return_counts=True)
    p = counts / levels.size
    return -np.sum(p * np.log2(p))


def naive_proxy(x, f):
    from scipy.ndimage import sobel

    sx = np.mod(sobel(x.astype(np.int32)), 256)
    sf = np.mod(sobel(f.astype(np.int32)), 256)
    return np.corrcoef(sf.ravel(), sx.ravel())[0, 1]


def cheap_statistics(a, b, f):
    return (
        statistics.standard_deviation(f),
        statistics.spatial_frequency(f),
        statistics.average_gradient(f),
        statistics.pearson(a, f),
        statistics.pearson(b, f),
        statistics.difference_correlation(a, f, b),
        statistics.difference_correlation(b, f, a),
        statistics.mean_squared_error(a, f),
        statistics.mean_squared_error(b, f),
    )


def naive_cheap_statistics(a, b, f):
    def r(x, y):
        return np.corrcoef(x.ravel(), y.ravel())[0, 1]

    gy, gx = np.gradient(f)
    return (
        np.std(f),
        np.sqrt(np.mean(np.diff(f, axis=1) ** 2) + np.mean(np.diff(f, axis=0) ** 2)),
        np.mean(np.sqrt((gx**2 + gy**2) / 2)),
        r(a, f),
        r(b, f),
        r(a, f - b),
        r(b, f - a),
        np.mean((a - f) ** 2),
        np.mean((b - f) ** 2),
    )


# --------------------------------------------------------------------------- timing


def timed(function, repeat: int) -> tuple[float, float]:
    """(best, median) wall time in seconds over ``repeat`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times), stats.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat

    a8, b8, f8 = synthetic_triple()
    a, b, f = (x.astype(np.float64) for x in (a8, b8, f8))
    rows = [
        # name, ours, straightforward (None: the same library call)
        ("EN (256 levels)", lambda: statistics.entropy_bits(f8), lambda: naive_entropy(f8)),
        (
            "SD SF AG CC SCD MSE PSNR",
            lambda: cheap_statistics(a, b, f),
            lambda: naive_cheap_statistics(a, b, f),
        ),
        (
            "MI exact, 2 pairs",
            lambda: [information.mutual_information_levels(f8, x) for x in (a8, b8)],
            lambda: [naive_mi_levels(f8, x) for x in (a8, b8)],
        ),
        (
            "MI 20 bins, 2 pairs",
            lambda: [information.mutual_information_binned(x, f8) for x in (a8, b8)],
            lambda: [naive_mi_binned(x, f8) for x in (a8, b8)],
        ),
        (
            "VIF, 2 pairs",
            lambda: vif.vif_terms_many([a, b], f),
            lambda: [naive_vif(x, f) for x in (a, b)],
        ),
        (
            "Qabf",
            lambda: edges.qabf(*(edges.edge_field(x) for x in (a, b, f))),
            lambda: naive_qabf(a, b, f),
        ),
        (
            "QABF_proxy, 2 pairs",
            lambda: [edges.sobel_correlation_proxy(x, f8) for x in (a8, b8)],
            lambda: [naive_proxy(x, f8) for x in (a8, b8)],
        ),
        (
            "SSIM R=255, 2 pairs",
            lambda: [structure.ssim(f, x) for x in (a, b)],
            None,
        ),
        (
            "quantise to uint8",
            lambda: [quantise_uint8(x) for x in (a, b, f)],
            None,
        ),
    ]
    print(
        f"Fusion metrics on a {SIDE}x{SIDE} triple; {os.cpu_count()} CPUs visible, "
        f"load average {os.getloadavg()[0]:.2f}; best (median) of {repeat} runs, ms"
    )
    header = f"{'piece':<28}{'ours':>18}{'straightforward':>20}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    naive_total = 0.0
    for name, ours, naive in rows:
        best, median = timed(ours, repeat)
        if naive is None:
            print(f"{name:<28}{best * 1e3:>9.1f} ({median * 1e3:6.1f}){'same library call':>20}")
            naive_total += best
            continue
        n_best, n_median = timed(naive, repeat)
        naive_total += n_best
        print(
            f"{name:<28}{best * 1e3:>9.1f} ({median * 1e3:6.1f})"
            f"{n_best * 1e3:>11.1f} ({n_median * 1e3:6.1f}){n_best / best:>7.1f}x"
        )
    print("-" * len(header))
    sets = [
        ("standard_metrics", lambda: standard_metrics(a8, b8, f8)),
        ("seed_metrics", lambda: seed_metrics(a8, b8, f8)),
        (
            "standard + seed (2 calls)",
            lambda: (standard_metrics(a8, b8, f8), seed_metrics(a8, b8, f8)),
        ),
        ("fusion_metrics (both)", lambda: fusion_metrics(a8, b8, f8)),
    ]
    results = {}
    for name, run in sets:
        best, median = timed(run, repeat)
        results[name] = best
        print(f"{name:<28}{best * 1e3:>9.1f} ({median * 1e3:6.1f})")
    print(
        f"\nstraightforward pieces, summed once each: {naive_total * 1e3:.0f} ms; "
        f"ratio to fusion_metrics {naive_total / results['fusion_metrics (both)']:.1f}x"
    )
    verdict = "within" if results["standard + seed (2 calls)"] <= 1.0 else "OVER"
    print(
        f"standard + seed in two calls: {results['standard + seed (2 calls)']:.3f} s "
        f"({verdict} the 1 s budget)"
    )


if __name__ == "__main__":
    main()
