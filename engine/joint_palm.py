"""Joint PALM: MRI super-resolution and US restoration tied by a refitted link (the product path).

The model of El Mansouri et al. (IEEE TIP 29, 2020) with the defects of the original code
removed (:mod:`engine.palm` keeps them in its ``reference`` variant for the golden test). On a
mirror-padded grid (:class:`~engine.superres.PaddedGrid`), with y_m the MRI (max-normalised),
u the despeckled US (max-normalised) and f(x) = a + b x + c |grad x| the link:

    Phi(x1, x2) = 1/2 ||S H x1 - y_m||^2 + lam R(x1)
                + (w/2) ||x2 - f(x1)||^2 + w eta sum(exp(u - x2) + x2 - u)

* H: Gaussian PSF of std ``psf_sigma`` with a +-2 sigma support (the simulators' 17x17 kernel
  at sigma 4), S: keep every d-th pixel.
* R: total variation (``prior="tv"``) or (1/2)||D x1||^2 (``prior="tikhonov"``).
* The US data term is the log-Rayleigh term of the paper with gamma = 1: its minimum is x2 = u,
  where a despeckled observation should put it (gamma = 1e-3 of the original biased x2 by
  -log gamma).
* Weights are relative to the noise levels estimated from the images
  (:func:`~engine.superres.estimate_noise_std`): w = beta sigma_m^2 / sigma_u^2,
  lam = rho sigma_m^2 (x 10 for TV, x 100 for Tikhonov), so the same defaults serve images of
  any units.

One PALM iteration (state in, state out, :func:`joint_step`):

1. link refit at the MRI's resolution: (a, b, c) by least squares of H u on
   (1, H x1, H |grad x1|) over the field (H: the MRI's PSF). A pointwise fit of u on the
   current x1 is circular where x1's detail came from u itself, and drifted with the
   iterations: c toward 0 when x1 copied the US's edge lines, or up when x1 stayed blurred, so
   the result depended on the iteration count and on the coupling in an erratic way; on the
   band the MRI determines the fit is stable (``bench/quality.py --pairs tune``);
2. MRI step: a proximal-gradient step on the coupling, whose gradient uses the full derivative
   of the link, grad_1 = -w [b r + c J_g^T r], r = x2 - f(x1), J_g^T r = D^T (D x1 r / g),
   with step 1/L, L = w (|b| + sqrt(8) |c|)^2 (a Lipschitz bound of the linear part), then
       x1+ = argmin 1/2||S H x - y_m||^2 + lam R(x) + (L/2)||x - (x1 - grad_1 / L)||^2
   solved exactly in Fourier (Tikhonov) or by warm-started ADMM iterations (TV);
3. US step, exact and separable per pixel (Newton, convex):
       x2+ = argmin eta (exp(u - x2) + x2) + 1/2 (x2 - f(x1+))^2 + (rho_p / 2w) (x2 - anchor)^2
   (the last term only in the diffusion data step, :class:`PriorPull`).

The iteration moves toward lower coupling energy (the original's linearised target moved up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .errors import NumericalError
from .fusion_params import JointWeights
from .operators import forward_differences, forward_differences_adjoint
from .progress import ProgressReporter
from .superres import (
    NormalSystem,
    PaddedGrid,
    TvSplit,
    estimate_noise_std,
    periodic_gradient,
    tikhonov_restore,
    tv_restore,
)

#: smoothing of |grad x| where the gradient vanishes (image units of the max-normalised MRI)
GRADIENT_EPSILON = 1e-3
#: Newton steps of the separable US update, warm-started at the previous x2 (quadratic
#: convergence: from x2 = u, 3 steps are within 1.4e-11 of 8 on the demo phantom)
NEWTON_STEPS = 3
#: power iterations of the Lipschitz estimate
POWER_ITERATIONS = 8
#: scale of the relative regularisation weights (so that the defaults read as 1)
TV_SCALE, TIKHONOV_SCALE = 10.0, 100.0


@dataclass(frozen=True)
class JointProblem:
    """Fixed data of one fusion on the padded grid, and the absolute weights."""

    weights: JointWeights
    grid: PaddedGrid
    system: NormalSystem
    y_m: torch.Tensor  # padded low-resolution MRI
    u: torch.Tensor  # padded despeckled US
    u_low: torch.Tensor  # H u: the despeckled US at the MRI's resolution (the link's target)
    w: float  # coupling weight
    lam: float  # prior weight
    sigma_m: float
    sigma_u: float

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        return self.grid.crop_high(image)


@dataclass(frozen=True)
class LinkFit:
    """f(x) = a + b x + c |grad x|."""

    a: float
    b: float
    c: float

    def __call__(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.a + self.b * x + self.c * g


@dataclass(frozen=True)
class MriFeatures:
    """What an iteration reads of an MRI estimate x, computed once per estimate."""

    gradient: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (|grad x|, Jx, Jy)
    blurred: torch.Tensor  # H x


def mri_features(problem: JointProblem, x: torch.Tensor) -> MriFeatures:
    return MriFeatures(_gradient(x), problem.system.blur(x))


@dataclass(frozen=True)
class JointState:
    """The iterate on the padded grid."""

    x_mri: torch.Tensor
    x_us: torch.Tensor
    link: LinkFit
    split: TvSplit | None = None  # TV ADMM state, carried for warm starts
    iteration: int = 0
    step_factor: float = 1.0  # MRI step = step_factor / L, halved whenever Phi rises
    energy: float = float("inf")
    features: MriFeatures | None = None  # of x_mri, when known


@dataclass(frozen=True)
class PriorPull:
    """(rho / 2) ||x2 - anchor||^2 added to the US step (the DDFM-PALM data step)."""

    anchor: torch.Tensor  # on the padded grid
    rho: float


def make_joint_problem(y_m, u, d: int, weights: JointWeights, y_u_raw=None, device=None,
                       dtype=torch.float64) -> JointProblem:
    """Pad, build the Fourier system and set the absolute weights from the noise levels.

    ``y_u_raw`` (the US before despeckling) gives the US noise level; without it the despeckled
    image's own level is used.
    """
    y_m = np.asarray(y_m, dtype=np.float64)
    grid = PaddedGrid.for_psf(int(d), weights.psf_sigma, y_m.shape)
    u = np.asarray(u, dtype=np.float64)
    sigma_m = max(estimate_noise_std(y_m), 1e-6)
    sigma_u = max(estimate_noise_std(u if y_u_raw is None else y_u_raw), 1e-6)
    padded_u = torch.as_tensor(grid.high(u), dtype=dtype, device=device)
    system = NormalSystem(tuple(padded_u.shape), int(d), weights.psf_sigma, device, dtype)
    scale = TV_SCALE if weights.prior == "tv" else TIKHONOV_SCALE
    return JointProblem(
        weights=weights, grid=grid, system=system,
        y_m=torch.as_tensor(grid.low(y_m), dtype=dtype, device=device), u=padded_u,
        u_low=system.blur(padded_u),
        w=weights.coupling * sigma_m**2 / sigma_u**2,
        lam=weights.mri_regularisation * scale * sigma_m**2,
        sigma_m=sigma_m, sigma_u=sigma_u,
    )


def _gradient(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(g, Jx, Jy): smoothed |grad x| with the zero-padded forward differences."""
    jx, jy = forward_differences(x)
    return torch.sqrt(jx * jx + jy * jy + GRADIENT_EPSILON**2), jx, jy


