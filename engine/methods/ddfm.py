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
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import NumericalError, ParameterError
from ..fusion import FusionInput, FusionResult
from ..fusion_params import DdfmEmParams, DdfmPalmParams
from ..progress import ProgressReporter
from .base import FusionMethod

__all__ = ["DdfmEmMethod", "DdfmEmParams", "DdfmPalmMethod", "DdfmPalmParams", "PalmCorrector"]


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

    The joint PALM solution (x1*, x2*) is computed first (warm start). At step t, with diffusion
    estimate u_hat (the luminance of x0 on the unpadded US grid, mapped to [0, 1]), the data step
    is the US block of joint PALM with the MRI block held at x1*:

        x2_t = argmin_x2 Phi_joint(x1*, x2) + (rho_t / 2) ||x2 - u_hat||^2,
        rho_t = w prior_weight (rho_floor + sigma_t^2),

    solved exactly per pixel (:func:`engine.joint_palm.us_step`); w is the coupling weight and
    sigma_t = sqrt((1 - abar_t) / abar_t) the noise level, so the pull is strong early and falls
    to w prior_weight rho_floor at the end. The MRI block is held because an MRI step coupled
    to an early, prior-dominated x2 drags the MRI-contrast image toward the prior's estimate
    (on a 192x192 test phantom at d = 4 it lost 1.3 to 8.9 dB); the MRI-contrast image of
    ``ddfm-palm`` is x1*.
    ``prior_weight = 0`` returns x2* at every step.
    """

    problem: Any  # engine.joint_palm.JointProblem
    start: Any  # engine.joint_palm.JointState: the joint PALM solution
    prior_weight: float
    rho_floor: float = 1.0

    def check_shape(self, height: int, width: int) -> None:
        """The sample (padded to the network stride) must cover the US grid."""
        h, w = self.problem.crop(self.problem.u).shape
        if height < h or width < w:
            raise ParameterError(f"The sample ({width} x {height}) must cover the US grid "
                                 f"({w} x {h}).")

    def initial_state(self):
        return self.start

    @cached_property
    def target(self):
        """f(x1*): the US step's link target, fixed while the MRI block is held."""
        from ..joint_palm import link_target

        return link_target(self.start.x_mri, self.start.link)

    def rho(self, noise_level: float) -> float:
        return self.problem.w * self.prior_weight * (self.rho_floor + noise_level**2)

    def data_step(self, u_hat, state, noise_level: float):
        """The US step pulled toward u_hat (unpadded); returns the joint state."""
        import torch

        from ..joint_palm import JointState, PriorPull, us_step

        rho = self.rho(noise_level)
        if rho <= 0:
            return self.start
        padded = torch.as_tensor(self.problem.grid.high(u_hat.detach().cpu().double().numpy()),
                                 dtype=self.problem.u.dtype, device=self.problem.u.device)
        start = self.start
        x2 = us_step(self.target, self.problem, start.x_us, PriorPull(padded, rho))
        return JointState(start.x_mri, x2, start.link, start.split, state.iteration + 1)

    def correct(self, x0_luma, state, info):
        h, w = self.problem.crop(self.problem.u).shape
        u_hat = unit_from_luma(x0_luma[0, 0, :h, :w].double())
        state = self.data_step(u_hat, state, info.noise_level)
        corrected = x0_luma.clone()
        x_us = self.problem.crop(state.x_us)
        corrected[0, 0, :h, :w] = luma_from_unit(x_us).to(x0_luma.dtype)
        return corrected, state


