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
from engine.registration import RegistrationSettings, bound_scale, compose, register

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


def test_the_rigid_stage_finds_a_rigid_pose_and_the_refine_stage_sharpens_it():
    bench = bench_module()
    case = bench.phantom_case(np.random.default_rng(5), 5, 600, 6, (10.0, 0.0, 0.1))
    spacing = case.us.info.pixel_spacing_mm
    rigid_only = RegistrationSettings(affine_iterations=0, refine_iterations=0)
    rigid = register(case.mri, case.us, settings=rigid_only)
    refined = register(case.mri, case.us, settings=RegistrationSettings(affine_iterations=0))
    assert (rigid.stages, refined.stages) == ("rigid", "rigid+refine")
    # on edges alone the rigid stage lands about 1 US pixel away; the link stage brings it closer
    assert bench.rms_error_pixels(rigid.transform, case.truth, case.us, spacing) < 2.0
    assert bench.rms_error_pixels(refined.transform, case.truth, case.us, spacing) < 0.9


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
    # the start scores 0.9 and every pose after it 0.5: the mutual information fell
    metrics = iter([-0.9])
    monkeypatch.setattr(registration, "metric_value", lambda *args: next(metrics, -0.5))
    few = RegistrationSettings(rigid_iterations=2, affine_iterations=2, refine_iterations=2)
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


def _singular_values_of_change(found, start=None):
    start_matrix = np.eye(2) if start is None else start.A
    return np.linalg.svd(np.linalg.inv(start_matrix) @ found.A, compute_uv=False)


def test_bound_scale_clips_the_scales_of_the_change_and_keeps_the_rest():
    rng = np.random.default_rng(4)
    start = AffineTransform2D.from_parameters(5.0, (1.2, 0.9), (1.0, 2.0), (3.0, 4.0))
    for _ in range(20):
        change = AffineTransform2D.from_parameters(
            rng.uniform(-30, 30), tuple(rng.uniform(0.5, 1.6, 2)), (0.0, 0.0), (3.0, 4.0)
        )
        moved = compose(start, change)
        bounded = bound_scale(moved, start, (0.8, 1.25))
        s = _singular_values_of_change(bounded, start)
        assert np.all(s >= 0.8 - 1e-9) and np.all(s <= 1.25 + 1e-9)
        np.testing.assert_allclose(bounded.apply(np.array(moved.center)), moved.apply(moved.center))
    inside = compose(start, AffineTransform2D.from_parameters(12.0, (0.9, 1.1), center=(3.0, 4.0)))
    assert bound_scale(inside, start, (0.8, 1.25)) == inside


def test_a_bounded_registration_never_leaves_its_scale_bounds():
    bench = bench_module()
    stretch = AffineTransform2D.from_parameters(3.0, (1.1, 0.9)).matrix  # scales 1.1 and 0.9
    case = bench.phantom_case(np.random.default_rng(2), 2, 240, 6, (0.0, 0.0, 0.03), stretch)
    tight = RegistrationSettings(scale_bounds=(0.96, 1.04))
    s = _singular_values_of_change(register(case.mri, case.us, settings=tight).transform)
    assert np.all(s >= 0.96 - 1e-9) and np.all(s <= 1.04 + 1e-9)
    free = _singular_values_of_change(register(case.mri, case.us).transform)
    assert free.max() > 1.06 and free.min() < 0.94  # the bounds were what held it


def test_the_metric_mask_leaves_out_the_margin_of_the_region():
    from engine.registration_sitk import image, inner_mask

    mask = inner_mask((10, 20), 0.1, image(np.zeros((10, 20)), (1.0, 1.0), (0.0, 0.0)))
    import SimpleITK as sitk

    pixels = sitk.GetArrayFromImage(mask)
    expected = np.zeros((10, 20), dtype=np.uint8)
    expected[1:9, 2:18] = 1
    np.testing.assert_array_equal(pixels, expected)


def test_the_link_pseudo_us_matches_a_us_made_by_a_link_at_the_true_pose():
    from scipy import ndimage

    from engine.pairing import PairingOptions, plan_pair
    from engine.registration_features import FeatureFrame, link_basis
    from engine.registration_sitk import metric_value
    from engine.scan import Scan, ScanInfo

    rng = np.random.default_rng(0)
    mri = ndimage.gaussian_filter(rng.normal(size=(24, 30)), 2.0)
    basis = link_basis(mri, 1.0)
    us_link = 1.0 + 0.5 * basis[1] - 0.3 * basis[2] + 0.8 * basis[4] + 0.2 * basis[6]
    # MRI pixel (i, j) sits on US pixel (6 i, 6 j): the US is the link, upsampled
    rows, cols = np.mgrid[0:144, 0:180] / 6.0
    us = ndimage.map_coordinates(us_link, [rows, cols], order=1, mode="nearest")
    mri_scan = Scan(mri, ScanInfo(modality="MR", pixel_spacing_mm=(6.0, 6.0)))
    us_scan = Scan(us, ScanInfo(modality="US", pixel_spacing_mm=(1.0, 1.0)))
    report = plan_pair(mri_scan, us_scan, PairingOptions())
    frame = FeatureFrame(us, mri, report.geometry, report.roi.roi, 0.1)
    identity = AffineTransform2D(center=report.geometry.roi_center)
    shifted = AffineTransform2D(translation=(4.0, -3.0), center=report.geometry.roi_center)
    link = frame.link(identity, 0.5, 1.0, 1)
    assert metric_value(link, identity, 32) < -0.99  # negated correlation
    assert metric_value(link, shifted, 32) > -0.95