def fit_link(problem: JointProblem, x: torch.Tensor, features: MriFeatures | None = None
             ) -> LinkFit:
    """Least squares of H u on (1, H x, H |grad x|) over the unpadded field (``features``: those
    of x if known), by its 3x3 normal equations A^T A c = A^T H u (float64; columns of order
    one).

    H is linear, so an exact link u = a + b x + c |grad x| is recovered exactly; what H removes
    is the detail that the fusion itself gives x (see step 1 of the module docstring). The
    interface term is an echo, c >= 0: a negative least-squares c (seen when a very strong
    coupling has made x copy the US) is replaced by the fit of (a, b) with c = 0.
    """
    features = mri_features(problem, x) if features is None else features
    columns = (torch.ones_like(x), features.blurred, problem.system.blur(features.gradient[0]))
    a_mat = torch.stack([problem.crop(v).reshape(-1) for v in columns])
    target = problem.crop(problem.u_low).reshape(-1)
    gram, rhs = (a_mat @ a_mat.T).cpu().numpy(), (a_mat @ target).cpu().numpy()
    coef = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    if coef[2] < 0:
        coef = np.append(np.linalg.lstsq(gram[:2, :2], rhs[:2], rcond=None)[0], 0.0)
    return LinkFit(*(float(v) for v in coef))


