"""The ``endofuse`` command line: fuse, demo, and one clear sentence with exit 2 on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cli import main


@pytest.fixture
def small_pair(tmp_path):
    rng = np.random.default_rng(0)
    us = 0.5 + 0.2 * rng.random((48, 48))
    np.save(tmp_path / "us.npy", us)
    np.save(tmp_path / "mri.npy", us[::4, ::4] + 0.1)
    return tmp_path


def test_fuse_writes_image(small_pair, capsys):
    out = small_pair / "fused.npy"
    code = main(["fuse", "--mri", str(small_pair / "mri.npy"), "--us", str(small_pair / "us.npy"),
                 "--out", str(out), "--param", "iterations=2", "--quiet"])
    assert code == 0
    fused = np.load(out)
    assert fused.shape == (48, 48) and np.all(np.isfinite(fused))
    assert "written" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--param", "iterations=zero"], "expects a number"),
        (["--param", "nonsense=1"], "Unknown parameter"),
        (["--param", "iterations=0"], "at least 1"),
        (["--steps", "5"], "does not apply"),
        (["--roi", "0,0,9999,10"], "lies outside"),
    ],
)
def test_fuse_bad_parameters(small_pair, capsys, extra, message):
    code = main(["fuse", "--mri", str(small_pair / "mri.npy"), "--us", str(small_pair / "us.npy"),
                 "--out", str(small_pair / "f.png"), "--quiet", *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_fuse_swapped_files_is_one_sentence(small_pair, capsys):
    code = main(["fuse", "--mri", str(small_pair / "us.npy"), "--us", str(small_pair / "mri.npy"),
                 "--out", str(small_pair / "f.png"), "--quiet"])
    assert code == 2
    assert "larger than the ultrasound" in capsys.readouterr().err


def test_demo_writes_files_and_scores(tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "SSIM" in out
    for name in ("mri.png", "us.png", "clean_us.png", "fused_palm.png", "fused_palm.npy"):
        assert (tmp_path / name).exists()


@pytest.mark.parametrize("method", ["ddfm-em", "ddfm-palm"])
def test_fuse_diffusion_methods_with_steps_and_seed(small_pair, shared, method, capsys):
    weights = shared("fixtures", "adm_tiny.pt")
    outputs = []
    for run_index in range(2):
        out = small_pair / f"{method}_{run_index}.npy"
        code = main(["fuse", "--mri", str(small_pair / "mri.npy"),
                     "--us", str(small_pair / "us.npy"), "--method", method, "--steps", "3",
                     "--seed", "7", "--param", f"weights_file={weights}", "--out", str(out),
                     "--quiet"])
        assert code == 0, capsys.readouterr().err
        outputs.append(np.load(out))
    assert outputs[0].shape == (48, 48) and np.all(np.isfinite(outputs[0]))
    # same seed, same image (up to the rounding of multithreaded float64 sums)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=0, atol=1e-10)


def test_fuse_diffusion_without_weights_names_the_file(small_pair, tmp_path, capsys):
    code = main(["fuse", "--mri", str(small_pair / "mri.npy"), "--us", str(small_pair / "us.npy"),
                 "--method", "ddfm-em", "--steps", "2", "--out", str(tmp_path / "f.npy"),
                 "--param", f"weights_file={tmp_path / 'missing.pt'}", "--quiet"])
    assert code == 2
    assert "missing.pt" in capsys.readouterr().err