def calibrated(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """a image + b fitted to ``target`` by least squares (maps a min-max luminance back to the
    intensity scale of the input it was made from; uses the inputs only, never a ground truth)."""
    design = np.stack([np.ravel(image), np.ones(np.size(image))], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.ravel(target), rcond=None)
    return (design @ coef).reshape(np.shape(image))


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
        model, prepared.x_start, corrector, respacing=respacing, progress=progress,
        autocast_dtype=autocast, cancel=reporter.check_cancel,
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


@dataclass(frozen=True)
class _Start:
    """What both diffusion methods set up first: the network, its device, the seed."""

    t0: float
    torch_device: Any
    model: Any
    identity: Any
    generator: Any
    seed: int


class _DiffusionMethod(FusionMethod):
    """Loads the prior and the generator, then hands over to ``fuse``."""

    def run(self, fusion_input, params, reporter: ProgressReporter, generator=None, device=None):
        t0 = time.perf_counter()
        reporter.check_cancel()
        torch_device, model, identity = _load_model(self.name, params, device)
        reporter.check_cancel()
        generator, seed = _generator(params, generator)
        start = _Start(t0, torch_device, model, identity, generator, seed)
        return self.fuse(fusion_input, params, reporter, start)

    def fuse(self, fusion_input, params, reporter: ProgressReporter, start: _Start):
        raise NotImplementedError


class DdfmEmMethod(_DiffusionMethod):
    name = "ddfm-em"
    title = "DDFM with EM (Zhao et al. 2023)"
    params_type = DdfmEmParams

    def fuse(self, fusion_input, params, reporter: ProgressReporter, start: _Start):
        from ..baselines import tv_mri
        from ..em import EmCorrector

        prepared = _prepare(fusion_input, fusion_input.y_u, start.model.stride, start.generator,
                            start.torch_device)
        t1 = time.perf_counter()
        previews: list[np.ndarray] = []
        corrector = EmCorrector(prepared.mri, prepared.us, params.lamb, params.rho)
        sample = _sample(self.name, start.model, prepared, params, corrector, reporter,
                         start.torch_device, previews)
        t2 = time.perf_counter()
        luminance = display_luma(sample.float().cpu().numpy())
        mri_estimate = tv_mri(fusion_input.y_m, fusion_input.d)
        return FusionResult(
            fused=calibrated(luminance, fusion_input.y_u),
            method=self.name, params=params, elapsed_s=time.perf_counter() - start.t0,
            device=str(start.torch_device), seed=start.seed, weights=(start.identity,),
            previews=previews,
            mri_estimate=mri_estimate,
            notes=("Fused luminance of the reference DDFM, mapped to the US intensity scale by "
                   "a least-squares affine fit to the observed US.",
                   "DDFM-EM has no MRI-domain model: its MRI-contrast image is the total-"
                   "variation super-resolution of the MRI alone."),
            stage_seconds={"prepare": t1 - start.t0, "sampling": t2 - t1,
                           "mri": time.perf_counter() - t2},
        )


class DdfmPalmMethod(_DiffusionMethod):
    name = "ddfm-palm"
    title = "DDFM with a PALM data step"
    params_type = DdfmPalmParams

    def fuse(self, fusion_input, params, reporter: ProgressReporter, start: _Start):
        from ..denoise import despeckle_stage
        from ..joint_palm import initial_joint_state, joint_step, make_joint_problem

        reporter.check_cancel()
        despeckled = despeckle_stage(fusion_input.y_u, params.despeckle, None, params.despeckler,
                                     cancel=reporter.check_cancel)
        xu0 = despeckled.image
        weights = [start.identity] + ([despeckled.weights] if despeckled.weights else [])
        reporter.check_cancel()
        problem = make_joint_problem(fusion_input.y_m, xu0, fusion_input.d, params,
                                     y_u_raw=fusion_input.y_u, device=start.torch_device)
        state = initial_joint_state(problem, reporter.check_cancel)
        for i in range(params.iterations):
            state = joint_step(state, problem, check_cancel=reporter.check_cancel)
            reporter.step(i + 1, params.iterations, f"{self.name}: PALM warm start {i + 1}")
        corrector = PalmCorrector(problem, state, params.prior_weight, params.rho_floor)
        recorder = _Recording(corrector)
        prepared = _prepare(fusion_input, xu0, start.model.stride, start.generator,
                            start.torch_device)
        t1 = time.perf_counter()
        previews: list[np.ndarray] = []
        _sample(self.name, start.model, prepared, params, recorder, reporter, start.torch_device,
                previews)
        final = recorder.state
        return FusionResult(
            fused=problem.crop(final.x_us).double().cpu().numpy(),
            mri_estimate=problem.crop(final.x_mri).double().cpu().numpy(),
            method=self.name, params=params, elapsed_s=time.perf_counter() - start.t0,
            device=str(start.torch_device), seed=start.seed, weights=tuple(weights),
            previews=previews,
            notes=(despeckled.note, "Joint PALM solution; the US-appearance image refined by "
                   "diffusion sampling with the joint model's US step as data step, the "
                   "MRI-contrast image is the PALM solution."),
            stage_seconds={"prepare": t1 - start.t0, "sampling": time.perf_counter() - t1},
        )


class _Recording:
    """A corrector that keeps the last data-step state (the sampler returns only the sample)."""

    def __init__(self, corrector: PalmCorrector) -> None:
        self.corrector = corrector
        self.state = corrector.initial_state()

    def check_shape(self, height: int, width: int) -> None:
        self.corrector.check_shape(height, width)

    def initial_state(self):
        return self.state

    def correct(self, x0_luma, state, info):
        corrected, self.state = self.corrector.correct(x0_luma, state, info)
        return corrected, self.state
