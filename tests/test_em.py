"""EM step of DDFM against the reference chain (EM_Initial + 3 chained EM_onestep calls)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.em import EMState, difference_otfs, em_init, em_step


@pytest.fixture
def steps(shared):
    with np.load(shared("fixtures", "em_steps.npz")) as data:
        return {key: data[key] for key in data.files}


def test_fourier_kernels_match_reference(steps):
    state = em_init(torch.from_numpy(steps["I"]))
    for name in ("fft_k1", "fft_k2", "fft_k1sq", "fft_k2sq"):
        ours = getattr(state, name).numpy()
        assert ours.dtype == np.complex64
        np.testing.assert_allclose(ours, steps[name], atol=1e-6, rtol=0, err_msg=name)


def test_three_chained_steps_match_reference(steps):
    I, V = torch.from_numpy(steps["I"]), torch.from_numpy(steps["V"])  # noqa: E741
    state = em_init(I)
    for k in range(3):
        F, state = em_step(torch.from_numpy(steps["f_pre"][k]), I, V, state, 0.5, 0.001)
        assert isinstance(state, EMState) and F.dtype == torch.float32
        np.testing.assert_allclose(F.numpy(), steps["F"][k], atol=1e-5, rtol=0)
        for name in ("H", "F1", "F2"):
            np.testing.assert_allclose(
                getattr(state, name).numpy(), steps[name][k], atol=1e-5, rtol=0, err_msg=name
            )
        np.testing.assert_allclose(state.D.numpy(), steps["D"][k], rtol=1e-5, atol=0)
        np.testing.assert_allclose(state.C.numpy(), steps["C"][k], rtol=1e-3, atol=0)
        assert float(state.tau_a) == pytest.approx(float(steps["tau_a"][k]), rel=1e-5)
        assert float(state.tau_b) == pytest.approx(float(steps["tau_b"][k]), rel=1e-5)


def test_tv_auxiliaries_are_sensitive(steps):
    """F1/F2 are rho/(2 lamb + rho) times the non-circular differences of H."""
    I, V = torch.from_numpy(steps["I"]), torch.from_numpy(steps["V"])  # noqa: E741
    _, state = em_step(torch.from_numpy(steps["f_pre"][0]), I, V, em_init(I), 0.5, 0.001)
    H = state.H.numpy()
    shrink = 0.001 / (1.0 + 0.001)
    expected = H.copy()
    expected[..., :, :-1] = H[..., :, :-1] - H[..., :, 1:]
    np.testing.assert_allclose(state.F1.numpy(), shrink * expected, atol=1e-9)
    assert np.abs(state.F1.numpy()[..., -1]).max() > 0  # last column is H itself, not a wrap


def test_otfs_on_a_rectangular_grid():
    k1, k2 = difference_otfs(5, 7)
    assert k1.shape == k2.shape == (5, 7)
    kernel = np.zeros((5, 7))
    kernel[0, 0], kernel[0, -1] = -1.0, 1.0  # [1, -1] centred at the origin as psf2otf places it
    np.testing.assert_allclose(k1.numpy(), np.fft.fft2(kernel), atol=1e-6)
