"""Despecklers: DnCNN against the PALM fixture, strict weight loading, the classical filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.denoise import (
    LOG_RAYLEIGH_MAD_RATIO,
    LOG_RAYLEIGH_MEAN,
    LOG_RAYLEIGH_STD,
    ClassicalDespeckler,
    DnCNNDenoiser,
    default_despeckler,
    estimate_noise_std,
)
from engine.dncnn import DnCNN, load_dncnn
from engine.errors import InvalidImageError, WeightsError

DNCNN_SHA256 = "65f0f0ea16d667274a75a7eec19950b22e752007c8a3147831b2d5441bd62920"


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    data_range = float(reference.max() - reference.min())
    return 10.0 * math.log10(data_range**2 / float(np.mean((reference - image) ** 2)))


def small_model(seed: int = 0, depth: int = 5, features: int = 8) -> DnCNN:
    """A randomly initialised small DnCNN with non-trivial BatchNorm statistics."""
    model = DnCNN(depth=depth, features=features)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter[0].numel() if parameter.ndim == 4 else 1
            parameter.copy_(torch.randn(parameter.shape, generator=generator) / math.sqrt(fan_in))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
    return model.eval()


def save_as_dataparallel(model: torch.nn.Module, path) -> None:
    state = {"module." + k: v for k, v in model.state_dict().items() if "num_batches" not in k}
    torch.save(state, path)


# ---------------------------------------------------------------------------------- DnCNN


def test_dncnn_reproduces_fixture_xu0(shared):
    reference = np.load(shared("fixtures", "palm", "data1_reference.npz"))
    model = load_dncnn(shared("data", "dncnn_sigma25_net.pth"))
    assert (model.depth, model.features, model.channels) == (17, 64, 1)
    xu0 = DnCNNDenoiser(model).denoise(reference["yu"])
    error = relative_l2(xu0, reference["xu0"])
    print(f"DnCNN xu0 relative L2 error vs fixture: {error:.3e}")
    assert xu0.dtype == np.float64
    assert error <= 1e-5


def test_default_despeckler_with_weights_records_identity(shared):
    denoiser = default_despeckler(shared("data", "dncnn_sigma25_net.pth"))
    assert isinstance(denoiser, DnCNNDenoiser)
    assert denoiser.weights.sha256 == DNCNN_SHA256
    assert denoiser.weights.file == "dncnn_sigma25_net.pth"
    assert "dncnn_sigma25_net.pth" in denoiser.name


def test_public_layout_keys_and_prefix_roundtrip(tmp_path):
    model = small_model()
    keys = list(model.state_dict())
    assert keys[0] == "dncnn.0.weight"
    assert "dncnn.3.running_mean" in keys and "dncnn.2.weight" in keys
    assert keys[-1] == f"dncnn.{3 * (model.depth - 2) + 2}.weight"
    path = tmp_path / "net.pth"
    save_as_dataparallel(model, path)
    loaded = load_dncnn(path)
    assert (loaded.depth, loaded.features) == (5, 8)
    image = np.random.default_rng(1).random((20, 24))
    np.testing.assert_array_equal(
        DnCNNDenoiser(loaded).denoise(image), DnCNNDenoiser(model).denoise(image)
    )


def test_strict_load_names_file_and_missing_key(tmp_path):
    state = {k: v for k, v in small_model().state_dict().items() if "num_batches" not in k}
    del state["dncnn.6.running_var"]
    path = tmp_path / "broken_net.pth"
    torch.save({"module." + k: v for k, v in state.items()}, path)
    with pytest.raises(WeightsError, match="broken_net.pth") as info:
        load_dncnn(path)
    assert "missing dncnn.6.running_var" in str(info.value)


def test_strict_load_reports_wrong_architecture(tmp_path):
    path = tmp_path / "small_net.pth"
    save_as_dataparallel(small_model(), path)
    with pytest.raises(WeightsError, match="small_net.pth") as info:
        load_dncnn(path, depth=17, features=64)
    message = str(info.value)
    assert "depth 17" in message
    assert "shape" in message or "missing" in message


def test_unexpected_key_and_unreadable_files(tmp_path):
    state = {k: v for k, v in small_model().state_dict().items() if "num_batches" not in k}
    state["dncnn.99.bias"] = torch.zeros(3)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="unexpected dncnn.99.bias"):
        load_dncnn(path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="garbage.pth"):
        load_dncnn(garbage)
    with pytest.raises(WeightsError, match="not found"):
        load_dncnn(tmp_path / "absent.pth")


def test_dncnn_output_is_input_minus_predicted_noise():
    model = small_model(seed=3)
    image = np.random.default_rng(2).random((37, 31))
    with torch.no_grad():
        tensor = torch.from_numpy(image.astype(np.float32))[None, None]
        expected = (tensor - model.dncnn(tensor))[0, 0].numpy()
    result = DnCNNDenoiser(model).denoise(image)
    assert result.dtype == np.float64 and result.shape == (37, 31)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-6)


def test_tiled_dncnn_equals_whole_image():
    model = small_model(seed=4)
    image = np.random.default_rng(3).random((37, 31))
    whole = DnCNNDenoiser(model, tile=64).denoise(image)
    tiled = DnCNNDenoiser(model, tile=8).denoise(image)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)


def test_dilated_dncnn_receptive_radius_and_tiling():
    dilations = (1, 2, 3, 2, 1)
    model = small_model(seed=5)
    dilated = DnCNN(depth=5, features=8, dilations=dilations).eval()
    dilated.load_state_dict(model.state_dict())
    assert dilated.receptive_radius == sum(dilations) == 9
    # an impulse reaches exactly receptive_radius pixels away, not one more
    impulse = torch.zeros(1, 1, 41, 41)
    impulse[0, 0, 20, 20] = 1.0
    with torch.no_grad():
        base = dilated(torch.zeros_like(impulse))
        reach = (dilated(impulse) - base).abs()[0, 0] > 0
    rows = np.nonzero(reach.any(dim=1).numpy())[0]
    assert rows.min() == 20 - 9 and rows.max() == 20 + 9
    image = np.random.default_rng(6).random((45, 38))
    whole = DnCNNDenoiser(dilated, tile=64).denoise(image)
    tiled = DnCNNDenoiser(dilated, tile=10).denoise(image)
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="dilations"):
        DnCNN(depth=5, features=8, dilations=(1, 2))


def test_normalised_despeckler_is_scale_equivariant():
    """sigma_hat scales with the image, so the network sees the same input: D(c y) = c D(y)."""
    from engine.denoise import NormalisedDnCNNDenoiser

    denoiser = NormalisedDnCNNDenoiser(small_model(seed=8), noise_std=0.1)
    rng = np.random.default_rng(9)
    image = 0.5 + 0.1 * np.log(rng.rayleigh(1.0, (40, 36)))
    once = denoiser.denoise(image)
    np.testing.assert_allclose(denoiser.denoise(3.0 * image), 3.0 * once, rtol=1e-5, atol=1e-6)
    direct = DnCNNDenoiser(denoiser.model).denoise(image * 0.1 / estimate_noise_std(image))
    np.testing.assert_allclose(once, direct * estimate_noise_std(image) / 0.1, atol=1e-6)
    flat = np.full((8, 8), 0.3)
    np.testing.assert_array_equal(denoiser.denoise(flat), flat)


def test_dilations_are_given_when_loading(tmp_path):
    model = small_model(seed=7)
    path = tmp_path / "net.pth"
    torch.save(model.state_dict(), path)
    loaded = load_dncnn(path, dilations=(1, 2, 4, 2, 1))
    assert loaded.dilations == (1, 2, 4, 2, 1) and loaded.receptive_radius == 10
    assert load_dncnn(path).dilations == (1,) * 5


# ---------------------------------------------------------------------- classical filter


def log_rayleigh_logistic_mad_ratio() -> float:
    """median|w| / 0.6745 / std for w = sum of two logistic(scale 1/4) variables."""
    from scipy import integrate, optimize, stats

    def density(z: float) -> float:  # sum of two standard logistic variables
        z = abs(z)
        if z < 1e-4:
            return 1.0 / 6.0 - z * z / 60.0
        e = math.exp(-z)
        return e * ((z - 2.0) + (z + 2.0) * e) / (1.0 - e) ** 3

    def cdf(m: float) -> float:
        return 0.5 + integrate.quad(density, 0.0, m)[0]

    median_sum = optimize.brentq(lambda m: cdf(m) - 0.75, 0.1, 10.0)
    return (median_sum / 4.0) / stats.norm.ppf(0.75) / LOG_RAYLEIGH_STD


def test_mad_ratio_constant_matches_its_derivation():
    assert LOG_RAYLEIGH_MAD_RATIO == pytest.approx(log_rayleigh_logistic_mad_ratio(), rel=1e-9)


def test_noise_std_estimate_on_log_rayleigh_and_gaussian_noise():
    rng = np.random.default_rng(5)
    speckle = 0.2 * np.log(rng.rayleigh(1.0, size=(1000, 1000)))
    assert estimate_noise_std(speckle) == pytest.approx(0.2 * LOG_RAYLEIGH_STD, rel=0.01)
    gaussian = 0.3 * rng.standard_normal((1000, 1000))
    assert estimate_noise_std(gaussian, mad_ratio=1.0) == pytest.approx(0.3, rel=0.01)


def test_classical_removes_the_speckle_mean_bias():
    rng = np.random.default_rng(6)
    gamma = 0.15
    image = 0.5 + gamma * np.log(rng.rayleigh(1.0, size=(300, 300)))
    with_bias = ClassicalDespeckler(remove_bias=False).denoise(image)
    corrected = ClassicalDespeckler().denoise(image)
    assert abs(with_bias.mean() - 0.5 - gamma * LOG_RAYLEIGH_MEAN) < 2e-3
    assert abs(corrected.mean() - 0.5) < 2e-3
    assert corrected.std() < 0.2 * image.std()


@pytest.mark.parametrize(
    "folder, observed_key, truth_key, min_gain_db",
    [("data2", "us1", "us1_gt", 8.0), ("data3", "us", "us_gt", 8.0)],
)
def test_classical_improves_psnr_on_synthetic_sets(
    shared, folder, observed_key, truth_key, min_gain_db
):
    from scipy.io import loadmat

    observed = loadmat(shared("data", folder, "US_observed.mat"))[observed_key]
    truth = loadmat(shared("data", folder, "US_GT.mat"))[truth_key]
    denoised = ClassicalDespeckler().denoise(observed)
    before, after = psnr(truth, observed), psnr(truth, denoised)
    print(f"{folder}: PSNR noisy {before:.2f} dB -> classical {after:.2f} dB")
    assert after >= before + min_gain_db


@pytest.mark.parametrize("denoiser_kind", ["classical", "dncnn"])
def test_float64_shape_and_odd_sizes(denoiser_kind):
    denoiser = (
        ClassicalDespeckler() if denoiser_kind == "classical" else DnCNNDenoiser(small_model())
    )
    rng = np.random.default_rng(7)
    image = (0.5 + 0.1 * np.log(rng.rayleigh(size=(37, 31)))).astype(np.float32)
    result = denoiser.denoise(image)
    assert result.dtype == np.float64
    assert result.shape == (37, 31)
    assert np.all(np.isfinite(result))


def test_invalid_input_is_rejected():
    denoiser = ClassicalDespeckler()
    image = np.ones((10, 10))
    image[3, 3] = np.nan
    with pytest.raises(InvalidImageError):
        denoiser.denoise(image)
    with pytest.raises(InvalidImageError):
        denoiser.denoise(np.ones((4, 4, 3)))
