"""Linear operators and the polynomial link of the PALM fusion model (torch, any device).

Vocabulary (as in deepinv): an operator has ``A(x)`` and ``A_adjoint(y)``.

* :class:`CircularBlur` — H, a centred circular convolution applied in Fourier,
  ``H x = F^-1( B_hat * F x )``, with ``B_hat`` the OTF of a 5x5 Gaussian (sigma 4) placed as
  MATLAB's ``HXconv`` does (zero-pad, then ``fftshift`` so the kernel centre sits on pixel (0, 0)).
* :class:`Decimation` — S keeps rows/columns 0, d, 2d, ...; S^T puts them back into zeros.
* :func:`forward_differences` — the zero-padded forward differences of MATLAB's
  ``conv2(A, [-1 1], 'same')``: Jx(i, j) = A(i, j) - A(i, j+1), the last column being A itself;
  Jy likewise down the rows. :func:`forward_differences_adjoint` is their transpose.
* :class:`PolynomialLink` — f(x, g) = sum_k c_k x^p_k g^q_k over the 15 monomials of total degree
  <= 4 in the order 1, x, x^2, x^3, x^4, g, gx, gx^2, gx^3, g^2, g^2x, g^2x^2, g^3, g^3x, g^4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .link_terms import MONOMIALS


def gaussian_psf(size: int = 5, sigma: float = 4.0) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: exp(-r^2 / 2 sigma^2) normalised to sum 1."""
    half = (size - 1) / 2
    ax = np.arange(size) - half
    kernel = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    kernel[kernel < np.finfo(np.float64).eps * kernel.max()] = 0
    return kernel / kernel.sum()


def _matlab_round(value: float) -> int:
    """Round half away from zero, as MATLAB's ``round``."""
    return int(np.sign(value) * np.floor(abs(value) + 0.5))


def centred_otf(psf: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """OTF of ``psf`` as MATLAB ``HXconv`` builds it.

    The kernel is zero-padded with floor((m - m0 + 1)/2) zeros before and round((m - m0 - 1)/2)
    after in each direction and circularly shifted so that its centre lands on pixel (0, 0).
    For even sizes the reference's ``fftshift`` does exactly that; for odd sizes it would leave
    the centre one pixel off (at m - 1), so we use ``ifftshift``, which centres for every size.
    """
    (m, n), (m0, n0) = shape, psf.shape
    pre = (int(np.floor((m - m0 + 1) / 2)), int(np.floor((n - n0 + 1) / 2)))
    post = (_matlab_round((m - m0 - 1) / 2), _matlab_round((n - n0 - 1) / 2))
    padded = np.pad(psf, ((pre[0], post[0]), (pre[1], post[1])))
    if padded.shape != (m, n):
        raise ValueError(f"image {shape} is smaller than the blur kernel {psf.shape}")
    return np.fft.fft2(np.fft.ifftshift(padded))


def difference_spectrum(shape: tuple[int, int], epsilon: float = 1e-8) -> np.ndarray:
    """|F dh|^2 + |F dv|^2 + epsilon for periodic first differences (the MRI smoothness term)."""
    m, n = shape
    dh = np.zeros(shape)
    dh[0, 0], dh[0, 1 % n] = 1.0, -1.0
    dv = np.zeros(shape)
    dv[0, 0], dv[1 % m, 0] = 1.0, -1.0
    return np.abs(np.fft.fft2(dh)) ** 2 + np.abs(np.fft.fft2(dv)) ** 2 + epsilon


class CircularBlur:
    """H x = real(ifft2(otf * fft2(x))); the adjoint uses conj(otf)."""

    def __init__(self, otf: torch.Tensor) -> None:
        self.otf = otf
        self.otf_conj = otf.conj()
        self.otf_abs2 = (otf.real**2 + otf.imag**2).to(otf.real.dtype)

    @classmethod
    def gaussian(
        cls, shape: tuple[int, int], size: int = 5, sigma: float = 4.0, device=None,
        dtype=torch.float64,
    ) -> CircularBlur:
        otf = centred_otf(gaussian_psf(size, sigma), shape)
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        return cls(torch.as_tensor(otf, dtype=complex_dtype, device=device))

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft2(self.otf * torch.fft.fft2(x)).real

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft2(self.otf_conj * torch.fft.fft2(y)).real


@dataclass(frozen=True)
class Decimation:
    """S: keep every d-th row and column starting at the first; S^T: zero-fill."""

    d: int

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :: self.d, :: self.d]

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        h, w = y.shape[-2:]
        out = y.new_zeros(*y.shape[:-2], h * self.d, w * self.d)
        out[..., :: self.d, :: self.d] = y
        return out


