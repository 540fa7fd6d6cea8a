"""The diffusion methods ``ddfm-em`` and ``ddfm-palm`` (see :mod:`engine.diffusion.sampler`).

Both sample an unconditional ADM prior with DDIM on the US grid and correct every step's clean
image estimate. Inputs, as the reference prepares them: the MRI is brought to the US grid (MATLAB
bicubic, factor d), both images (max-normalised to [0, 1]) are mapped to the network's range by
``2 x - 1`` and reflect-padded at the bottom/right to a multiple of the network stride; the
sample is cropped back (no border is ever cut).

* ``ddfm-em``: the reference DDFM (EM correction, I = MRI, V = US). The fused image is the
  reference's post-processing: Y = 0.299 R + 0.587 G + 0.114 B of the sample, min-max to [0, 1].
* ``ddfm-palm``: the correction is a PALM data step (:class:`PalmCorrector`); the fused image is
  the corrected US estimate of the last step (same intensity scale as ``palm``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..denoise import DESPECKLER_CHOICES
from ..errors import NumericalError
from ..fusion import FusionInput, FusionResult
from ..params import param
from ..progress import ProgressReporter
from .base import FusionMethod

PRECISIONS = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class DdfmEmParams:
    """Parameters of ``ddfm-em`` (reference: 100 steps, lambda 0.5, rho 0.001).

    ``steps`` 25: with the bundled prior, ``bench/quality.py`` gave about the same mean PSNR to
    the clean US at 10, 25 and 40 steps (26.36 / 26.45 / 26.44 dB over Data2, Data3 and three
    phantoms), and lambda made no difference between 0.1 and 2 (Data3, demo phantom).
    """

    steps: int = param(25, "Diffusion (DDIM) steps, evenly respaced from 1000.", 2, 1000)
    respacing: str = param("", "Advanced: a respacing such as 'ddim100' or '25,10'; "
                           "overrides steps when set.")
    lamb: float = param(0.5, "Weight lambda of the TV term of the EM step.", 0.0, 100.0)
    rho: float = param(0.001, "Penalty rho of the EM M-step.", 1e-6, 10.0, log_scale=True)
    seed: int = param(3407, "Seed of the starting noise (same seed, same image).", 0, 2**31 - 1)
    precision: str = param("float32", "Network precision (reduced precision: GPU speed-up).",
                           choices=PRECISIONS)
    preview_every: int = param(10, "Keep an x0 preview every k steps (0: none).", 0, 1000)
    weights_file: str = param("", "Diffusion prior file with config and state_dict; empty: "
                              "the registry's prior.")


@dataclass(frozen=True)
class DdfmPalmParams:
    """Parameters of ``ddfm-palm``: diffusion sampling plus the PALM data step of each step.

    Defaults chosen with ``bench/quality.py`` and the bundled prior (README, Quality): on Data3
    and the demo phantom at 10 steps, PSNR to the clean US rose as the pull fell (prior_weight
    1 -> 0.3 -> 0.1 -> 0.03 -> 0.01: 23.2 -> 26.2 -> 26.8 -> 27.1 -> 27.3 dB on Data3), and
    rho_floor made no measurable difference at 0.01-0.03; ``steps`` is the largest count of the
    table that keeps the 600x600 demo pair under 60 s on 2 CPU cores.
    """

    steps: int = param(40, "Diffusion (DDIM) steps, evenly respaced from 1000.", 2, 1000)
    respacing: str = param("", "Advanced: a respacing such as 'ddim100' or '25,10'; "
                           "overrides steps when set.")
    prior_weight: float = param(0.01, "Pull toward the diffusion estimate: rho_t = prior_weight "
                                "(rho_floor + sigma_t^2); 0 reduces the step to PALM.", 0.0, 1e6,
                                log_scale=True)
    rho_floor: float = param(1.0, "Pull left at the end of sampling (sigma_t -> 0), relative to "
                             "prior_weight; 0 lets the last steps be pure PALM.", 0.0, 100.0)
    palm_iterations: int = param(2, "PALM iterations per diffusion step.", 1, 50)
    data_weight: float = param(1.0, "Weight tau2 of the US data term in the data step.", 0.0, 1e3,
                               log_scale=True)
    tau1: float = param(1e-12, "Weight of the US link in the MRI update.", 0.0, 1e3,
                        log_scale=True)
    tau3: float = param(1e-4, "Weight of the US smoothness term.", 0.0, 1e3, log_scale=True)
    tau4: float = param(0.5, "Weight of the MRI link in the US update.", 0.0, 1e3,
                        log_scale=True)
    step: float = param(0.2, "Largest step of the US gradient descent.", 1e-6, 10.0)
    inner_iterations: int = param(30, "Maximum steps of each US descent.", 1, 10000)
    despeckle: bool = param(True, "Despeckle the US first (the data step's observation).")
    despeckler: str = param("learned", "Despeckler: the bundled learned network or the "
                            "classical TV filter.", choices=DESPECKLER_CHOICES)
    seed: int = param(3407, "Seed of the starting noise (same seed, same image).", 0, 2**31 - 1)
    precision: str = param("float32", "Network precision (reduced precision: GPU speed-up).",
                           choices=PRECISIONS)
    preview_every: int = param(10, "Keep an x0 preview every k steps (0: none).", 0, 1000)
    weights_file: str = param("", "Diffusion prior file with config and state_dict; empty: "
                              "the registry's prior.")

    def palm_params(self, d: int):
        """The PALM weights of the data step: corrected variant, gamma = 1 (fidelity x = y)."""
        from ..palm import PalmParams

        return PalmParams(
            tau1=self.tau1, tau2=self.data_weight, tau3=self.tau3, tau4=self.tau4, d=d,
            iterations=self.palm_iterations, step=self.step, gamma=1.0, variant="corrected",
            inner_iterations=self.inner_iterations, min_step_norm=0.0,
        )


# ----------------------------------------------------------------------------- intensity maps


def luma_from_unit(u):
    """[0, 1] grey level u -> the sampler's luminance: Y = (16 + 219 (2u - 1)) / 255."""
    return (16.0 + 219.0 * (2.0 * u - 1.0)) / 255.0


