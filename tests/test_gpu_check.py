"""bench/gpu_check.py in its CPU dry mode: every stage runs and the table has every case."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dry_run_prints_the_whole_table(capsys):
    gpu_check = _load_script()
    threads = torch.get_num_threads()
    try:
        status = gpu_check.main(["--dry-run"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "0 stages failed" in out
    for case in (
        "PALM float64 vs CPU float64, rel. error",
        "PALM 10 iterations 48x48, float32",
        "bundled prior 48x48 per evaluation, bf16 channels-last",
        "full ADM float32 vs CPU float32, rel. error",
        "full ADM 32x32 per evaluation, bf16",
        "ddfm-em 2 steps 32x32, random full ADM, bfloat16",
        "ddfm-palm 2 steps 48x48, bundled prior, float32",
        "ddfm-palm 2 steps 48x48, random full ADM, bfloat16",
    ):
        assert f"| {case}" in out, case


def test_agreement_rows_compare_against_the_cpu(monkeypatch):
    gpu_check = _load_script()
    assert gpu_check.rel_error(torch.ones(4), torch.ones(4)) == 0.0
    ten_percent = torch.full((4,), 1.1, dtype=torch.float64)
    assert abs(gpu_check.rel_error(ten_percent, torch.ones(4)) - 0.1) < 1e-12
    row = gpu_check.Row("x", 2e-6, "", 1e-6)
    assert row.verdict() == "MISSED" and gpu_check.Row("x", 1e-7, "", 1e-6).verdict() == "ok"
    # a stage that raises is reported and makes the run fail, without hiding the others
    monkeypatch.setattr(gpu_check, "check_prior", lambda *a: 1 / 0)
    monkeypatch.setattr(gpu_check, "check_palm", lambda *a: [gpu_check.Row("p", 0.0, "")])
    monkeypatch.setattr(gpu_check, "check_network", lambda *a, **k: [])
    monkeypatch.setattr(gpu_check, "end_to_end", lambda *a: [])
    threads = torch.get_num_threads()
    try:
        assert gpu_check.main(["--dry-run"]) == 1
    finally:
        torch.set_num_threads(threads)
