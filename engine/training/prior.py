"""Epsilon-prediction DDPM training of the small ADM prior, and its one-step denoising test.

With the linear schedule of :mod:`engine.diffusion.schedule` (T = 1000, abar_t = prod(1 - beta)):

    x0   = 2 u - 1, replicated to 3 channels    (u: a grey patch in [0, 1], :mod:`.data`)
    t    ~ U{0, ..., T - 1},   eps ~ N(0, I)    (both from the trainer's torch.Generator)
    x_t  = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
    loss = mean (eps_theta(x_t, t) - eps)^2     (the "simple" loss of Ho et al. 2020)

The small prior has ``learn_sigma = False`` (3 output channels): the DDIM sampler with eta = 0
uses only the eps channels (``model_output[:, :3]``), so variance channels would never be used
and are not trained. Adam with linear warm-up over ``warmup`` steps, gradient norm clipped to 1,
EMA of the weights (decay ``ema_decay``); the exported prior holds the EMA weights.

Denoising with the prior (:func:`prior_denoise`): an image u with white Gaussian noise of std
sigma (units of u) is, in network units, x0 + 2 sigma n; it equals x_t / sqrt(abar_t) for the
t with sqrt((1 - abar_t) / abar_t) = 2 sigma, so one network call gives

    x0_hat = c1 x_t - c2 eps_theta(x_t, t),   c1 = 1 / sqrt(abar_t), c2 = sqrt(1 / abar_t - 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..diffusion.schedule import NUM_TRAIN_TIMESTEPS, linear_betas
from .data import ImagePool, sample_patches
from .loop import Trainer, seeded_init_

#: The bundled prior's architecture, chosen by measurement (bench/prior_width.py): 16 channels
#: at full resolution with 16 normalisation groups, channel multipliers 1,2,2,4,8, one residual
#: block per level, five levels (stride 16), self-attention only in the middle block (1/16
#: resolution: 38x38 tokens at 600). 2.98 M parameters, 11.4 MiB as float32; one evaluation at
#: 608x608 took 0.88 s on 2 cores (the 32-channel variant that GroupNorm32 forced: 1.57 s).
SMALL_PRIOR_CONFIG: dict = {
    "image_size": 64, "num_channels": 16, "num_res_blocks": 1, "channel_mult": "1,2,2,4,8",
    "learn_sigma": False, "class_cond": False, "use_checkpoint": False,
    "attention_resolutions": "", "num_heads": 4, "num_head_channels": 32,
    "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
    "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False,
    "norm_groups": 16,
}


@dataclass(frozen=True)
class PriorTrainingConfig:
    """Optimisation of the prior training (module docstring); ``unet`` is the ADMUNet config."""

    patch: int = 64
    batch: int = 8
    steps: int = 20000
    lr: float = 2e-4
    warmup: int = 200
    ema_decay: float = 0.999
    seed: int = 0
    unet: dict | None = None

    def unet_config(self) -> dict:
        return dict(self.unet or SMALL_PRIOR_CONFIG)


def zero_initialised(name: str) -> bool:
    """The reference's zero-initialised parameters: each residual branch's last convolution,
    each attention projection and the output convolution."""
    return name.startswith("out.2.") or ".out_layers.3." in name or ".proj_out." in name


class PriorTrainer(Trainer):
    """Trains an :class:`engine.diffusion.unet.ADMUNet` to predict eps (module docstring)."""

    kind = "prior"

    def __init__(self, config: PriorTrainingConfig, pool: ImagePool, device: str = "cpu",
                 autocast_dtype: torch.dtype | None = None) -> None:
        from ..diffusion.unet import ADMUNet

        model = ADMUNet(**config.unet_config())
        seeded_init_(model, torch.Generator().manual_seed(config.seed), zero_initialised)
        self.pool = pool
        self.autocast_dtype = autocast_dtype
        abar = np.cumprod(1.0 - linear_betas(NUM_TRAIN_TIMESTEPS))
        self.alphas_cumprod = torch.tensor(abar, dtype=torch.float32)
        super().__init__(config, model, device, ema_decay=config.ema_decay)

    def learning_rate(self, step: int) -> float:
        return self.config.lr * min(1.0, (step + 1) / max(1, self.config.warmup))

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x0, t, eps): x0 (B, 3, P, P) in [-1, 1]; t (B,) int64; eps like x0."""
        c = self.config
        patches = sample_patches(self.pool, c.batch, c.patch, self.data_rng)
        x0 = (2.0 * torch.from_numpy(patches) - 1.0)[:, None].expand(-1, 3, -1, -1)
        t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (c.batch,), generator=self.generator)
        eps = torch.randn(x0.shape, generator=self.generator)
        return x0.contiguous(), t, eps

    def train_step(self) -> float:
        x0, t, eps = self.batch()
        abar = self.alphas_cumprod[t][:, None, None, None]
        x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * eps
        x_t, t, eps = x_t.to(self.device), t.to(self.device), eps.to(self.device)
        if self.autocast_dtype is None:
            out = self.model(x_t, t)
        else:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                out = self.model(x_t, t)
        loss = torch.mean((out[:, :3].float() - eps) ** 2)
        return self.apply_step(loss, clip=1.0)

    def load_weights(self, path: str | Path) -> None:
        """Start from an exported prior (``{"config", "state_dict"}``, same architecture):
        model and EMA take its weights; optimiser, step and RNGs stay fresh."""
        from ..errors import WeightsError
        from ..torch_files import load_torch_file

        loaded = load_torch_file(path, "prior weights file")
        if not isinstance(loaded, dict) or loaded.get("config") != self.config.unet_config():
            raise WeightsError(
                f"The prior {Path(path).name} has another architecture than this training."
            )
        self.model.load_state_dict(loaded["state_dict"])
        if self.ema is not None:
            self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def export(self, path: str | Path) -> Path:
        """Write ``{"config", "state_dict"}`` with the EMA weights (a self-describing prior,
        read by ``engine.checkpoints.load_diffusion_prior`` and ``load_adm_weights``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        weights = self.ema if self.ema is not None else self.model.state_dict()
        state = {k: v.detach().cpu().clone() for k, v in weights.items()}
        torch.save({"config": self.config.unet_config(), "state_dict": state}, path)
        return path


def timestep_for_noise(sigma_unit: float) -> int:
    """The t whose sqrt((1 - abar_t) / abar_t) is closest to 2 sigma (noise std in [0, 1] units
    doubled by the map to [-1, 1])."""
    abar = np.cumprod(1.0 - linear_betas(NUM_TRAIN_TIMESTEPS))
    return int(np.argmin(np.abs(np.sqrt((1.0 - abar) / abar) - 2.0 * sigma_unit)))


def prior_denoise(model, noisy: np.ndarray, sigma_unit: float) -> np.ndarray:
    """One-step MMSE estimate of a grey image in [0, 1] units with Gaussian noise of std
    ``sigma_unit`` (module docstring); reflect-padded to the stride and cropped back."""
    t = timestep_for_noise(sigma_unit)
    abar = float(np.cumprod(1.0 - linear_betas(NUM_TRAIN_TIMESTEPS))[t])
    h, w = noisy.shape
    stride = model.stride
    padded = np.pad(2.0 * noisy - 1.0, ((0, -h % stride), (0, -w % stride)), mode="reflect")
    x = torch.from_numpy(padded.astype(np.float32))[None, None].expand(1, 3, -1, -1)
    x_t = np.sqrt(abar) * x
    with torch.no_grad():
        eps = model(x_t.contiguous(), torch.tensor([t]))[:, :3]
    x0 = x_t / np.sqrt(abar) - np.sqrt(1.0 / abar - 1.0) * eps
    return ((x0.mean(dim=1)[0, :h, :w].numpy().astype(np.float64)) + 1.0) / 2.0