def mri_only(problem: JointProblem, check_cancel=None) -> torch.Tensor:
    """The restoration of the MRI alone with the same prior (the start of x1)."""
    if problem.weights.prior == "tv":
        start = tikhonov_restore(problem.system, problem.y_m, problem.lam)
        return tv_restore(problem.system, problem.y_m, problem.lam, start,
                          iterations=4 * problem.weights.prior_iterations,
                          check_cancel=check_cancel)[0]
    return tikhonov_restore(problem.system, problem.y_m, problem.lam)


def initial_joint_state(problem: JointProblem, check_cancel=None) -> JointState:
    """x1 = the MRI-only restoration, x2 = u; ``check_cancel`` is called between the solves."""
    x1 = mri_only(problem, check_cancel)
    features = mri_features(problem, x1)
    return JointState(x1, problem.u.clone(), fit_link(problem, x1, features),
                      step_factor=problem.weights.step_factor, features=features)


def link_target(x_mri: torch.Tensor, link: LinkFit) -> torch.Tensor:
    """t = f(x1) = a + b x1 + c |grad x1|: what the coupling pulls the US estimate toward."""
    return link(x_mri, _gradient(x_mri)[0])


def energy(problem: JointProblem, x1: torch.Tensor, x2: torch.Tensor, link: LinkFit,
           target: torch.Tensor | None = None, blurred: torch.Tensor | None = None) -> float:
    """Phi(x1, x2) of the module docstring (periodic differences in the TV / Tikhonov term);
    ``target``: f(x1), ``blurred``: H x1, when already computed."""
    low = problem.system.forward(x1) if blurred is None else problem.system.sample(blurred)
    data = 0.5 * float(torch.sum((low - problem.y_m) ** 2))
    dx = periodic_gradient(x1)
    if problem.weights.prior == "tv":
        prior = problem.lam * float(torch.sum(torch.sqrt(dx[0] ** 2 + dx[1] ** 2)))
    else:
        prior = 0.5 * problem.lam * float(torch.sum(dx**2))
    residual = x2 - (link_target(x1, link) if target is None else target)
    us = float(torch.sum(torch.exp(problem.u - x2) + x2 - problem.u))
    w, eta = problem.w, problem.weights.us_fidelity
    return data + prior + 0.5 * w * float(torch.sum(residual**2)) + w * eta * us


def link_jacobian_norm2(x: torch.Tensor, link: LinkFit, iterations: int = POWER_ITERATIONS
                        ) -> float:
    """||J_f(x)||^2 by power iteration on J_f^T J_f (J_f v = b v + c (Jx Dx v + Jy Dy v) / g).

    The Lipschitz constant of the linearised coupling gradient is w ||J_f||^2; the worst case
    over all images, (|b| + sqrt(8) |c|)^2, is several times larger and slows PALM down.
    """
    g, jx, jy = _gradient(x)
    nx, ny = jx / g, jy / g
    generator = torch.Generator(device="cpu").manual_seed(0)
    v = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    value = 0.0
    for _ in range(iterations):
        v = v / torch.linalg.vector_norm(v)
        dx, dy = forward_differences(v)
        jv = link.b * v + link.c * (nx * dx + ny * dy)
        v = link.b * jv + link.c * forward_differences_adjoint(nx * jv, ny * jv)
        value = float(torch.linalg.vector_norm(v))
    return value


def mri_step(state: JointState, problem: JointProblem, link: LinkFit, check_cancel=None,
             gradient: tuple[torch.Tensor, ...] | None = None
             ) -> tuple[torch.Tensor, TvSplit | None]:
    """Proximal-gradient step on x1 (step 2 of the module docstring); ``gradient``: the
    (g, Jx, Jy) of ``state.x_mri`` when already computed."""
    x1 = state.x_mri
    g, jx, jy = _gradient(x1) if gradient is None else gradient
    r = state.x_us - link(x1, g)
    grad = (link.b * r + link.c * forward_differences_adjoint(jx * r / g, jy * r / g))
    grad.mul_(-problem.w)
    bound = problem.w * (abs(link.b) + np.sqrt(8.0) * abs(link.c)) ** 2
    lipschitz = max(bound / state.step_factor, 1e-12)
    target = x1 - grad / lipschitz
    if problem.weights.prior == "tv":
        return tv_restore(problem.system, problem.y_m, problem.lam, x1, pull=lipschitz,
                          target=target, iterations=problem.weights.prior_iterations,
                          split=state.split, check_cancel=check_cancel)
    return tikhonov_restore(problem.system, problem.y_m, problem.lam, lipschitz, target), None


