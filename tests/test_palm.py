"""PALM against the GNU Octave run of the original MATLAB code, plus properties of its steps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from engine.errors import FusionCancelled, ParameterError
from engine.operators import CircularBlur, gaussian_psf
from engine.palm import (
    PalmParams,
    PalmState,
    block_sum,
    initial_state,
    make_problem,
    mri_update,
    palm_fuse,
    palm_step,
)
from engine.palm_link import estimate_link
from engine.progress import CancelToken
from engine.resample import imresize_bicubic


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def data1(request):
    from conftest import shared_path

    return dict(np.load(shared_path("fixtures", "palm", "data1_reference.npz")))


@pytest.fixture(scope="module")
def golden_runs(data1):
    c = data1["c_octave"]
    return {
        n: palm_fuse(data1["ym"], data1["xu0"], c, PalmParams(iterations=n)) for n in (1, 10)
    }


def test_bicubic_matches_octave_imresize(data1):
    assert rel(imresize_bicubic(data1["ym"], 6), data1["yint_octave"]) <= 1e-10


def test_estimate_link_matches_octave(data1, shared):
    irm = scipy.io.loadmat(shared("data", "data1", "irm.mat"))["irm"]
    us = scipy.io.loadmat(shared("data", "data1", "us.mat"))["us"]
    assert rel(estimate_link(irm, us, d=6), data1["cest_octave"]) <= 1e-9
    # the fusion inputs (max-normalised) give the same coefficients: the fit is scale-free
    assert rel(estimate_link(data1["ym"], us / us.max(), d=6), data1["cest_octave"]) <= 1e-9


@pytest.mark.parametrize("iterations", [1, 10])
def test_palm_reference_matches_octave(golden_runs, data1, iterations):
    result = golden_runs[iterations]
    # tolerances from the fixture README: x1's mean is only known to steps of 6.25e-11
    assert rel(result.x_us, data1[f"x2_octave_{iterations}"]) <= 1e-8
    assert rel(result.x_mri, data1[f"x1_octave_{iterations}"]) <= 2e-8
    centred = result.x_mri - result.x_mri.mean()
    ref = data1[f"x1_octave_{iterations}"]
    assert rel(centred, ref - ref.mean()) <= 1e-10


def test_every_reference_descent_takes_101_steps(golden_runs, data1):
    assert golden_runs[10].inner_steps == tuple(int(n) + 1 for n in data1["niter_inner_octave_10"])


def _periodic_dtd(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for axis in (0, 1):
        out += 2 * x - np.roll(x, 1, axis) - np.roll(x, -1, axis)
    return out


def _direct_blur(x: np.ndarray) -> np.ndarray:
    """Centred circular convolution with the 5x5 Gaussian, by shifts (independent of FFTs)."""
    k = gaussian_psf()
    out = np.zeros_like(x)
    for a in range(5):
        for b in range(5):
            out += k[a, b] * np.roll(x, (a - 2, b - 2), axis=(0, 1))
    return out


@pytest.mark.parametrize("d,shape", [(2, (12, 10)), (3, (7, 5)), (4, (5, 9)), (6, (4, 3))])
@pytest.mark.parametrize("variant", ["reference", "corrected"])
def test_mri_update_solves_its_normal_equations(d, shape, variant):
    """(w_d H^T S^T S H + tau Q) x = H^T S^T y + 2 tau1 X, with w_d = 1 (corrected), d^2/4 (ref)."""
    rng = np.random.default_rng(d)
    h, w = shape
    y_m = rng.uniform(0.1, 1, (h, w))
    x1k = rng.uniform(0.1, 1, (h * d, w * d))
    x2 = rng.uniform(0.1, 1, (h * d, w * d))
    c = np.abs(rng.normal(size=15)) * 0.1
    tau1 = 1e-2
    params = PalmParams(d=d, tau1=tau1, variant=variant)
    problem = make_problem(y_m, x2, c, params)
    state = PalmState(torch.from_numpy(x1k), torch.from_numpy(x2))
    x = mri_update(state, problem).numpy()

    link = problem.link
    t1 = torch.from_numpy(x1k)
    target = (t1 - 4 * link.derivative_x(t1, problem.grad_yint) * (torch.from_numpy(x2)
              - link.of_image(t1))).numpy()
    zero_filled = np.zeros_like(x1k)
    zero_filled[::d, ::d] = y_m
    rhs = _direct_blur(zero_filled) + 2 * tau1 * target  # H symmetric: H^T = H
    sampled = np.zeros_like(x)
    sampled[::d, ::d] = _direct_blur(x)[::d, ::d]
    w_d = 1.0 if variant == "corrected" else d * d / 4
    q_x = _periodic_dtd(x) + (1e-8 + 100 * tau1) * x
    lhs = w_d * _direct_blur(sampled) + q_x
    assert np.linalg.norm(lhs - rhs) / np.linalg.norm(rhs) <= 1e-8


def test_block_sum_is_adjoint_of_tiling():
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=(12, 15)))
    u = torch.from_numpy(rng.normal(size=(4, 5)))
    lhs = float((block_sum(z, 3) * u).sum())
    rhs = float((z * u.repeat(3, 3)).sum())
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_blur_otf_equals_direct_convolution_on_odd_size():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(37, 31))
    blur = CircularBlur.gaussian(x.shape)
    np.testing.assert_allclose(blur.A(torch.from_numpy(x)).numpy(), _direct_blur(x), atol=1e-13)


@pytest.mark.parametrize("variant", ["reference", "corrected"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_palm_runs_for_any_scale_factor_and_odd_sizes(variant, d):
    rng = np.random.default_rng(d)
    h, w = 13, 11
    truth = np.clip(rng.normal(0.5, 0.1, (h * d, w * d)), 0.05, None)
    y_m = truth[::d, ::d]
    result = palm_fuse(y_m, truth, np.r_[0, 1, np.zeros(13)],
                       PalmParams(d=d, iterations=3, variant=variant))
    assert result.x_us.shape == truth.shape and result.x_mri.shape == truth.shape
    assert np.all(np.isfinite(result.x_us))


def test_corrected_descent_denoises_and_stops_on_the_gradient_norm():
    """With an active data term (gamma = 1 puts its minimum at x = y) and smoothing, the
    corrected variant reduces the noise, and its gradient-norm test ends each descent early."""
    rng = np.random.default_rng(3)
    truth = 0.5 + 0.1 * np.sin(np.linspace(0, 3, 24))[:, None] * np.cos(np.linspace(0, 2, 24))
    noisy = truth + rng.normal(0, 0.01, truth.shape)
    params = PalmParams(d=2, iterations=3, variant="corrected", tau2=0.5, gamma=1.0, tau3=0.3,
                        tau4=2e-4, step=0.5, inner_iterations=1000, min_step_norm=0.0,
                        gradient_tol=1e-6)
    result = palm_fuse(truth[::2, ::2], noisy, np.r_[0, 1, np.zeros(13)], params)
    assert np.linalg.norm(result.x_us - truth) < 0.5 * np.linalg.norm(noisy - truth)
    assert max(result.inner_steps) < 1000


def test_palm_step_is_a_function_of_its_state(data1):
    small = (data1["ym"][:20, :20], data1["xu0"][:120, :120])
    problem = make_problem(*small, data1["c_octave"], PalmParams())
    state = initial_state(problem)
    a, b = palm_step(state, problem), palm_step(state, problem)
    assert torch.equal(a.x_us, b.x_us) and torch.equal(a.x_mri, b.x_mri)
    assert a.iteration == 1 and state.iteration == 0


def test_progress_and_cancel(data1):
    small = (data1["ym"][:20, :20], data1["xu0"][:120, :120], data1["c_octave"])
    events = []
    palm_fuse(*small, PalmParams(iterations=3), progress=events.append)
    assert [e.step for e in events] == [1, 2, 3] and events[-1].total == 3

    token = CancelToken()

    def cancel_after_first(event):
        token.cancel()

    with pytest.raises(FusionCancelled):
        palm_fuse(*small, PalmParams(iterations=5), progress=cancel_after_first, cancel=token)


def test_bad_parameters_and_shapes():
    with pytest.raises(ParameterError):
        PalmParams(variant="fast")
    with pytest.raises(ParameterError):
        make_problem(np.ones((10, 10)), np.ones((50, 60)), np.ones(15), PalmParams(d=5))


def test_cancel_takes_effect_inside_the_us_descent(data1):
    small = (data1["ym"][:20, :20], data1["xu0"][:120, :120], data1["c_octave"])
    problem = make_problem(*small, PalmParams(min_step_norm=0.0))
    calls = []

    def check_cancel():
        calls.append(1)
        if len(calls) == 3:
            raise FusionCancelled("stop")

    with pytest.raises(FusionCancelled):
        palm_step(initial_state(problem), problem, check_cancel=check_cancel)
    assert len(calls) == 3  # raised on the 3rd check, i.e. after 20 of the 101 descent steps