def test_the_unmoved_data1_pair_stays_near_the_published_alignment(shared):
    from engine.io import load_scan

    mri = load_scan(shared("data", "data1", "irm.mat"))
    us = load_scan(shared("data", "data1", "us.mat"))
    found = register(mri, us).transform
    bench = bench_module()
    # mutual information of the raw intensities moved it 88 px RMS (scales 0.73 x 0.79)
    assert bench.rms_error_pixels(found, AffineTransform2D(), us, (1.0, 1.0)) < 15.0
    assert np.all(np.abs(_singular_values_of_change(found) - 1.0) < 0.05)


def test_an_affine_or_refine_stage_that_makes_its_metric_worse_is_dropped(monkeypatch):
    import engine.registration as registration

    pair = make_phantom_pair(0, 240, 6)
    far = AffineTransform2D(translation=(3.0, -2.0))  # 30 and 20 US pixels off

    def lost(runner, feature_pair, initial, schedule, start, settings):
        return AffineTransform2D(far.matrix, far.translation, initial.center, "lost")

    monkeypatch.setattr(registration, "_affine", lost)
    result = register(pair.mri, pair.us)
    assert result.stages == "rigid" and result.transform.source.endswith("rigid)")
    assert abs(result.transform.translation[0]) < 1.0


def test_two_runs_on_one_pair_give_the_same_transform():
    import SimpleITK as sitk

    bench = bench_module()
    case = bench.phantom_case(np.random.default_rng(7), 7, 240, 6, (10.0, 0.1, 0.1))
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    first, second = (register(case.mri, case.us).transform for _ in range(2))
    assert first == second
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads  # restored


def _frames_with_invented_border(mask):
    """FeatureFrames of a phantom pair with its own MRI and with noise on the MRI's border."""
    from engine.pairing import PairingOptions, plan_pair
    from engine.registration_features import FeatureFrame

    pair = make_phantom_pair(0, 240, 6)
    mri = pair.mri.pixels
    invented = mri.copy()
    border = np.zeros(mri.shape, dtype=bool)
    border[:8, :] = border[:, :8] = True  # as a moved MRI that repeats its edge, or padding
    noise = np.random.default_rng(0).uniform(mri.min(), mri.max(), mri.shape)
    invented[border] = noise[border]
    report = plan_pair(pair.mri, pair.us, PairingOptions())
    us = pair.us.pixels[report.roi.roi.rows, report.roi.roi.cols]
    valid = ~border if mask else None
    frames = [
        FeatureFrame(us, m, report.geometry, report.roi.roi, 0.1, valid) for m in (mri, invented)
    ]
    return frames, report.geometry.roi_center


@pytest.mark.parametrize("feature", ["edges", "link"])
def test_the_mri_mask_keeps_invented_mri_pixels_out_of_the_metrics(feature):
    from engine.registration_sitk import metric_value

    def metrics(mask):
        frames, center = _frames_with_invented_border(mask)
        moved = AffineTransform2D.from_parameters(3.0, 1.04, (2.0, -1.5), center)
        poses = [AffineTransform2D(center=center), moved]
        values = []
        for frame in frames:
            pair = (
                frame.edges(4.0, 1.0, 5)
                if feature == "edges"
                else frame.link(poses[0], 4.0, 1.0, 3)
            )
            values.append([metric_value(pair, pose, 32) for pose in poses])
        return np.array(values)

    masked, unmasked = metrics(True), metrics(False)
    np.testing.assert_allclose(masked[0], masked[1], rtol=1e-9)  # the noise is not seen
    assert np.max(np.abs(unmasked[0] - unmasked[1])) > 1e-3  # without the mask it is


def test_an_mri_mask_of_another_shape_is_refused():
    pair = make_phantom_pair(0, 120, 6)
    with pytest.raises(ValueError, match="shape"):
        register(pair.mri, pair.us, mri_mask=np.ones((3, 3), dtype=bool))


def test_the_refine_is_judged_by_the_link_and_the_divergence_check_by_the_edge_stages(
    monkeypatch,
):
    import engine.registration as registration

    pair = make_phantom_pair(0, 120, 6)
    real_affine = registration._affine

    def tagged(runner, feature_pair, initial, schedule, start, settings):
        found = real_affine(runner, feature_pair, initial, schedule, start, settings)
        return found.with_source("refined") if schedule.stage == "refine" else found

    def metric(feature_pair, transform, bins):
        refined = transform.source == "refined"
        if feature_pair.metric == "cc":  # the link: the refine improves it
            return -0.7 if refined else -0.5
        if transform.source == "identity":  # the edges at the start
            return -0.9
        return -0.1 if refined else -0.95  # the refine trades edge MI for the link

    monkeypatch.setattr(registration, "_affine", tagged)
    monkeypatch.setattr(registration, "metric_value", metric)
    few = RegistrationSettings(rigid_iterations=2, affine_iterations=2, refine_iterations=2)
    result = register(pair.mri, pair.us, settings=few)
    assert result.stages == "rigid+affine+refine"
    assert (result.metric_before, result.metric_after) == (-0.9, -0.95)
