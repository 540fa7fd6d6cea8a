"""US despecklers: the DnCNN network and a classical log-domain speckle filter.

PALM starts its US estimate from a despeckled copy ``x_u0`` of the observed (log-domain) US image
``y_u``. The reference code uses a DnCNN for this; the project cannot ship the public DnCNN weights,
so :func:`default_despeckler` falls back to :class:`ClassicalDespeckler` when no weights file is
given. Both implement the small :class:`Denoiser` surface::

    denoiser.name                      # what the result notes say was used
    denoiser.weights                   # WeightsIdentity of the network weights, or None
    denoiser.denoise(image)            # float64 (H, W) in, float64 (H, W) out

Log-domain speckle model (El Mansouri et al., IEEE TIP 2020; the Data2/Data3 simulations):
``y = x + gamma * log(R)`` with R Rayleigh-distributed. For unit Rayleigh scale, ``log R`` has

* mean  mu_1    = (ln 2 - euler_gamma) / 2  ~ 0.0580,
* std   sigma_1 = pi / sqrt(24)             ~ 0.6413,

so the noise is additive, white, skewed, and has a non-zero mean ``gamma * mu_1``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .dncnn import DnCNN, load_dncnn, weights_identity
from .errors import InvalidImageError, NumericalError, WeightsError
from .fusion import WeightsIdentity
from .fusion_params import DESPECKLER_CHOICES
from .scan import size_text

#: Mean of log(R) for a unit-scale Rayleigh R: (ln 2 - Euler's gamma) / 2.
LOG_RAYLEIGH_MEAN = (math.log(2.0) - 0.5772156649015329) / 2.0
#: Standard deviation of log(R) for a Rayleigh R (any scale): pi / sqrt(24).
LOG_RAYLEIGH_STD = math.pi / math.sqrt(24.0)
#: median(|w|) / 0.6745 divided by the noise std, for the finest diagonal Haar coefficient
#: w = (a - b - c + d) / 2 of white log-Rayleigh noise. w is the sum of two independent logistic
#: variables of scale 1/4 (a difference of two log-Rayleigh variables is logistic with scale 1/2),
#: so the constant follows from the logistic-sum CDF; tests/test_denoise.py recomputes it.
LOG_RAYLEIGH_MAD_RATIO = 0.9434570566985594
#: 0.75 quantile of the standard normal distribution (the MAD-to-std factor of Gaussian noise).
NORMAL_Q75 = 0.6744897501960817


class Denoiser(ABC):
    """A 2-D image denoiser: ``denoise`` maps a float64 (H, W) image to a float64 (H, W) image.

    Subclasses implement :meth:`_denoise`; :meth:`denoise` checks input and output.
    """

    #: short description recorded in the fusion result notes
    name: str
    #: identity of the network weights used, None for a classical filter
    weights: WeightsIdentity | None = None

    def denoise(self, image: np.ndarray) -> np.ndarray:
        array = np.asarray(image)
        if array.ndim != 2 or array.size == 0:
            raise InvalidImageError(
                f"The image to despeckle must be a non-empty 2-D slice, not shape {array.shape}."
            )
        array = array.astype(np.float64, copy=False)
        if not np.all(np.isfinite(array)):
            raise InvalidImageError(
                "The image to despeckle contains pixels that are not numbers (NaN or infinite)."
            )
        result = np.asarray(self._denoise(array), dtype=np.float64)
        if result.shape != array.shape:
            raise NumericalError(
                f"The despeckler {self.name} returned an array of shape {result.shape} for an "
                f"image of {size_text(array.shape)}."
            )
        if not np.all(np.isfinite(result)):
            raise NumericalError(
                f"The despeckler {self.name} produced invalid values (NaN or infinite)."
            )
        return result

    @abstractmethod
    def _denoise(self, image: np.ndarray) -> np.ndarray:
        """Denoise a finite float64 (H, W) image."""


class DnCNNDenoiser(Denoiser):
    """Denoise with a :class:`DnCNN`: x = y - net(y), in float32, without clamping.

    The network and its input are in the channels-last layout: on the CPU its convolutions run
    about 1.6 times faster so (600 x 600 US, 2 cores: 0.62 s against 1.02 s), with the same
    result up to float32 rounding.

    Images larger than ``tile`` x ``tile`` are processed in tiles with a margin of the network's
    receptive radius, so the result equals the whole-image result (up to float32 rounding): every
    output pixel sees exactly the input it would see in one pass, including the zero padding at
    the true image borders.
    """

    def __init__(
        self,
        model: DnCNN,
        identity: WeightsIdentity | None = None,
        tile: int = 1024,
        device: str | torch.device | None = None,
    ) -> None:
        if model.channels != 1:
            raise WeightsError(
                f"The DnCNN has {model.channels} input channels; a grey-level (1-channel) "
                "network is needed for ultrasound."
            )
        self.model = model.eval()
        self.weights = identity
        self.tile = int(tile)
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        self.model.to(self.device, memory_format=torch.channels_last)
        source = identity.file if identity is not None else "weights in memory"
        self.name = f"DnCNN ({source})"

    def _run(self, block: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
        tensor = tensor[None, None].to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model.denoise_tensor(tensor)
        return out[0, 0].cpu().numpy()

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape
        if height <= self.tile and width <= self.tile:
            return self._run(image).astype(np.float64)
        margin = self.model.receptive_radius
        result = np.empty((height, width), dtype=np.float64)
        for top in range(0, height, self.tile):
            for left in range(0, width, self.tile):
                bottom, right = min(top + self.tile, height), min(left + self.tile, width)
                r0, c0 = max(top - margin, 0), max(left - margin, 0)
                r1, c1 = min(bottom + margin, height), min(right + margin, width)
                out = self._run(image[r0:r1, c0:c1])
                result[top:bottom, left:right] = out[top - r0 : bottom - r0, left - c0 : right - c0]
        return result


class NormalisedDnCNNDenoiser(DnCNNDenoiser):
    """A DnCNN trained on speckle normalised to a fixed std (``engine.training.denoiser``).

    With sigma_hat = :func:`estimate_noise_std` (y) and k = ``noise_std`` / sigma_hat,

        x_hat = (k y - net(k y)) / k,

    exact for additive speckle: k y = k x + k gamma log R has speckle std ``noise_std``.
    """

    def __init__(self, model: DnCNN, noise_std: float, identity: WeightsIdentity | None = None,
                 tile: int = 1024, device: str | torch.device | None = None) -> None:
        super().__init__(model, identity, tile, device)
        self.noise_std = float(noise_std)

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        sigma = estimate_noise_std(image)
        if sigma <= 0.0:
            return image.copy()
        scale = self.noise_std / sigma
        return super()._denoise(image * scale) / scale


# --------------------------------------------------------------------------------------------
# Classical despeckler


def estimate_noise_std(image: np.ndarray, mad_ratio: float = LOG_RAYLEIGH_MAD_RATIO) -> float:
    """Robust std of white noise from the finest diagonal Haar coefficients (Donoho's MAD rule).

    w = (a - b - c + d) / 2 over disjoint 2x2 blocks has the noise's variance and hardly any
    smooth-image content; sigma_hat = median(|w|) / 0.6745 / ``mad_ratio``. ``mad_ratio`` = 1 is
    exact for Gaussian noise; the default calibrates it for log-Rayleigh noise, for which the plain
    Gaussian rule under-estimates the std by 5.7 %.
    """
    h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    a, b = image[0:h:2, 0:w:2], image[0:h:2, 1:w:2]
    c, d = image[1:h:2, 0:w:2], image[1:h:2, 1:w:2]
    diagonal = (a - b - c + d) / 2.0
    return float(np.median(np.abs(diagonal)) / NORMAL_Q75 / mad_ratio)


class ClassicalDespeckler(Denoiser):
    """Total-variation despeckling of log-domain US, with speckle-bias removal.

    For ``y = x + gamma * log(R)`` (module docstring):

    1. sigma_hat = :func:`estimate_noise_std` (``y``), calibrated for log-Rayleigh noise; this is
       gamma * pi / sqrt(24), so gamma_hat = sigma_hat / sigma_1.
    2. Bias removal: ``u = y - gamma_hat * mu_1 = y - sigma_hat * mu_1 / sigma_1``. This is the
       exact mean of the speckle when the Rayleigh scale is 1 (the paper's model, Data2); a larger
       scale s adds gamma * log(s), a global gain that no filter can tell from the tissue (Data3,
       s = 1.1: 0.012 of its 0.032 bias is removed).
    3. x_hat = argmin_x  1/2 ||x - u||^2 + lambda TV(x),  lambda = ``weight_factor`` * sigma_hat,
       solved by Chambolle's projection algorithm (scikit-image ``denoise_tv_chambolle``, isotropic
       TV, stop at relative energy change 2e-4 or 200 iterations).

    Chosen by measurement on the Data2/Data3 pairs (``bench/despeckle.py``): against non-local
    means (fast mode, 5x5 patches, h = 0.6..1.2 sigma) TV with lambda = 2 sigma gave the best PSNR
    and SSIM on both (Data2 39.3 dB / 0.961, Data3 29.5 dB / 0.787, from 28.1 / 17.4 dB noisy),
    and it is 1.5-4x faster. Bias removal adds 0.4 dB (Data2) and 1.9 dB (Data3). TV favours
    piecewise-smooth tissue: fine texture below the speckle level is flattened.
    """

    weights = None

    def __init__(self, weight_factor: float = 2.0, remove_bias: bool = True) -> None:
        self.weight_factor = float(weight_factor)
        self.remove_bias = bool(remove_bias)
        bias = ", bias removed" if self.remove_bias else ""
        self.name = f"classical despeckler (TV, lambda = {self.weight_factor:g} sigma{bias})"

    def _denoise(self, image: np.ndarray) -> np.ndarray:
        from skimage.restoration import denoise_tv_chambolle

        sigma = estimate_noise_std(image)
        if sigma <= 0.0:
            return image.copy()
        if self.remove_bias:
            image = image - sigma * LOG_RAYLEIGH_MEAN / LOG_RAYLEIGH_STD
        return denoise_tv_chambolle(image, weight=self.weight_factor * sigma)


# --------------------------------------------------------------------------------------------
# Choice of despeckler

#: Registry name recorded for DnCNN weights chosen by the user.
USER_DNCNN_NAME = "dncnn-user"


def bundled_despeckler() -> Denoiser | None:
    """The despeckler that ships in ``checkpoints/`` (registry kind ``dncnn``), verified by
    size and sha256 before loading; None when the folder holds none (a WeightsError when one is
    there but corrupt: a damaged install is reported, not silently replaced)."""
    from .checkpoints import checkpoints_dir, despeckler_entry, verify_file

    folder = checkpoints_dir()
    entry = despeckler_entry(folder)
    if entry is None:
        return None
    digest = verify_file(entry, folder)
    config = entry.config
    model = load_dncnn(
        entry.path(folder), config["depth"], config["features"], config.get("channels", 1),
        dilations=tuple(config["dilations"]) if config.get("dilations") else None,
    )
    identity = WeightsIdentity(name=entry.name, file=entry.file, sha256=digest)
    if config.get("noise_std"):
        return NormalisedDnCNNDenoiser(model, config["noise_std"], identity)
    return DnCNNDenoiser(model, identity)


#: The despecklers a user can choose: the bundled learned one (falling back to the classical
#: filter when none ships) or the classical filter.


def default_despeckler(weights_path: Path | None = None, choice: str = "learned") -> Denoiser:
    """The despeckler PALM uses: DnCNN from ``weights_path`` when given, else (``choice`` =
    "learned") the bundled one, else :class:`ClassicalDespeckler`. Its ``name`` and ``weights``
    go into the result notes."""
    if choice not in DESPECKLER_CHOICES:
        raise ValueError(f"unknown despeckler {choice!r}; choose one of {DESPECKLER_CHOICES}")
    if weights_path is not None:
        model = load_dncnn(weights_path)
        return DnCNNDenoiser(model, weights_identity(weights_path, USER_DNCNN_NAME))
    bundled = bundled_despeckler() if choice == "learned" else None
    if bundled is not None:
        return bundled
    return ClassicalDespeckler()


@dataclass(frozen=True)
class DespeckleOutcome:
    """The US a fusion starts from, with the sentence and weights its result records."""

    image: np.ndarray
    note: str
    weights: WeightsIdentity | None = None


def despeckle_stage(
    image: np.ndarray, enabled: bool = True, weights_path: Path | None = None,
    choice: str = "learned", cancel: Callable[[], None] | None = None,
) -> DespeckleOutcome:
    """Despeckle the US with :func:`default_despeckler` (or pass it through when disabled).

    ``cancel()`` (raises to stop) is called before every layer of a network despeckler.
    """
    from .cancel_hooks import cancel_between_blocks

    if not enabled:
        return DespeckleOutcome(image, "US used without despeckling.")
    despeckler = default_despeckler(weights_path, choice)
    with cancel_between_blocks(getattr(despeckler, "model", None), cancel):
        despeckled = despeckler.denoise(image)
    return DespeckleOutcome(despeckled, f"US despeckled with {despeckler.name}.",
                            despeckler.weights)
