"""ADM UNet: golden output of the tiny reference model, the 256 key list, strict loading."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from engine.diffusion.unet import ADMUNet, load_adm_weights, timestep_embedding
from engine.errors import WeightsError


@pytest.fixture
def tiny(shared):
    return torch.load(shared("fixtures", "adm_tiny.pt"), weights_only=True)


@pytest.fixture
def tiny_model(tiny):
    model = ADMUNet(**tiny["config"]).eval()
    model.load_state_dict(tiny["state_dict"], strict=True)
    return model


def test_tiny_model_reproduces_reference_output(tiny, tiny_model):
    with torch.no_grad():
        out = tiny_model(tiny["x"], tiny["t"])
    assert out.shape == (2, 6, 32, 32)
    torch.testing.assert_close(out, tiny["out"], atol=5e-5, rtol=1e-5)


def test_tiny_embedding_matches_reference(tiny, tiny_model):
    e0 = timestep_embedding(tiny["t"], tiny_model.model_channels)
    torch.testing.assert_close(e0, tiny["timestep_embedding"], atol=1e-5, rtol=0)
    with torch.no_grad():
        emb = tiny_model.time_embed(e0)
    torch.testing.assert_close(emb, tiny["emb"], atol=1e-5, rtol=0)


def test_tiny_block_outputs_match_reference(tiny, tiny_model):
    """Every block's output shape and first values (locates a divergence to one block)."""
    outputs = {}
    blocks = {f"input_blocks.{i}": b for i, b in enumerate(tiny_model.input_blocks)}
    blocks |= {f"output_blocks.{i}": b for i, b in enumerate(tiny_model.output_blocks)}
    blocks["middle_block"] = tiny_model.middle_block
    for name, block in blocks.items():
        block.register_forward_hook(lambda m, a, o, name=name: outputs.__setitem__(name, o))
    try:
        with torch.no_grad():
            tiny_model(tiny["x"], tiny["t"])
    finally:
        for block in blocks.values():
            block._forward_hooks.clear()
    stats = tiny["block_stats"]
    for name, out in outputs.items():
        assert list(out.shape) == stats[f"{name}:shape"].tolist(), name
        first16 = out.reshape(2, -1)[:, :16]
        torch.testing.assert_close(first16, stats[f"{name}:first16"], atol=5e-5, rtol=1e-5)


def test_new_attention_order_changes_output(tiny):
    model = ADMUNet(**{**tiny["config"], "use_new_attention_order": True}).eval()
    model.load_state_dict(tiny["state_dict"])
    with torch.no_grad():
        out = model(tiny["x"], tiny["t"])
    assert (out - tiny["out"]).abs().max() > 1e-2


