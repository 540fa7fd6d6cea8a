"""``endofuse metrics``: JSON and table output, ground-truth scores, errors and exit codes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.cli import main


@pytest.fixture
def triple(shared):
    folder = shared("fixtures", "metrics")
    paths = {
        key: str(folder / name)
        for key, name in (("a", "us.png"), ("b", "mri_up.png"), ("fused", "fused.png"))
    }
    reference = json.loads((folder / "metrics_reference.json").read_text())
    return paths, reference


def _args(paths, *extra):
    return ["metrics", "--a", paths["a"], "--b", paths["b"], "--fused", paths["fused"], *extra]


def test_json_output_carries_both_sets(triple, capsys):
    paths, reference = triple
    assert main(_args(paths, "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"]["a"] == paths["a"] and "reference" not in out
    assert out["standard"]["SSIM_legacy"] == pytest.approx(reference["standard"]["SSIM"], 1e-6)
    for key in ("EN", "MI", "Qabf", "PSNR", "MSE"):
        assert out["standard"][key] == pytest.approx(reference["standard"][key], rel=1e-6)
    for key, value in reference["seed_compatible"].items():
        assert out["seed_compatible"][key] == pytest.approx(value, rel=1e-6)


def test_clean_reference_and_non_finite_values_in_json(triple, capsys):
    paths, _ = triple
    assert main(_args(paths, "--clean", paths["fused"], "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference"] == {"PSNR": "inf", "SSIM": pytest.approx(1.0), "RelErr": 0.0}


def test_table_lists_fusion_metrics_then_legacy_proxies_by_their_catalog_names(triple, capsys):
    from engine.metrics import SEED_COMPATIBLE, STANDARD

    paths, _ = triple
    assert main(_args(paths)) == 0
    text = capsys.readouterr().out
    assert text.index("Fusion metrics") < text.index("Legacy proxy set")
    assert "SSIM(F,A)+SSIM(F,B) (0–2)" in text and "lower is better" in text
    for info in STANDARD + SEED_COMPATIBLE:
        assert info.label in text
    assert "ground truth" not in text.lower() and "nan" not in text  # no truth: no rows at all


def test_table_names_ground_truth_scores_first(triple, capsys):
    paths, _ = triple
    assert main(_args(paths, "--clean", paths["fused"])) == 0
    text = capsys.readouterr().out
    assert text.index("Ground truth") < text.index("Fusion metrics")
    assert "vs ground truth: PSNR (dB)" in text and "vs ground truth: SSIM (0–1)" in text


def test_range_option_scales_16_bit_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = {}
    for key in ("a", "b", "fused"):
        pixels = np.round(rng.random((48, 48)) * 255)
        images[key] = pixels
        np.save(tmp_path / f"{key}.npy", pixels * 16)  # 0..4080, 12-bit style
    paths = {key: str(tmp_path / f"{key}.npy") for key in images}
    assert main(_args(paths, "--json")) == 2  # auto refuses a 0..4080 float range
    assert "range" in capsys.readouterr().err
    assert main(_args(paths, "--range", "0:4080", "--json")) == 0
    scaled = json.loads(capsys.readouterr().out)["standard"]
    from engine.metrics import standard_metrics

    direct = standard_metrics(images["a"], images["b"], images["fused"])
    for key, value in direct.items():
        assert scaled[key] == pytest.approx(value, rel=1e-9) or math.isnan(value)


@pytest.mark.parametrize("bad", ["0-255", "255:0", "x:y", "percentile"])
def test_bad_range_is_a_parameter_error(triple, capsys, bad):
    paths, _ = triple
    assert main(_args(paths, "--range", bad)) == 2
    assert "--range" in capsys.readouterr().err


def test_size_mismatch_is_reported_not_raised(triple, tmp_path, capsys):
    paths, _ = triple
    np.save(tmp_path / "small.npy", np.random.default_rng(1).random((50, 60)))
    paths = dict(paths, fused=str(tmp_path / "small.npy"))
    assert main(_args(paths)) == 2
    assert "same size" in capsys.readouterr().err


def test_readme_and_benchmark_use_the_catalog_names():
    """One name per metric: the README names every metric as the catalog does, and the quality
    benchmark's columns are the catalog's ground-truth names."""
    import re
    from pathlib import Path

    from engine.metrics import GROUND_TRUTH, SEED_COMPATIBLE, SET_TITLES, STANDARD

    root = Path(__file__).resolve().parents[1]
    readme = re.sub(r"\s+", " ", (root / "README.md").read_text(encoding="utf-8"))
    for info in STANDARD + SEED_COMPATIBLE + GROUND_TRUTH:
        assert f'"{info.label}"' in readme, info.label
    for title in SET_TITLES.values():
        assert title in readme, title
    for old in ("standard set", "Against ground truth", "QABF_proxy", "SSIM_legacy"):
        assert old not in readme, old
    bench = (root / "bench" / "quality.py").read_text(encoding="utf-8")
    assert "GROUND_TRUTH" in bench and "'PSNR'" not in bench


def test_batch_report_heads_its_metric_columns_with_the_catalog_names(tmp_path):
    from engine.batch.report import write_report, write_results_csv
    from engine.batch.store import PairOutcome

    outcome = PairOutcome("p0", "fused", seconds={"fuse": 1.0},
                          metrics={"PSNR": 20.0, "SSIM": 1.1, "MI": 2.0, "Qabf": 0.3})
    text = write_report([outcome], tmp_path).read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| pair"))
    assert "SSIM(F,A)+SSIM(F,B) (0–2)" in header and "PSNR vs sources (dB)" in header
    assert "| SSIM |" not in header
    csv_text = write_results_csv([outcome], tmp_path / "results.csv").read_text()
    assert csv_text.splitlines()[0].endswith("PSNR,SSIM,MI,Qabf")  # machine columns keep keys
