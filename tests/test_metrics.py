"""Fusion metrics: golden values of both reference sets, properties, dtype rules, bad input."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import GeometryError, InvalidImageError
from engine.metrics import (
    REFERENCE,
    SEED_COMPATIBLE,
    SEED_KEYS,
    STANDARD,
    STANDARD_KEYS,
    edges,
    fusion_metrics,
    information,
    metric_info,
    quantise_uint8,
    reference_scores,
    seed_metrics,
    seed_metrics_per_source,
    standard_metrics,
    standard_metrics_per_source,
    statistics,
    structure,
    to_uint8_scale,
    vif,
)

RTOL, ATOL = 1e-6, 1e-9


# --------------------------------------------------------------------------- golden data


@pytest.fixture
def golden(shared):
    from PIL import Image

    folder = shared("fixtures", "metrics")
    reference = json.loads((folder / "metrics_reference.json").read_text())
    images = {key: np.array(Image.open(folder / reference["inputs"][key]["file"])) for key in "ABF"}
    return images, reference


def _close(actual: dict, expected: dict, keys=None) -> list[str]:
    keys = expected.keys() if keys is None else keys
    return [
        f"{k}: {actual[k]!r} != {expected[k]!r}"
        for k in keys
        if not math.isclose(actual[k], expected[k], rel_tol=RTOL, abs_tol=ATOL)
    ]


def test_fixture_pixels_are_the_documented_ones(golden):
    images, reference = golden
    for key, image in images.items():
        info = reference["inputs"][key]
        assert image.dtype == np.uint8 and list(image.shape) == info["shape"]
        assert hashlib.sha256(image.tobytes()).hexdigest() == info["sha256_pixels_row_major"]


def _expected_standard(reference: dict) -> dict:
    """Fixture keys mapped to ours: our SSIM uses R = 255, SSIM_legacy is the Evaluator's R = 2."""
    expected = dict(reference["standard"])
    expected["SSIM_legacy"] = expected.pop("SSIM")
    expected["SSIM"] = reference["standard_variants"]["SSIM_data_range_255"]
    return expected


def _expected_standard_terms(reference: dict) -> dict:
    expected = _expected_standard(reference)
    for key, value in reference["standard_per_source"].items():
        expected[key.replace("SSIM", "SSIM_legacy")] = value
    per_source_255 = reference["standard_variants"]["SSIM_data_range_255_per_source"]
    expected["SSIM_AF"], expected["SSIM_BF"] = per_source_255["AF"], per_source_255["BF"]
    return expected


def test_standard_set_reproduces_the_evaluator(golden):
    images, reference = golden
    result = standard_metrics(images["A"], images["B"], images["F"])
    assert tuple(result) == STANDARD_KEYS
    assert _close(result, _expected_standard(reference)) == []


def test_standard_per_source_terms(golden):
    images, reference = golden
    terms = standard_metrics_per_source(images["A"], images["B"], images["F"])
    assert _close(terms, _expected_standard_terms(reference)) == []


def test_standard_set_on_float64_0_255_as_the_evaluator_received_it(golden):
    images, reference = golden
    a, b, f = (images[k].astype(np.float64) for k in "ABF")
    assert _close(standard_metrics(a, b, f), _expected_standard(reference)) == []


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the reference QABF_proxy values were produced by x86-64 uint8 wrap-around",
)
def test_seed_set_reproduces_the_seed_functions(golden):
    # The proxy is computed platform-independently (np.mod of the exact integer Sobel response);
    # the golden numbers themselves come from x86-64, where scipy's uint8 output wraps.
    images, reference = golden
    result = seed_metrics(images["A"], images["B"], images["F"])
    assert tuple(result) == SEED_KEYS
    assert _close(result, reference["seed_compatible"]) == []
    terms = seed_metrics_per_source(images["A"], images["B"], images["F"])
    assert _close(terms, reference["seed_compatible_per_source"]) == []


