"""DDFM sampler and the two diffusion methods, against the reference run with the tiny model."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.diffusion.sampler import (
    ddfm_sample,
    ddim_step,
    predict_x0,
    rgb_to_ycbcr,
    step_info,
    ycbcr_to_rgb,
)
from engine.diffusion.schedule import respaced_schedule
from engine.diffusion.unet import ADMUNet
from engine.em import EmCorrector, em_init, em_step
from engine.errors import FusionCancelled, NumericalError, WeightsError
from engine.fusion import FusionInput
from engine.methods import run
from engine.methods.ddfm import (
    DdfmEmParams,
    DdfmPalmParams,
    PalmCorrector,
    display_luma,
    luma_from_unit,
    unit_from_luma,
)
from engine.progress import CancelToken


@pytest.fixture
def run_ref(shared):
    with np.load(shared("fixtures", "ddfm_tiny_run.npz")) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture
def tiny_path(shared):
    return shared("fixtures", "adm_tiny.pt")


@pytest.fixture
def tiny_model(tiny_path):
    tiny = torch.load(tiny_path, weights_only=True)
    model = ADMUNet(**tiny["config"]).eval()
    model.load_state_dict(tiny["state_dict"])
    return model


def t(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def test_end_to_end_tiny_run_matches_reference(run_ref, tiny_model):
    steps = []
    em = EmCorrector(t(run_ref["I"]), t(run_ref["V"]), lamb=0.5, rho=0.001)
    sample = ddfm_sample(
        tiny_model, t(run_ref["x_start"]), em, respacing=10,
        progress=lambda info, x0: steps.append(info),
    )
    np.testing.assert_allclose(sample.numpy(), run_ref["sample"], atol=2e-4, rtol=0)
    assert [s.index for s in steps] == run_ref["step_idx"].tolist()
    assert [s.timestep for s in steps] == run_ref["step_model_t"].tolist()
    np.testing.assert_allclose(display_luma(sample[0].numpy()), run_ref["fused"], atol=5e-5)


def test_schedule_of_the_run(run_ref):
    sched = respaced_schedule(10)
    assert sched.timestep_map.tolist() == run_ref["timestep_map"].tolist()
    np.testing.assert_array_equal(sched.betas, run_ref["betas"])
    np.testing.assert_array_equal(sched.alphas_cumprod, run_ref["alphas_cumprod"])
    np.testing.assert_array_equal(sched.alphas_cumprod_prev, run_ref["alphas_cumprod_prev"])


def test_each_stage_teacher_forced(run_ref, tiny_model):
    sched = respaced_schedule(10)
    I, V = t(run_ref["I"]), t(run_ref["V"])  # noqa: E741
    state = em_init(I)
    for k in range(10):
        info = step_info(sched, k)
        x_t = t(run_ref["step_x_t"][k])
        with torch.no_grad():
            out = tiny_model(x_t, torch.tensor([info.timestep]))
        np.testing.assert_allclose(out.numpy(), run_ref["step_model_out"][k], atol=1e-4)
        model_out = t(run_ref["step_model_out"][k])
        x0 = predict_x0(sched, info.index, x_t, model_out[:, :3]).clamp(-1, 1)
        np.testing.assert_allclose(x0.numpy(), run_ref["step_pred_xstart_clipped"][k], atol=1e-4)
        clipped = t(run_ref["step_pred_xstart_clipped"][k])
        ycc = rgb_to_ycbcr(clipped)
        np.testing.assert_allclose(ycc[:, :1].numpy(), run_ref["step_em_fpre"][k], atol=1e-6)
        F, state = em_step(t(run_ref["step_em_fpre"][k]), I, V, state, 0.5, 0.001)
        np.testing.assert_allclose(F.numpy(), run_ref["step_em_F"][k], atol=1e-5)
        assert float(state.tau_a) == pytest.approx(float(run_ref["step_tau_a"][k]), rel=1e-5)
        assert float(state.tau_b) == pytest.approx(float(run_ref["step_tau_b"][k]), rel=1e-5)
        rebuilt = ycbcr_to_rgb(torch.cat([t(run_ref["step_em_F"][k]), ycc[:, 1:]], dim=1))
        np.testing.assert_allclose(rebuilt.numpy(), run_ref["step_pred_xstart_em"][k], atol=1e-5)
        corrected = t(run_ref["step_pred_xstart_em"][k])
        step = ddim_step(sched, info.index, x_t, model_out, lambda _x0, c=corrected: c)
        expected_next = run_ref["step_x_t"][k + 1] if k < 9 else run_ref["sample"]
        np.testing.assert_allclose(step.prev_sample.numpy(), expected_next, atol=1e-4)


def test_colour_round_trip_keeps_chroma():
    rgb = torch.rand(1, 3, 5, 7, generator=torch.Generator().manual_seed(0)) * 2 - 1
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)).numpy(), rgb.numpy(), atol=1e-5)


def test_nan_from_the_network_stops_the_run(run_ref, tiny_model):
    with torch.no_grad():
        tiny_model.out[2].bias[0] = float("nan")
    with pytest.raises(NumericalError, match="NaN"):
        ddfm_sample(tiny_model, t(run_ref["x_start"]),
                    EmCorrector(t(run_ref["I"]), t(run_ref["V"])), 10)


def test_shapes_are_checked(run_ref, tiny_model):
    from engine.errors import ParameterError

    with pytest.raises(ParameterError):
        ddfm_sample(tiny_model, t(run_ref["x_start"]),
                    EmCorrector(t(run_ref["I"])[:, :, :16], t(run_ref["V"])), 10)


# ------------------------------------------------------------------ methods


def _pair(size=(37, 31), d=1, seed=0, noise=0.0):
    """A smooth random pair; ``noise``: std of white noise added to both (noise-free images
    make the joint model's noise-relative weights extreme)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    us = gaussian_filter(rng.standard_normal(size), 3)
    us = 0.05 + 0.9 * (us - us.min()) / (us.max() - us.min())
    h, w = size[0] // d, size[1] // d
    mri = us[: h * d, : w * d].reshape(h, d, w, d).mean(axis=(1, 3))
    if noise:
        us = us + noise * rng.standard_normal(us.shape)
        mri = mri + noise * rng.standard_normal(mri.shape)
    return FusionInput(y_m=mri / mri.max(), y_u=us[: h * d, : w * d] / us.max(), d=d)


def test_ddfm_em_method_on_an_odd_size(tiny_path):
    pair = _pair()
    events = []
    params = DdfmEmParams(steps=5, seed=7, preview_every=2, weights_file=str(tiny_path))
    result = run("ddfm-em", pair, params, progress=events.append)
    assert result.fused.shape == (37, 31) and np.isfinite(result.fused).all()
    # the reference luminance, mapped to the US scale by a least-squares affine fit: the fit
    # keeps the mean of the US and the image is still an affine map of a [0, 1] luminance
    assert result.fused.mean() == pytest.approx(pair.y_u.mean(), abs=1e-9)
    assert np.ptp(result.fused) > 0
    assert result.mri_estimate is not None and result.mri_estimate.shape == (37, 31)
    assert result.seed == 7 and result.weights[0].file == "adm_tiny.pt"
    assert len(result.weights[0].sha256) == 64
    assert [e.step for e in events] == [0, 1, 2, 3, 4, 5]
    assert len(result.previews) == 3 and result.previews[0].shape == (37, 31)
    again = run("ddfm-em", pair, params)
    np.testing.assert_array_equal(again.fused, result.fused)
    other = run("ddfm-em", pair, DdfmEmParams(steps=5, seed=8, weights_file=str(tiny_path)))
    # the EM correction dominates DDFM: another seed changes the image only slightly
    assert 0 < np.abs(other.fused - result.fused).max() < 1e-2


def test_cancel_stops_at_the_next_step(tiny_path):
    token = CancelToken()
    seen = []

    def progress(event):
        seen.append(event.step)
        if event.step == 2:
            token.cancel()

    with pytest.raises(FusionCancelled):
        run("ddfm-em", _pair(), DdfmEmParams(steps=6, weights_file=str(tiny_path)),
            progress=progress, cancel=token)
    assert max(seen) == 2


def test_missing_and_wrong_checkpoint(tmp_path, monkeypatch, tiny_path):
    from engine.checkpoints import checkpoints_dir

    manifest = checkpoints_dir() / "manifest.json"
    shutil.copy(manifest, tmp_path / "manifest.json")
    monkeypatch.setenv("ENDOFUSE_CHECKPOINTS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"256x256_diffusion_uncond\.pt.*" + tmp_path.name):
        run("ddfm-em", _pair(), DdfmEmParams(steps=2))
    # a file of the right name holding other weights: named, with the expected keys
    tiny = torch.load(tiny_path, weights_only=True)
    torch.save(tiny["state_dict"], tmp_path / "256x256_diffusion_uncond.pt")
    with pytest.raises(WeightsError, match=r"256x256_diffusion_uncond\.pt.*expected keys"):
        run("ddfm-palm", _pair(), DdfmPalmParams(steps=2))
    # a pinned digest that does not match
    data = json.loads(manifest.read_text())
    data["checkpoints"][0]["sha256"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(WeightsError, match="sha256"):
        run("ddfm-em", _pair(), DdfmEmParams(steps=2))


def test_user_prior_file_must_describe_itself(tmp_path, tiny_path):
    tiny = torch.load(tiny_path, weights_only=True)
    bare = tmp_path / "bare.pt"
    torch.save(tiny["state_dict"], bare)
    with pytest.raises(WeightsError, match="bare.pt"):
        run("ddfm-em", _pair(), DdfmEmParams(steps=2, weights_file=str(bare)))


# ------------------------------------------------------------------ DDFM-PALM


def _palm_corrector(pair, prior_weight=1.0):
    from engine.joint_palm import initial_joint_state, joint_step, make_joint_problem

    params = DdfmPalmParams()
    problem = make_joint_problem(pair.y_m, pair.y_u, pair.d, params)
    state = initial_joint_state(problem)
    for _ in range(5):
        state = joint_step(state, problem)
    return PalmCorrector(problem, state, prior_weight)


def test_palm_step_returns_a_perfect_estimate_and_follows_the_prior():
    pair = _pair(size=(24, 20), d=2, noise=0.02)
    corrector = _palm_corrector(pair)
    state = corrector.initial_state()
    crop = corrector.problem.crop
    # the data-consistent US of the PALM solution is a fixed point of the data step
    perfect = crop(state.x_us)
    returned = crop(corrector.data_step(perfect, state, noise_level=0.01).x_us)
    assert float((returned - perfect).abs().max()) < 1e-3
    # a wrong estimate is pulled toward the data, but its difference survives in part
    rng = np.random.default_rng(1)
    wrong = perfect + torch.from_numpy(0.2 * rng.standard_normal(perfect.shape))
    moved = crop(corrector.data_step(wrong, state, noise_level=0.01).x_us)
    gap_before = float((wrong - perfect).abs().mean())
    gap_after = float((moved - perfect).abs().mean())
    assert 0.05 * gap_before < gap_after < 0.9 * gap_before  # output depends on the prior
    # early (large noise level) the estimate is returned almost unchanged
    early = crop(corrector.data_step(wrong, state, noise_level=100.0).x_us)
    assert float((early - wrong).abs().max()) < 1e-3
    # the MRI block is held at the PALM solution
    held = corrector.data_step(wrong, state, noise_level=0.01).x_mri
    assert torch.equal(held, state.x_mri)
    # with rho_floor = 0 the pull vanishes with the noise level: late steps are plain PALM
    w = corrector.problem.w
    free = replace(corrector, rho_floor=0.0)
    assert free.rho(0.01) == pytest.approx(1e-4 * w)
    assert corrector.rho(0.01) == pytest.approx(1.0001 * w)
    plain = crop(replace(corrector, prior_weight=0.0).data_step(wrong, state, 0.01).x_us)
    late = crop(free.data_step(wrong, state, noise_level=0.01).x_us)
    assert float((late - plain).abs().max()) < 0.01 * gap_before
    # luminance mapping is the inverse pair
    np.testing.assert_allclose(unit_from_luma(luma_from_unit(np.array([0.0, 0.3, 1.0]))),
                               [0.0, 0.3, 1.0])


def test_ddfm_palm_on_the_phantom_changes_with_the_prior(tiny_path, tmp_path):
    from engine.pairing import pair_scans
    from engine.phantom import make_phantom_pair

    phantom = make_phantom_pair(seed=0, size=48, d=4)
    pair = pair_scans(phantom.mri, phantom.us)
    params = DdfmPalmParams(steps=4, weights_file=str(tiny_path), despeckle=False,
                            prior_weight=1.0)
    result = run("ddfm-palm", pair, params)
    assert result.fused.shape == pair.us_shape == (48, 48)
    assert np.isfinite(result.fused).all()
    # another prior (same architecture, perturbed weights) gives another image
    tiny = torch.load(tiny_path, weights_only=True)
    gen = torch.Generator().manual_seed(5)
    tiny["state_dict"] = {k: v + 0.05 * torch.randn(v.shape, generator=gen)
                          for k, v in tiny["state_dict"].items()}
    other_path = tmp_path / "other_prior.pt"
    torch.save({"config": tiny["config"], "state_dict": tiny["state_dict"]}, other_path)
    other = run("ddfm-palm", pair, replace(params, weights_file=str(other_path)))
    assert np.abs(other.fused - result.fused).mean() > 1e-3
