"""Fusion quality in both domains against the best single-modality result of the same run.

For every pair with ground truth (``bench/truth_pairs.py``: reported pairs by default, tuning
pairs with ``--pairs tune``, the check scenes with ``--pairs check``) it prints, in the units of
the ground truth (the max-normalisation undone), under the catalog's names
("vs ground truth: PSNR (dB)", "vs ground truth: SSIM (0–1)"), the raw scores and the PSNR after
a least-squares affine match to the truth of

* the MRI domain: the MRI alone (bicubic or as observed, Tikhonov and TV restoration with the
  true PSF, :mod:`engine.baselines`) and each method's ``mri_estimate`` against the MRI truth
  (the methods' raw scores are those of the product's one metrics entry,
  :func:`engine.pipeline.measure`, the same numbers the viewer and ``endofuse metrics`` show);
* the US domain: the US alone (the bundled despeckler, the classical filter, the TV MRI mapped
  through the link) and each method's ``fused`` against the US truth;

then ``gain = method - best baseline`` (raw PSNR) per domain, and a summary over the pairs. The
baselines' weights were chosen on the tuning pairs (``bench/tune_baselines.py``), like the
methods' defaults; ``--oracle`` adds, as labelled upper bounds, the MRI-only restorations with
the weight that is best on each reported pair, and the gain over them.

    python bench/quality.py [--pairs report|tune|check|NAME,...]
                            [--methods palm,ddfm-palm,ddfm-em] [--steps N]
                            [--vary NAME=V1,V2 [--vary NAME2=W1,W2]] [--oracle]

``--vary`` reruns the methods for each value of a parameter, and for every combination when it
is given for several (the sweeps that chose the defaults, on the tuning pairs). Times are
end-to-end seconds of the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from truth_pairs import TruthPair, check_pairs, reported_pairs, tuning_pairs  # noqa: E402

from engine.baselines import link_mapped, mri_alone, tikhonov_mri, tv_mri  # noqa: E402
from engine.denoise import despeckle_stage  # noqa: E402
from engine.methods import get_method, run  # noqa: E402
from engine.metrics import GROUND_TRUTH, reference_scores  # noqa: E402
from engine.pipeline import record_of  # noqa: E402

#: column headings: the catalog's names of the ground-truth scores (engine/metrics/catalog.py)
PSNR_NAME, SSIM_NAME = (info.label for info in GROUND_TRUTH[:2])
MATCHED_NAME = "PSNR after affine match (dB)"
COLUMNS = (PSNR_NAME, SSIM_NAME, MATCHED_NAME, "gain (dB)", "time (s)")

#: the weights tried for the oracle rows (bench/tune_baselines.py's grid around its choice)
ORACLE_WEIGHTS = (0.03, 0.1, 0.3, 1.0, 3.0)


def affine_matched(image: np.ndarray, truth: np.ndarray) -> np.ndarray:
    design = np.stack([image.ravel(), np.ones(image.size)], axis=1)
    coef, *_ = np.linalg.lstsq(design, truth.ravel(), rcond=None)
    return (design @ coef).reshape(image.shape)


@dataclasses.dataclass(frozen=True)
class Score:
    psnr: float
    ssim: float
    psnr_matched: float
    seconds: float


def score(image: np.ndarray, truth: np.ndarray, seconds: float, psnr: float | None = None,
          ssim: float | None = None) -> Score:
    """Raw PSNR / SSIM (given by :func:`engine.pipeline.measure` for a method's record, else
    computed here with the same :func:`reference_scores`) and the affinely matched PSNR."""
    if psnr is None or ssim is None:
        raw = reference_scores(image, truth)
        psnr, ssim = raw["PSNR"], raw["SSIM"]
    matched = reference_scores(affine_matched(image, truth), truth)
    return Score(psnr, ssim, matched["PSNR"], seconds)


def baselines(pair: TruthPair) -> dict[str, dict[str, Score]]:
    """{domain: {row: score}} of the single-modality restorations."""
    fi = pair.fusion_input
    mri_rows, us_rows = {}, {}
    tv_image = None
    for restored in mri_alone(fi.y_m, fi.d):
        t = time.perf_counter()
        mri_rows[restored.name] = score(restored.image * pair.mri_scale, pair.mri_truth,
                                        time.perf_counter() - t)
        tv_image = restored.image
    for choice in ("learned", "classical"):
        t = time.perf_counter()
        image = despeckle_stage(fi.y_u, choice=choice).image
        us_rows[f"US despeckled ({choice})"] = score(image * pair.us_scale, pair.us_truth,
                                                     time.perf_counter() - t)
        if choice == "learned":
            learned = image
    mapped = link_mapped(tv_image, learned)
    us_rows["MRI TV through the link"] = score(mapped * pair.us_scale, pair.us_truth, 0.0)
    return {"MRI": mri_rows, "US": us_rows}


def oracle_rows(pair: TruthPair) -> dict[str, Score]:
    """Upper bounds, not baselines: the MRI-only restorations with the weight of ORACLE_WEIGHTS
    that is best on this very pair (chosen with its truth)."""
    fi = pair.fusion_input
    rows = {}
    for name, restore in (("Tikhonov", tikhonov_mri), ("TV", tv_mri)):
        scored = [score(restore(fi.y_m, fi.d, w) * pair.mri_scale, pair.mri_truth, 0.0)
                  for w in ORACLE_WEIGHTS]
        rows[f"MRI {name}, oracle weight (upper bound)"] = max(scored, key=lambda s: s.psnr)
    return rows


def method_rows(pair: TruthPair, methods: list[str], steps: int | None,
                vary: list[tuple[str, list[str]]]) -> dict[str, dict[str, Score]]:
    """Each method at every combination of the varied values (the parameters it has)."""
    fi = pair.fusion_input
    rows: dict[str, dict[str, Score]] = {"MRI": {}, "US": {}}
    for method in methods:
        params_type = get_method(method).params_type
        names = {f.name for f in dataclasses.fields(params_type)}
        own = [(name, values) for name, values in vary if name in names]
        for combination in itertools.product(*(values for _, values in own)):
            changes = {name: type(getattr(params_type(), name))(value)
                       for (name, _), value in zip(own, combination, strict=True)}
            if steps and "steps" in names:
                changes["steps"] = steps
            result = run(method, fi, params_type(**changes))
            label = method + "".join(f" {k}={v}" for k, v in changes.items())
            reference = record_of(result, fi).metrics.reference
            rows["US"][label] = score(result.fused * pair.us_scale, pair.us_truth,
                                      result.elapsed_s, reference["PSNR"], reference["SSIM"])
            if result.mri_estimate is not None:
                rows["MRI"][label] = score(result.mri_estimate * pair.mri_scale,
                                           pair.mri_truth, result.elapsed_s,
                                           reference["MRI PSNR"], reference["MRI SSIM"])
    return rows


def _cells(s: Score, gain: float | None) -> str:
    """One row's values under :data:`COLUMNS`, each as wide as its heading."""
    texts = (f"{s.psnr:.2f}", f"{s.ssim:.3f}", f"{s.psnr_matched:.2f}",
             "" if gain is None else f"{gain:+.2f}", f"{s.seconds:.1f}")
    return " ".join(f"{text:>{len(name)}s}" for text, name in zip(texts, COLUMNS, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="report")
    parser.add_argument("--methods", default="palm")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--vary", action="append", default=[],
                        help="NAME=V1,V2,... (repeat for a grid)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--oracle", action="store_true",
                        help="also the MRI-only restorations with the weight best on each pair "
                        "(upper bounds, chosen with the truth; not baselines)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    vary = []
    for text in args.vary:
        name, _, values = text.partition("=")
        vary.append((name, values.split(",")))
    sets = {"report": reported_pairs, "tune": tuning_pairs, "check": check_pairs}
    if args.pairs in sets:
        pairs = sets[args.pairs]()
    else:
        wanted = set(args.pairs.split(","))
        pairs = [p for p in reported_pairs() + tuning_pairs() + check_pairs()
                 if p.name.replace(" ", "") in wanted]
    methods = args.methods.split(",")
    gains: dict[str, dict[str, list[float]]] = {}
    print(f"{'pair':16s} {'domain':6s} {'image':44s} "
          + " ".join(f"{name:>{len(name)}s}" for name in COLUMNS), flush=True)
    for pair in pairs:
        base = baselines(pair)
        oracle = oracle_rows(pair) if args.oracle else {}
        ours = method_rows(pair, methods, args.steps, vary)
        for domain in ("MRI", "US"):
            best = max(s.psnr for s in base[domain].values())
            bound = max([s.psnr for s in oracle.values()] + [best]) if domain == "MRI" else best
            shown = dict(base[domain], **(oracle if domain == "MRI" else {}))
            for label, s in shown.items():
                print(f"{pair.name:16s} {domain:6s} {label:44s} {_cells(s, None)}")
            for label, s in ours[domain].items():
                gain = s.psnr - best
                gains.setdefault(label, {}).setdefault(domain, []).append(gain)
                if domain == "MRI" and oracle:
                    gains[label].setdefault("MRI vs oracle", []).append(s.psnr - bound)
                print(f"{pair.name:16s} {domain:6s} {label:44s} {_cells(s, gain)}", flush=True)
    print(f"\nsummary: gain over the best single-modality baseline ({PSNR_NAME}), "
          "mean / min over pairs")
    for label, by_domain in gains.items():
        text = "  ".join(f"{d} {np.mean(v):+.2f} / {np.min(v):+.2f}" for d, v in by_domain.items())
        print(f"  {label:44s} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
