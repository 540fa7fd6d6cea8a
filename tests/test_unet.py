"""ADM UNet: golden output of the tiny reference model, the 256 key list, strict loading."""

from __future__ import annotations

import json

import pytest
import torch

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
