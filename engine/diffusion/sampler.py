"""DDIM sampling with a fusion correction of each step's clean-image estimate (DDFM).

One step (``ddim_step``) takes the network output and returns the next sample and the x0 estimate;
it never calls the network. With c1 = 1/sqrt(abar_i), c2 = sqrt(1/abar_i - 1):

    (1) x0   = clip(c1 x_t - c2 eps_theta, -1, 1)            predicted clean image
    (2) x0  <- correct(x0)                                     fusion / data consistency (DDFM)
    (3) eps  = (c1 x_t - x0) / c2                              eps consistent with the new x0
    (4) x_{t-1} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps   (DDIM, eta = 0)

In DDFM the correction acts on the luminance only: x0 -> YCbCr (the reference applies the
BT.601 studio-range conversion to values in [-1, 1] as they are), Y is replaced by the corrector's
output, and the image is rebuilt with the inverse matrix. A corrector is any object with
``check_shape(h, w)``, ``initial_state()`` and ``correct(x0_luma, state, step_info) -> (x0_luma,
state)``; the sampler takes one and knows none of them (EM: :class:`engine.em.EmCorrector`,
PALM: :class:`engine.methods.ddfm.PalmCorrector`).

The reference draws ``randn_like(x)`` at every step and multiplies it by sigma = 0 (eta is never
set); the result does not depend on those draws, so none are made here.

Cancellation: ``ddfm_sample(..., cancel=check)`` calls ``check()`` (which raises to stop) before
every step, before the correction, and, through forward pre-hooks registered for the duration of
the call (:func:`engine.cancel_hooks.cancel_between_blocks`), before every block of the network,
so a cancel waits at most one block of one network evaluation instead of a whole step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ..cancel_hooks import cancel_between_blocks
from ..errors import NumericalError, ParameterError
from .schedule import RespacedSchedule, respaced_schedule

#: skimage ``ycbcr_from_rgb`` (rows Y, Cb, Cr) and the studio-range offsets
YCBCR_FROM_RGB = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) -> (B,3,H,W) channels Y, Cb, Cr: ``(A rgb + offset) / 255`` in the input dtype."""
    a = torch.as_tensor(YCBCR_FROM_RGB, dtype=rgb.dtype, device=rgb.device)
    offset = torch.as_tensor(YCBCR_OFFSET, dtype=rgb.dtype, device=rgb.device)
    ycc = torch.einsum("ij,bjhw->bihw", a, rgb) + offset[None, :, None, None]
    return ycc / 255


