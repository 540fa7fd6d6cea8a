"""The weights that ship in checkpoints/: manifest complete, verified at load, used by default."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine.checkpoints import (
    checkpoints_dir,
    despeckler_entry,
    diffusion_prior_for,
    file_sha256,
    load_diffusion_prior,
    load_manifest,
)
from engine.denoise import (
    ClassicalDespeckler,
    DnCNNDenoiser,
    bundled_despeckler,
    default_despeckler,
)
from engine.errors import WeightsError
from engine.methods import get_method, run
from engine.phantom import make_phantom_pair

MAX_BYTES = 25 * 1024 * 1024


def bundled_entries():
    return [e for e in load_manifest() if e.bundled]


def test_a_prior_and_a_despeckler_ship():
    kinds = sorted(e.kind for e in bundled_entries())
    assert kinds == ["adm-unet", "dncnn"]


@pytest.mark.parametrize("entry", bundled_entries(), ids=lambda e: e.name)
def test_bundled_entry_is_complete_and_matches_its_file(entry):
    path = entry.path()
    assert path.is_file(), f"{entry.file} is registered as bundled but missing"
    assert entry.size == path.stat().st_size <= MAX_BYTES
    assert entry.sha256 == file_sha256(path)
    training = entry.training
    assert training is not None
    assert training["command"].startswith("endofuse train-")
    assert isinstance(training["seed"], int) and training["steps"] > 0
    assert training["date"][:2] == "20"
    sources = training["data_sources"]
    assert sources and all(s["source"] and s["licence"] for s in sources)
    held_out = set(training["held_out"])
    assert not held_out & {s["source"] for s in sources}
    assert "quality" in training


def test_registry_selects_the_bundled_weights_when_the_public_prior_is_absent():
    folder = checkpoints_dir()
    if (folder / "256x256_diffusion_uncond.pt").is_file():
        pytest.skip("the public prior is installed here and takes precedence")
    for method in ("ddfm-em", "ddfm-palm"):
        assert diffusion_prior_for(method).name == "endofuse-prior-small"
    assert despeckler_entry().name == "endofuse-despeckler-small"
    despeckler = default_despeckler()
    assert isinstance(despeckler, DnCNNDenoiser)
    assert despeckler.weights.name == "endofuse-despeckler-small"
    assert despeckler.model.dilations == tuple(despeckler_entry().config["dilations"])


def copy_checkpoints(tmp_path, monkeypatch):
    """The shipped folder (without a user-placed public prior) under ENDOFUSE_CHECKPOINTS."""
    shipped = {"manifest.json"} | {e.file for e in bundled_entries()}
    for name in shipped:
        shutil.copy(checkpoints_dir() / name, tmp_path / name)
    monkeypatch.setenv("ENDOFUSE_CHECKPOINTS", str(tmp_path))
    return json.loads((tmp_path / "manifest.json").read_text())


def test_a_damaged_bundled_file_is_refused_not_replaced(tmp_path, monkeypatch):
    copy_checkpoints(tmp_path, monkeypatch)
    for entry in bundled_entries():
        path = tmp_path / entry.file
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_diffusion_prior("ddfm-em")
    with pytest.raises(WeightsError, match="sha256"):
        default_despeckler()
    truncated = tmp_path / despeckler_entry(tmp_path).file
    truncated.write_bytes(truncated.read_bytes()[:100])
    with pytest.raises(WeightsError, match="bytes instead of"):
        bundled_despeckler()


def test_an_unpinned_bundled_entry_is_refused(tmp_path, monkeypatch):
    manifest = copy_checkpoints(tmp_path, monkeypatch)
    for entry in manifest["checkpoints"]:
        if entry["bundled"]:
            entry["sha256"] = None
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="cannot be verified"):
        load_diffusion_prior("ddfm-palm")
    with pytest.raises(WeightsError, match="cannot be verified"):
        bundled_despeckler()


def test_without_a_bundled_despeckler_the_classical_one_is_used(tmp_path, monkeypatch):
    manifest = copy_checkpoints(tmp_path, monkeypatch)
    manifest["checkpoints"] = [e for e in manifest["checkpoints"] if e["kind"] != "dncnn"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert bundled_despeckler() is None
    assert isinstance(default_despeckler(), ClassicalDespeckler)


def test_the_bundled_despeckler_beats_the_noise_on_a_phantom():
    pair = make_phantom_pair(seed=1, size=120, d=4)
    scale = pair.us.pixels.max()
    clean, noisy = pair.clean_us / scale, pair.us.pixels / scale
    despeckled = default_despeckler().denoise(noisy)

    def error(image):
        return float(np.sqrt(np.mean((image - clean) ** 2)))

    assert error(despeckled) < 0.6 * error(noisy)


@pytest.mark.parametrize("method", ["palm", "ddfm-em", "ddfm-palm"])
def test_every_method_runs_on_the_demo_pair_with_the_shipped_weights(method):
    """What a fresh clone can do: the demo phantom (seed 0, d = 6) at 120x120, which is not a
    multiple of the prior's stride either (padded like 600x600), no file from outside the
    repository."""
    fusion_input = make_phantom_pair(seed=0, size=120).fusion_input()
    params_type = get_method(method).params_type
    params = params_type(steps=3) if method != "palm" else params_type()
    result = run(method, fusion_input, params)
    assert result.fused.shape == fusion_input.y_u.shape
    assert np.isfinite(result.fused).all()
    names = {w.name for w in result.weights}
    if method != "ddfm-em":
        assert "endofuse-despeckler-small" in names
    if method != "palm":
        assert "endofuse-prior-small" in names
        assert fusion_input.y_u.shape[0] % load_diffusion_prior(method)[0].stride  # padded


def test_the_classical_despeckler_stays_one_click_away():
    fusion_input = make_phantom_pair(seed=2, size=96, d=4).fusion_input()
    palm = get_method("palm").params_type
    classical = run("palm", fusion_input, palm(despeckler="classical"))
    learned = run("palm", fusion_input, palm())
    assert any("classical despeckler" in note for note in classical.notes)
    assert not classical.weights
    assert [w.name for w in learned.weights] == ["endofuse-despeckler-small"]
    with pytest.raises(ValueError, match="despeckler"):
        default_despeckler(choice="median")
