"""The joint PALM model: exact Fourier solves, TV restoration, and fusion that beats one modality.

The quality tests run the product path (``run("palm")`` and ``run("ddfm-palm")``) on a small
phantom and compare, in the same run, with the MRI-only restorations and the despeckled US of
:mod:`engine.baselines`; each margin is a fraction of what the full-size benchmark shows.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from engine.baselines import link_mapped, mri_alone, tikhonov_mri, tv_mri
from engine.denoise import despeckle_stage
from engine.fusion_params import JointWeights, PalmMethodParams
from engine.joint_palm import (
    _gradient,
    energy,
    fit_link,
    initial_joint_state,
    joint_step,
    link_jacobian_norm2,
    make_joint_problem,
)
from engine.methods import run
from engine.metrics import reference_scores
from engine.phantom import make_phantom_pair
from engine.superres import (
    NormalSystem,
    PaddedGrid,
    estimate_noise_std,
    fft_friendly,
    periodic_divergence,
    periodic_gradient,
)


def _apply(system: NormalSystem, x, a, b):
    """(H^T S^T S H + a D^T D + b I) x, computed in the image domain (no Woodbury)."""
    d = system.d
    zero_filled = torch.zeros_like(x)
    zero_filled[::d, ::d] = system.forward(x)
    ht = torch.fft.ifft2(system.otf.conj() * torch.fft.fft2(zero_filled)).real
    return ht - a * periodic_divergence(periodic_gradient(x)) + b * x


@pytest.mark.parametrize("shape,d", [((60, 48), 3), ((37, 31), 1), ((64, 64), 4)])
def test_normal_system_solves_exactly(shape, d):
    system = NormalSystem(shape, d, sigma=2.0)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r = _apply(system, x, 0.3, 0.7)
    solved = system.solve_hat(torch.fft.fft2(r), 0.3, 0.7)
    assert float((solved - x).abs().max()) < 1e-10


def test_periodic_divergence_is_minus_the_adjoint_of_the_gradient():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn((9, 7), dtype=torch.float64, generator=gen)
    p = torch.randn((2, 9, 7), dtype=torch.float64, generator=gen)
    assert float(torch.sum(periodic_gradient(x) * p)) == pytest.approx(
        -float(torch.sum(x * periodic_divergence(p))), rel=1e-12)


def test_padding_keeps_the_decimation_phase():
    grid = PaddedGrid(d=3, pad=2)
    high = np.arange(12 * 9, dtype=float).reshape(12, 9)
    low = high[::3, ::3]
    # top/left: padded row k d holds low-resolution row k exactly
    np.testing.assert_array_equal(grid.high(high)[:9:3, :9:3], grid.low(low)[:3, :3])
    np.testing.assert_array_equal(grid.crop_high(grid.high(high)), high)


def test_noise_estimate_is_scale_free_and_close():
    rng = np.random.default_rng(3)
    smooth = np.outer(np.linspace(0, 1, 200), np.linspace(1, 2, 180))
    noisy = smooth + 0.05 * rng.standard_normal(smooth.shape)
    assert estimate_noise_std(noisy) == pytest.approx(0.05, rel=0.1)
    assert estimate_noise_std(1000 * noisy) == pytest.approx(1000 * estimate_noise_std(noisy))


def test_tv_restoration_recovers_a_piecewise_constant_image_better_than_tikhonov():
    x = np.full((96, 96), 0.2)
    x[20:60, 30:80] = 1.0
    x[50:90, 10:40] = 0.6
    rng = np.random.default_rng(4)
    blurred = torch.as_tensor(x)
    system = NormalSystem(x.shape, 2, sigma=1.5)
    y = system.forward(blurred).numpy() + 0.02 * rng.standard_normal((48, 48))
    tik = reference_scores(tikhonov_mri(y, 2, psf_sigma=1.5), x)["PSNR"]
    tv = reference_scores(tv_mri(y, 2, psf_sigma=1.5), x)["PSNR"]
    assert tv > tik + 1.0


# ----------------------------------------------------------------------------- the joint model


@pytest.fixture(scope="module")
def phantom():
    pair = make_phantom_pair(seed=5, size=192, d=4)
    return pair, pair.fusion_input()


def _scores(pair, fusion_input, mri_estimate, fused):
    m_scale, u_scale = pair.mri.pixels.max(), pair.us.pixels.max()
    mri = reference_scores(mri_estimate * m_scale, pair.clean_tissue)["PSNR"]
    us = reference_scores(fused * u_scale, pair.clean_us)["PSNR"]
    return mri, us


@pytest.fixture(scope="module")
def baselines(phantom):
    pair, fi = phantom
    m_scale = pair.mri.pixels.max()
    best_mri = max(reference_scores(r.image * m_scale, pair.clean_tissue)["PSNR"]
                   for r in mri_alone(fi.y_m, fi.d))
    despeckled = despeckle_stage(fi.y_u).image
    u_scale = pair.us.pixels.max()
    best_us = max(reference_scores(despeckled * u_scale, pair.clean_us)["PSNR"],
                  reference_scores(link_mapped(tv_mri(fi.y_m, fi.d), despeckled) * u_scale,
                                   pair.clean_us)["PSNR"])
    return best_mri, best_us


@pytest.fixture(scope="module")
def palm_result(phantom):
    return run("palm", phantom[1], PalmMethodParams(iterations=10))


def test_palm_mri_estimate_beats_the_best_mri_only_restoration(phantom, baselines, palm_result):
    mri, us = _scores(*phantom, palm_result.mri_estimate, palm_result.fused)
    best_mri, best_us = baselines
    assert mri > best_mri + 2.0, (mri, best_mri)
    assert us > best_us - 0.1, (us, best_us)


def test_more_palm_iterations_improve_the_mri_estimate(phantom, palm_result):
    one = run("palm", phantom[1], PalmMethodParams(iterations=1))
    ten = _scores(*phantom, palm_result.mri_estimate, palm_result.fused)[0]
    assert ten > _scores(*phantom, one.mri_estimate, one.fused)[0] + 1.0


def test_joint_iterations_lower_the_objective_and_the_coupling(phantom):
    _, fi = phantom
    xu0 = despeckle_stage(fi.y_u).image
    problem = make_joint_problem(fi.y_m, xu0, fi.d, JointWeights(step_factor=1.0),
                                 y_u_raw=fi.y_u)
    state = initial_joint_state(problem)
    first = energy(problem, state.x_mri, state.x_us, state.link)
    for _ in range(5):
        state = joint_step(state, problem)
    assert state.energy < first
    assert state.step_factor == 1.0


def _edges_problem(c: float):
    """Blocks with isolated edges (96 x 96, d = 4) and the US of an exact link
    u = 0.1 + 0.5 x + c |grad x| on the padded grid; (problem, padded x)."""
    x = np.full((96, 96), 0.2)
    x[20:60, 30:80] = 1.0
    x[50:90, 10:40] = 0.6
    problem = make_joint_problem(x[::4, ::4], x, 4, JointWeights(), y_u_raw=x)
    padded = torch.as_tensor(problem.grid.high(x))
    u = 0.1 + 0.5 * padded + c * _gradient(padded)[0]
    return dataclasses.replace(problem, u=u, u_low=problem.system.blur(u)), padded


def test_link_fit_recovers_an_exact_link_however_sharp_the_mri_estimate_is():
    problem, x = _edges_problem(0.4)
    exact = fit_link(problem, x)
    assert (exact.a, exact.b, exact.c) == pytest.approx((0.1, 0.5, 0.4), abs=1e-9)
    # an estimate blurred by 1 or 2 pixels (as x1 is at the start) gives nearly the same
    # interface term: a pointwise fit of u would give 0.59 and 0.62
    for sigma in (1.0, 2.0):
        soft = torch.as_tensor(gaussian_filter(x.numpy(), sigma, mode="wrap"))
        assert fit_link(problem, soft).c == pytest.approx(0.4, abs=0.06), sigma


def test_link_fit_keeps_the_echo_term_nonnegative():
    problem, x = _edges_problem(-0.4)
    link = fit_link(problem, x)
    assert link.c == 0.0
    columns = np.stack([np.ones(x.numel()), problem.system.blur(x).reshape(-1).numpy()], 1)
    coef = np.linalg.lstsq(columns[_field(problem)], problem.u_low.reshape(-1).numpy()[
        _field(problem)], rcond=None)[0]
    assert (link.a, link.b) == pytest.approx(tuple(coef), abs=1e-9)


def _field(problem) -> np.ndarray:
    """The unpadded field's pixels, as a mask over the padded grid (flattened)."""
    mask = torch.zeros(problem.u.shape, dtype=torch.bool)
    problem.crop(mask).fill_(True)
    return mask.reshape(-1).numpy()


