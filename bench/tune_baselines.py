"""Choose the weights of the MRI-only baselines on the tuning pairs (the same budget as the fusion).

    python bench/tune_baselines.py [--weights 0.01,0.03,0.1,0.3,1,3]

Prints the PSNR against the MRI truth of the Tikhonov and TV restorations of the MRI alone for
each relative weight on every tuning pair (``bench/truth_pairs.py``), and their mean; the weight
with the best mean is the default of :mod:`engine.baselines`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from truth_pairs import tuning_pairs  # noqa: E402

from engine.baselines import tikhonov_mri, tv_mri  # noqa: E402
from engine.metrics import reference_scores  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0.01,0.03,0.1,0.3,1,3")
    args = parser.parse_args()
    pairs = tuning_pairs()
    print(f"{'restoration':12s} {'weight':>7s} " + " ".join(f"{p.name:>14s}" for p in pairs)
          + f" {'mean':>7s}", flush=True)
    for name, restore in (("Tikhonov", tikhonov_mri), ("TV", tv_mri)):
        for weight in (float(w) for w in args.weights.split(",")):
            scores = [reference_scores(restore(p.fusion_input.y_m, p.fusion_input.d, weight)
                                       * p.mri_scale, p.mri_truth)["PSNR"] for p in pairs]
            print(f"{name:12s} {weight:7.3g} " + " ".join(f"{s:14.2f}" for s in scores)
                  + f" {np.mean(scores):7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