def test_source_statistics_with_the_seed_functions(golden):
    images, reference = golden
    stats = reference["source_stats_seed_functions"]
    actual = {
        "EN_A": statistics.entropy_bits(images["A"]),
        "EN_B": statistics.entropy_bits(images["B"]),
        "SD_A": statistics.standard_deviation(images["A"]),
        "SD_B": statistics.standard_deviation(images["B"]),
    }
    assert _close(actual, stats) == []


def test_fusion_metrics_equals_the_two_separate_sets(golden):
    images, _ = golden
    both = fusion_metrics(images["A"], images["B"], images["F"])
    assert both.standard == standard_metrics(images["A"], images["B"], images["F"])
    assert both.seed_compatible == seed_metrics(images["A"], images["B"], images["F"])


def test_fusion_metrics_on_non_integer_floats_matches_the_separate_sets():
    a, b, f = _triple(np.random.default_rng(3), 50, 61)
    a, b, f = a / 255.0, b / 255.0, (f + 0.3) / 256.0  # floats in 0..1, not whole grey levels
    both = fusion_metrics(a, b, f)
    assert _close(both.standard, standard_metrics(a, b, f)) == []
    assert _close(both.seed_compatible, seed_metrics(a, b, f)) == []


# --------------------------------------------------------------------------- pieces vs references


