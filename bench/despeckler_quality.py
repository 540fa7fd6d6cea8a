"""Learned despeckler against the classical one and DnCNN sigma = 25, on Data2/Data3.

Run from the repository root (needs ../shared beside the checkout)::

    .venv/bin/python bench/despeckler_quality.py [--weights FILE [--dilations 1,2,3,4,3,2,1]]
                                                 [--threads 1] [--repeats 3]

For each despeckler: PSNR and SSIM of the despeckled ``US_observed`` against ``US_GT`` (data
range of the truth), and the median wall time on the 600x600 Data1 US (max-normalised, as PALM
receives it), with the ratio to the classical despeckler measured in the same run. Learned
rows: the bundled despeckler (``checkpoints/``, through the registry) when present, and
``--weights`` (an ``endofuse train-denoiser`` output; give its ``--dilations`` and
``--noise-std`` when it was trained with them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.despeckle import SETS, SHARED, quality  # noqa: E402
from bench.despeckle import timed as median_seconds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--dilations", default=None, help="of --weights, e.g. 1,2,3,4,3,2,1")
    parser.add_argument("--noise-std", type=float, default=None,
                        help="of --weights when trained on normalised speckle")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    from scipy.io import loadmat

    from engine.commands.train_denoiser import parse_dilations
    from engine.denoise import (
        ClassicalDespeckler,
        Denoiser,
        DnCNNDenoiser,
        NormalisedDnCNNDenoiser,
        bundled_despeckler,
    )
    from engine.dncnn import load_dncnn, weights_identity

    if args.threads:
        torch.set_num_threads(args.threads)
    if not SHARED.is_dir():
        print(f"{SHARED} is not available; nothing to measure.")
        return 1

    class Noisy(Denoiser):
        name = "noisy observation"

        def _denoise(self, image):
            return image

    dncnn25 = SHARED / "dncnn_sigma25_net.pth"
    denoisers = [
        Noisy(),
        ClassicalDespeckler(),
        DnCNNDenoiser(load_dncnn(dncnn25), weights_identity(dncnn25, "dncnn-sigma25")),
    ]
    bundled = bundled_despeckler()
    if bundled is not None:
        bundled.name = f"bundled {bundled.name}"
        denoisers.append(bundled)
    if args.weights:
        model = load_dncnn(args.weights, dilations=parse_dilations(args.dilations))
        identity = weights_identity(args.weights, "despeckler")
        denoisers.append(
            NormalisedDnCNNDenoiser(model, args.noise_std, identity) if args.noise_std
            else DnCNNDenoiser(model, identity)
        )
    data = {
        label: (loadmat(SHARED / folder / "US_observed.mat")[obs],
                loadmat(SHARED / folder / "US_GT.mat")[gt])
        for label, (folder, obs, gt) in SETS.items()
    }
    us600 = loadmat(SHARED / "data1" / "us.mat")["us"]
    us600 = us600 / us600.max()
    print(f"threads {torch.get_num_threads()}")
    header = (f"{'despeckler':44s} | {'Data2 PSNR':>10s} {'SSIM':>6s} | {'Data3 PSNR':>10s} "
              f"{'SSIM':>6s} | {'600x600 s':>9s} {'x classical':>11s}")
    print(header)
    print("-" * len(header))
    rows = []
    for denoiser in denoisers:
        scores = [quality(truth, denoiser.denoise(obs)) for obs, truth in data.values()]
        rows.append((denoiser.name, scores, median_seconds(denoiser, us600, args.repeats)))
    classical_seconds = rows[1][2]
    for name, scores, seconds in rows:
        cells = " | ".join(f"{p:10.2f} {s:6.4f}" for p, s in scores)
        print(f"{name[:44]:44s} | {cells} | {seconds:9.3f} {seconds / classical_seconds:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
