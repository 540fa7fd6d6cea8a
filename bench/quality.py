"""Fusion quality against ground truth: PSNR / SSIM to the clean US, one table, one run.

Pairs: Data2 and Data3 of the reference data (synthetic, MRI already on the US grid, d = 1;
``../shared/data``) and three demo phantoms (seeds 0-2, 600x600, d = 6). Rows: the MRI on the US
grid (bicubic, affinely matched to the US by least squares, since MRI and US intensities differ),
the despeckled US, ``palm`` (both variants, product defaults otherwise), and ``ddfm-em`` /
``ddfm-palm`` when a diffusion prior is given (``--prior FILE`` with config and state_dict) or
placed in ``checkpoints/``. All images on the max-normalised US scale.

    python bench/quality.py [--prior FILE] [--steps 50] [--phantoms 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.denoise import despeckle_stage  # noqa: E402
from engine.errors import WeightsError  # noqa: E402
from engine.fusion import FusionInput  # noqa: E402
from engine.methods import get_method, run  # noqa: E402
from engine.metrics import reference_scores  # noqa: E402
from engine.pairing import pair_scans  # noqa: E402
from engine.phantom import make_phantom_pair  # noqa: E402
from engine.resample import imresize_bicubic  # noqa: E402
from engine.scan import Scan  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def reference_pair(folder: str) -> FusionInput:
    def only(path: Path) -> np.ndarray:
        content = scipy.io.loadmat(path)
        return next(v for k, v in content.items() if not k.startswith("__"))

    base = DATA / folder
    us = only(base / "US_observed.mat")
    fusion_input = pair_scans(Scan(only(base / "IRM_observed.mat")), Scan(us))
    clean = only(base / "US_GT.mat") / us.max()
    return FusionInput(fusion_input.y_m, fusion_input.y_u, fusion_input.d, clean_us=clean)


def matched_mri(fusion_input: FusionInput) -> np.ndarray:
    """Bicubic MRI on the US grid, a * mri + b fitted to the observed US by least squares."""
    up = imresize_bicubic(fusion_input.y_m, fusion_input.d)
    design = np.stack([up.ravel(), np.ones(up.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, fusion_input.y_u.ravel(), rcond=None)
    return (design @ coef).reshape(up.shape)


def rows(fusion_input: FusionInput, prior: str | None, steps: int):
    yield "MRI (bicubic, matched)", matched_mri(fusion_input), 0.0
    t = time.perf_counter()
    yield "despeckled US", despeckle_stage(fusion_input.y_u).image, time.perf_counter() - t
    palm = get_method("palm").params_type
    for variant in ("reference", "corrected"):
        result = run("palm", fusion_input, palm(variant=variant))
        yield f"palm ({variant})", result.fused, result.elapsed_s
    for method in ("ddfm-em", "ddfm-palm"):
        params_type = get_method(method).params_type
        params = params_type(steps=steps, weights_file=prior or "")
        try:
            result = run(method, fusion_input, params)
        except WeightsError as exc:
            yield f"{method} (no prior: {str(exc)[:40]}...)", None, 0.0
            continue
        yield f"{method} ({steps} steps)", result.fused, result.elapsed_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=None, help="diffusion prior file (config+state_dict)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--phantoms", type=int, default=3)
    args = parser.parse_args()
    pairs = {name: reference_pair(name) for name in ("data2", "data3") if (DATA / name).is_dir()}
    for seed in range(args.phantoms):
        pairs[f"phantom {seed}"] = make_phantom_pair(seed=seed).fusion_input()
    print(f"{'pair':10s} {'image':34s} {'PSNR dB':>8s} {'SSIM':>7s} {'time s':>7s}")
    for name, fusion_input in pairs.items():
        for label, image, seconds in rows(fusion_input, args.prior, args.steps):
            if image is None:
                print(f"{name:10s} {label:34s} {'-':>8s} {'-':>7s} {'-':>7s}")
                continue
            scores = reference_scores(image, fusion_input.clean_us)
            print(f"{name:10s} {label:34s} {scores['PSNR']:8.2f} {scores['SSIM']:7.4f} "
                  f"{seconds:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
