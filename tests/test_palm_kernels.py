"""The fused PALM descent kernel against the step formula and against the tensor loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine import palm_kernels
from engine.operators import PolynomialLink
from engine.palm import (
    DescentStart,
    PalmParams,
    _tridiagonal,
    _vector_link,
    initial_state,
    make_problem,
    mri_update,
    us_descent_reference,
)
from engine.phantom import make_phantom_pair


def step_formula(z, b, a0, a1):
    """delta_k = b_k + a0 z_k - a1 (z_{k-1} + z_{k+1}) with z_0 := z_1, z_{N+1} := z_N."""
    left, right = np.r_[z[0], z[:-1]], np.r_[z[1:], z[-1]]
    delta = b + a0 * z - a1 * (left + right)
    return z - delta, delta


def descend(z, b, a0=0.3, a1=0.1, c=0.0, max_steps=7, min_step_norm=0.0, cancel=None):
    z_t = torch.from_numpy(z.copy())
    steps, finished = palm_kernels.descend_speckle_free(
        z_t, torch.from_numpy(b), a0, a1, c, max_steps, min_step_norm, cancel, 10
    )
    return z_t.numpy(), steps, finished


SIZES = [3, 37, 2 * palm_kernels.SWEEP_BLOCK + 5]  # one block, several blocks


@pytest.mark.parametrize("n", SIZES)
def test_kernel_steps_follow_the_formula(n):
    rng = np.random.default_rng(0)
    z0, b = rng.normal(size=n) * 0.1, rng.normal(size=n) * 0.01
    for count in (1, 2, 7):  # pairs of steps and single steps, result copied back if needed
        out, steps, finished = descend(z0, b, max_steps=count)
        expected = z0
        for _ in range(count):
            expected, _ = step_formula(expected, b, 0.3, 0.1)
        assert (steps, finished) == (count, True)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("n", SIZES)
def test_kernel_stops_on_a_short_step(n):
    """Step 13 is the first short one: the pair (13, 14) is discarded, step 13 taken alone."""
    rng = np.random.default_rng(1)
    z0, b = rng.normal(size=n), np.zeros(n)
    z, norms = z0, []
    for _ in range(40):
        z, delta = step_formula(z, b, 0.3, 0.1)
        norms.append(np.linalg.norm(delta))
    threshold = 0.5 * (norms[11] + norms[12])  # first step shorter than this: step 13
    _, steps, finished = descend(z0, b, max_steps=40, min_step_norm=threshold)
    assert (steps, finished) == (13, True)


def test_kernel_hands_back_when_the_speckle_term_could_matter():
    """z rises by 1e-3 per step; with the limit at 5.5e-3, steps 0..5 start below it."""
    limit = 5.5e-3
    c = palm_kernels.NEGLIGIBLE / (20 * math.exp(limit))
    assert palm_kernels.speckle_free_limit(c, 20) == pytest.approx(limit)
    out, steps, finished = descend(np.zeros(8), np.full(8, -1e-3), 0.0, 0.0, c, 20)
    assert (steps, finished) == (6, False)
    np.testing.assert_allclose(out, 6e-3, rtol=1e-12)
    _, steps, finished = descend(np.full(8, 0.01), np.zeros(8), c=c, max_steps=20)
    assert (steps, finished) == (0, False)
    assert palm_kernels.speckle_free_limit(0.0, 20) == math.inf


def test_cancel_is_checked_every_ten_steps():
    calls = []
    descend(np.zeros(9), np.zeros(9), max_steps=25, cancel=lambda: calls.append(1))
    assert len(calls) == 3  # before steps 0, 10, 20


@pytest.fixture(scope="module")
def phantom_problem():
    pair = make_phantom_pair(3, 96, 4).fusion_input()
    from engine.palm_link import link_on_image_scale

    c = np.abs(link_on_image_scale(pair.y_m, pair.y_u, 4))
    return pair, c


@pytest.mark.parametrize("tau2", [1e-15, 1e-2])
def test_descent_with_and_without_the_kernel_agree(phantom_problem, monkeypatch, tau2):
    """Reference weights (speckle term dropped) and a large tau2 (tensor loop takes over)."""
    pair, c = phantom_problem
    problem = make_problem(pair.y_m, pair.y_u, c, PalmParams(d=4, tau2=tau2, tau4=0.5))
    state = initial_state(problem)
    x1 = mri_update(state, problem)
    fused, steps = us_descent_reference(DescentStart(x1, state.x_us), problem)
    monkeypatch.setattr(palm_kernels, "applies", lambda *tensors: False)
    plain, plain_steps = us_descent_reference(DescentStart(x1, state.x_us), problem)
    assert steps == plain_steps
    change = float((plain - state.x_us).abs().max())
    assert change > 1e-6  # the descent moved
    torch.testing.assert_close(fused, plain, rtol=0, atol=palm_kernels.NEGLIGIBLE)


def test_fused_mri_target_matches_the_tensor_formula(phantom_problem):
    pair, c = phantom_problem
    problem = make_problem(pair.y_m, pair.y_u, c, PalmParams(d=4))
    rng = np.random.default_rng(2)
    x = problem.yint + torch.from_numpy(rng.normal(size=problem.yint.shape) * 0.05)
    x2 = problem.xu0.clone()
    slope = PolynomialLink.horner_images(x, problem.link_slope)
    expected = 2 * 0.7 * x - 8 * 0.7 * slope * (x2 - problem.link.of_image(x))
    fused = palm_kernels.mri_target(x, x2, problem.link_slope, problem.link.c, 0.7)
    torch.testing.assert_close(fused, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_anchor", [False, True])
def test_fused_descent_offset_matches_the_tensor_formula(phantom_problem, with_anchor):
    pair, c = phantom_problem
    link = PolynomialLink(c)
    rng = np.random.default_rng(3)
    x1, x2 = (torch.from_numpy(rng.uniform(0, 1, (13, 9))) for _ in range(2))
    y, anchor = (torch.from_numpy(rng.uniform(0, 1, 13 * 9)) for _ in range(2))
    v, w = x1.t().reshape(-1), x2.t().reshape(-1)  # column-major order
    s, const, r, a0, a1 = 0.3, -0.01, (0.2 if with_anchor else 0.0), 0.5, 0.125
    expected = s * (4 * _vector_link(link, v) - 3 * w) + const - _tridiagonal(y, a0, a1)
    if with_anchor:
        expected = expected + r * anchor
    fused = palm_kernels.descent_offset(
        x1, x2, y, anchor if with_anchor else None, link.c, s, const, r, a0, a1
    )
    torch.testing.assert_close(fused, expected, rtol=1e-12, atol=1e-12)
    image = palm_kernels.image_of_difference(v, y, (13, 9))
    torch.testing.assert_close(image, x1 - y.reshape(9, 13).t(), rtol=0, atol=0)


@pytest.mark.parametrize("size, d", [(51, 3), (96, 4)])
def test_mri_update_with_and_without_the_kernels_agree(monkeypatch, size, d):
    """Real FFTs with the Hermitian tile sum against the full complex solve (odd sizes too)."""
    from engine.palm_link import link_on_image_scale

    pair = make_phantom_pair(4, size, d).fusion_input()
    c = np.abs(link_on_image_scale(pair.y_m, pair.y_u, d))
    problem = make_problem(pair.y_m, pair.y_u, c, PalmParams(d=d, tau1=1e-2))
    state = initial_state(problem)
    fused = mri_update(state, problem)
    monkeypatch.setattr(palm_kernels, "applies", lambda *tensors: False)
    plain = mri_update(state, problem)
    assert float((plain - state.x_mri).abs().max()) > 1e-3  # the update moved
    torch.testing.assert_close(fused, plain, rtol=1e-11, atol=1e-11)


def test_warm_up_compiles_every_kernel():
    palm_kernels.warm_up()
    for kernel in (palm_kernels._steps, palm_kernels._descent_offset, palm_kernels._mri_target,
                   palm_kernels._woodbury_half, palm_kernels._image_of_difference):
        assert kernel.signatures, kernel
