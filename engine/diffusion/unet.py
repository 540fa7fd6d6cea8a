"""The ADM UNet (OpenAI guided-diffusion architecture), written from its published description.

Built from the same configuration keys as the reference ``create_model`` and state-dict compatible
with the public checkpoint ``256x256_diffusion_uncond.pt``: module names, registration order and
parameter shapes follow the reference exactly, so ``load_state_dict(strict=True)`` works.

Forward pass (``x`` is B x 3 x H x W in [-1, 1], ``t`` the ORIGINAL-schedule timestep, int64):

    e0   = [cos(t f_k), sin(t f_k)],  f_k = exp(-ln(10000) k / (C/2)),  k = 0 .. C/2 - 1
    emb  = Linear(SiLU(Linear(e0)))                       (time_embed, width 4C)
    h    = input blocks (each output pushed on a stack), middle block,
           output blocks (input = cat[h, stack.pop()] — current h first, skip second)
    out  = Conv3x3(SiLU(GN(h)))                           (6 channels with learn_sigma: eps, var)

H and W must be multiples of :attr:`ADMUNet.stride` (callers pad, see ``engine.methods.ddfm``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..torch_files import load_torch_file
from .unet_blocks import (
    Downsample,
    GroupNorm32,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
)

#: largest attention-weight block held at once (queries are processed in chunks beyond it)
ATTENTION_CHUNK_BYTES = 1 << 28

#: channel multipliers the reference picks when ``channel_mult`` is empty
DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos(t f), sin(t f)]`` (cos first), always float32."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class AttentionBlock(nn.Module):
    """Spatial self-attention over the H*W positions, ``heads`` heads of ``C/heads`` channels.

    ``qkv`` is a 1x1 Conv1d to 3C channels. Legacy order (the public checkpoints): head h owns the
    channel slice [3 ch h, 3 ch (h+1)) laid out as [q, k, v]; new order: chunk into q, k, v first.
        w = softmax_s((q s)^T (k s)),  s = ch^(-1/4);  a = v w^T;  out = x + proj_out(a)
    evaluated over chunks of queries so that w never needs more than ATTENTION_CHUNK_BYTES.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int,
        num_head_channels: int,
        new_order: bool,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"{channels} channels are not divisible by {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.new_order = new_order
        self.norm = GroupNorm32(channels, norm_groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        x_flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x_flat))
        heads, length = self.num_heads, qkv.shape[-1]
        ch = c // heads
        if self.new_order:
            q, k, v = (part.reshape(b * heads, ch, length) for part in qkv.chunk(3, dim=1))
        else:
            q, k, v = qkv.reshape(b * heads, 3 * ch, length).split(ch, dim=1)
        scale = 1.0 / math.sqrt(math.sqrt(ch))
        q, k = q * scale, k * scale
        # queries in chunks so that no more than ATTENTION_CHUNK_BYTES of weights exist at once
        # (the tiny configuration attends at 1/2 resolution: 64 GB for 600x600 in one piece)
        rows = max(1, ATTENTION_CHUNK_BYTES // (q.shape[0] * length * 4))
        chunks = []
        for start in range(0, length, rows):
            weight = torch.einsum("bct,bcs->bts", q[..., start : start + rows], k)
            weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
            chunks.append(torch.einsum("bts,bcs->bct", weight, v))
        a = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=-1)
        return (x_flat + self.proj_out(a.reshape(b, c, length))).reshape(b, c, *spatial)


def _parse_ints(text: str | tuple | list) -> tuple:
    if isinstance(text, (tuple, list)):
        return tuple(text)
    return tuple(int(part) for part in str(text).split(",") if part.strip())