def test_lipschitz_bound_holds_for_the_linearised_link(phantom):
    _, fi = phantom
    problem = make_joint_problem(fi.y_m, despeckle_stage(fi.y_u).image, fi.d, JointWeights())
    state = initial_joint_state(problem)
    link = fit_link(problem, state.x_mri)
    norm2 = link_jacobian_norm2(state.x_mri, link, iterations=30)
    assert 0.3 * link.b**2 < norm2 <= (abs(link.b) + np.sqrt(8) * abs(link.c)) ** 2 + 1e-9


def _heavy_speckle_scene(size: int = 128, d: int = 4):
    """Textured tissue (a crop of scikit-image's ``chelsea``) at low MRI contrast (max 0.6, MRI
    noise 0.02) under Data3's heavy speckle (gamma 0.21, Rayleigh scale 1.1): the conditions in
    which a TV prior that is too strong keeps the US's detail out."""
    import skimage.color
    import skimage.data
    import skimage.transform

    from engine.fusion import FusionInput
    from engine.phantom import gradient_magnitude, log_rayleigh_speckle

    picture = skimage.img_as_float(skimage.color.rgb2gray(skimage.data.chelsea()))
    picture = skimage.transform.resize(picture[60:60 + 2 * size, 140:140 + 2 * size],
                                       (size, size), anti_aliasing=True)
    tissue = 0.6 * (0.1 + 0.9 * picture)
    rng = np.random.default_rng(0)
    us = (tissue + gradient_magnitude(tissue)
          + log_rayleigh_speckle(rng, tissue.shape, 0.21, 1.1))
    low = gaussian_filter(tissue, 4.0, mode="nearest", truncate=2.0)[::d, ::d]
    mri = low + 0.02 * rng.standard_normal(low.shape)
    return tissue, mri.max(), FusionInput(mri / mri.max(), us / us.max(), d)