def unit_from_luma(y):
    """Inverse of :func:`luma_from_unit`."""
    return ((255.0 * y - 16.0) / 219.0 + 1.0) / 2.0


def display_luma(rgb) -> np.ndarray:
    """The reference post-processing: Y = 0.299 R + 0.587 G + 0.114 B, min-max to [0, 1]."""
    rgb = np.asarray(rgb, dtype=np.float64)
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    span = float(y.max() - y.min())
    return (y - y.min()) / span if span > 0 else np.zeros_like(y)


def pad_to_multiple(image: np.ndarray, stride: int) -> np.ndarray:
    """Reflect-pad a 2-D image at the bottom/right to a multiple of ``stride`` (any size)."""
    h, w = image.shape
    return np.pad(image, ((0, -h % stride), (0, -w % stride)), mode="reflect")


# ----------------------------------------------------------------------------- PALM corrector

@dataclass(frozen=True)
class PalmCorrector:
    """DDFM-PALM data step on the luminance (:class:`engine.diffusion.sampler.Corrector`).

    At step t with diffusion estimate u_hat (the luminance of x0 on the unpadded US grid, mapped
    to [0, 1]) it minimises, starting from u_hat and the MRI estimate of the previous step,

        Phi_PALM(x_mri, x_us) + (rho_t / 2) ||x_us - u_hat||^2,   rho_t = w (f + sigma_t^2)

    by ``iterations`` PALM iterations (closed-form MRI update, then the US descent with the prior
    pull, :func:`engine.palm.palm_step`); sigma_t = sqrt((1 - abar_t) / abar_t) is the noise
    level, so the pull is strong early and falls to w f at the end (f = ``rho_floor``; with
    f = 0 the last steps are PALM iterations started from the diffusion estimate). The descent
    step is capped at 0.5 / (tau2 + 8 tau3 + tau4 / 2 + rho_t) to stay stable for large rho_t.
    The state carried between steps is the PALM iterate (the MRI estimate is what matters; x_us
    restarts at u_hat).
    ``prior_weight = 0`` gives plain PALM iterations carried across steps.
    """

    problem: Any  # engine.palm.PalmProblem on the unpadded US grid
    prior_weight: float
    iterations: int
    rho_floor: float = 1.0

    def initial_state(self):
        from ..palm import initial_state

        return initial_state(self.problem)

    def rho(self, noise_level: float) -> float:
        return self.prior_weight * (self.rho_floor + noise_level**2)

    def data_step(self, u_hat, state, noise_level: float):
        """Minimise the step objective from (state.x_mri, u_hat); returns the PALM state."""
        from ..palm import PalmState, PriorPull, palm_step

        p = self.problem.params
        rho = self.rho(noise_level)
        curvature = p.tau2 + 8 * p.tau3 + p.tau4 / 2 + rho
        problem = replace(self.problem, params=replace(p, step=min(p.step, 0.5 / curvature)))
        prior = PriorPull(anchor=u_hat, rho=rho) if rho > 0 else None
        state = PalmState(state.x_mri, u_hat, state.iteration, state.inner_steps)
        for _ in range(self.iterations):
            state = palm_step(state, problem, prior)
        return state

    def correct(self, x0_luma, state, info):
        h, w = self.problem.xu0.shape
        dtype = self.problem.xu0.dtype
        u_hat = unit_from_luma(x0_luma[0, 0, :h, :w].to(dtype))
        state = self.data_step(u_hat, state, info.noise_level)
        corrected = x0_luma.clone()
        corrected[0, 0, :h, :w] = luma_from_unit(state.x_us).to(x0_luma.dtype)
        return corrected, state