def _triple(rng, height=67, width=53):
    """Smooth-ish test images with edges and flat parts (like real scans), uint8."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = 120 + 80 * np.sin(xx / 7.0) * np.cos(yy / 9.0)
    base[: height // 3, : width // 4] = 0  # a flat black corner, as in masked scans
    a = np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
    b = np.clip(np.where(xx > width // 2, 200.0, 40.0) + rng.normal(0, 5, base.shape), 0, 255)
    f = np.clip(0.5 * a + 0.5 * b + rng.normal(0, 3, base.shape), 0, 255)
    return tuple(np.round(x).astype(np.uint8) for x in (a, b, f))


def _vif_direct(ref, dist):
    """VIFp with 2-D 'valid' correlation of the N x N window, as the references code it."""
    from scipy.signal import correlate2d

    ref, dist = ref.astype(np.float64), dist.astype(np.float64)
    num = den = 0.0
    for scale in (1, 2, 3, 4):
        w = vif.window_2d(2 ** (5 - scale) + 1)

        def valid(x, w=w):
            return correlate2d(x, w, mode="valid")

        if scale > 1:
            ref, dist = valid(ref)[::2, ::2], valid(dist)[::2, ::2]
        mu1, mu2 = valid(ref), valid(dist)
        s1 = valid(ref * ref) - mu1 * mu1
        s2 = valid(dist * dist) - mu2 * mu2
        s12 = valid(ref * dist) - mu1 * mu2
        n, d = vif._scale_sums(s1, s2, s12)
        num, den = num + n, den + d
    return num / den


@pytest.mark.parametrize("shape", [(41, 41), (67, 53), (97, 83)])
def test_separable_vif_equals_the_2d_window_form(shape):
    a, _, f = _triple(np.random.default_rng(1), *shape)
    assert vif.vif(a, f) == pytest.approx(_vif_direct(a, f), rel=1e-10)


def test_vif_window_is_separable():
    for size in (17, 9, 5, 3):
        w = vif.window_1d(size)
        np.testing.assert_allclose(np.outer(w, w), vif.window_2d(size), rtol=1e-13, atol=0)


def test_vif_needs_41_pixels_and_is_nan_below():
    assert vif.smallest_side() == 41
    a, _, f = _triple(np.random.default_rng(2), 40, 60)
    assert math.isnan(vif.vif(a, f))
    assert math.isnan(standard_metrics(a, a, f)["VIFF"])


def test_edge_field_equals_scipy_convolution_with_zero_padding():
    from scipy.signal import convolve2d

    image = _triple(np.random.default_rng(4), 23, 31)[0].astype(np.float64)
    h3 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    h1 = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
    sx = convolve2d(image, h3, mode="same")
    sy = convolve2d(image, h1, mode="same")
    field = edges.edge_field(image)
    np.testing.assert_allclose(field.magnitude, np.hypot(sx, sy), rtol=1e-14)
    alpha = np.full(image.shape, np.pi / 2)
    alpha[sx != 0] = np.arctan(sy[sx != 0] / sx[sx != 0])
    np.testing.assert_array_equal(field.angle, alpha)


def test_qabf_uses_gf_on_equal_gradients_not_one():
    g = np.array([[0.0, 3.0, 40.0]])
    same = edges.EdgeField(g, np.zeros_like(g))
    q = edges.edge_preservation(same, same)
    expected_strength = 0.9994 / (1 + np.exp(-15 * (g - 0.5)))
    np.testing.assert_allclose(q, expected_strength * 0.9879 / (1 + np.exp(-22 * 0.2)))


def test_wrapped_sobel_is_the_integer_sobel_mod_256_and_scipy_on_uint8():
    from scipy.ndimage import sobel

    image = _triple(np.random.default_rng(5), 29, 37)[0]
    p = np.pad(image.astype(np.int64), 1, mode="symmetric")  # scipy 'reflect': ... b a | a b ...
    diff = p[:, 2:] - p[:, :-2]  # I[r, c+1] - I[r, c-1]
    exact = diff[:-2] + 2 * diff[1:-1] + diff[2:]  # [1, 2, 1] down the rows
    assert exact.min() < 0 and exact.max() > 255  # the wrap matters on this image
    np.testing.assert_array_equal(edges.wrapped_sobel(image), np.mod(exact, 256))
    if platform.machine().lower() in ("x86_64", "amd64"):
        np.testing.assert_array_equal(edges.wrapped_sobel(image), sobel(image))


def test_binned_mi_matches_numpy_histogram2d():
    a, _, f = _triple(np.random.default_rng(6), 45, 38)
    a = a.astype(np.float64) * 0.37 + 3.1  # edges no longer land on integers
    joint, _, _ = np.histogram2d(a.ravel(), f.ravel().astype(np.float64), bins=20)
    expected = information.mutual_information_from_joint(joint)
    assert information.mutual_information_binned(a, f, bins=20) == pytest.approx(expected, 1e-13)
    np.testing.assert_array_equal(
        np.bincount(information.bin_index(a, 20), minlength=20), joint.sum(axis=1)
    )
    f_float = f.astype(np.float64)
    np.testing.assert_array_equal(information.bin_index(f, 20), information.bin_index(f_float, 20))


def test_mutual_information_of_an_image_with_itself_is_its_entropy_in_nats():
    image = _triple(np.random.default_rng(7))[0]
    mi = information.mutual_information_levels(image, image)
    assert mi == pytest.approx(statistics.entropy_bits(image) * math.log(2), rel=1e-12)


def test_ssim_is_scikit_image_with_the_stated_data_range():
    from skimage.metrics import structural_similarity

    a, _, f = _triple(np.random.default_rng(8))
    expected = structural_similarity(a.astype(float), f.astype(float), data_range=255)
    assert structure.ssim(a, f) == expected
    assert structure.ssim(a, f, 2.0) != pytest.approx(expected)


# --------------------------------------------------------------------------- analytic values


def test_sf_ag_en_on_a_ramp_and_a_two_level_image():
    ramp = np.tile(np.arange(20, dtype=np.float64), (10, 1))
    assert statistics.spatial_frequency(ramp) == pytest.approx(1.0)
    assert statistics.average_gradient(ramp) == pytest.approx(math.sqrt(0.5))
    halves = np.zeros((8, 8), np.uint8)
    halves[:, 4:] = 255
    assert statistics.entropy_bits(halves) == pytest.approx(1.0)


def test_reference_scores_of_a_constant_offset():
    clean = np.tile(np.linspace(0.0, 1.0, 32), (32, 1))
    scores = reference_scores(clean + 0.1, clean)
    assert scores["PSNR"] == pytest.approx(10 * math.log10(1.0 / 0.01))
    expected_rel = 0.1 * math.sqrt(clean.size) / np.sqrt(np.sum(clean**2))
    assert scores["RelErr"] == pytest.approx(expected_rel)
    assert scores["SSIM"] < 1
    halved = reference_scores(clean + 0.1, clean, data_range=0.5)["PSNR"]
    assert halved == pytest.approx(scores["PSNR"] - 20 * math.log10(2))


def test_reference_scores_do_not_depend_on_units():
    clean = _triple(np.random.default_rng(9))[0].astype(np.float64)
    fused = np.clip(clean + np.random.default_rng(10).normal(0, 9, clean.shape), 0, 255)
    in_255 = reference_scores(fused, clean)
    in_01 = reference_scores(fused / 255, clean / 255)
    assert _close(in_01, in_255) == []


# --------------------------------------------------------------------------- properties


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_identical_images_give_the_extreme_values(no_warnings):
    x = _triple(np.random.default_rng(11))[0]
    std = standard_metrics_per_source(x, x, x)
    assert std["MSE"] == 0 and std["PSNR"] == math.inf
    assert std["SSIM_AF"] == pytest.approx(1.0) and std["SSIM"] == pytest.approx(2.0)
    assert std["SSIM_legacy"] == pytest.approx(2.0)
    assert std["CC"] == pytest.approx(1.0)
    assert std["VIFF_AF"] == pytest.approx(1.0, rel=1e-6)
    assert std["MI_AF"] == pytest.approx(statistics.entropy_bits(x) * math.log(2))
    assert math.isnan(std["SCD"])  # F - B is constant zero: correlation undefined
    seed = seed_metrics(x, x, x)
    assert seed["SSIM"] == pytest.approx(2.0) and seed["QABF_proxy"] == pytest.approx(2.0)
    assert seed["VIF"] == pytest.approx(2.0, rel=1e-6)
    ref = reference_scores(x.astype(float), x.astype(float))
    assert ref == {"PSNR": math.inf, "SSIM": pytest.approx(1.0), "RelErr": 0.0}


def test_every_metric_is_symmetric_in_the_two_sources(golden):
    images, _ = golden
    a, b, f = (images[k][:200, 150:390] for k in "ABF")
    for metrics in (standard_metrics, seed_metrics):
        assert _close(metrics(b, a, f), metrics(a, b, f)) == []


def test_source_and_fused_roles_are_not_interchangeable():
    a, _, f = _triple(np.random.default_rng(12))
    assert vif.vif(a, f) != pytest.approx(vif.vif(f, a))
    field_a, field_f = edges.edge_field(a), edges.edge_field(f)
    assert edges.qabf_from(edges.edge_transfer(field_a, field_f)) != pytest.approx(
        edges.qabf_from(edges.edge_transfer(field_f, field_a))
    )
    assert edges.qabf(field_a, field_a, field_f) == pytest.approx(
        edges.qabf_from(edges.edge_transfer(field_a, field_f)), rel=1e-13
    )
    assert information.mutual_information_levels(a, f) == pytest.approx(
        information.mutual_information_levels(f, a), rel=1e-12
    )
    assert structure.ssim(a, f) == pytest.approx(structure.ssim(f, a), rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(41, 60), width=st.integers(41, 60))
def test_ranges_hold_on_random_images(seed, height, width):
    a, b, f = _triple(np.random.default_rng(seed), height, width)
    std = standard_metrics_per_source(a, b, f)
    assert std["MI"] >= 0 and std["MSE"] >= 0 and std["EN"] <= 8
    assert 0 <= std["Qabf"] <= 1 and -1 <= std["CC"] <= 1 and -2 <= std["SCD"] <= 2
    assert std["SSIM"] <= 2 and std["VIFF_AF"] >= 0
    seed_set = seed_metrics(a, b, f)
    assert -2 <= seed_set["QABF_proxy"] <= 2 and seed_set["MI"] >= 0


# --------------------------------------------------------------------------- dtype rules


def test_dtype_rules_of_to_uint8_scale():
    u8 = np.array([[0, 1, 128, 255] * 2] * 7, dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8_scale(u8), u8.astype(float))
    np.testing.assert_allclose(to_uint8_scale(u8.astype(np.uint16) * 257), u8, rtol=1e-15)
    np.testing.assert_allclose(to_uint8_scale(u8 / 255.0), u8, rtol=1e-14)
    np.testing.assert_array_equal(to_uint8_scale(u8.astype(np.float32)), u8)
    np.testing.assert_array_equal(to_uint8_scale(u8.astype(np.int16)), u8)
    almost_black = np.full((7, 7), 1.0)  # 0..255 levels all <= 1 read as 0..1 (documented)
    almost_black[0, 0] = 0
    assert to_uint8_scale(almost_black).max() == 255
    assert to_uint8_scale(almost_black, (0, 255)).max() == 1
    twelve_bit = np.array([[0, 4095] * 4] * 7, dtype=np.uint16)
    np.testing.assert_allclose(to_uint8_scale(twelve_bit, (0, 4095)), [[0, 255] * 4] * 7)
    np.testing.assert_allclose(to_uint8_scale(twelve_bit * 0.5 - 3, "minmax"), [[0, 255] * 4] * 7)
    assert quantise_uint8(np.array([0.4, 0.6, 254.5, 255.0])).tolist() == [0, 1, 254, 255]


@pytest.mark.parametrize(
    "image, data_range",
    [
        (np.full((8, 8), 300, dtype=np.int32), None),
        (np.linspace(-1, 1, 64).reshape(8, 8), None),
        (np.linspace(0, 300, 64).reshape(8, 8), None),
        (np.linspace(0, 300, 64).reshape(8, 8), (0, 255)),
        (np.ones((8, 8)), "minmax"),
        (np.ones((8, 8)), (1, 1)),
        (np.ones((8, 8)), "percentile"),
        (np.ones((8, 8), dtype=bool), None),
        (np.ones((8, 8, 3)), None),
        (np.ones((5, 9)), None),
        (np.array([["a"] * 8] * 8), None),
    ],
)
def test_unmappable_input_raises_invalid_image(image, data_range):
    with pytest.raises(InvalidImageError):
        to_uint8_scale(image, data_range)


def test_the_same_pixels_in_every_dtype_give_the_same_metrics(golden):
    images, _ = golden
    u8 = {k: images[k][100:300, 200:420] for k in "ABF"}
    expected_std = standard_metrics(*u8.values())
    expected_seed = seed_metrics(*u8.values())
    variants = {
        "uint16": {k: v.astype(np.uint16) * 257 for k, v in u8.items()},
        "float 0..1": {k: v / 255.0 for k, v in u8.items()},
        "float32 0..1": {k: (v / 255.0).astype(np.float32) for k, v in u8.items()},
        "float 0..255": {k: v.astype(np.float64) for k, v in u8.items()},
    }
    for name, triple in variants.items():
        std = standard_metrics(*triple.values())
        if name == "float32 0..1":
            # float32 cannot hold k/255 exactly, so x*255 is off by ~1e-5. Q^AB/F is discontinuous
            # (G = gF on exact ties, alpha jumps from pi/2 to -pi/2 when SX leaves 0), so it moves
            # at 1e-4; the reference evaluator shows the same on float32 input.
            assert std.pop("Qabf") == pytest.approx(expected_std["Qabf"], rel=1e-3)
        assert _close(std, expected_std, keys=std) == [], name
        assert _close(seed_metrics(*triple.values()), expected_seed) == [], name


def test_minmax_is_only_applied_when_asked():
    a, b, f = _triple(np.random.default_rng(13))
    a16, b16, f16 = (x.astype(np.float64) * 16 for x in (a, b, f))  # 0..4080, e.g. 12-bit
    with pytest.raises(InvalidImageError):
        standard_metrics(a16, b16, f16)
    scaled = standard_metrics(a16, b16, f16, data_range=(0, 4080))
    assert _close(scaled, standard_metrics(a, b, f)) == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("compute", [standard_metrics, seed_metrics, fusion_metrics])
def test_shape_mismatch_raises_geometry_error(compute):
    a, b, f = _triple(np.random.default_rng(14))
    with pytest.raises(GeometryError, match="same size"):
        compute(a, b[:, :-1], f)


def test_reference_shape_mismatch_raises_geometry_error():
    x = np.random.default_rng(15).random((20, 20))
    with pytest.raises(GeometryError):
        reference_scores(x, x[:-1])


@pytest.mark.parametrize("compute", [standard_metrics, seed_metrics])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_pixels_raise_invalid_image(compute, bad):
    a, b, f = (x.astype(np.float64) for x in _triple(np.random.default_rng(16)))
    f[3, 4] = bad
    with pytest.raises(InvalidImageError, match="not numbers"):
        compute(a, b, f)


def test_reference_scores_reject_nan_and_a_blank_truth():
    x = np.random.default_rng(17).random((20, 20))
    y = x.copy()
    y[0, 0] = np.nan
    with pytest.raises(InvalidImageError):
        reference_scores(y, x)
    with pytest.raises(InvalidImageError, match="blank"):
        reference_scores(x, np.ones_like(x))
    assert math.isnan(reference_scores(x, np.zeros_like(x), data_range=1.0)["RelErr"])


def test_constant_images_give_documented_nans_and_no_warning(no_warnings):
    a, b, _ = _triple(np.random.default_rng(18))
    flat = np.full(a.shape, 90, dtype=np.uint8)
    std = standard_metrics(a, b, flat)
    assert math.isnan(std["CC"]) and math.isfinite(std["SCD"])
    assert std["SD"] == 0 and std["EN"] == 0 and std["MI"] == 0
    assert math.isfinite(std["Qabf"]) and math.isfinite(std["VIFF"])
    seed = seed_metrics(a, b, flat)
    assert math.isnan(seed["QABF_proxy"]) and seed["MI"] == pytest.approx(0, abs=1e-12)

    std = standard_metrics_per_source(flat, b, a)  # constant source A
    assert std["VIFF_AF"] == 1.0  # the Evaluator's convention for a 0/0 pair
    assert math.isnan(std["CC_AF"]) and math.isnan(std["SCD"])
    assert math.isnan(seed_metrics_per_source(flat, b, a)["VIF_AF"])  # the seed has no such rule

    zeros = np.zeros(a.shape, dtype=np.uint8)
    std = standard_metrics(zeros, zeros, a)
    assert math.isnan(std["Qabf"])  # no source gradient at all: 0/0
    assert standard_metrics(a, b, zeros)["PSNR"] == -math.inf  # peak max(F) = 0


# --------------------------------------------------------------------------- catalogue


def test_catalogue_describes_exactly_the_keys_returned():
    assert tuple(i.key for i in STANDARD) == STANDARD_KEYS
    assert tuple(i.key for i in SEED_COMPATIBLE) == SEED_KEYS
    # the ground-truth set: the US-appearance image against the clean US, then the MRI-contrast
    # image against the MRI truth (engine.pipeline.measure)
    assert tuple(i.key for i in REFERENCE) == ("PSNR", "SSIM", "RelErr", "MRI PSNR",
                                               "MRI SSIM", "MRI RelErr")
    assert metric_info("standard", "MSE").higher_is_better is False
    assert "proxy" in metric_info("seed_compatible", "QABF_proxy").label
    with pytest.raises(KeyError):
        metric_info("standard", "QABF_proxy")
