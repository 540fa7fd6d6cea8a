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

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import InvalidImageError, NumericalError, WeightsError
from .fusion import WeightsIdentity
from .fusion_params import DESPECKLER_CHOICES
from .scan import size_text
from .torch_files import load_torch_file

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


# --------------------------------------------------------------------------------------------
# DnCNN


class DnCNN(nn.Module):
    """DnCNN-S (Zhang et al., "Beyond a Gaussian Denoiser", IEEE TIP 2017): residual learning.

    ``dncnn`` is an ``nn.Sequential`` laid out as in the public DnCNN-PyTorch code, so its state
    dict keys (``dncnn.0.weight``, ``dncnn.2.weight``, ``dncnn.3.running_mean``, ...) match::

        conv(channels -> features) , ReLU
        (depth - 2) x [conv(features -> features), BatchNorm2d, ReLU]
        conv(features -> channels)

    All convolutions are 3x3 without bias. The network predicts the **noise** n_hat = net(y); the
    denoised image is y - n_hat (:meth:`denoise_tensor`). The model is put in eval mode
    (BatchNorm uses its running statistics).

    ``dilations`` (one per convolution, default all 1) turns it into the dilated layout of IRCNN
    (Zhang et al., "Learning Deep CNN Denoiser Prior for Image Restoration", CVPR 2017): layer i
    samples its 3x3 taps ``dilations[i]`` pixels apart with zero padding ``dilations[i]``, so the
    receptive radius is sum(dilations) at the cost of ``depth`` convolutions (1,2,3,4,3,2,1:
    radius 16 with 7 layers). The state-dict layout does not depend on the dilations; they are
    part of the architecture recorded beside the weights.
    """

    def __init__(self, depth: int = 17, features: int = 64, channels: int = 1,
                 dilations: tuple[int, ...] | None = None) -> None:
        super().__init__()
        if depth < 2 or features < 1 or channels < 1:
            raise ValueError(f"invalid DnCNN shape depth={depth} features={features}")
        dilations = tuple(int(d) for d in dilations) if dilations else (1,) * depth
        if len(dilations) != depth or min(dilations) < 1:
            raise ValueError(f"need {depth} dilations >= 1, got {dilations}")
        self.depth, self.features, self.channels = depth, features, channels
        self.dilations = dilations

        def conv(n_in: int, n_out: int, dilation: int) -> nn.Conv2d:
            return nn.Conv2d(n_in, n_out, kernel_size=3, padding=dilation, dilation=dilation,
                             bias=False)

        layers: list[nn.Module] = [conv(channels, features, dilations[0]), nn.ReLU(inplace=True)]
        for dilation in dilations[1:-1]:
            layers += [
                conv(features, features, dilation),
                nn.BatchNorm2d(features),
                nn.ReLU(inplace=True),
            ]
        layers.append(conv(features, channels, dilations[-1]))
        self.dncnn = nn.Sequential(*layers)
        self.eval()

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side that influence one output pixel (each 3x3 convolution adds its
        dilation)."""
        return sum(self.dilations)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """The predicted noise n_hat for a (N, C, H, W) batch."""
        return self.dncnn(noisy)

    def denoise_tensor(self, noisy: torch.Tensor) -> torch.Tensor:
        """y - net(y)."""
        return noisy - self(noisy)


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    """Remove the ``module.`` prefix that ``nn.DataParallel`` adds to every key."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def _architecture_from_state(state: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """(depth, features, channels) of a DnCNN state dict: count its 4-D convolution kernels."""
    convs = sorted(
        (int(key.split(".")[1]), value)
        for key, value in state.items()
        if key.startswith("dncnn.")
        and key.endswith(".weight")
        and value.ndim == 4
        and key.split(".")[1].isdigit()
    )
    if len(convs) < 2:
        raise KeyError("no dncnn.N.weight convolution kernels")
    first = convs[0][1]
    return len(convs), int(first.shape[0]), int(first.shape[1])


def _describe_mismatch(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable differences between the model's keys/shapes and a state dict."""
    expected = {
        k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    problems = [f"missing {k}" for k in expected if k not in given]
    problems += [f"unexpected {k}" for k in given if k not in expected]
    problems += [
        f"{k} has shape {tuple(given[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and tuple(getattr(given[k], "shape", ())) != tuple(v.shape)
    ]
    return problems


def load_dncnn(
    path: str | Path,
    depth: int | None = None,
    features: int | None = None,
    channels: int | None = None,
    dilations: tuple[int, ...] | None = None,
) -> DnCNN:
    """Load DnCNN weights saved in the DnCNN-PyTorch format (state dict, optional ``module.``).

    The architecture is read from the file unless ``depth``/``features``/``channels`` are given,
    in which case the file must match them. ``dilations`` are not stored in the file (all 1 when
    not given: the DnCNN-PyTorch layout). Loading is strict; any mismatch raises
    :class:`WeightsError` naming the file and the first differing keys.
    """
    path = Path(path)
    raw = load_torch_file(path, "DnCNN weights file")
    if not isinstance(raw, Mapping) or not all(torch.is_tensor(v) for v in raw.values()):
        raise WeightsError(
            f"The DnCNN weights file {path.name} does not hold a state dict of tensors."
        )
    state = _strip_prefix(raw)
    try:
        found = _architecture_from_state(state)
    except KeyError:
        found = (17, 64, 1)
    shape = tuple(
        given if given is not None else guess
        for given, guess in zip((depth, features, channels), found, strict=True)
    )
    model = DnCNN(*shape, dilations=dilations)
    problems = _describe_mismatch(model, state)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise WeightsError(
            f"The weights file {path.name} does not fit a DnCNN with depth {shape[0]}, "
            f"{shape[1]} features and {shape[2]} channel(s): {shown}."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[-1].strip()
        raise WeightsError(
            f"The weights file {path.name} does not fit the DnCNN: {first_line}"
        ) from exc
    model.eval()
    return model


def weights_identity(path: str | Path, name: str) -> WeightsIdentity:
    """Registry name, file name and sha256 of a weights file (recorded with every result)."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return WeightsIdentity(name=name, file=path.name, sha256=digest.hexdigest())


class DnCNNDenoiser(Denoiser):
    """Denoise with a :class:`DnCNN`: x = y - net(y), in float32, without clamping.

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
        self.model.to(self.device)
        source = identity.file if identity is not None else "weights in memory"
        self.name = f"DnCNN ({source})"

    def _run(self, block: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
        tensor = tensor[None, None].to(self.device)
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
