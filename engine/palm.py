"""PALM fusion of a low-resolution MRI and a despeckled US image.

El Mansouri et al., IEEE Transactions on Image Processing 29 (2020) 5324-5335.

Model. MRI ``y_m = S H x_m + n`` (H: 5x5 Gaussian blur, sigma 4, circular; S: keep every d-th
pixel), US in the log domain ``y_u = x_u + log-Rayleigh speckle``, tied by the polynomial link
``x_u ~ f(x_m, |grad x_m|)`` (:class:`~engine.operators.PolynomialLink`). PALM alternates:

MRI update (closed form in Fourier, Zhao et al., IEEE TIP 2016). With the linearised target
``X = x1 - 4 f'(x1; g_yint) (x2 - f(x1, |grad x1|))`` it solves

    (w_d H^T S^T S H + tau Q) x = H^T S^T y_m + 2 tau1 X,     Q = D^T D + 1e-8 + 100 tau1 / tau

where D are periodic first differences. ``S^T S`` is, in Fourier, 1/d^2 times the sum over the
d x d aliasing blocks, so by the Woodbury identity (U^H: block sum, U: tiling)

    x_hat = (1/tau) Q^-1 [ r_hat - conj(B) U ( U^H(B r_hat / Q) / (kappa + U^H(|B|^2 / Q)) ) ]

with ``kappa = tau d^2`` and ``w_d = 1`` (exact). The reference code uses ``kappa = 4 tau``, which
is exact only for d = 2 and otherwise solves the system with ``w_d = d^2 / 4``.

US update (gradient descent with fixed step alpha from ``x = xu0 + 1e-8``):

    x <- x - alpha [ tau2 (gamma - exp(xu0 - x)) + tau3 L x + (tau4 / 2)(x - X_u) ]
    X_u = 4 f(x1) - 3 x2_prev        (constant during the descent)

The reference code (``variant="reference"``) runs the descent on the column-major vector of the
image: L is the 1-D second difference along that vector and f(x1) uses the "gradient"
sqrt(v_k^2 + (v_k - v_{k+1})^2) of the vector, both running across column boundaries; the loop
stops after 101 steps or when the step norm drops below 1e-2 (its gradient-norm test never acts,
since the norm is never updated). We follow the code where its gradient and its stated objective
disagree (data term derivative of sum(exp(y - x) - gamma (y - x)), coupling weight tau4/2): that
code produced the published figures.

``variant="corrected"`` fixes three defects: kappa = tau d^2 (exact Woodbury), the US update on the
2-D image (2-D link gradient, L = Dx^T Dx + Dy^T Dy over neighbouring pixels, i.e. the 1-D
``dtd`` of the reference along rows and columns instead of along the column-major vector), and a
stop rule whose gradient norm is really updated. Both variants upsample with factor d (the original
hard-codes 6).

An optional prior pull ``(rho / 2) ||x_u - anchor||^2`` in the US update (gradient
``rho (x - anchor)``, descent started at the anchor) turns a PALM iteration into the data step of
the DDFM-PALM sampler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import NumericalError, ParameterError
from .operators import (
    CircularBlur,
    Decimation,
    PolynomialLink,
    difference_spectrum,
    gradient_magnitude,
    neumann_laplacian,
)
from .palm_link import CancelCheck, column_major
from .params import param
from .progress import CancelToken, ProgressCallback, ProgressReporter
from .resample import imresize_bicubic
from .scan import size_text

VARIANTS = ("reference", "corrected")
#: offset added to the US start value and to the difference spectrum in the reference code
EPSILON = 1e-8


@dataclass(frozen=True)
class PalmParams:
    """Hyper-parameters of PALM; defaults are those of the reference ``Demo.m`` (Data1)."""

    tau1: float = param(1e-12, "Weight of the US link in the MRI update.", 0.0, 1e3, log_scale=True)
    tau2: float = param(1e-15, "Weight of the US speckle (log-Rayleigh) data term.", 0.0, 1e3,
                        log_scale=True)
    tau3: float = param(1e-4, "Weight of the US smoothness term.", 0.0, 1e3, log_scale=True)
    tau4: float = param(2e-4, "Weight of the MRI link in the US update.", 0.0, 1e3, log_scale=True)
    d: int = param(6, "Scale factor between the MRI and US grids.", 1, 32)
    iterations: int = param(10, "Number of outer PALM iterations.", 1, 500)
    step: float = param(0.2, "Step of the US gradient descent.", 1e-6, 10.0)
    gamma: float = param(1e-3, "Speckle shape constant of the data term.", 0.0, 10.0)
    variant: str = param("reference", "reference: as the original code; corrected: defects fixed.",
                         choices=VARIANTS)
    inner_iterations: int = param(101, "Maximum steps of each US descent.", 1, 10000)
    mri_smoothness: float = param(1.0, "Weight tau of the MRI smoothness term.", 1e-12, 1e6,
                                  log_scale=True)
    min_step_norm: float = param(1e-2, "The US descent stops when a step is shorter than this.",
                                 0.0, 1e3)
    gradient_tol: float = param(1e-6, "The US descent stops when the gradient norm is below this "
                                "(corrected variant only).", 0.0, 1e3)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ParameterError(f"PALM variant must be one of {', '.join(VARIANTS)}.")
        if int(self.d) < 1:
            raise ParameterError("The scale factor d must be a whole number of at least 1.")


@dataclass(frozen=True)
class PriorPull:
    """An extra term (rho / 2) ||x_u - anchor||^2 in the US update (DDFM-PALM data step)."""

    anchor: torch.Tensor
    rho: float


@dataclass(frozen=True)
class PalmProblem:
    """Everything that stays fixed over the PALM iterations, computed once."""

    params: PalmParams
    y_m: torch.Tensor  # (h, w) low-resolution MRI
    xu0: torch.Tensor  # (H, W) despeckled US: the observation of the US data term
    xu0_vector: torch.Tensor  # xu0 flattened in column-major order (reference descent)
    link: PolynomialLink
    blur: CircularBlur
    yint: torch.Tensor  # bicubic-upsampled MRI, start of x1
    grad_yint: torch.Tensor  # |grad yint|, used in the linearised MRI target
    rhs_data_hat: torch.Tensor  # conj(B) F(S^T y_m)
    otf_over_q: torch.Tensor  # B / Q
    otf_conj_over_q_tau: torch.Tensor  # conj(B) / (tau Q)
    inv_q_tau: torch.Tensor  # 1 / (tau Q)
    link_slope: tuple[torch.Tensor, ...]  # images A_k with f'(x; g_yint) = sum_k A_k x^k
    q: torch.Tensor  # Q = D^T D + 1e-8 + 100 tau1/tau in Fourier
    inv_w: torch.Tensor  # U^H(|B|^2 / Q), (h, w)
    inv_denominator: torch.Tensor  # 1 / (U^H(|B|^2 / Q) + kappa)
    kappa: float  # 4 tau (reference) or d^2 tau (corrected)

    @property
    def d(self) -> int:
        return self.params.d


@dataclass(frozen=True)
class PalmState:
    """The PALM iterate: MRI and US estimates on the US grid."""

    x_mri: torch.Tensor
    x_us: torch.Tensor
    iteration: int = 0
    inner_steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class PalmResult:
    """Result of :func:`palm_fuse` as float64 numpy arrays on the US grid."""

    x_us: np.ndarray
    x_mri: np.ndarray
    inner_steps: tuple[int, ...] = field(default=())
    iterations: int = 0


def _as_tensor(array, device, dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64), device=device).to(dtype)


def block_sum(z: torch.Tensor, d: int) -> torch.Tensor:
    """U^H: sum of the d x d tiles of size (H/d, W/d) of a (H, W) array."""
    h, w = z.shape[-2] // d, z.shape[-1] // d
    return z.reshape(d, h, d, w).sum(dim=(0, 2))


def make_problem(
    y_m, xu0, c, params: PalmParams, device=None, dtype=torch.float64
) -> PalmProblem:
    """Precompute the loop invariants of PALM for a given pair and link coefficients."""
    d = int(params.d)
    y_m_np = np.asarray(y_m, dtype=np.float64)
    xu0_np = np.asarray(xu0, dtype=np.float64)
    if xu0_np.shape != (y_m_np.shape[0] * d, y_m_np.shape[1] * d):
        raise ParameterError(
            f"The US image ({size_text(xu0_np.shape)}) must be d = {d} times the MRI "
            f"({size_text(y_m_np.shape)})."
        )
    device = torch.device("cpu") if device is None else torch.device(device)
    shape = xu0_np.shape
    tau, tau1 = params.mri_smoothness, params.tau1
    blur = CircularBlur.gaussian(shape, device=device, dtype=dtype)
    y_m_t = _as_tensor(y_m_np, device, dtype)
    xu0_t = _as_tensor(xu0_np, device, dtype)
    yint = _as_tensor(imresize_bicubic(y_m_np, d), device, dtype)
    q = _as_tensor(difference_spectrum(shape, EPSILON) + 100 * tau1 / tau, device, dtype)
    link = PolynomialLink(c)
    grad_yint = gradient_magnitude(yint)
    zero_filled = Decimation(d).A_adjoint(y_m_t)
    inv_w = block_sum(blur.otf_abs2 / q, d)
    kappa = tau * (4 if params.variant == "reference" else d * d)
    return PalmProblem(
        params=params,
        y_m=y_m_t,
        xu0=xu0_t,
        xu0_vector=column_major(xu0_t),
        link=link,
        blur=blur,
        yint=yint,
        grad_yint=grad_yint,
        link_slope=link.slope_coefficients(grad_yint),
        rhs_data_hat=blur.otf_conj * torch.fft.fft2(zero_filled),
        q=q,
        inv_w=inv_w,
        inv_denominator=1 / (inv_w + kappa),
        otf_over_q=blur.otf / q,
        otf_conj_over_q_tau=blur.otf_conj / (q * tau),
        inv_q_tau=1 / (q * tau),
        kappa=kappa,
    )


def mri_update(state: PalmState, problem: PalmProblem) -> torch.Tensor:
    """Closed-form MRI step (see module docstring); returns the new x1 on the US grid."""
    from . import palm_kernels

    p, link = problem.params, problem.link
    x1k, x2 = state.x_mri, state.x_us
    if palm_kernels.applies(x1k, x2):  # fused passes and real FFTs
        weighted_target = palm_kernels.mri_target(x1k, x2, problem.link_slope, link.c, p.tau1)
        return palm_kernels.mri_solve(weighted_target, problem)
    slope = PolynomialLink.horner_images(x1k, problem.link_slope)  # f'(x1k; g_yint), hoisted
    # 2 tau1 X = 2 tau1 x1k - 8 tau1 f'(x1k) (x2 - f(x1k)), built in place
    weighted_target = torch.sub(x2, link.of_image(x1k)).mul_(slope)
    weighted_target.mul_(-8 * p.tau1).add_(x1k, alpha=2 * p.tau1)
    r_hat = torch.fft.fft2(weighted_target).add_(problem.rhs_data_hat)
    correction = block_sum(problem.otf_over_q * r_hat, p.d).mul_(problem.inv_denominator)
    x_hat = r_hat.mul_(problem.inv_q_tau).sub_(
        problem.otf_conj_over_q_tau * correction.repeat(p.d, p.d)
    )
    return torch.fft.ifft2(x_hat).real


def _vector_link(link: PolynomialLink, v: torch.Tensor) -> torch.Tensor:
    """f on a column vector as the reference evaluates it: g_k = sqrt(v_k^2 + (v_k - v_{k+1})^2)."""
    dv = v.clone()
    dv[:-1] -= v[1:]
    return link.value(v, torch.sqrt(v * v + dv * dv))


def _from_column_major(vector: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    return vector.reshape(shape[1], shape[0]).t().contiguous()


#: the cancel hook is called every this many descent steps
CANCEL_CHECK_EVERY = 10



@dataclass(frozen=True)
class DescentStart:
    """What a US descent starts from: the new MRI x1, the previous US x2, an optional pull
    toward an anchor (diffusion), and the cancel hook called every ``CANCEL_CHECK_EVERY`` steps."""

    x1: torch.Tensor
    x2_prev: torch.Tensor
    prior: PriorPull | None = None
    check_cancel: CancelCheck | None = None


def us_descent_reference(start: DescentStart, problem: PalmProblem) -> tuple[torch.Tensor, int]:
    """Reference US update on the column-major vector; returns (x2, steps taken).

    One step of the reference, x <- x - alpha g, reads
        delta = b + alpha tau2 exp(y - x) - S x,    x <- x + delta,
        S x = a0 x - a1 (x_{k-1} + x_{k+1}) - a1 [x_1, x_N at the two ends],
        a0 = 2 alpha tau3 + alpha tau4 / 2 + alpha rho,   a1 = alpha tau3,
        b  = alpha (tau4 / 2) X_u - alpha tau2 gamma + alpha rho anchor.
    We iterate on z = y - x instead: exp(y - x) = exp(z) needs no subtraction, and
    S x = S y - S z with S y computed once, so
        delta = b' + alpha tau2 exp(z) + S z,   b' = b - S y,   z <- z - delta,
    which saves one pass over the image per step; x = y - z at the end. The step norm |delta|
    is the reference's stop test.
    """
    from . import palm_kernels

    x1, x2_prev, prior, check_cancel = start.x1, start.x2_prev, start.prior, start.check_cancel
    p = problem.params
    shape = tuple(x1.shape)
    alpha = p.step
    rho = 0.0 if prior is None else prior.rho
    y = problem.xu0_vector
    anchor = None if prior is None else column_major(prior.anchor)
    a0 = 2 * alpha * p.tau3 + alpha * p.tau4 / 2 + alpha * rho
    a1 = alpha * p.tau3
    fused = palm_kernels.applies(x1, x2_prev, y)
    if fused:  # b' in one pass, reading the images in column-major order
        b = palm_kernels.descent_offset(
            x1, x2_prev, y, anchor, problem.link.c, alpha * p.tau4 / 2,
            -alpha * p.tau2 * p.gamma, alpha * rho, a0, a1,
        )
    else:
        target = 4 * _vector_link(problem.link, column_major(x1)) - 3 * column_major(x2_prev)
        b = (alpha * p.tau4 / 2) * target - alpha * p.tau2 * p.gamma
        if anchor is not None:
            b = b + (alpha * rho) * anchor
        b.sub_(_tridiagonal(y, a0, a1))  # b' = b - S y
    z = torch.full_like(y, -EPSILON) if anchor is None else y - anchor
    steps = 0
    if fused:  # one fused pass per step while the speckle term is negligible
        steps, finished = palm_kernels.descend_speckle_free(
            z, b, a0, a1, alpha * p.tau2, p.inner_iterations, p.min_step_norm, check_cancel,
            CANCEL_CHECK_EVERY,
        )
        if finished:
            return palm_kernels.image_of_difference(y, z, shape), steps
    delta = torch.empty_like(z)
    # views made once: neighbours k-1 / k+1, and the two end points (stride N - 1)
    delta_hi, delta_lo, z_lo, z_hi = delta[1:], delta[:-1], z[:-1], z[1:]
    last = max(z.numel() - 1, 1)
    delta_ends, z_ends = delta[::last], z[::last]
    while steps < p.inner_iterations:
        if check_cancel is not None and steps % CANCEL_CHECK_EVERY == 0:
            check_cancel()
        torch.exp(z, out=delta)
        torch.add(b, delta, alpha=alpha * p.tau2, out=delta)
        delta.add_(z, alpha=a0)
        delta_hi.add_(z_lo, alpha=-a1)
        delta_lo.add_(z_hi, alpha=-a1)
        delta_ends.add_(z_ends, alpha=-a1)
        z.sub_(delta)
        steps += 1
        if float(torch.dot(delta, delta)) < p.min_step_norm**2:
            break
    return _from_column_major(y - z, shape), steps


def _tridiagonal(v: torch.Tensor, a0: float, a1: float) -> torch.Tensor:
    """S v = a0 v - a1 (v_{k-1} + v_{k+1}) - a1 [v_1, v_N at the ends] (see the descent)."""
    out = a0 * v
    out[1:] -= a1 * v[:-1]
    out[:-1] -= a1 * v[1:]
    out[0] -= a1 * v[0]
    out[-1] -= a1 * v[-1]
    return out


def us_descent_corrected(start: DescentStart, problem: PalmProblem) -> tuple[torch.Tensor, int]:
    """Corrected US update on the 2-D image, gradient norm updated every step."""
    x1, x2_prev, prior, check_cancel = start.x1, start.x2_prev, start.prior, start.check_cancel
    p = problem.params
    alpha = p.step
    y = problem.xu0
    target = 4 * problem.link.of_image(x1) - 3 * x2_prev
    x = y + EPSILON if prior is None else prior.anchor.clone()
    steps = 0
    while steps < p.inner_iterations:
        if check_cancel is not None and steps % CANCEL_CHECK_EVERY == 0:
            check_cancel()
        grad = (
            p.tau2 * (p.gamma - torch.exp(y - x))
            + p.tau3 * neumann_laplacian(x)
            + (p.tau4 / 2) * (x - target)
        )
        if prior is not None:
            grad += prior.rho * (x - prior.anchor)
        grad_norm = float(torch.linalg.vector_norm(grad))
        if grad_norm < p.gradient_tol:
            break
        x = x - alpha * grad
        steps += 1
        if alpha * grad_norm < p.min_step_norm:
            break
    return x, steps


def palm_step(
    state: PalmState,
    problem: PalmProblem,
    prior: PriorPull | None = None,
    check_cancel: CancelCheck | None = None,
) -> PalmState:
    """One outer PALM iteration: x1 from (x1, x2), then x2 by the descent from (new x1, x2).

    ``check_cancel`` (e.g. :meth:`ProgressReporter.check_cancel`) is called inside the descent
    so that a cancel takes effect within a fraction of an iteration.
    """
    x1 = mri_update(state, problem)
    reference = problem.params.variant == "reference"
    descent = us_descent_reference if reference else us_descent_corrected
    x2, steps = descent(DescentStart(x1, state.x_us, prior, check_cancel), problem)
    if not bool(torch.isfinite(x2).all()) or not bool(torch.isfinite(x1).all()):
        raise NumericalError(
            "PALM diverged (non-finite values); lower the step or the tau weights."
        )
    return PalmState(x1, x2, state.iteration + 1, state.inner_steps + (steps,))


def initial_state(problem: PalmProblem) -> PalmState:
    """x1 = bicubic MRI, x2 = xu0 + 1e-8 (reference start)."""
    return PalmState(problem.yint.clone(), problem.xu0 + EPSILON)


def palm_fuse(
    ym,
    xu0,
    c,
    params: PalmParams = PalmParams(),
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    device=None,
    dtype=torch.float64,
    on_iteration: Callable[[PalmState], None] | None = None,
    reporter: ProgressReporter | None = None,
) -> PalmResult:
    """Run ``params.iterations`` PALM iterations; progress/cancel every outer iteration.

    ``ym``: max-normalised low-resolution MRI (h, w); ``xu0``: despeckled max-normalised US
    (h d, w d); ``c``: the 15 link coefficients (the reference uses |estimate_link(...)|).
    """
    problem = make_problem(ym, xu0, c, params, device=device, dtype=dtype)
    reporter = reporter or ProgressReporter(progress, cancel)
    state = initial_state(problem)
    reporter.check_cancel()
    for i in range(params.iterations):
        state = palm_step(state, problem, check_cancel=reporter.check_cancel)
        if on_iteration is not None:
            on_iteration(state)
        reporter.step(i + 1, params.iterations, f"PALM iteration {i + 1}/{params.iterations}",
                      state.x_us.detach().cpu().numpy())
    return PalmResult(
        x_us=state.x_us.detach().cpu().to(torch.float64).numpy(),
        x_mri=state.x_mri.detach().cpu().to(torch.float64).numpy(),
        inner_steps=state.inner_steps,
        iterations=state.iteration,
    )
