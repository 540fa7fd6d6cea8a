"""Training code: data sampler, speckle simulation, loss decrease, exact resume, CLI, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.denoise import LOG_RAYLEIGH_MEAN, LOG_RAYLEIGH_STD
from engine.dncnn import load_dncnn
from engine.errors import WeightsError
from engine.training.checkpointing import load_training_state
from engine.training.data import (
    HELD_OUT_IMAGES,
    ImagePool,
    sample_patches,
    training_pool,
)
from engine.training.denoiser import (
    DespecklerTrainer,
    DespecklerTrainingConfig,
    speckle_batch,
)
from engine.training.prior import (
    PriorTrainer,
    PriorTrainingConfig,
    prior_denoise,
    timestep_for_noise,
)

TINY_UNET = {
    "image_size": 32, "num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2",
    "learn_sigma": False, "attention_resolutions": "", "num_heads": 2,
    "num_head_channels": 32,
}


@pytest.fixture(scope="module")
def pool() -> ImagePool:
    return training_pool(skimage_names=["brick", "chelsea"], phantom_seeds=(1000,),
                         phantom_size=64)


def tiny_despeckler(pool, seed=0, steps=6) -> DespecklerTrainer:
    config = DespecklerTrainingConfig(depth=4, features=16, patch=24, batch=4, steps=steps,
                                      seed=seed)
    return DespecklerTrainer(config, pool)


def tiny_prior(pool, seed=0, steps=6) -> PriorTrainer:
    config = PriorTrainingConfig(patch=16, batch=2, steps=steps, seed=seed, warmup=2,
                                 ema_decay=0.9, unet=TINY_UNET)
    return PriorTrainer(config, pool)


# ------------------------------------------------------------------------------ data


def test_patches_are_seeded_in_range_and_vary(pool):
    a = sample_patches(pool, 6, 20, np.random.default_rng(5))
    b = sample_patches(pool, 6, 20, np.random.default_rng(5))
    c = sample_patches(pool, 6, 20, np.random.default_rng(6))
    assert a.shape == (6, 20, 20) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.std(a.reshape(6, -1), axis=1).min() > 0.0


def test_pool_weights_and_held_out_images():
    full = training_pool(phantom_seeds=(1000,), phantom_size=64)
    assert math.isclose(sum(full.weights), 1.0)
    assert not any(name in src for name in HELD_OUT_IMAGES for src in full.sources)
    phantom_share = sum(w for w, s in zip(full.weights, full.sources, strict=True)
                        if "phantom" in s)
    assert math.isclose(phantom_share, 0.5)
    assert all(im.min() >= 0.0 and im.max() <= 1.0 for im in full.images)


def test_speckle_batch_has_log_rayleigh_statistics():
    config = DespecklerTrainingConfig(gamma_min=0.2, gamma_max=0.2)
    clean = np.full((4, 64, 64), 0.5, dtype=np.float32)
    noisy, truth = speckle_batch(clean, config, np.random.default_rng(0))
    noise = (noisy - truth).astype(np.float64)
    # mean gamma mu_1, std gamma sigma_1 (engine.denoise constants), 16384 samples
    assert abs(noise.mean() - 0.2 * LOG_RAYLEIGH_MEAN) < 4 * 0.2 * LOG_RAYLEIGH_STD / 128
    assert abs(noise.std() / (0.2 * LOG_RAYLEIGH_STD) - 1.0) < 0.03
    assert truth.min() >= config.offset_min and truth.max() <= config.offset_max + 0.5 * 1.6


def test_normalised_speckle_has_the_fixed_std_and_scaled_tissue():
    config = DespecklerTrainingConfig(noise_std=0.1)
    clean = np.full((16, 64, 64), 0.5, dtype=np.float32)
    noisy, truth = speckle_batch(clean, config, np.random.default_rng(1))
    stds = (noisy - truth).astype(np.float64).std(axis=(1, 2))
    np.testing.assert_allclose(stds, 0.1, rtol=0.06)  # 4096 samples per patch
    assert truth.std(axis=(1, 2)).max() < 1e-5 and np.ptp(truth[:, 0, 0]) > 0.5


def test_despeckler_pool_leaves_textures_out_unless_asked():
    from engine.training.data import TEXTURE_IMAGES
    from engine.training.denoiser import despeckler_pool

    tissue = despeckler_pool(DespecklerTrainingConfig(with_textures=False)).sources
    everything = despeckler_pool(DespecklerTrainingConfig(with_textures=True)).sources
    assert {f"skimage.data.{n}" for n in TEXTURE_IMAGES} <= set(everything) - set(tissue)


# ------------------------------------------------------------------------------ loss decrease


def test_despeckler_loss_decreases_on_a_fixed_batch(pool):
    trainer = tiny_despeckler(pool)
    clean = sample_patches(pool, 8, 24, np.random.default_rng(1))
    noisy, truth = speckle_batch(clean, trainer.config, np.random.default_rng(2))
    y, x = torch.from_numpy(noisy)[:, None], torch.from_numpy(truth)[:, None]
    losses = [trainer.apply_step(torch.mean((trainer.model(y) - (y - x)) ** 2))
              for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_prior_loss_decreases_on_a_fixed_batch(pool):
    trainer = tiny_prior(pool)
    x0, t, eps = trainer.batch()
    abar = trainer.alphas_cumprod[t][:, None, None, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    losses = [trainer.apply_step(torch.mean((trainer.model(x_t, t) - eps) ** 2), clip=1.0)
              for _ in range(30)]
    assert losses[0] > 0.5  # eps has unit variance; the untrained output is near 0
    assert losses[-1] < 0.7 * losses[0]


# ------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("make", [tiny_despeckler, tiny_prior], ids=["despeckler", "prior"])
def test_resume_gives_the_uninterrupted_run(pool, tmp_path, make):
    straight = make(pool)
    straight.run(6)
    first = make(pool)
    first.run(3, state_path=tmp_path / "state.pt")
    resumed = make(pool)
    resumed.load_state(load_training_state(tmp_path / "state.pt", resumed.kind))
    assert resumed.step == 3
    resumed.run(6)
    assert resumed.losses == straight.losses
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    if straight.ema is not None:
        for key, value in straight.ema.items():
            torch.testing.assert_close(resumed.ema[key], value, rtol=0, atol=0)
    # a different seed is a different run
    other = make(pool, seed=1)
    other.run(2)
    assert other.losses != straight.losses[:2]


def test_state_of_another_kind_is_refused(pool, tmp_path):
    trainer = tiny_despeckler(pool)
    trainer.save(tmp_path / "state.pt")
    with pytest.raises(WeightsError, match="despeckler training"):
        load_training_state(tmp_path / "state.pt", "prior")
    with pytest.raises(WeightsError, match="no training state"):
        load_training_state(tmp_path / "missing.pt", "prior")


# ------------------------------------------------------------------------------ CLI and export


def test_train_denoiser_cli_resumes_and_exports_loadable_weights(tmp_path, capsys):
    common = ["train-denoiser", "--out", str(tmp_path), "--threads", "1", "--quiet",
              "--depth", "3", "--features", "8", "--batch", "2", "--patch", "16"]
    assert main([*common, "--steps", "2", "--dilations", "1,2,1"]) == 0
    assert main([*common, "--steps", "3", "--resume"]) == 0
    state = load_training_state(tmp_path / "training_state.pt", "despeckler")
    assert state["step"] == 3 and len(state["losses"]) == 3
    assert tuple(state["config"]["dilations"]) == (1, 2, 1)  # the stored architecture wins
    model = load_dncnn(tmp_path / "despeckler.pt", dilations=(1, 2, 1))
    assert (model.depth, model.features) == (3, 8)
    assert "3 steps" in capsys.readouterr().out


def test_release_copies_weights_and_writes_a_complete_manifest_entry(tmp_path):
    import json

    from engine.checkpoints import file_sha256, load_manifest
    from engine.training.release import main as release

    out, folder = tmp_path / "out", tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"checkpoints": [
        {"name": "other", "file": "x.pt", "kind": "adm-unet", "bundled": False,
         "used_by": ["ddfm-em"], "config": {}},
    ]}))
    command = ["train-denoiser", "--out", str(out), "--threads", "1", "--quiet", "--depth", "3",
               "--features", "8", "--batch", "2", "--patch", "16", "--steps", "2",
               "--dilations", "1,2,1"]
    assert main(command) == 0
    quality = tmp_path / "quality.json"
    quality.write_text(json.dumps({"Data2 PSNR dB": 30.0}))
    for _ in range(2):  # releasing again replaces the entry
        assert release(["despeckler", str(out), "--folder", str(folder), "--quality",
                        str(quality), "--command", "endofuse " + " ".join(command)]) == 0
    entries = {e.name: e for e in load_manifest(folder)}
    assert sorted(entries) == ["endofuse-despeckler-small", "other"]
    entry = entries["endofuse-despeckler-small"]
    assert entry.bundled and entry.kind == "dncnn"
    assert entry.sha256 == file_sha256(folder / entry.file)
    assert entry.size == (folder / entry.file).stat().st_size
    assert entry.config == {"depth": 3, "features": 8, "channels": 1, "dilations": [1, 2, 1],
                            "noise_std": None}
    assert entry.training["steps"] == 2 and entry.training["seed"] == 0
    assert entry.training["quality"] == {"Data2 PSNR dB": 30.0}
    assert all(s["licence"] for s in entry.training["data_sources"])


def test_train_prior_cli_exports_a_registry_loadable_prior(tmp_path):
    from engine.checkpoints import load_diffusion_prior

    args = ["train-prior", "--out", str(tmp_path), "--threads", "1", "--quiet", "--steps", "1",
            "--batch", "1", "--patch", "16"]
    assert main(args) == 0
    model, identity = load_diffusion_prior("ddfm-em", tmp_path / "prior.pt")
    assert model.config["learn_sigma"] is False and model.stride == 16
    assert identity.file == "prior.pt"
    # a new training started from those weights exports them unchanged after 0 steps
    again = tmp_path / "again"
    assert main(["train-prior", "--out", str(again), "--threads", "1", "--quiet", "--steps", "0",
                 "--init", str(tmp_path / "prior.pt")]) == 0
    first = torch.load(tmp_path / "prior.pt", weights_only=True)["state_dict"]
    second = torch.load(again / "prior.pt", weights_only=True)["state_dict"]
    for key, value in first.items():
        torch.testing.assert_close(second[key], value, rtol=0, atol=0)


def test_timestep_for_noise_matches_the_schedule():
    from engine.diffusion.schedule import linear_betas

    abar = np.cumprod(1 - linear_betas())
    for sigma in (10 / 255, 25 / 255, 50 / 255):
        t = timestep_for_noise(sigma)
        level = np.sqrt((1 - abar) / abar)
        assert abs(level[t] - 2 * sigma) <= np.abs(level - 2 * sigma).min() + 1e-12
        assert abs(level[t] - 2 * sigma) < 0.01


def test_prior_denoise_keeps_shape_and_is_identity_for_a_zero_network(pool):
    trainer = tiny_prior(pool)
    model = trainer.model.eval()
    image = np.random.default_rng(0).uniform(size=(21, 35))
    out = prior_denoise(model, image, 25 / 255)
    assert out.shape == image.shape
    # the output convolution starts at zero: eps_theta = 0, so x0_hat is the input itself
    np.testing.assert_allclose(out, image, atol=1e-5)