def ycbcr_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`: ``inv(A) (255 ycc - offset)`` in float64, cast back."""
    a_inv = torch.as_tensor(np.linalg.inv(YCBCR_FROM_RGB), dtype=torch.float64, device=ycc.device)
    offset = torch.as_tensor(YCBCR_OFFSET, dtype=torch.float64, device=ycc.device)
    centred = ycc.double() * 255 - offset[None, :, None, None]
    return torch.einsum("ij,bjhw->bihw", a_inv, centred).to(ycc.dtype)


@dataclass(frozen=True)
class StepInfo:
    """Where a correction happens: iteration ``k`` of ``n``, respaced index ``i``, noise level.

    ``noise_level`` = sqrt((1 - abar_i) / abar_i) = c2: the std of the noise in the x0 estimate's
    source x_t / sqrt(abar_i); large early, 0.01 at the last step of the linear schedule.
    """

    k: int
    n: int
    index: int
    timestep: int
    alpha_bar: float
    alpha_bar_prev: float
    noise_level: float


def step_info(schedule: RespacedSchedule, k: int) -> StepInfo:
    """The :class:`StepInfo` of loop iteration k (respaced index i = N - 1 - k)."""
    n = schedule.num_steps
    i = n - 1 - k
    return StepInfo(
        k=k, n=n, index=i, timestep=int(schedule.timestep_map[i]),
        alpha_bar=float(schedule.alphas_cumprod[i]),
        alpha_bar_prev=float(schedule.alphas_cumprod_prev[i]),
        noise_level=schedule.noise_level(i),
    )


class Corrector(Protocol):
    """Fusion correction of the luminance of x0 (B,1,H,W), state carried between steps."""

    def check_shape(self, height: int, width: int) -> None:
        """Raise :class:`engine.errors.ParameterError` unless it can correct HxW samples."""

    def initial_state(self) -> Any: ...

    def correct(
        self, x0_luma: torch.Tensor, state: Any, info: StepInfo
    ) -> tuple[torch.Tensor, Any]: ...


@dataclass(frozen=True)
class DdimOutput:
    """Result of one step: the next sample x_{t-1} and the (corrected) clean-image estimate."""

    prev_sample: torch.Tensor
    pred_x0: torch.Tensor


def _coef(array: np.ndarray, i: int) -> float:
    """Schedule coefficient rounded to float32, as the reference extracts it."""
    return float(np.float32(array[i]))


def predict_x0(schedule: RespacedSchedule, i: int, x_t: torch.Tensor, eps: torch.Tensor):
    """x0 = c1 x_t - c2 eps."""
    c1 = _coef(schedule.sqrt_recip_alphas_cumprod, i)
    c2 = _coef(schedule.sqrt_recipm1_alphas_cumprod, i)
    return c1 * x_t - c2 * eps


def predict_eps(schedule: RespacedSchedule, i: int, x_t: torch.Tensor, x0: torch.Tensor):
    """eps = (c1 x_t - x0) / c2."""
    c1 = _coef(schedule.sqrt_recip_alphas_cumprod, i)
    c2 = _coef(schedule.sqrt_recipm1_alphas_cumprod, i)
    return (c1 * x_t - x0) / c2


def ddim_step(
    schedule: RespacedSchedule,
    i: int,
    x_t: torch.Tensor,
    model_output: torch.Tensor,
    correct: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> DdimOutput:
    """Equations (1)-(4) of the module docstring; ``model_output[:, :3]`` is eps."""
    eps_model = model_output[:, :3]
    x0 = predict_x0(schedule, i, x_t, eps_model).clamp(-1, 1)  # (1)
    if correct is not None:
        x0 = correct(x0)  # (2)
    eps = predict_eps(schedule, i, x_t, x0)  # (3)
    abar_prev = np.float32(schedule.alphas_cumprod_prev[i])
    prev = x0 * float(np.sqrt(abar_prev)) + float(np.sqrt(np.float32(1) - abar_prev)) * eps  # (4)
    return DdimOutput(prev_sample=prev, pred_x0=x0)


def replace_luma(x0: torch.Tensor, correct_luma: Callable[[torch.Tensor], torch.Tensor]):
    """x0 -> YCbCr, Y <- correct_luma(Y), back to RGB (no clipping)."""
    ycc = rgb_to_ycbcr(x0)
    luma = correct_luma(ycc[:, :1])
    return ycbcr_to_rgb(torch.cat([luma.to(ycc.dtype), ycc[:, 1:]], dim=1))


def ddfm_step(
    schedule: RespacedSchedule,
    k: int,
    x_t: torch.Tensor,
    model_output: torch.Tensor,
    corrector: Corrector,
    state: Any,
) -> tuple[DdimOutput, Any]:
    """One DDFM iteration k (respaced index N-1-k) given the network output; returns new state."""
    info = step_info(schedule, k)
    box: list[Any] = [state]

    def correct_luma(luma: torch.Tensor) -> torch.Tensor:
        new_luma, box[0] = corrector.correct(luma, box[0], info)
        return new_luma

    out = ddim_step(
        schedule, info.index, x_t, model_output, lambda x0: replace_luma(x0, correct_luma)
    )
    return out, box[0]


def _check_start(x_start: torch.Tensor, corrector: Corrector) -> None:
    if x_start.ndim != 4 or x_start.shape[:2] != (1, 3):
        raise ParameterError(f"x_start must be 1x3xHxW, got {tuple(x_start.shape)}.")
    corrector.check_shape(*x_start.shape[-2:])


def ddfm_sample(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x_start: torch.Tensor,
    corrector: Corrector,
    respacing: str | int = "100",
    progress: Callable[[StepInfo, torch.Tensor], None] | None = None,
    autocast_dtype: torch.dtype | None = None,
    cancel: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run the DDFM loop and return the raw 1x3xHxW sample (the reference ``p_sample_loop``).

    ``x_start`` is x_T (1x3xHxW); ``corrector`` corrects every step's clean-image estimate (for
    the reference DDFM, :class:`engine.em.EmCorrector` with I = MRI, V = US).
    ``progress(info, pred_x0)`` is called after every step and may raise to cancel.
    The network runs under ``torch.autocast(autocast_dtype)`` when given; its output is cast to
    float32. A non-finite network output raises :class:`NumericalError`. ``cancel()`` is called
    before every step, every network block and every correction, and raises to stop.
    """
    _check_start(x_start, corrector)
    schedule = respaced_schedule(respacing)
    check = cancel or (lambda: None)
    state = corrector.initial_state()
    x = x_start
    for k in range(schedule.num_steps):
        check()
        info = step_info(schedule, k)
        t = torch.full((x.shape[0],), info.timestep, dtype=torch.int64, device=x.device)
        if autocast_dtype is None:
            context = contextlib.nullcontext()
        else:
            context = torch.autocast(x.device.type, dtype=autocast_dtype)
        with torch.no_grad(), context, cancel_between_blocks(model, cancel):
            model_output = model(x, t)
        check()
        model_output = model_output.float()
        if not bool(torch.isfinite(model_output).all()):
            raise NumericalError(
                f"The diffusion network produced NaN/inf at step {k + 1} of {schedule.num_steps}; "
                "the fusion was stopped (try without reduced precision or another checkpoint)."
            )
        with torch.no_grad():
            out, state = ddfm_step(schedule, k, x, model_output, corrector, state)
        x = out.prev_sample
        if progress is not None:
            progress(info, out.pred_x0)
    return x
