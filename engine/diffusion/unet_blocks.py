"""Building blocks of the ADM UNet (see :mod:`engine.diffusion.unet`): normalisation, the
timestep-conditioned residual block and the resampling layers, with the reference's module names.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GroupNorm32(nn.GroupNorm):
    """GroupNorm (32 groups, as every ADM checkpoint) evaluated in float32, cast back.

    ``groups`` may be lowered for small networks (e.g. 16 channels at full resolution); the
    parameters are the same per channel, so the state-dict layout does not change.
    """

    def __init__(self, channels: int, groups: int = 32) -> None:
        if channels % groups:
            raise ValueError(f"{channels} channels cannot form {groups} normalisation groups")
        super().__init__(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class TimestepBlock(nn.Module):
    """A block whose forward also takes the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class TimestepEmbedSequential(nn.Sequential):
    """Sequential that passes ``emb`` to the children that take it."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class ResBlock(TimestepBlock):
    """Residual block with timestep conditioning and optional 2x up/down resampling.

        h = conv_in(resample(SiLU(GN_in(x))))            x = resample(x)
        e = Linear(SiLU(emb))                              (2C outputs, or C without scale-shift)
        scale, shift = split(e)                            (scale first)
        h = conv_out(SiLU(GN_out(h) (1 + scale) + shift))  [use_scale_shift_norm]
        h = conv_out(SiLU(GN_out(h + e)))                  [otherwise]
        return skip(x) + h                                 (skip = 1x1 conv when widths differ)

    Resampling is average pooling (down) or nearest-neighbour (up); it has no parameters.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        use_scale_shift_norm: bool = True,
        up: bool = False,
        down: bool = False,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.up, self.down = up, down
        self.in_layers = nn.Sequential(
            GroupNorm32(channels, norm_groups),
            nn.SiLU(),
            nn.Conv2d(channels, out_channels, 3, padding=1),
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels, norm_groups),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        if out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.down:
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        norm_act, conv_in = self.in_layers[:-1], self.in_layers[-1]
        h = conv_in(self._resample(norm_act(x)))
        x = self._resample(x)
        e = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            norm, rest = self.out_layers[0], self.out_layers[1:]
            scale, shift = e.chunk(2, dim=1)
            h = rest(norm(h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class Downsample(nn.Module):
    """2x downsampling between levels when ``resblock_updown`` is off.

        op(x) = Conv3x3(x, stride 2, padding 1)     [conv_resample]
        op(x) = AvgPool2x2(x)                       [otherwise; no parameters]

    The module is named ``op`` as in the reference (keys ``input_blocks.N.0.op.weight``).
    """

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.op: nn.Module = (
            nn.Conv2d(channels, channels, 3, stride=2, padding=1)
            if use_conv
            else nn.AvgPool2d(kernel_size=2, stride=2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """2x nearest-neighbour upsampling, then ``conv`` (3x3) when ``conv_resample``.

        out = Conv3x3(Nearest2x(x))                 (keys ``output_blocks.N.M.conv.weight``)
    """

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1) if use_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x if self.conv is None else self.conv(x)
