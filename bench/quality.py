"""Fusion quality against ground truth: PSNR / SSIM to the clean US, one table, one run.

Pairs: Data2 and Data3 of the reference data (synthetic, MRI already on the US grid, d = 1;
``../shared/data``) and three demo phantoms (seeds 0-2, 600x600, d = 6). Rows: the MRI on the US
grid (bicubic, affinely matched to the US by least squares, since MRI and US intensities differ),
the despeckled US, ``palm`` (both variants, product defaults otherwise), and ``ddfm-em`` /
``ddfm-palm`` with the registry's prior (the bundled one unless the public prior is placed in
``checkpoints/``) or ``--prior FILE``, for each number of DDIM steps in ``--steps``. All images
on the max-normalised US scale; ``ddfm-em`` returns a min-max normalised luminance, so it is
affinely matched to the observed US like the MRI. The time column is the end-to-end wall time;
the phantoms are 600x600, the size of the demo pair.

    python bench/quality.py [--prior FILE] [--steps 10,25,50] [--phantoms 3] [--only ddfm-palm]
                            [--vary prior_weight=0.3,1,3] [--pairs data3,phantom0]

``--vary NAME=V1,V2`` runs the diffusion methods that have the parameter NAME once per value (the
sweep used to choose defaults); ``--pairs`` restricts the pairs.
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


def matched(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """a * image + b fitted to ``target`` by least squares."""
    design = np.stack([image.ravel(), np.ones(image.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, target.ravel(), rcond=None)
    return (design @ coef).reshape(image.shape)


def rows(fusion_input: FusionInput, prior: str | None, steps: list[int], only: str | None,
         vary: tuple[str, list[float]] | None = None):
    if only is None:
        up = imresize_bicubic(fusion_input.y_m, fusion_input.d)
        yield "MRI (bicubic, matched)", matched(up, fusion_input.y_u), 0.0
        t = time.perf_counter()
        yield "despeckled US", despeckle_stage(fusion_input.y_u).image, time.perf_counter() - t
        palm = get_method("palm").params_type
        for variant in ("reference", "corrected"):
            result = run("palm", fusion_input, palm(variant=variant))
            yield f"palm ({variant})", result.fused, result.elapsed_s
    for method in ("ddfm-em", "ddfm-palm"):
        if only not in (None, method):
            continue
        params_type = get_method(method).params_type
        name, values = vary if vary else (None, [None])
        if name is not None and name not in params_type.__dataclass_fields__:
            continue
        for count in steps:
            for value in values:
                extra = {name: type(getattr(params_type(), name))(value)} if name else {}
                params = params_type(steps=count, weights_file=prior or "", **extra)
                try:
                    result = run(method, fusion_input, params)
                except WeightsError as exc:
                    yield f"{method} (no prior: {str(exc)[:40]}...)", None, 0.0
                    return
                fused = (matched(result.fused, fusion_input.y_u) if method == "ddfm-em"
                         else result.fused)
                label = f"{method} ({count} steps" + (f", {name} {value:g})" if name else ")")
                yield label, fused, result.elapsed_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=None, help="diffusion prior file (config+state_dict)")
    parser.add_argument("--steps", default="10,25,50", help="comma-separated DDIM step counts")
    parser.add_argument("--phantoms", type=int, default=3)
    parser.add_argument("--only", choices=("ddfm-em", "ddfm-palm"), default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--vary", default=None, help="NAME=V1,V2,... (a diffusion parameter)")
    parser.add_argument("--pairs", default=None, help="comma-separated: data2,data3,phantom0,...")
    args = parser.parse_args()
    vary = None
    if args.vary:
        name, _, values = args.vary.partition("=")
        vary = (name, [float(v) for v in values.split(",")])
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    steps = [int(s) for s in args.steps.split(",")]
    pairs = {name: reference_pair(name) for name in ("data2", "data3") if (DATA / name).is_dir()}
    for seed in range(args.phantoms):
        pairs[f"phantom {seed}"] = make_phantom_pair(seed=seed).fusion_input()
    if args.pairs:
        wanted = set(args.pairs.split(","))
        pairs = {k: v for k, v in pairs.items() if k.replace(" ", "") in wanted}
    print(f"{'pair':10s} {'image':44s} {'PSNR dB':>8s} {'SSIM':>7s} {'time s':>7s}", flush=True)
    for name, fusion_input in pairs.items():
        for label, image, seconds in rows(fusion_input, args.prior, steps, args.only, vary):
            if image is None:
                print(f"{name:10s} {label:44s} {'-':>8s} {'-':>7s} {'-':>7s}")
                continue
            scores = reference_scores(image, fusion_input.clean_us)
            print(f"{name:10s} {label:44s} {scores['PSNR']:8.2f} {scores['SSIM']:7.4f} "
                  f"{seconds:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
