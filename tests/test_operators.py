"""Adjointness and basic identities of the linear operators of the fusion model."""

import numpy as np
import pytest
import torch

from engine.operators import (
    CircularBlur,
    Decimation,
    PolynomialLink,
    centred_otf,
    forward_differences,
    forward_differences_adjoint,
    gaussian_psf,
    gradient_magnitude,
    monomial_stack,
    neumann_laplacian,
)

SHAPES = [(37, 31), (24, 18), (600, 600)]


def inner(a, b):
    return float((a * b).sum())


@pytest.mark.parametrize("shape", SHAPES)
def test_blur_adjoint(shape):
    rng = np.random.default_rng(0)
    x, y = (torch.from_numpy(rng.normal(size=shape)) for _ in range(2))
    blur = CircularBlur.gaussian(shape)
    assert abs(inner(blur.A(x), y) - inner(x, blur.A_adjoint(y))) <= 1e-10 * abs(inner(x, y)) + 1e-9


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_decimation_adjoint(d):
    rng = np.random.default_rng(d)
    x = torch.from_numpy(rng.normal(size=(7 * d, 5 * d)))
    y = torch.from_numpy(rng.normal(size=(7, 5)))
    op = Decimation(d)
    assert op.A(x).shape == (7, 5)
    assert abs(inner(op.A(x), y) - inner(x, op.A_adjoint(y))) <= 1e-12


def test_forward_differences_adjoint_and_matlab_semantics():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.normal(size=(9, 7)))
    jx, jy = forward_differences(a)
    # conv2(A, [-1 1], 'same'): A(i,j) - A(i,j+1), last column A itself
    np.testing.assert_array_equal(jx[:, :-1].numpy(), (a[:, :-1] - a[:, 1:]).numpy())
    np.testing.assert_array_equal(jx[:, -1].numpy(), a[:, -1].numpy())
    np.testing.assert_array_equal(jy[-1].numpy(), a[-1].numpy())
    u, v = (torch.from_numpy(rng.normal(size=(9, 7))) for _ in range(2))
    lhs = inner(jx, u) + inner(jy, v)
    assert abs(lhs - inner(a, forward_differences_adjoint(u, v))) <= 1e-12
    g = gradient_magnitude(a)
    np.testing.assert_allclose(g.numpy(), np.sqrt(jx.numpy() ** 2 + jy.numpy() ** 2))


def test_neumann_laplacian_is_symmetric_psd_and_kills_constants():
    rng = np.random.default_rng(2)
    x, y = (torch.from_numpy(rng.normal(size=(6, 5))) for _ in range(2))
    assert abs(inner(neumann_laplacian(x), y) - inner(x, neumann_laplacian(y))) <= 1e-12
    assert inner(neumann_laplacian(x), x) >= 0
    assert float(neumann_laplacian(torch.ones(6, 5, dtype=torch.float64)).abs().max()) == 0


def test_gaussian_psf_and_centred_otf():
    k = gaussian_psf(5, 4.0)
    assert k.shape == (5, 5) and abs(k.sum() - 1) < 1e-15 and k[2, 2] == k.max()
    for shape in [(600, 600), (37, 31)]:
        otf = centred_otf(k, shape)
        # a centred symmetric kernel has a real OTF
        assert np.abs(otf.imag).max() < 1e-12
        assert abs(otf[0, 0] - 1) < 1e-12


def test_polynomial_link_matches_monomial_expansion():
    rng = np.random.default_rng(4)
    c = rng.normal(size=15)
    x = rng.uniform(0, 1, (8, 9))
    g = rng.uniform(0, 1, (8, 9))
    link = PolynomialLink(c)
    expected = (monomial_stack(x, g) @ c).reshape(x.shape)
    got = link.value(torch.from_numpy(x), torch.from_numpy(g)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    h = 1e-6
    numeric = (
        link.value(torch.from_numpy(x + h), torch.from_numpy(g))
        - link.value(torch.from_numpy(x - h), torch.from_numpy(g))
    ).numpy() / (2 * h)
    analytic = link.derivative_x(torch.from_numpy(x), torch.from_numpy(g)).numpy()
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


def test_hoisted_slope_images_equal_the_derivative():
    rng = np.random.default_rng(5)
    link = PolynomialLink(rng.normal(size=15))
    x, g = (torch.from_numpy(rng.uniform(0, 1, (6, 7))) for _ in range(2))
    hoisted = PolynomialLink.horner_images(x, link.slope_coefficients(g))
    np.testing.assert_allclose(hoisted.numpy(), link.derivative_x(x, g).numpy(), rtol=1e-12,
                               atol=1e-12)