class ADMUNet(nn.Module):
    """The guided-diffusion UNet, constructed from the reference ``create_model`` keyword set.

    Every combination the reference accepts builds with the reference's module names and shapes:
    ``resblock_updown`` (ResBlock resampling, or :class:`Downsample`/:class:`Upsample` between
    levels, with a 3x3 convolution when ``conv_resample``, the reference ``UNetModel`` default),
    ``use_scale_shift_norm``, ``learn_sigma`` (6 or 3 output channels), heads by count
    (``num_head_channels=-1``, ``num_heads``) or by width (``num_head_channels``),
    ``num_heads_upsample``, ``use_new_attention_order``, ``class_cond`` (1000 labels).
    ``use_checkpoint`` (gradient checkpointing) and ``use_fp16`` only matter for training; the
    reference ``create_model`` never converts the weights to fp16, so neither do we (use autocast).
    ``model_path`` is accepted and ignored: loading is :func:`load_adm_weights`'s job.
    """

    def __init__(
        self,
        image_size: int = 256,
        num_channels: int = 256,
        num_res_blocks: int = 2,
        channel_mult: str | tuple = "",
        learn_sigma: bool = True,
        class_cond: bool = False,
        use_checkpoint: bool = False,
        attention_resolutions: str | tuple = "32,16,8",
        num_heads: int = 4,
        num_head_channels: int = 64,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = True,
        dropout: float = 0.0,
        resblock_updown: bool = True,
        use_fp16: bool = False,
        use_new_attention_order: bool = False,
        model_path: str = "",
        in_channels: int = 3,
        norm_groups: int = 32,
        conv_resample: bool = True,
    ) -> None:
        super().__init__()
        mult = _parse_ints(channel_mult) if channel_mult not in ("", None) else None
        if mult is None:
            if image_size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(f"no default channel_mult for image_size {image_size}")
            mult = DEFAULT_CHANNEL_MULT[image_size]
        attention_ds = {image_size // r for r in _parse_ints(attention_resolutions)}
        heads_up = num_heads if num_heads_upsample == -1 else num_heads_upsample
        self.config = dict(
            image_size=image_size, num_channels=num_channels, num_res_blocks=num_res_blocks,
            channel_mult=channel_mult, learn_sigma=learn_sigma, class_cond=class_cond,
            attention_resolutions=attention_resolutions, num_heads=num_heads,
            num_head_channels=num_head_channels, num_heads_upsample=num_heads_upsample,
            use_scale_shift_norm=use_scale_shift_norm, dropout=dropout,
            resblock_updown=resblock_updown, use_new_attention_order=use_new_attention_order,
        )
        if norm_groups != 32:  # only small project priors use another group count
            self.config["norm_groups"] = norm_groups
        if not conv_resample:  # a reference UNetModel argument that create_model leaves on
            self.config["conv_resample"] = conv_resample
        self.model_channels = num_channels
        self.out_channels = 6 if learn_sigma else 3
        #: spatial size must be a multiple of this (one halving per level but the last)
        self.stride = 2 ** (len(mult) - 1)
        emb_dim = 4 * num_channels
        self.time_embed = nn.Sequential(
            nn.Linear(num_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        if class_cond:
            self.label_emb = nn.Embedding(1000, emb_dim)

        def res(ch_in: int, ch_out: int, up: bool = False, down: bool = False) -> ResBlock:
            return ResBlock(
                ch_in, emb_dim, dropout, ch_out, use_scale_shift_norm, up, down, norm_groups
            )

        def down(ch: int) -> nn.Module:
            return res(ch, ch, down=True) if resblock_updown else Downsample(ch, conv_resample)

        def up(ch: int) -> nn.Module:
            return res(ch, ch, up=True) if resblock_updown else Upsample(ch, conv_resample)

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(
                ch, heads, num_head_channels, use_new_attention_order, norm_groups
            )

        ch = int(mult[0] * num_channels)
        first_ch = ch
        self.input_blocks = nn.ModuleList(
            [TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))]
        )
        skip_chans = [ch]
        ds = 1
        for level, m in enumerate(mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, int(m * num_channels))]
                ch = int(m * num_channels)
                if ds in attention_ds:
                    layers.append(attn(ch, num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_chans.append(ch)
            if level != len(mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(down(ch)))
                skip_chans.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(res(ch, ch), attn(ch, num_heads), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), int(num_channels * m))]
                ch = int(num_channels * m)
                if ds in attention_ds:
                    layers.append(attn(ch, heads_up))
                if level and i == num_res_blocks:
                    layers.append(up(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        self.out = nn.Sequential(
            GroupNorm32(ch, norm_groups),
            nn.SiLU(),
            nn.Conv2d(first_ch, self.out_channels, 3, padding=1),
        )

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Network output for ``x`` (B,3,H,W) at original timesteps ``t`` (B,) int64."""
        if x.shape[-1] % self.stride or x.shape[-2] % self.stride:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not a multiple of the stride {self.stride}"
            )
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h).type(x.dtype)


def load_adm_weights(model: ADMUNet, path: str | Path) -> ADMUNet:
    """Load a state dict strictly; raise :class:`WeightsError` naming the file and the keys.

    Accepts a bare state dict or a dict holding one under ``state_dict``. Never falls back to
    random weights. ``torch.load(weights_only=True)``: no arbitrary pickles. The loaded tensors
    are assigned (float32), so ``model`` may be built on the ``meta`` device (no random init).
    """
    path = Path(path)
    loaded = load_torch_file(path)
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict):
        raise WeightsError(f"The file {path.name} does not hold a network state dict.")
    check_state_dict(model, state, path.name)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model


def check_state_dict(model: nn.Module, state: dict, file_name: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing keys {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"unexpected keys {', '.join(unexpected[:5])}")
        if wrong:
            parts.append(f"wrong shapes {', '.join(wrong[:5])}")
        raise WeightsError(
            f"The weights in {file_name} do not match the network architecture "
            f"({len(expected)} expected keys such as {next(iter(expected))}): "
            + "; ".join(parts) + "."
        )