def forward_differences(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Jx, Jy): zero-padded forward differences along columns and rows (MATLAB conv2 'same')."""
    jx = a.clone()
    jx[..., :, :-1] -= a[..., :, 1:]
    jy = a.clone()
    jy[..., :-1, :] -= a[..., 1:, :]
    return jx, jy


def forward_differences_adjoint(jx: torch.Tensor, jy: torch.Tensor) -> torch.Tensor:
    """Transpose of :func:`forward_differences`: (Dx^T jx + Dy^T jy)."""
    out = jx.clone()
    out[..., :, 1:] -= jx[..., :, :-1]
    out += jy
    out[..., 1:, :] -= jy[..., :-1, :]
    return out


def neumann_laplacian(x: torch.Tensor) -> torch.Tensor:
    """D^T D x for first differences between existing neighbours along both image axes.

    Per axis this is 2 x_k - x_{k-1} - x_{k+1} inside and x_1 - x_2 / x_N - x_{N-1} at the ends
    (the reference's 1-D ``dtd`` applied along rows and along columns).
    """
    out = torch.zeros_like(x)
    dx = x[..., :, :-1] - x[..., :, 1:]
    out[..., :, :-1] += dx
    out[..., :, 1:] -= dx
    dy = x[..., :-1, :] - x[..., 1:, :]
    out[..., :-1, :] += dy
    out[..., 1:, :] -= dy
    return out


def gradient_magnitude(a: torch.Tensor) -> torch.Tensor:
    """g = sqrt(Jx^2 + Jy^2) with the zero-padded forward differences."""
    jx, jy = forward_differences(a)
    return torch.sqrt(jx * jx + jy * jy)


def monomial_stack(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The 15 link monomials of (x, g) as columns: shape (x.size, 15), pixels in x's order."""
    x, g = np.ravel(x), np.ravel(g)
    return np.stack([x**p * g**q for p, q in MONOMIALS], axis=1)


class PolynomialLink:
    """f(x, g) = sum_k c_k x^p_k g^q_k and its x-derivative, evaluated by nested Horner rules.

    f = P0(x) + g (P1(x) + g (P2(x) + g (P3(x) + g c15))) with
    P0 = c1 + c2 x + c3 x^2 + c4 x^3 + c5 x^4, P1 = c6 + c7 x + c8 x^2 + c9 x^3,
    P2 = c10 + c11 x + c12 x^2, P3 = c13 + c14 x.
    """

    def __init__(self, coefficients) -> None:
        c = [float(v) for v in np.asarray(coefficients, dtype=np.float64).ravel()]
        if len(c) != len(MONOMIALS):
            raise ValueError(f"the link needs {len(MONOMIALS)} coefficients, got {len(c)}")
        self.c = c

    @staticmethod
    def _horner(x: torch.Tensor, coefficients: list[float]) -> torch.Tensor:
        out = torch.full_like(x, coefficients[-1])
        for value in reversed(coefficients[:-1]):
            out = out * x + value
        return out

    def value(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        c = self.c
        p3 = self._horner(x, c[12:14])
        p2 = self._horner(x, c[9:12])
        p1 = self._horner(x, c[5:9])
        p0 = self._horner(x, c[0:5])
        return p0 + g * (p1 + g * (p2 + g * (p3 + g * c[14])))

    def derivative_x(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """df/dx at fixed g: c2 + 2c3 x + 3c4 x^2 + 4c5 x^3 + g(c7 + 2c8 x + 3c9 x^2)
        + g^2 (c11 + 2 c12 x) + g^3 c14."""
        c = self.c
        d0 = self._horner(x, [c[1], 2 * c[2], 3 * c[3], 4 * c[4]])
        d1 = self._horner(x, [c[6], 2 * c[7], 3 * c[8]])
        d2 = self._horner(x, [c[10], 2 * c[11]])
        return d0 + g * (d1 + g * (d2 + g * c[13]))

    def slope_coefficients(self, g: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Images (A0, A1, A2, A3) with df/dx (x, g) = A0 + A1 x + A2 x^2 + A3 x^3 at fixed g.

        A0 = c2 + c7 g + c11 g^2 + c14 g^3, A1 = 2 c3 + 2 c8 g + 2 c12 g^2,
        A2 = 3 c4 + 3 c9 g, A3 = 4 c5: computed once when g does not change.
        """
        c = self.c
        return (
            self._horner(g, [c[1], c[6], c[10], c[13]]),
            self._horner(g, [2 * c[2], 2 * c[7], 2 * c[11]]),
            self._horner(g, [3 * c[3], 3 * c[8]]),
            torch.full_like(g, 4 * c[4]),
        )

    @staticmethod
    def horner_images(x: torch.Tensor, coefficients: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """sum_k A_k x^k for per-pixel coefficient images A_k (Horner's rule)."""
        out = coefficients[-1].clone()
        for a in reversed(coefficients[:-1]):
            out.mul_(x).add_(a)
        return out

    def of_image(self, x: torch.Tensor) -> torch.Tensor:
        """f(x, |grad x|) with the image's own zero-padded gradient magnitude."""
        return self.value(x, gradient_magnitude(x))
