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


class _CountingNet(torch.nn.Module):
    """A 1x1 convolution standing in for the ADM: counts its evaluations."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 3, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x)


def test_the_dry_run_evaluates_each_variant_once_and_the_full_check_warms_up_and_repeats():
    gpu_check = _load_script()
    cpu = torch.device("cpu")
    variants = len(gpu_check.variants_for(cpu))  # float32, bf16, bf16 channels-last
    for sizes, per_variant in ((gpu_check.DRY, 1), (gpu_check.FULL, 1 + 1 + 5)):
        net = _CountingNet()
        rows = gpu_check.check_network("net", net, 8, cpu, sizes, agreement=True)
        # one float32 reference on the CPU, then per variant: (agreement call, warm-up,) repeats
        assert net.calls == 1 + variants * per_variant, sizes
        errors = {r.case: r.value for r in rows if "rel. error" in r.case}
        assert errors["net float32 vs CPU float32, rel. error"] == 0.0
        assert 0.0 < errors["net bf16 vs CPU float32, rel. error"] < 0.05  # a bf16 output
        assert len(rows) == 2 * variants
    calls = []
    seconds, error = gpu_check.measure(lambda: calls.append(1) or len(calls), cpu,
                                       gpu_check.FULL, compare=float)
    assert error == 1.0 and len(calls) == 1 + 1 + 5 and seconds >= 0.0  # compared first
    calls.clear()
    assert gpu_check.measure(lambda: calls.append(1) or len(calls), cpu, gpu_check.DRY,
                             compare=float)[1] == 1.0 and len(calls) == 1


def test_end_to_end_runs_each_case_once_dry_and_after_a_short_warm_up_in_full(monkeypatch):
    gpu_check = _load_script()
    runs = []

    class _Pair:
        def fusion_input(self):
            return None

    monkeypatch.setattr(gpu_check, "make_phantom_pair", lambda *a: _Pair())
    monkeypatch.setattr(gpu_check, "run_method",
                        lambda method, _input, params, device: runs.append((method, params.steps)))
    cpu = torch.device("cpu")
    for sizes, warm in ((gpu_check.DRY, []), (gpu_check.FULL, [2])):
        for weights in ("", "weights.pt"):
            runs.clear()
            rows = gpu_check.end_to_end(cpu, sizes, weights)
            palm = [("ddfm-palm", s) for s in (*warm, sizes.palm_steps)]
            em = [("ddfm-em", s) for s in (*warm, sizes.em_steps)] if weights else []
            assert runs == 2 * (em + palm), (sizes, weights)  # float32, then bfloat16
            assert len(rows) == (4 if weights else 2)