def test_256_configuration_has_reference_keys_and_shapes(shared):
    reference = json.loads(shared("fixtures", "adm256_uncond_keys.json").read_text())
    with torch.device("meta"):
        model = ADMUNet(**reference["config"])
    ours = [[name, list(t.shape)] for name, t in model.state_dict().items()]
    assert ours == reference["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == reference["total_params"] == 552_814_086
    assert model.stride == 32


def test_any_multiple_of_the_stride_and_rejects_others(tiny_model):
    x = torch.randn(1, 3, 24, 40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert tiny_model(x, torch.tensor([5])).shape == (1, 6, 24, 40)
        with pytest.raises(ValueError, match="stride"):
            tiny_model(torch.zeros(1, 3, 30, 32), torch.tensor([5]))


def test_strict_loading_round_trip_and_errors(tiny, tmp_path):
    good = tmp_path / "good.pt"
    torch.save(tiny["state_dict"], good)
    model = load_adm_weights(ADMUNet(**tiny["config"]), good)
    loaded = model.state_dict()["out.2.weight"]
    torch.testing.assert_close(loaded, tiny["state_dict"]["out.2.weight"])

    broken = dict(tiny["state_dict"])
    del broken["middle_block.1.qkv.weight"]
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    with pytest.raises(WeightsError, match=r"broken\.pt.*middle_block\.1\.qkv\.weight"):
        load_adm_weights(ADMUNet(**tiny["config"]), path)

    reshaped = dict(tiny["state_dict"])
    reshaped["out.2.weight"] = torch.zeros(3, 32, 3, 3)
    torch.save(reshaped, path)
    with pytest.raises(WeightsError, match=r"out\.2\.weight"):
        load_adm_weights(ADMUNet(**tiny["config"]), path)

    with pytest.raises(WeightsError, match="missing.pt"):
        load_adm_weights(ADMUNet(**tiny["config"]), tmp_path / "missing.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="garbage.pt"):
        load_adm_weights(ADMUNet(**tiny["config"]), garbage)


def test_chunked_attention_gives_the_same_output(tiny, tiny_model, monkeypatch):
    import engine.diffusion.unet as unet

    monkeypatch.setattr(unet, "ATTENTION_CHUNK_BYTES", 2 * 2 * 256 * 4 * 7)  # 7 queries a chunk
    with torch.no_grad():
        out = tiny_model(tiny["x"], tiny["t"])
    torch.testing.assert_close(out, tiny["out"], atol=5e-5, rtol=1e-5)


def test_norm_groups_option_keeps_the_state_dict_layout():
    """Small priors may use fewer normalisation groups (e.g. 16 channels at full resolution);
    the keys and shapes are those of the 32-group model, the function is not."""

    config = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                  attention_resolutions="16", num_head_channels=16, learn_sigma=False)
    torch.manual_seed(0)
    a = ADMUNet(**config).eval()
    b = ADMUNet(**config, norm_groups=8).eval()
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [
        (k, v.shape) for k, v in b.state_dict().items()
    ]
    b.load_state_dict(a.state_dict())
    for p in a.parameters():  # non-trivial weights (the output conv starts at zero)
        p.data.normal_(0, 0.05, generator=torch.Generator().manual_seed(1))
    b.load_state_dict(a.state_dict())
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([500])
    with torch.no_grad():
        assert not torch.allclose(a(x, t), b(x, t))
    assert b.config["norm_groups"] == 8 and "norm_groups" not in a.config
    assert ADMUNet(**b.config).config == b.config
    small = ADMUNet(**{**config, "num_channels": 16}, norm_groups=16)
    with torch.no_grad():
        assert torch.isfinite(small(x, t)).all()
    with pytest.raises(ValueError, match="normalisation groups"):
        ADMUNet(**{**config, "num_channels": 16})


# --- every option combination of the reference configuration keys -------------------------

OPTIONS_BASE = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                    attention_resolutions="16", dropout=0.0)


def _randomised(model: ADMUNet, seed: int) -> ADMUNet:
    """Non-trivial weights everywhere (the reference zero-initialises some output convs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
    return model.eval()


@pytest.mark.parametrize("resblock_updown", [False, True])
@pytest.mark.parametrize("use_scale_shift_norm", [False, True])
@pytest.mark.parametrize("learn_sigma", [False, True])
@pytest.mark.parametrize("heads", [dict(num_heads=2, num_head_channels=-1),
                                   dict(num_heads=4, num_head_channels=16)])
def test_every_option_combination_loads_strictly_and_reproduces(
    resblock_updown, use_scale_shift_norm, learn_sigma, heads, tmp_path
):
    config = dict(OPTIONS_BASE, resblock_updown=resblock_updown, learn_sigma=learn_sigma,
                  use_scale_shift_norm=use_scale_shift_norm, **heads)
    source = _randomised(ADMUNet(**config), seed=3)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    with torch.device("meta"):
        skeleton = ADMUNet(**source.config)
    loaded = load_adm_weights(skeleton, path).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([10, 900])
    with torch.no_grad():
        expected, out = source(x, t), loaded(x, t)
    assert out.shape == (2, 6 if learn_sigma else 3, 32, 32)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert out.std() > 1e-3  # the weights matter
    emb_out = loaded.state_dict()["input_blocks.1.0.emb_layers.1.weight"].shape
    assert emb_out == ((64 if use_scale_shift_norm else 32), 128)


def test_convolutional_resampling_has_the_reference_keys():
    """resblock_updown=False: Downsample ``op`` and Upsample ``conv`` modules between levels."""
    config = dict(OPTIONS_BASE, num_res_blocks=2, resblock_updown=False, num_head_channels=16)
    state = {k: tuple(v.shape) for k, v in ADMUNet(**config).state_dict().items()}
    # input: 0 conv; 1-2 ResBlocks (32px); 3 Downsample; 4-5 ResBlocks + attention (16px)
    assert state["input_blocks.3.0.op.weight"] == (32, 32, 3, 3)
    assert state["input_blocks.3.0.op.bias"] == (32,)
    assert not any(k.startswith("input_blocks.3.0.in_layers") for k in state)
    # output: 0-2 at 16px (ResBlock, attention), the last with the Upsample; 3-5 at 32px
    assert state["output_blocks.2.2.conv.weight"] == (64, 64, 3, 3)
    assert state["output_blocks.2.2.conv.bias"] == (64,)
    resampling = sorted(k for k in state if ".op." in k or ".conv." in k)
    assert resampling == ["input_blocks.3.0.op.bias", "input_blocks.3.0.op.weight",
                          "output_blocks.2.2.conv.bias", "output_blocks.2.2.conv.weight"]
    pooled = ADMUNet(**config, conv_resample=False)
    assert not any(".op." in k or ".conv." in k for k in pooled.state_dict())
    with torch.device("meta"):  # the full default network's configuration, no weights
        default = ADMUNet()
    assert pooled.config["conv_resample"] is False and "conv_resample" not in default.config
    assert ADMUNet(**pooled.config).config == pooled.config


def test_resampling_modules_follow_their_equations():
    from engine.diffusion.unet_blocks import Downsample, Upsample

    x = torch.randn(2, 8, 6, 10, generator=torch.Generator().manual_seed(0))
    down = Downsample(8, use_conv=True)
    torch.testing.assert_close(
        down(x), F.conv2d(x, down.op.weight, down.op.bias, stride=2, padding=1)
    )
    pooled = Downsample(8, use_conv=False)(x)
    torch.testing.assert_close(pooled, x.reshape(2, 8, 3, 2, 5, 2).mean(dim=(3, 5)))
    up = Upsample(8, use_conv=True)
    nearest = x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    torch.testing.assert_close(up(x), F.conv2d(nearest, up.conv.weight, up.conv.bias, padding=1))
    torch.testing.assert_close(Upsample(8, use_conv=False)(x), nearest)


def test_resblock_without_scale_shift_adds_the_embedding_before_the_norm():
    """h = conv_out(SiLU(GN(conv_in(SiLU(GN(x))) + Linear(SiLU(emb))))) + skip(x)."""
    from engine.diffusion.unet_blocks import ResBlock

    block = ResBlock(32, 16, 0.0, 64, use_scale_shift_norm=False).eval()
    for p in block.parameters():
        p.data.normal_(0, 0.1, generator=torch.Generator().manual_seed(p.numel()))
    x = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(1))
    emb = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    gn_in, conv_in = block.in_layers[0], block.in_layers[2]
    gn_out, conv_out = block.out_layers[0], block.out_layers[3]
    lin, skip = block.emb_layers[1], block.skip_connection
    h = F.conv2d(F.silu(F.group_norm(x, 32, gn_in.weight, gn_in.bias)), conv_in.weight,
                 conv_in.bias, padding=1)
    h = h + F.linear(F.silu(emb), lin.weight, lin.bias)[:, :, None, None]
    h = F.conv2d(F.silu(F.group_norm(h, 32, gn_out.weight, gn_out.bias)), conv_out.weight,
                 conv_out.bias, padding=1)
    expected = F.conv2d(x, skip.weight, skip.bias) + h
    with torch.no_grad():
        torch.testing.assert_close(block(x, emb), expected, rtol=1e-5, atol=1e-5)


def test_heads_by_count_and_by_width_agree_when_they_name_the_same_split():
    from engine.diffusion.unet import AttentionBlock

    by_count = AttentionBlock(64, num_heads=4, num_head_channels=-1, new_order=False)
    by_width = AttentionBlock(64, num_heads=1, num_head_channels=16, new_order=False)
    two_heads = AttentionBlock(64, num_heads=2, num_head_channels=-1, new_order=False)
    for p in by_count.parameters():
        p.data.normal_(0, 0.2, generator=torch.Generator().manual_seed(p.numel()))
    by_width.load_state_dict(by_count.state_dict())
    two_heads.load_state_dict(by_count.state_dict())
    assert (by_count.num_heads, by_width.num_heads, two_heads.num_heads) == (4, 4, 2)
    x = torch.randn(1, 64, 4, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(by_count(x), by_width(x))
        assert (by_count(x) - two_heads(x)).abs().max() > 1e-3