# ----------------------------------------------------------------------------- shared runner


@dataclass(frozen=True)
class _Prepared:
    """Network-range inputs on the padded grid, and the unpadded size."""

    mri: Any
    us: Any
    x_start: Any
    shape: tuple[int, int]


def _prepare(fusion_input: FusionInput, us_image: np.ndarray, stride: int, generator, device):
    import torch

    from ..resample import imresize_bicubic

    shape = fusion_input.us_shape
    mri_up = imresize_bicubic(fusion_input.y_m, fusion_input.d)

    def to_net(image):
        padded = pad_to_multiple(2.0 * np.asarray(image, dtype=np.float64) - 1.0, stride)
        return torch.from_numpy(padded.astype(np.float32))[None, None].to(device)

    mri, us = to_net(mri_up), to_net(us_image)
    x_start = torch.randn((1, 3, *mri.shape[-2:]), generator=generator, dtype=torch.float32)
    return _Prepared(mri, us, x_start.to(device), shape)


def _generator(params, generator):
    import torch

    if generator is None:
        return torch.Generator().manual_seed(int(params.seed)), int(params.seed)
    return generator, int(generator.initial_seed())


def _sample(method_name, model, prepared, params, corrector, reporter, device, previews):
    import torch

    from ..diffusion.sampler import ddfm_sample

    h, w = prepared.shape
    respacing = params.respacing or str(params.steps)
    autocast = None if params.precision == "float32" else getattr(torch, params.precision)
    if autocast is not None and device.type == "cpu" and params.precision == "float16":
        autocast = torch.bfloat16  # CPU autocast has no float16 matmul kernels

    def progress(info, pred_x0):
        preview = None
        every = params.preview_every
        if every and ((info.k + 1) % every == 0 or info.k + 1 == info.n):
            preview = display_luma(pred_x0[0, :, :h, :w].float().cpu().numpy())
            previews.append(preview)
        reporter.step(info.k + 1, info.n, f"{method_name} step {info.k + 1}/{info.n}", preview)

    reporter.step(0, 1, f"{method_name}: sampling")
    sample = ddfm_sample(
        model, prepared.mri, prepared.us, prepared.x_start, respacing=respacing,
        lamb=getattr(params, "lamb", 0.5), rho=getattr(params, "rho", 0.001),
        progress=progress, corrector=corrector, autocast_dtype=autocast,
        cancel=reporter.check_cancel,
    )
    sample = sample[0, :, :h, :w]
    if not bool(torch.isfinite(sample).all()):
        raise NumericalError("The diffusion sampling produced NaN/inf values and was stopped.")
    return sample


