"""The DnCNN network of the learned despeckler, and strict loading of its weights files.

Weights come in the DnCNN-PyTorch layout (a state dict, keys optionally prefixed ``module.`` by
``nn.DataParallel``); :func:`load_dncnn` reads the architecture from the file and refuses, in one
sentence, any file that does not fit it. :func:`weights_identity` is the sha256 recorded with
every result that used a weights file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError
from .fusion import WeightsIdentity
from .torch_files import load_torch_file


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