def test_palm_fuses_textured_tissue_under_heavy_speckle():
    """The default weights let the US's detail in where the MRI is coarse and the US noisy (the
    defaults chosen on clean-US pairs alone lost 0.5 dB to the MRI alone here)."""
    tissue, m_scale, fi = _heavy_speckle_scene()
    best = max(reference_scores(r.image * m_scale, tissue)["PSNR"] for r in mri_alone(fi.y_m, fi.d))
    result = run("palm", fi, PalmMethodParams())
    assert reference_scores(result.mri_estimate * m_scale, tissue)["PSNR"] > best + 0.8


def test_tikhonov_prior_also_fuses(phantom, baselines):
    result = run("palm", phantom[1], PalmMethodParams(iterations=10, prior="tikhonov"))
    mri, _ = _scores(*phantom, result.mri_estimate, result.fused)
    assert mri > baselines[0] + 0.5


def test_ddfm_palm_refines_the_us_image_of_the_palm_solution(phantom, baselines, palm_result):
    from engine.fusion_params import DdfmPalmParams

    params = DdfmPalmParams(iterations=10, steps=4, preview_every=0)
    result = run("ddfm-palm", phantom[1], params)
    mri, us = _scores(*phantom, result.mri_estimate, result.fused)
    assert mri > baselines[0] + 2.0, (mri, baselines[0])
    assert us > baselines[1] - 0.1, (us, baselines[1])
    # the MRI-contrast image is the PALM solution; the data steps changed the US image
    np.testing.assert_allclose(result.mri_estimate, palm_result.mri_estimate, atol=1e-9)
    assert np.abs(result.fused - palm_result.fused).mean() > 1e-7


