"""One EM step of the DDFM fusion likelihood (Zhao et al., ICCV 2023), as the reference computes it.

Model: with Y = I - V and X = f - V, the fused image f should keep I's content (Laplacian
residual Y - X, weights C) and stay sparse against V (weights D), with a TV penalty on the
auxiliary H ~ Y - X. Per call, on B x 1 x H x W float32 tensors (the reference's exact order):

    Y = I - V,  X = f_pre - V
    E-step (taus of the previous call):
        D = sqrt(2 / tau_b / (X^2 + 1e-6)),   C = sqrt(2 / tau_a / (Y - X + 1e-6)^2),
        D <- min(D, 2C),
        tau_b = mean(1 / (D + 1e-10) + tau_b / 2),   tau_a = mean(1 / (C + 1e-10) + tau_a / 2)
    M-step (one iteration):
        H  = Re F^-1[(F(Y - X) + conj(K1) F(F1) + conj(K2) F(F2)) / (1 + |K1|^2 + |K2|^2)]
        a1 = H - H shifted left (last column kept),  a2 = H - H shifted up (last row kept)
        F1 = rho / (2 lamb + rho) a1,  F2 = rho / (2 lamb + rho) a2
        X  = (2 C Y + rho (Y - H)) / (2 C + 2 D + rho)
    return F = I - X

K1, K2 are the OTFs of the difference kernels [1, -1] (rows) and [1; -1] (columns):
K1[y, x] = exp(2 pi i x / W) - 1, K2[y, x] = exp(2 pi i y / H) - 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EMState:
    """The reference ``HyperP`` dict as a dataclass (same names); C, D, H are diagnostics."""

    C: torch.Tensor
    D: torch.Tensor
    H: torch.Tensor
    F1: torch.Tensor
    F2: torch.Tensor
    tau_a: torch.Tensor
    tau_b: torch.Tensor
    fft_k1: torch.Tensor
    fft_k2: torch.Tensor
    fft_k1sq: torch.Tensor
    fft_k2sq: torch.Tensor


def difference_otfs(height: int, width: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``psf2otf([[1, -1]])`` and ``psf2otf([[1], [-1]])`` on an H x W grid (complex64)."""
    x = torch.arange(width, dtype=torch.float64, device=device)
    y = torch.arange(height, dtype=torch.float64, device=device)
    row = torch.exp(2j * math.pi * x / width) - 1
    col = torch.exp(2j * math.pi * y / height) - 1
    k1 = row[None, :].expand(height, width)
    k2 = col[:, None].expand(height, width)
    return k1.to(torch.complex64).contiguous(), k2.to(torch.complex64).contiguous()


def em_init(image: torch.Tensor) -> EMState:
    """``EM_Initial(I)``: F1 = F2 = H = 0, C = D = 1, tau_a = tau_b = 1, and the OTFs."""
    zeros = torch.zeros_like(image)
    ones = torch.ones_like(image)
    k1, k2 = difference_otfs(image.shape[-2], image.shape[-1], image.device)
    one = torch.tensor(1.0, dtype=image.dtype, device=image.device)
    return EMState(
        C=ones, D=ones, H=zeros, F1=zeros, F2=zeros, tau_a=one, tau_b=one,
        fft_k1=k1, fft_k2=k2, fft_k1sq=k1.conj() * k1, fft_k2sq=k2.conj() * k2,
    )


def _forward_difference(h: torch.Tensor, dim: int) -> torch.Tensor:
    """h - (h shifted by one toward the start) along ``dim``; last slice keeps h (no wrap)."""
    out = h.clone()
    n = h.shape[dim]
    out.narrow(dim, 0, n - 1).sub_(h.narrow(dim, 1, n - 1))
    return out


def em_step(
    f_pre: torch.Tensor,
    I: torch.Tensor,  # noqa: E741 - the reference's name for the first source
    V: torch.Tensor,
    state: EMState,
    lamb: float = 0.5,
    rho: float = 0.001,
) -> tuple[torch.Tensor, EMState]:
    """``EM_onestep``: one E-step and one M-step (module docstring); returns (F, new state)."""
    Y = I - V
    X = f_pre - V
    # E-step
    D = torch.sqrt(2 / state.tau_b / (X**2 + 1e-6))
    C = torch.sqrt(2 / state.tau_a / (Y - X + 1e-6) ** 2)
    D = torch.where(D > 2 * C, 2 * C, D)
    tau_b = torch.mean(1 / (D + 1e-10) + state.tau_b / 2)
    tau_a = torch.mean(1 / (C + 1e-10) + state.tau_a / 2)
    # M-step
    numerator = (
        torch.fft.fft2(Y - X)
        + state.fft_k1.conj() * torch.fft.fft2(state.F1)
        + state.fft_k2.conj() * torch.fft.fft2(state.F2)
    )
    H = torch.real(torch.fft.ifft2(numerator / (1 + state.fft_k1sq + state.fft_k2sq)))
    shrink = rho / (2 * lamb + rho)
    F1 = shrink * _forward_difference(H, -1)
    F2 = shrink * _forward_difference(H, -2)
    X = (2 * C * Y + rho * (Y - H)) / (2 * C + 2 * D + rho)
    new_state = EMState(
        C=C, D=D, H=H, F1=F1, F2=F2, tau_a=tau_a, tau_b=tau_b,
        fft_k1=state.fft_k1, fft_k2=state.fft_k2,
        fft_k1sq=state.fft_k1sq, fft_k2sq=state.fft_k2sq,
    )
    return I - X, new_state


@dataclass(frozen=True)
class EmCorrector:
    """The DDFM-EM correction (a :class:`engine.diffusion.sampler.Corrector`): one
    :func:`em_step` on the luminance of each step's x0 estimate, I = MRI, V = US (B,1,H,W)."""

    mri: torch.Tensor
    us: torch.Tensor
    lamb: float = 0.5
    rho: float = 0.001

    def check_shape(self, height: int, width: int) -> None:
        """Both sources must be 1x1xHxW like the sample."""
        from .errors import ParameterError

        for name, image in (("mri", self.mri), ("us", self.us)):
            if tuple(image.shape) != (1, 1, height, width):
                raise ParameterError(
                    f"{name} must be 1x1x{height}x{width} like the sample, "
                    f"got {tuple(image.shape)}."
                )

    def initial_state(self) -> EMState:
        return em_init(self.mri)

    def correct(self, x0_luma: torch.Tensor, state: EMState, info) -> tuple[torch.Tensor, EMState]:
        return em_step(x0_luma, self.mri, self.us, state, self.lamb, self.rho)
