"""The demo phantom: determinism, shapes, and the observation models it claims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ParameterError
from engine.fusion import FusionInput
from engine.phantom import (
    DEFAULT_LINK,
    LINK_MONOMIALS,
    PATIENT_NAME,
    PhantomSettings,
    decimate,
    gradient_magnitude,
    make_phantom_pair,
    mri_blur,
    polynomial_link,
)

LOG_RAYLEIGH_MEAN = (math.log(2.0) - np.euler_gamma) / 2.0
LOG_RAYLEIGH_STD = math.pi / math.sqrt(24.0)
#: skewness of log(R), R Rayleigh: log R = (log 2 + log E) / 2 with E exponential, and log E is a
#: (negated) Gumbel variable of skewness -12 sqrt(6) zeta(3) / pi^3
LOG_RAYLEIGH_SKEW = -12.0 * math.sqrt(6.0) * 1.2020569031595942 / math.pi**3


@pytest.fixture(scope="module")
def demo_pair():
    return make_phantom_pair(seed=0)


def test_same_seed_same_pair_and_different_seeds_differ(demo_pair):
    again = make_phantom_pair(seed=0)
    for a, b in (
        (demo_pair.mri.pixels, again.mri.pixels),
        (demo_pair.us.pixels, again.us.pixels),
        (demo_pair.clean_tissue, again.clean_tissue),
    ):
        np.testing.assert_array_equal(a, b)
    other = make_phantom_pair(seed=1)
    assert np.mean(np.abs(other.clean_tissue - demo_pair.clean_tissue)) > 0.02
    assert np.mean(np.abs(other.us.pixels - demo_pair.us.pixels)) > 0.05


@pytest.mark.parametrize("size, d", [(600, 6), (120, 4), (120, 1), (90, 3)])
def test_shapes(size, d):
    pair = make_phantom_pair(seed=3, size=size, d=d)
    assert pair.us.shape == (size, size)
    assert pair.mri.shape == (size // d, size // d)
    assert pair.clean_tissue.shape == pair.clean_us.shape == (size, size)
    for array in (pair.us.pixels, pair.mri.pixels, pair.clean_tissue, pair.clean_us):
        assert array.dtype == np.float64
        assert np.all(np.isfinite(array))
    assert pair.d == d
    assert pair.mri.info.pixel_spacing_mm == pytest.approx((0.1 * d, 0.1 * d))
    assert pair.us.info.pixel_spacing_mm == pytest.approx((0.1, 0.1))


@pytest.mark.parametrize("size, d", [(100, 6), (8, 1), (120, 0), (120, 40)])
def test_bad_sizes_are_rejected(size, d):
    with pytest.raises(ParameterError):
        make_phantom_pair(size=size, d=d)


def test_metadata(demo_pair):
    assert demo_pair.mri.info.modality == "MR"
    assert demo_pair.us.info.modality == "US"
    assert demo_pair.mri.info.series_description == "Demo phantom MRI"
    assert demo_pair.us.info.series_description == "Demo phantom US"
    assert demo_pair.mri.info.patient_name == demo_pair.us.info.patient_name == PATIENT_NAME
    assert demo_pair.link_coefficients == DEFAULT_LINK


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_intensities_positive_and_tissue_range(seed):
    pair = make_phantom_pair(seed=seed)
    assert pair.mri.pixels.min() > 0
    assert pair.us.pixels.min() > 0
    assert pair.clean_tissue.min() >= 0.12 and pair.clean_tissue.max() <= 1.0
    # a slice with structure, not noise or a flat field
    assert pair.clean_tissue.std() > 0.1


def test_blur_is_a_17x17_gaussian_with_symmetric_borders():
    from scipy.signal import convolve2d

    x = np.random.default_rng(0).random((37, 31))
    axis = np.arange(-8, 9)
    kernel = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 4.0**2))
    kernel /= kernel.sum()
    expected = convolve2d(np.pad(x, 8, mode="symmetric"), kernel, mode="valid")
    np.testing.assert_allclose(mri_blur(x, 4.0), expected, rtol=0, atol=1e-13)


def test_mri_is_blurred_decimated_tissue_plus_white_noise():
    settings = PhantomSettings()
    pair = make_phantom_pair(seed=5, size=600, d=2)
    residual = pair.mri.pixels - decimate(mri_blur(pair.clean_tissue, 4.0), 2)
    n = residual.size
    assert residual.std() == pytest.approx(settings.mri_noise_std, rel=0.02)
    assert abs(residual.mean()) < 4 * settings.mri_noise_std / math.sqrt(n)
    lag1 = np.mean(residual[:, 1:] * residual[:, :-1]) / residual.var()
    assert abs(lag1) < 0.03
    # the decimation keeps rows/columns 0, d, 2d, ...: shifting the grid breaks the fit
    shifted = pair.mri.pixels - mri_blur(pair.clean_tissue, 4.0)[1::2, 1::2]
    assert shifted.std() > residual.std() * 1.02


def test_us_noise_is_log_rayleigh(demo_pair):
    gamma = PhantomSettings().speckle_gamma
    noise = demo_pair.us.pixels - demo_pair.clean_us
    n = noise.size
    assert noise.mean() == pytest.approx(gamma * LOG_RAYLEIGH_MEAN, abs=4 * gamma / math.sqrt(n))
    assert noise.std() == pytest.approx(gamma * LOG_RAYLEIGH_STD, rel=0.01)
    skew = np.mean((noise - noise.mean()) ** 3) / noise.std() ** 3
    assert skew == pytest.approx(LOG_RAYLEIGH_SKEW, abs=0.05)
    lag1 = np.mean((noise[:, 1:] - noise.mean()) * (noise[:, :-1] - noise.mean())) / noise.var()
    assert abs(lag1) < 0.01


def test_clean_us_is_the_polynomial_link_of_the_tissue(demo_pair):
    x = demo_pair.clean_tissue
    g = gradient_magnitude(x)
    expected = 1.0 + x + 1e-4 * x**2 - 1e-5 * x**3 + g + 1e-3 * g * x + 1e-5 * g * x**2
    np.testing.assert_allclose(demo_pair.clean_us, expected, rtol=1e-14, atol=1e-14)


def test_link_monomial_order():
    rng = np.random.default_rng(2)
    x, g = rng.random((5, 4)), rng.random((5, 4))
    expected = [1, x, x**2, x**3, x**4, g, g * x, g * x**2, g * x**3,
                g**2, g**2 * x, g**2 * x**2, g**3, g**3 * x, g**4]  # fmt: skip
    assert len(LINK_MONOMIALS) == 15
    for k, monomial in enumerate(expected):
        c = np.zeros(15)
        c[k] = 1.0
        np.testing.assert_allclose(polynomial_link(x, g, c), monomial * np.ones_like(x))
    with pytest.raises(ParameterError):
        polynomial_link(x, g, np.ones(10))


def test_gradient_magnitude_forward_differences():
    x = np.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
    # Jx = x(i, j) - x(i, j+1), 0 on the last column; Jy = x(i, j) - x(i+1, j), 0 on the last row
    jx = np.array([[-1.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    jy = np.array([[-2.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(gradient_magnitude(x), np.hypot(jx, jy))


def test_fusion_input(demo_pair):
    fusion_input = demo_pair.fusion_input()
    assert isinstance(fusion_input, FusionInput)
    assert fusion_input.d == 6
    assert fusion_input.y_m.shape == (100, 100) and fusion_input.y_u.shape == (600, 600)
    scale = demo_pair.us.pixels.max()
    np.testing.assert_allclose(fusion_input.y_u, demo_pair.us.pixels / scale)
    np.testing.assert_allclose(fusion_input.clean_us, demo_pair.clean_us / scale)
    assert fusion_input.y_m.max() == pytest.approx(1.0)
    small = make_phantom_pair(seed=1, size=120, d=1).fusion_input()
    assert small.d == 1 and small.y_m.shape == small.y_u.shape == (120, 120)
