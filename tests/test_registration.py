"""Automatic registration: known poses recovered, cancel, divergence, the command line."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.errors import FusionCancelled, RegistrationError
from engine.geometry import AffineTransform2D, read_transform
from engine.phantom import make_phantom_pair
from engine.progress import CancelToken, ProgressReporter
from engine.registration import RegistrationSettings, compose, register

BENCH = Path(__file__).resolve().parents[1] / "bench" / "registration.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_registration", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [3, 11])
def test_known_pose_is_recovered_within_one_us_pixel(seed):
    bench = bench_module()
    case = bench.phantom_case(np.random.default_rng(seed), seed, 600, 6, (10.0, 0.1, 0.1))
    events = []
    found = register(case.mri, case.us, reporter=ProgressReporter(events.append)).transform
    error = bench.rms_error_pixels(found, case.truth, case.us, case.us.info.pixel_spacing_mm)
    assert error < 1.0 and events and events[-1].message.startswith("registration")


def test_the_rigid_stage_alone_recovers_a_rigid_pose():
    bench = bench_module()
    case = bench.phantom_case(np.random.default_rng(5), 5, 600, 6, (10.0, 0.0, 0.1))
    rigid_only = RegistrationSettings(affine_iterations=0)
    found = register(case.mri, case.us, settings=rigid_only).transform
    assert bench.rms_error_pixels(found, case.truth, case.us, case.us.info.pixel_spacing_mm) < 1.0


def test_compose_matches_applying_one_after_the_other():
    outer = AffineTransform2D.from_parameters(7.0, (1.1, 0.9), (2.0, -1.0), (5.0, 5.0))
    inner = AffineTransform2D.from_parameters(-3.0, 1.05, (-0.5, 0.25), (1.0, 2.0))
    points = np.array([[0.0, 0.0], [3.0, 4.0], [-2.0, 7.5]])
    np.testing.assert_allclose(
        compose(outer, inner).apply(points), outer.apply(inner.apply(points)), atol=1e-12
    )


def test_cancel_stops_the_registration():
    pair = make_phantom_pair(0, 120, 6)
    token = CancelToken()
    token.cancel()
    with pytest.raises(FusionCancelled):
        register(pair.mri, pair.us, reporter=ProgressReporter(None, token))


def test_a_run_that_makes_the_match_worse_keeps_the_previous_pose(monkeypatch):
    import engine.registration as registration

    pair = make_phantom_pair(0, 120, 6)
    metrics = iter([-0.9, -0.5])  # before, after: the mutual information fell from 0.9 to 0.5
    monkeypatch.setattr(registration, "_metric", lambda *args: next(metrics))
    few = RegistrationSettings(rigid_iterations=2, affine_iterations=2)
    with pytest.raises(RegistrationError, match="0.900 -> 0.500.*previous pose is kept"):
        register(pair.mri, pair.us, settings=few)


def test_register_then_fuse_from_the_command_line(tmp_path, capsys):
    pair = make_phantom_pair(0, 240, 6)
    np.save(tmp_path / "mri.npy", pair.mri.pixels)
    np.save(tmp_path / "us.npy", pair.us.pixels)
    common = ["--mri", str(tmp_path / "mri.npy"), "--us", str(tmp_path / "us.npy")]
    assert main(["register", *common, "--out", str(tmp_path / "t.json"), "--quiet"]) == 0
    assert read_transform(tmp_path / "t.json").source.startswith("file")
    fused = [
        "fuse",
        *common,
        "--out",
        str(tmp_path / "f.png"),
        "--quiet",
        "--overwrite",
        "--param",
        "iterations=1",
    ]
    assert main([*fused, "--register", str(tmp_path / "t.json")]) == 0
    content = json.loads((tmp_path / "t.json").read_text())
    content["matrix"] = [[0.0, 0.0], [0.0, 0.0]]
    (tmp_path / "bad.json").write_text(json.dumps(content))
    capsys.readouterr()
    assert main([*fused, "--register", str(tmp_path / "bad.json")]) == 2
    assert "is not invertible" in capsys.readouterr().err
    assert main(["register", *common, "--out", str(tmp_path / "t.txt")]) == 2
