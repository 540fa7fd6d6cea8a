"""Fourier solvers for blurred and decimated images: Tikhonov and total-variation restoration.

Observation model (the MRI of the fusion): ``y = S H x + n`` with H a circular convolution (OTF
``B``) and S the decimation keeping rows and columns 0, d, 2d, ... Everything here works on a
grid padded by mirror reflection (:class:`PaddedGrid`), so that the circular model does not wrap
one border of the field onto the other.

:class:`NormalSystem` solves, for a >= 0 and b > 0,

    (H^T S^T S H + a D^T D + b I) x = r

exactly in Fourier. With M = a |D_hat|^2 + b (diagonal) and S^T S = (1/d^2) U U^H on the
spectrum (U: tiling of the (H/d, W/d) aliasing blocks, U^H: their sum), Woodbury gives

    x_hat = M^-1 r_hat - M^-1 conj(B) U [ U^H(B M^-1 r_hat) / (d^2 + U^H(|B|^2 / M)) ]

(Zhao et al., "Fast single image super-resolution using a new analytical solution for l2-l2
problems", IEEE TIP 25 (2016)). :func:`tv_restore` minimises

    1/2 ||S H x - y||^2 + (b / 2) ||x - t||^2 + lam TV(x),   TV(x) = sum_i |(D x)_i|_2

by the alternating direction method of multipliers on the split z = D x (Goldstein and Osher's
split Bregman, SIAM J. Imaging Sci. 2 (2009)), whose x-update is one :class:`NormalSystem` solve
(a = beta). Its state (z, v) is returned so that a caller can warm-start the next solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .fusion_params import PSF_SIGMA
from .operators import centred_otf, difference_spectrum, gaussian_psf


def psf_support(sigma: float) -> int:
    """Odd kernel size covering +-2 sigma, as MATLAB ``imgaussfilt`` (2 ceil(2 sigma) + 1)."""
    return 2 * int(np.ceil(2 * sigma)) + 1


def fft_friendly(n: int) -> bool:
    """True when n has no prime factor above 7: a 2-D FFT of such a side is 3 to 4 times
    faster than of a neighbour with a large prime factor (632 = 8 x 79, 636 = 12 x 53)."""
    for p in (2, 3, 5, 7):
        while n % p == 0 and n > 1:
            n //= p
    return n == 1


@dataclass(frozen=True)
class PaddedGrid:
    """Mirror padding of a pair of grids: ``pad`` low-resolution pixels on each side, and
    ``extra`` (rows, columns) more at the bottom and right so that the padded high-resolution
    sides are FFT-friendly (:func:`fft_friendly`).

    numpy's ``reflect`` mode mirrors about the border pixel, so at the top and left the padded
    high-resolution row k d holds the mirror of low-resolution row k exactly; at the bottom and
    right the two mirrors differ by up to d - 1 pixels (inside the padding only, which is
    cropped: the padding exists so that the circular blur does not wrap the field around).
    """

    d: int
    pad: int
    extra: tuple[int, int] = (0, 0)

    @classmethod
    def for_psf(cls, d: int, sigma: float, low_shape: tuple[int, int] | None = None
                ) -> PaddedGrid:
        """The padding a PSF of std ``sigma`` needs; with ``low_shape`` (the MRI's), widened at
        the bottom/right to the nearest FFT-friendly high-resolution sides."""
        pad = int(np.ceil(2 * psf_support(sigma) / d))
        if low_shape is None:
            return cls(d, pad)

        def extra(n: int) -> int:
            e = 0
            while not fft_friendly((n + 2 * pad + e) * d):
                e += 1
            return e

        return cls(d, pad, (extra(low_shape[0]), extra(low_shape[1])))

    def _widths(self, scale: int) -> tuple[tuple[int, int], tuple[int, int]]:
        p, (ey, ex) = self.pad * scale, self.extra
        return (p, p + ey * scale), (p, p + ex * scale)

    def low(self, image: np.ndarray) -> np.ndarray:
        return np.pad(image, self._widths(1), mode="reflect")

    def high(self, image: np.ndarray) -> np.ndarray:
        return np.pad(image, self._widths(self.d), mode="reflect")

    def crop_high(self, image):
        (top, bottom), (left, right) = self._widths(self.d)
        return image[..., top : image.shape[-2] - bottom, left : image.shape[-1] - right]


def block_sum(z: torch.Tensor, d: int) -> torch.Tensor:
    """U^H: sum of the d x d tiles of size (H/d, W/d) of a (H, W) array."""
    h, w = z.shape[-2] // d, z.shape[-1] // d
    return z.reshape(d, h, d, w).sum(dim=(0, 2))


class NormalSystem:
    """(H^T S^T S H + a D^T D + b I) x = r on an (H, W) grid, solved in Fourier."""

    def __init__(self, shape: tuple[int, int], d: int, sigma: float = PSF_SIGMA,
                 device=None, dtype=torch.float64) -> None:
        if shape[0] % d or shape[1] % d:
            raise ValueError(f"grid {shape} is not a multiple of d = {d}")
        complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        otf = centred_otf(gaussian_psf(psf_support(sigma), sigma), shape)
        self.shape, self.d, self.dtype = tuple(shape), int(d), dtype
        self.otf = torch.as_tensor(otf, dtype=complex_dtype, device=device)
        self.otf_abs2 = self.otf.real**2 + self.otf.imag**2
        #: the OTF on the half spectrum of rfft2 (the kernel is real: its OTF is Hermitian)
        self.otf_half = self.otf[:, : shape[1] // 2 + 1].contiguous()
        self.dtd = torch.as_tensor(difference_spectrum(shape, 0.0), dtype=dtype, device=device)
        self._cache: dict[tuple[float, float], tuple[torch.Tensor, ...]] = {}
        self._data_hat: tuple[torch.Tensor, torch.Tensor] | None = None

    def blur(self, x: torch.Tensor) -> torch.Tensor:
        """H x (circular), through the real FFT: half the work of a complex one."""
        return torch.fft.irfft2(self.otf_half * torch.fft.rfft2(x), s=self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """S H x."""
        return self.sample(self.blur(x))

    def sample(self, blurred: torch.Tensor) -> torch.Tensor:
        """S: every d-th row and column (of H x, when already computed)."""
        return blurred[:: self.d, :: self.d]

    def adjoint_hat(self, y: torch.Tensor) -> torch.Tensor:
        """F(H^T S^T y): the data part of the right-hand side, in Fourier (kept for the last y)."""
        if self._data_hat is not None and self._data_hat[0] is y:
            return self._data_hat[1]
        zero_filled = y.new_zeros(self.shape)
        zero_filled[:: self.d, :: self.d] = y
        value = self.otf.conj() * torch.fft.fft2(zero_filled)
        self._data_hat = (y, value)
        return value

    def _factors(self, a: float, b: float
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(M^-1, M^-1 conj(OTF), 1 / (d^2 + U^H |OTF|^2 M^-1)) for M = a |D|^2 + b, kept for
        the last few (a, b): the solves of one fusion share them."""
        key = (float(a), float(b))
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            inv_m = 1.0 / (a * self.dtd + b)
            denominator = self.d**2 + block_sum(self.otf_abs2 * inv_m, self.d)
            self._cache[key] = (inv_m, inv_m * self.otf.conj(), 1.0 / denominator)
        return self._cache[key]

    def solve_hat(self, r_hat: torch.Tensor, a: float, b: float) -> torch.Tensor:
        """x for the right-hand side given in Fourier (see module docstring)."""
        inv_m, inv_m_otf_conj, inv_den = self._factors(a, b)
        m_r = r_hat * inv_m
        correction = block_sum(self.otf * m_r, self.d).mul_(inv_den)
        m_r.sub_(inv_m_otf_conj * correction.repeat(self.d, self.d))
        # x is real, so its spectrum is Hermitian: the half spectrum gives it through the real
        # inverse FFT (half the work of ifft2, and a contiguous real array, not a strided view)
        return torch.fft.irfft2(m_r[:, : self.shape[1] // 2 + 1], s=self.shape)


def periodic_gradient(x: torch.Tensor) -> torch.Tensor:
    """D x as a (2, H, W) stack of periodic forward differences,
    (D x)_0[i, j] = x[i, j+1] - x[i, j] and (D x)_1[i, j] = x[i+1, j] - x[i, j], indices mod
    (H, W); written by slices into one array (torch.roll would copy x twice more)."""
    out = x.new_empty((2, *x.shape))
    torch.sub(x[:, 1:], x[:, :-1], out=out[0, :, :-1])
    torch.sub(x[:, :1], x[:, -1:], out=out[0, :, -1:])
    torch.sub(x[1:], x[:-1], out=out[1, :-1])
    torch.sub(x[:1], x[-1:], out=out[1, -1:])
    return out


def periodic_divergence(p: torch.Tensor) -> torch.Tensor:
    """-D^T p (the adjoint of :func:`periodic_gradient`, negated):
    p_0[i, j] - p_0[i, j-1] + p_1[i, j] - p_1[i-1, j], indices mod (H, W)."""
    out = p[0] + p[1]
    out[:, 1:] -= p[0][:, :-1]
    out[:, :1] -= p[0][:, -1:]
    out[1:] -= p[1][:-1]
    out[:1] -= p[1][-1:]
    return out


def tikhonov_restore(system: NormalSystem, y: torch.Tensor, smoothness: float,
                     pull: float = 0.0, target: torch.Tensor | None = None) -> torch.Tensor:
    """argmin 1/2||S H x - y||^2 + (a/2)||D x||^2 + (b/2)||x - t||^2 (b = ``pull``)."""
    r_hat = system.adjoint_hat(y)
    if target is not None and pull > 0:
        r_hat = r_hat + pull * torch.fft.fft2(target)
    return system.solve_hat(r_hat, smoothness, max(pull, 1e-10))


@dataclass(frozen=True)
class TvSplit:
    """ADMM state of :func:`tv_restore`: the split variable z ~ D x and the scaled multiplier."""

    z: torch.Tensor
    v: torch.Tensor


#: ADMM penalty beta relative to the TV weight lam
ADMM_PENALTY = 10.0


def shrink(q: torch.Tensor, threshold: float) -> torch.Tensor:
    """Isotropic soft threshold of a (2, H, W) vector field: q max(1 - t / |q|, 0)."""
    norm = torch.sqrt(q[0] ** 2 + q[1] ** 2)
    return q * torch.clamp(1 - threshold / torch.clamp(norm, min=1e-30), min=0.0)


def tv_restore(system: NormalSystem, y: torch.Tensor, lam: float, x0: torch.Tensor,
               pull: float = 0.0, target: torch.Tensor | None = None,
               iterations: int = 50, split: TvSplit | None = None,
               check_cancel=None) -> tuple[torch.Tensor, TvSplit]:
    """ADMM for 1/2||S H x - y||^2 + (b/2)||x - t||^2 + lam TV(x) (b = ``pull``); (x, split).

    With beta = ADMM_PENALTY lam, every iteration reads
        x <- (H^T S^T S H + beta D^T D + b I)^-1 (H^T S^T y + b t + beta D^T (z - v))
        z <- shrink(D x + v, lam / beta)
        v <- v + D x - z
    D are periodic forward differences (diagonal in Fourier like the normal system's D^T D).
    """
    beta = ADMM_PENALTY * lam
    fixed_hat = system.adjoint_hat(y)
    fixed = None
    if target is not None and pull > 0:
        fixed = pull * target
    if split is None:
        z = periodic_gradient(x0)
        split = TvSplit(z, torch.zeros_like(z))
    z, v = split.z, split.v
    x = x0
    for _ in range(iterations):
        if check_cancel is not None:
            check_cancel()
        rhs = -beta * periodic_divergence(z - v)
        if fixed is not None:
            rhs = rhs + fixed
        x = system.solve_hat(fixed_hat + torch.fft.fft2(rhs), beta, max(pull, 1e-10))
        dx = periodic_gradient(x)
        z = shrink(dx + v, lam / beta)
        v = v + dx - z
    return x, TvSplit(z, v)


def estimate_noise_std(image: np.ndarray) -> float:
    """Std of white Gaussian noise in an image (Immerkaer, CVIU 64 (1996) 300-302).

    sigma = sqrt(pi / 2) / (6 (W - 2)(H - 2)) sum |I * N|,  N = [[1,-2,1],[-2,4,-2],[1,-2,1]]:
    the mask annihilates locally planar signal, so what remains is mostly noise.
    """
    a = np.asarray(image, dtype=np.float64)
    r = (a[:-2, :-2] - 2 * a[:-2, 1:-1] + a[:-2, 2:]
         - 2 * a[1:-1, :-2] + 4 * a[1:-1, 1:-1] - 2 * a[1:-1, 2:]
         + a[2:, :-2] - 2 * a[2:, 1:-1] + a[2:, 2:])
    return float(np.sqrt(np.pi / 2) * np.abs(r).mean() / 6)
