"""Despeckler benchmark: quality on the synthetic Data2/Data3 US images, speed at 600x600.

Run from the repository root (needs ../shared beside the checkout)::

    .venv/bin/python bench/despeckle.py

For each despeckler it prints PSNR and SSIM of the despeckled observed US against the noise-free
US (``US_GT``), the gain over the noisy observation, and the wall time on the 600x600 Data1 US
(max-normalised, as PALM receives it), with the ratio to the classical despeckler measured in the
same run. Times are medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.denoise import (  # noqa: E402
    ClassicalDespeckler,
    Denoiser,
    DnCNNDenoiser,
    estimate_noise_std,
)
from engine.dncnn import load_dncnn, weights_identity  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SETS = {
    "Data2": ("data2", "us1", "us1_gt"),
    "Data3": ("data3", "us", "us_gt"),
}


class Identity(Denoiser):
    name = "noisy observation"

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        return image


class NonLocalMeans(Denoiser):
    """The runner-up of the classical choice (scikit-image NL-means, fast mode, 5x5 patches)."""

    def __init__(self, h_factor: float = 1.0) -> None:
        self.h_factor = h_factor
        self.name = f"NL-means (h = {h_factor:g} sigma, bias removed)"

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        from skimage.restoration import denoise_nl_means

        from engine.denoise import LOG_RAYLEIGH_MEAN, LOG_RAYLEIGH_STD

        sigma = estimate_noise_std(image)
        out = denoise_nl_means(
            image,
            h=self.h_factor * sigma,
            sigma=sigma,
            patch_size=5,
            patch_distance=6,
            fast_mode=True,
        )
        return out - sigma * LOG_RAYLEIGH_MEAN / LOG_RAYLEIGH_STD


def quality(truth: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """PSNR and SSIM against the truth, data range = its max - min (engine.metrics)."""
    from engine.metrics import reference_scores

    scores = reference_scores(image, truth)
    return scores["PSNR"], scores["SSIM"]


def timed(denoiser: Denoiser, image: np.ndarray, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        denoiser.denoise(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from scipy.io import loadmat

    if not SHARED.is_dir():
        print(f"{SHARED} is not available; nothing to measure.")
        return 1
    weights = SHARED / "dncnn_sigma25_net.pth"
    denoisers: list[Denoiser] = [
        Identity(),
        ClassicalDespeckler(),
        ClassicalDespeckler(remove_bias=False),
        NonLocalMeans(),
        DnCNNDenoiser(load_dncnn(weights), weights_identity(weights, "dncnn-sigma25")),
    ]
    data = {
        label: (
            loadmat(SHARED / folder / "US_observed.mat")[obs_key],
            loadmat(SHARED / folder / "US_GT.mat")[gt_key],
        )
        for label, (folder, obs_key, gt_key) in SETS.items()
    }
    us600 = loadmat(SHARED / "data1" / "us.mat")["us"]
    us600 = us600 / us600.max()

    for label, (observed, truth) in data.items():
        print(
            f"{label}: {observed.shape[0]}x{observed.shape[1]}, noise std "
            f"{np.std(observed - truth):.4f} (estimated {estimate_noise_std(observed):.4f}), "
            f"mean {np.mean(observed - truth):.4f}"
        )
    print()
    header = (
        f"{'despeckler':58s} | {'Data2 PSNR':>10s} {'gain':>6s} {'SSIM':>6s} | "
        f"{'Data3 PSNR':>10s} {'gain':>6s} {'SSIM':>6s} | {'600x600 s':>9s} {'x classical':>11s}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for denoiser in denoisers:
        scores = []
        for observed, truth in data.values():
            scores.append(quality(truth, denoiser.denoise(observed)))
        seconds = timed(denoiser, us600, args.repeats)
        rows.append((denoiser.name, scores, seconds))
    noisy_scores = rows[0][1]
    classical_seconds = rows[1][2]
    for name, scores, seconds in rows:
        cells = []
        for (p, s), (p0, _) in zip(scores, noisy_scores, strict=True):
            cells.append(f"{p:10.2f} {p - p0:+6.2f} {s:6.4f}")
        ratio = seconds / classical_seconds
        print(f"{name[:58]:58s} | {cells[0]} | {cells[1]} | {seconds:9.3f} {ratio:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