def us_step(target: torch.Tensor, problem: JointProblem, start: torch.Tensor,
            prior: PriorPull | None = None) -> torch.Tensor:
    """Exact per-pixel US step (step 3): Newton on a strictly convex 1-D objective.

    With e = exp(u - x): gradient eta (1 - e) + (x - t) + p (x - anchor), curvature
    eta e + 1 + p, where t = f(x1) and p = rho / w.
    """
    eta = problem.weights.us_fidelity
    p = 0.0 if prior is None else prior.rho / problem.w
    x = start.clone()
    e, gradient = torch.empty_like(x), torch.empty_like(x)
    for _ in range(NEWTON_STEPS):  # in place: three images of memory traffic fewer per step
        torch.exp(torch.sub(problem.u, x, out=e), out=e)
        torch.sub(x, target, out=gradient).add_(e, alpha=-eta).add_(eta)
        if prior is not None:
            gradient.add_(x - prior.anchor, alpha=p)
        x.sub_(gradient.div_(e.mul_(eta).add_(1 + p)))  # curvature eta e + 1 + p
    return x


def joint_step(state: JointState, problem: JointProblem, prior: PriorPull | None = None,
               check_cancel=None) -> JointState:
    """One PALM iteration: link refit, MRI step, US step.

    The MRI step is ``step_factor`` times the Lipschitz step 1/L; when Phi rises, the factor of
    the following iterations is halved (down to 1, the step PALM's convergence proof takes).
    """
    features = state.features or mri_features(problem, state.x_mri)
    link = fit_link(problem, state.x_mri, features)
    x1, split = mri_step(state, problem, link, check_cancel, features.gradient)
    new_features = mri_features(problem, x1)
    target = link(x1, new_features.gradient[0])
    x2 = us_step(target, problem, state.x_us, prior)
    factor, value = state.step_factor, state.energy
    if prior is None:  # Phi is a sum over every pixel of x1 and x2: finite iff they are
        value = energy(problem, x1, x2, link, target, new_features.blurred)
        finite = np.isfinite(value)
        if value > state.energy:
            factor = max(1.0, factor / 2)
    else:
        finite = bool(torch.isfinite(x1).all()) and bool(torch.isfinite(x2).all())
    if not finite:
        raise NumericalError("The joint PALM fusion diverged (non-finite values); lower the "
                             "coupling weight.")
    return JointState(x1, x2, link, split, state.iteration + 1, factor, value, new_features)


@dataclass(frozen=True)
class JointResult:
    """MRI-contrast and US-appearance images on the US grid (max-normalised units)."""

    x_mri: np.ndarray
    x_us: np.ndarray
    mri_only: np.ndarray
    link: LinkFit
    iterations: int


def joint_fuse(y_m, u, d: int, weights: JointWeights | None = None, y_u_raw=None,
               reporter: ProgressReporter | None = None, device=None,
               on_iteration: Callable[[JointState], None] | None = None) -> JointResult:
    """Run ``weights.iterations`` joint PALM iterations; progress, preview (the cropped MRI
    estimate) and a cancel check every iteration."""
    reporter = reporter or ProgressReporter()
    weights = weights or JointWeights()
    n = weights.iterations
    reporter.step(0, n, "Joint PALM: restoring the MRI alone (the start)")
    problem = make_joint_problem(y_m, u, d, weights, y_u_raw, device)
    reporter.check_cancel()
    state = initial_joint_state(problem, reporter.check_cancel)
    start = state.x_mri

    def out(image: torch.Tensor) -> np.ndarray:  # a compact copy: a view would keep the padding
        return np.array(problem.crop(image).detach().cpu().double().numpy())

    for i in range(n):
        reporter.check_cancel()
        state = joint_step(state, problem, check_cancel=reporter.check_cancel)
        if on_iteration is not None:
            on_iteration(state)
        reporter.step(i + 1, n, f"PALM iteration {i + 1}/{n}", out(state.x_mri))
    return JointResult(out(state.x_mri), out(state.x_us), out(start), state.link, state.iteration)