def _load_model(method_name, params, device):
    """(torch device, network on it, weights identity) for a run; ``device`` as the user gave."""
    import torch

    from ..checkpoints import load_diffusion_prior
    from ..device import pick_device

    torch_device = pick_device(device)
    model, identity = load_diffusion_prior(method_name, params.weights_file or None)
    if torch_device.type == "cpu":
        # channels-last convolutions: 0.78 s instead of 0.99 s per 608x608 evaluation of the
        # bundled prior on 2 cores (bench/prior_width.py); same results up to float32 rounding
        model = model.to(memory_format=torch.channels_last)
    return torch_device, model.to(torch_device), identity


class DdfmEmMethod(FusionMethod):
    name = "ddfm-em"
    title = "DDFM with EM (Zhao et al. 2023)"
    params_type = DdfmEmParams

    def run(self, fusion_input, params, reporter: ProgressReporter, generator=None, device=None):
        t0 = time.perf_counter()
        reporter.check_cancel()
        torch_device, model, identity = _load_model(self.name, params, device)
        reporter.check_cancel()
        generator, seed = _generator(params, generator)
        prepared = _prepare(fusion_input, fusion_input.y_u, model.stride, generator, torch_device)
        t1 = time.perf_counter()
        previews: list[np.ndarray] = []
        sample = _sample(self.name, model, prepared, params, None, reporter, torch_device,
                         previews)
        return FusionResult(
            fused=display_luma(sample.float().cpu().numpy()),
            method=self.name, params=params, elapsed_s=time.perf_counter() - t0,
            device=str(torch_device), seed=seed, weights=(identity,), previews=previews,
            notes=("Fused luminance min-max normalised to [0, 1] as in the reference DDFM.",),
            stage_seconds={"prepare": t1 - t0, "sampling": time.perf_counter() - t1},
        )


class DdfmPalmMethod(FusionMethod):
    name = "ddfm-palm"
    title = "DDFM with a PALM data step"
    params_type = DdfmPalmParams

    def run(self, fusion_input, params, reporter: ProgressReporter, generator=None, device=None):
        import torch

        from ..palm import make_problem

        t0 = time.perf_counter()
        reporter.check_cancel()
        torch_device, model, identity = _load_model(self.name, params, device)
        from ..denoise import despeckle_stage

        reporter.check_cancel()
        despeckled = despeckle_stage(fusion_input.y_u, params.despeckle, None, params.despeckler,
                                     cancel=reporter.check_cancel)
        xu0, notes = despeckled.image, [despeckled.note]
        weights = [identity] + ([despeckled.weights] if despeckled.weights else [])
        from ..palm import link_on_image_scale

        reporter.check_cancel()
        c = link_on_image_scale(fusion_input.y_m, fusion_input.y_u, fusion_input.d)
        reporter.check_cancel()
        problem = make_problem(
            fusion_input.y_m, xu0, c, params.palm_params(fusion_input.d), device=torch_device,
            dtype=torch.float64 if torch_device.type == "cpu" else torch.float32,
        )
        corrector = PalmCorrector(problem, params.prior_weight, params.palm_iterations,
                                  params.rho_floor)
        generator, seed = _generator(params, generator)
        prepared = _prepare(fusion_input, xu0, model.stride, generator, torch_device)
        t1 = time.perf_counter()
        previews: list[np.ndarray] = []
        sample = _sample(self.name, model, prepared, params, corrector, reporter, torch_device,
                         previews)
        from ..diffusion.sampler import rgb_to_ycbcr

        luma = rgb_to_ycbcr(sample[None].float())[0, 0]
        fused = unit_from_luma(luma.double().cpu().numpy())
        return FusionResult(
            fused=fused, method=self.name, params=params, elapsed_s=time.perf_counter() - t0,
            device=str(torch_device), seed=seed, weights=tuple(weights), previews=previews,
            notes=tuple(notes),
            stage_seconds={"prepare": t1 - t0, "sampling": time.perf_counter() - t1},
        )

