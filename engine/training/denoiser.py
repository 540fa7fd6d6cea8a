"""Training of the US despeckler: a small DnCNN on simulated log-domain speckle.

Observation model (``engine.denoise``): y = x + gamma log R, R ~ Rayleigh(1). A clean patch u in
[0, 1] (:mod:`.data`) becomes a clean log-domain US patch x = a + s u with gain s ~ U(0.4, 1.6)
and offset a ~ U(-0.1, 0.6) (Data2's clean US spans [0, 1.48]; max-normalised US, as PALM gets
it, sits in about [0.3, 1]); gamma ~ log-uniform on [0.02, 0.3] per patch (Data2 0.09, Data3
0.21, the phantom 0.15 before normalisation). The network predicts the speckle, mean included,

    loss = mean (net(y) - (y - x))^2,        x_hat = y - net(y)

so the non-zero speckle mean gamma (ln 2 - euler_gamma) / 2 is removed by the network itself.
Adam, learning rate ``lr`` divided by 10 at 70 % and again at 90 % of ``steps``.

Noise-level normalisation (``noise_std`` set): the speckle is additive, so scaling an image by
k scales its speckle std by k. Each training pair is scaled by k = noise_std / (gamma sigma_1)
(sigma_1 = pi / sqrt(24), the std of log R), so the network always sees speckle of std
``noise_std`` and the tissue contrast varies instead; at use
(:class:`engine.denoise.NormalisedDnCNNDenoiser`) the image is scaled by noise_std / sigma_hat
with sigma_hat the estimated speckle std, denoised, and scaled back. The network no longer
has to infer the noise level from a local window.

Unless ``with_textures``, the images of :data:`.data.TEXTURE_IMAGES` are left out
(:func:`despeckler_pool`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import SKIMAGE_LICENCES, TEXTURE_IMAGES, ImagePool, sample_patches, training_pool
from .loop import Trainer, seeded_init_


@dataclass(frozen=True)
class DespecklerTrainingConfig:
    """Architecture and optimisation of the despeckler training (module docstring)."""

    # the network
    depth: int = 10
    features: int = 32
    dilations: tuple[int, ...] | None = None
    # the training patches and their simulated speckle (ranges sampled per patch)
    patch: int = 48
    batch: int = 24
    with_textures: bool = True
    gamma_min: float = 0.02
    gamma_max: float = 0.3
    gain_min: float = 0.4
    gain_max: float = 1.6
    offset_min: float = -0.1
    offset_max: float = 0.6
    noise_std: float | None = None
    # the optimisation
    steps: int = 3000
    lr: float = 1e-3
    seed: int = 0


def despeckler_pool(config: DespecklerTrainingConfig) -> ImagePool:
    """The training pool of ``config``: all images, or all but the stationary textures."""
    if config.with_textures:
        return training_pool()
    return training_pool([n for n in SKIMAGE_LICENCES if n not in TEXTURE_IMAGES])


def speckle_batch(
    clean_unit: np.ndarray, config: DespecklerTrainingConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy y, clean x), both (B, P, P) float32, from patches in [0, 1] (module docstring)."""
    b = clean_unit.shape[0]
    gain = rng.uniform(config.gain_min, config.gain_max, size=(b, 1, 1))
    offset = rng.uniform(config.offset_min, config.offset_max, size=(b, 1, 1))
    log_gamma = rng.uniform(np.log(config.gamma_min), np.log(config.gamma_max), size=(b, 1, 1))
    clean = offset + gain * clean_unit.astype(np.float64)
    gamma = np.exp(log_gamma)
    noisy = clean + gamma * np.log(rng.rayleigh(1.0, size=clean.shape))
    if config.noise_std is not None:
        from ..denoise import LOG_RAYLEIGH_STD

        scale = config.noise_std / (gamma * LOG_RAYLEIGH_STD)
        noisy, clean = noisy * scale, clean * scale
    return noisy.astype(np.float32), clean.astype(np.float32)


class DespecklerTrainer(Trainer):
    """Trains :class:`engine.dncnn.DnCNN` (depth/features of the config), 1 channel."""

    kind = "despeckler"

    def __init__(self, config: DespecklerTrainingConfig, pool: ImagePool,
                 device: str = "cpu") -> None:
        from ..dncnn import DnCNN

        model = DnCNN(config.depth, config.features, 1, config.dilations)
        init = torch.Generator().manual_seed(config.seed)
        seeded_init_(model, init)
        self.pool = pool
        super().__init__(config, model, device)

    def learning_rate(self, step: int) -> float:
        fraction = step / max(1, self.config.steps)
        return self.config.lr * (0.1 if fraction >= 0.7 else 1.0) * (0.1 if fraction >= 0.9 else 1)

    def train_step(self) -> float:
        c = self.config
        clean_unit = sample_patches(self.pool, c.batch, c.patch, self.data_rng)
        noisy, clean = speckle_batch(clean_unit, c, self.data_rng)
        y = torch.from_numpy(noisy)[:, None].to(self.device)
        x = torch.from_numpy(clean)[:, None].to(self.device)
        loss = torch.mean((self.model(y) - (y - x)) ** 2)
        return self.apply_step(loss)

    def export(self, path: str | Path) -> Path:
        """Write the weights as a DnCNN-PyTorch state dict (read by ``engine.dncnn.load_dncnn``,
        which infers depth and width from it)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        torch.save(state, path)
        return path