def test_ddfm_em_returns_both_images_on_the_us_scale(phantom, baselines):
    from engine.fusion_params import DdfmEmParams

    pair, fi = phantom
    result = run("ddfm-em", fi, DdfmEmParams(steps=2, preview_every=0))
    mri, _ = _scores(pair, fi, result.mri_estimate, result.fused)
    assert mri == pytest.approx(baselines[0], abs=0.05)  # the TV MRI alone, labelled as such
    assert result.fused.mean() == pytest.approx(fi.y_u.mean(), abs=1e-9)
    assert any("MRI alone" in note for note in result.notes)


def test_reference_variant_runs_the_golden_loop(phantom):
    """The original algorithm is reached through engine.palm.palm_fuse (the golden path)."""
    import engine.palm

    calls = []
    original = engine.palm.palm_fuse

    def spy(*args, **kwargs):
        calls.append(args[3].variant)
        return original(*args, **kwargs)

    engine.palm.palm_fuse = spy
    try:
        params = dataclasses.replace(PalmMethodParams(), variant="reference", iterations=1,
                                     despeckle=False)
        result = run("palm", phantom[1], params)
    finally:
        engine.palm.palm_fuse = original
    assert calls == ["reference"] and result.mri_estimate is not None


def test_the_one_metrics_entry_scores_both_domains_against_their_truths(phantom, palm_result):
    """measure(record) (viewer, CLI, benchmark) gives the scores of bench/quality.py, and the
    truth is the reference of each score (swapping estimate and truth changes the number)."""
    from engine.pipeline import record_of

    pair, fi = phantom
    reference = record_of(palm_result, fi).metrics.reference
    mri, us = _scores(pair, fi, palm_result.mri_estimate, palm_result.fused)
    assert reference["MRI PSNR"] == pytest.approx(mri, abs=1e-9)
    assert reference["PSNR"] == pytest.approx(us, abs=1e-9)
    swapped = reference_scores(pair.clean_tissue, palm_result.mri_estimate * pair.mri.pixels.max())
    assert abs(swapped["PSNR"] - mri) > 0.1


def test_palm_us_image_improves_on_its_despeckled_input(phantom, palm_result):
    """The US step moves the US-appearance image toward the MRI's link image: on this phantom
    it gains 0.13 dB over the despeckled US it starts from (returning the input gains 0)."""
    pair, fi = phantom
    despeckled = despeckle_stage(fi.y_u).image
    _, us = _scores(pair, fi, palm_result.mri_estimate, palm_result.fused)
    _, start = _scores(pair, fi, palm_result.mri_estimate, despeckled)
    assert us > start + 0.05, (us, start)


def test_padding_widens_to_fft_friendly_sides_and_crops_back():
    # 75 x 100 MRI at d = 4, sigma 4 (17-pixel PSF): pad 9 gives 372 = 4 x 3 x 31 rows and
    # 472 = 8 x 59 columns; 3 and 2 more low-resolution pixels give 384 = 2^7 3 and 480 = 2^5 3 5
    grid = PaddedGrid.for_psf(4, 4.0, (75, 100))
    assert grid.pad == 9 and grid.extra == (3, 2)
    high = np.random.default_rng(0).random((300, 400))
    padded = grid.high(high)
    assert padded.shape == (384, 480) and all(fft_friendly(n) for n in padded.shape)
    assert grid.low(high[::4, ::4]).shape == (96, 120)
    np.testing.assert_array_equal(grid.crop_high(padded), high)
    assert not fft_friendly(636) and fft_friendly(640) and fft_friendly(672)


def test_palm_images_own_compact_memory(palm_result):
    """The images a result keeps are their own arrays: a view into the padded solver grid would
    hold the padding (and the solver's tensor) alive for as long as the viewer keeps the result."""
    for image in (palm_result.fused, palm_result.mri_estimate):
        assert image.flags["OWNDATA"] and image.flags["C_CONTIGUOUS"]
