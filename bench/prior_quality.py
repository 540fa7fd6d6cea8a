"""Denoising quality of a trained diffusion prior against non-local means, on held-out images.

Run from the repository root::

    .venv/bin/python bench/prior_quality.py [--weights out/prior/prior.pt] [--threads 1]

Held-out images (never used for training, ``engine.training.data``): the central 256x256 crops
of scikit-image's ``camera`` and ``coins`` and of the phantom tissue and clean US of seed 0
(the demo pair). For sigma = 10, 25, 50 (of 255) white Gaussian noise is added (seeded), and
the PSNR to the clean image is printed for the noisy image, scikit-image NL-means (fast mode,
7x7 patches, search distance 11, h = 0.8 sigma, the noise sigma given) and the prior's
one-step MMSE estimate (``engine.training.prior.prior_denoise``), with the time per image.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def held_out_images(size: int = 256) -> dict[str, np.ndarray]:
    from engine.training.data import HELD_OUT_IMAGES, phantom_images, skimage_gray

    images = {name: skimage_gray(name) for name in HELD_OUT_IMAGES}
    tissue, clean_us = phantom_images((0,), 384)
    images |= {"phantom 0 tissue": tissue, "phantom 0 US": clean_us}
    crops = {}
    for name, image in images.items():
        top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
        crops[name] = image[top : top + size, left : left + size]
    return crops


def psnr(truth: np.ndarray, image: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((truth - image) ** 2)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="prior file (config+state_dict); default: the registry's prior")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch
    from skimage.restoration import denoise_nl_means

    from engine.checkpoints import load_diffusion_prior
    from engine.training.prior import prior_denoise

    if args.threads:
        torch.set_num_threads(args.threads)
    model, identity = load_diffusion_prior("ddfm-em", args.weights or None)
    print(f"prior {identity.file} sha256 {identity.sha256[:12]}; threads {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    header = f"{'image':18s} {'sigma':>5s} | {'noisy':>6s} {'NL-means':>8s} {'prior':>6s} " \
             f"{'prior-NLM':>9s} | {'NLM s':>6s} {'prior s':>7s}"
    print(header)
    print("-" * len(header))
    gains = {}
    for name, clean in held_out_images().items():
        for sigma255 in (10, 25, 50):
            sigma = sigma255 / 255
            noisy = clean + sigma * rng.standard_normal(clean.shape)
            t0 = time.perf_counter()
            nlm = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, patch_size=7,
                                   patch_distance=11, fast_mode=True)
            t1 = time.perf_counter()
            learned = prior_denoise(model, noisy, sigma)
            t2 = time.perf_counter()
            p_noisy, p_nlm, p_prior = psnr(clean, noisy), psnr(clean, nlm), psnr(clean, learned)
            gains.setdefault(sigma255, []).append(p_prior - p_nlm)
            print(f"{name:18s} {sigma255:5d} | {p_noisy:6.2f} {p_nlm:8.2f} {p_prior:6.2f} "
                  f"{p_prior - p_nlm:+9.2f} | {t1 - t0:6.2f} {t2 - t1:7.2f}")
    for sigma255, values in gains.items():
        print(f"mean prior - NL-means at sigma {sigma255}: {np.mean(values):+.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
