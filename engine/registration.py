"""Automatic multimodal registration of the MRI onto the ultrasound (SimpleITK).

The US region of interest is the fixed image, the MRI the moving one, both in millimetres with
the placement of :mod:`engine.geometry` (the MRI centred on the region, then the manual pose
``T0``). We look for the transform ``T`` (US mm -> MRI mm) that best matches the features of
:mod:`engine.registration_features`, in three stages, each a regular-step gradient descent
(:mod:`engine.registration_sitk`; largest step ``max_step_px`` US pixels, at most 1/60 of the
region's side):

1. **rigid**, on the edges (Mattes mutual information of the gradient magnitudes, over the pyramid
   ``shrink``/``sigmas``): ``T = T0 o R`` with ``R`` an Euler 2-D transform (angle, translation)
   about the centre of the region;
2. **affine**, on the edges: ``T = A`` a full 2-D affine started from stage 1;

   stages 1-2 run again with ``R`` started at each angle of ``restart_angles_deg``; such a run
   replaces the first only when its edge metric is better by more than ``restart_gain`` of it
   (another basin: on Data1 a plain start lost a 6-degree move by 19 US pixels);
3. **refine**, on the link (normalised correlation of the smoothed US with the MRI's pseudo-US,
   fitted at the pose of stage 2), affine, at full resolution with steps of ``refine_step_px``.

The metric is

    MI(T) = sum_{a,b} p(a, b; T) log( p(a, b; T) / (p_U(a) p_M(b; T)) )

(Parzen-window histograms of ``bins`` bins) over a regular grid of the US samples inside the
region less ``margin`` of its side on each side (samples that a moved MRI leaves uncovered would
otherwise bias it) whose MRI point falls on the MRI's valid area (``mri_mask`` of
:func:`register`; by default its whole grid). The scale of an affine result is bounded
(:func:`bound_scale`: the singular values of its change from ``T0`` within ``scale_bounds``), and
a stage is kept only when it does not make its own metric worse.

Why SimpleITK: it is the maintained, wheel-installable (no compiler) Python interface of ITK, whose
``ImageRegistrationMethod`` provides exactly these metrics, transforms, optimiser and pyramid, with
iteration events that we turn into progress reports and cancel points
(:class:`~engine.progress.ProgressReporter`); ITK-elastix would need parameter-map text files and
offers no cancel.

The run is judged against its start: when the edge metric after the edge stages (the refine is
judged by its own metric, which may trade a little edge MI for a better link) is worse than that
of the starting pose (by more than :data:`WORSE_TOLERANCE`), or the result is not safely
invertible, :class:`~engine.errors.RegistrationError` says so and the caller keeps the previous
pose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import RegistrationError
from .geometry.transform import AffineTransform2D, check_invertible
from .pairing import PairingOptions, plan_pair
from .progress import ProgressReporter
from .registration_features import FeatureFrame
from .registration_sitk import Schedule, StageRunner, from_sitk, metric_value, to_sitk
from .scan import Scan

#: the largest step is at most this fraction of the region's side (small images take small steps)
FIELD_PER_MAX_STEP = 60
#: a result whose metric is worse than the start's by more than this fraction has diverged
WORSE_TOLERANCE = 0.02


@dataclass(frozen=True)
class RegistrationSettings:
    """Features, pyramid and optimiser settings of the three stages (see module docstring)."""

    bins: int = 32
    #: fraction of the US feature pixels sampled, per pyramid level
    sampling: tuple[float, ...] = (0.25, 0.5, 1.0)
    shrink: tuple[int, ...] = (4, 2, 1)
    sigmas: tuple[float, ...] = (2.0, 1.0, 0.5)
    rigid_iterations: int = 100
    affine_iterations: int = 100
    refine_iterations: int = 100
    #: largest and smallest optimiser step, in US pixels of shift
    max_step_px: float = 10.0
    min_step_px: float = 0.05
    #: largest and smallest step of the refine stage, in US pixels of shift (it starts close,
    #: and stops only where the link's correlation is flat to a hundredth of a pixel)
    refine_step_px: float = 2.0
    refine_min_step_px: float = 0.01
    #: the step shrinks by this factor each time the gradient turns back
    relaxation: float = 0.8
    seed: int = 1
    #: the edge stages start again from the start pose turned by each of these angles (degrees);
    #: such a result replaces that of the start pose only when its edge metric is better by more
    #: than ``restart_gain`` of it (the edge stages stop a few pixels apart along directions where
    #: the metric is flat, so that smaller gains are noise, not another basin)
    restart_angles_deg: tuple[float, ...] = (-4.0, 4.0)
    restart_gain: float = 0.01
    #: SimpleITK threads during the run (process-wide while it lasts, restored after): with more
    #: than one, ITK's metric sums in a varying order and two runs of one pair can differ
    threads: int = 1
    #: Gaussian scale of the US gradient (edges), in US pixels: it also tames the speckle
    us_edge_px: float = 4.0
    #: Gaussian smoothing of the US for the link stage, in US pixels
    us_link_px: float = 4.0
    #: Gaussian scale of the MRI smoothing and gradient, in MRI pixels
    mri_sigma_px: float = 1.0
    #: the edge and link stages sample every so many US pixels
    edge_step_px: int = 5
    link_step_px: int = 3
    #: fraction of the region's side left out of the metric on each side
    margin: float = 0.1
    #: smallest and largest scale (singular value of the change of the matrix from the start
    #: pose) that an affine result may have; beyond them it is projected back onto them
    scale_bounds: tuple[float, float] = (0.8, 1.25)

    def schedule(self, iterations: int, stage: str) -> Schedule:
        """The optimiser schedule of ``stage`` ("rigid", "affine" or "refine")."""
        refine = stage == "refine"
        return Schedule(
            stage=stage,
            iterations=iterations,
            shrink=(1,) if refine else self.shrink,
            sigmas=(0.0,) if refine else self.sigmas,
            sampling=(1.0,) if refine else self.sampling,
            max_step_px=self.refine_step_px if refine else self.max_step_px,
            min_step_px=self.refine_min_step_px if refine else self.min_step_px,
            relaxation=self.relaxation,
            bins=self.bins,
            seed=self.seed,
            threads=self.threads,
        )


@dataclass(frozen=True)
class RegistrationResult:
    """The transform found, the edge metric (negative MI) at the start and after the edge
    stages, the stages kept."""

    transform: AffineTransform2D
    metric_before: float
    metric_after: float
    iterations: int
    elapsed_s: float
    stages: str = "rigid+affine+refine"

    def describe(self) -> str:
        return (
            f"Mattes MI of edges, {self.stages}: metric {self.metric_before:.4f} -> "
            f"{self.metric_after:.4f} in {self.iterations} iterations, {self.elapsed_s:.1f} s"
        )


def compose(outer: AffineTransform2D, inner: AffineTransform2D) -> AffineTransform2D:
    """``outer o inner``: ``A = A_o A_i``, ``o = A_o o_i + o_o``, kept about ``inner.center``."""
    A = outer.A @ inner.A  # noqa: N806
    offset = outer.A @ inner.offset + outer.offset
    c = np.array(inner.center)
    t = offset - c + A @ c
    return AffineTransform2D(
        ((A[0, 0], A[0, 1]), (A[1, 0], A[1, 1])),
        (float(t[0]), float(t[1])),
        inner.center,
        outer.source,
    )


def bound_scale(
    transform: AffineTransform2D, start: AffineTransform2D, bounds: tuple[float, float]
) -> AffineTransform2D:
    """``transform`` with the scales of its change from ``start`` clipped to ``bounds``.

    The change is ``C = A_start^-1 A = U diag(s) V^T`` (SVD); the result has the matrix
    ``A_start U diag(clip(s, lo, hi)) V^T`` and the same centre and translation (the centre maps
    where it did). Within the bounds ``transform`` is returned as it is.
    """
    u, s, vt = np.linalg.svd(np.linalg.inv(start.A) @ transform.A)
    clipped = np.clip(s, *bounds)
    if np.array_equal(clipped, s):
        return transform
    A = start.A @ u @ np.diag(clipped) @ vt  # noqa: N806
    return AffineTransform2D(
        ((float(A[0, 0]), float(A[0, 1])), (float(A[1, 0]), float(A[1, 1]))),
        transform.translation,
        transform.center,
        f"{transform.source}, scale bounded to {bounds[0]:g}-{bounds[1]:g}",
    )


def register(
    mri: Scan,
    us: Scan,
    options: PairingOptions | None = None,
    *,
    settings: RegistrationSettings | None = None,
    reporter: ProgressReporter | None = None,
    mri_mask: np.ndarray | None = None,
) -> RegistrationResult:
    """Register ``mri`` onto ``us`` starting from ``options.transform`` (see module docstring).

    ``mri_mask`` (bool, the MRI's shape) marks the MRI pixels that hold image content, e.g. not
    the padding of a reformatted MRI; US samples that fall elsewhere do not count. None: all do.
    """
    if mri_mask is not None and np.shape(mri_mask) != mri.shape:
        raise ValueError(f"mri_mask has the shape {np.shape(mri_mask)}, the MRI {mri.shape}")
    import SimpleITK as sitk

    s = settings or RegistrationSettings()
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(s.threads)
    try:
        return _register(mri, us, options or PairingOptions(), s, reporter, mri_mask)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _register(
    mri: Scan,
    us: Scan,
    options: PairingOptions,
    s: RegistrationSettings,
    reporter: ProgressReporter | None,
    mri_mask: np.ndarray | None,
) -> RegistrationResult:
    t0 = time.perf_counter()
    reporter = reporter or ProgressReporter()
    reporter.check_cancel()
    report = plan_pair(mri, us, options)
    geometry, roi = report.geometry, report.roi.roi
    frame = FeatureFrame(
        us.pixels[roi.rows, roi.cols], mri.pixels, geometry, roi, s.margin, mri_mask, s.mri_sigma_px
    )
    edges = frame.edges(s.us_edge_px, s.mri_sigma_px, s.edge_step_px)
    start = options.transform
    levels = len(s.shrink)
    runner = StageRunner(
        reporter,
        (s.rigid_iterations + s.affine_iterations) * levels + s.refine_iterations,
        min(geometry.us_spacing) * min(1.0, min(roi.w, roi.h) / FIELD_PER_MAX_STEP / s.max_step_px),
        min(mri.shape),
    )

    before = metric_value(edges, start, s.bins)
    pose, after, stages = _edge_stages(runner, edges, start, 0.0, geometry.roi_center, s)
    for angle in s.restart_angles_deg:
        other = _edge_stages(runner, edges, start, angle, geometry.roi_center, s)
        if other[1] < after - s.restart_gain * abs(after):
            pose, after, stages = other
    if s.refine_iterations > 0:
        link = frame.link(pose, s.us_link_px, s.mri_sigma_px, s.link_step_px)
        refined = _affine(runner, link, pose, s.schedule(s.refine_iterations, "refine"), start, s)
        if metric_value(link, refined, s.bins) <= metric_value(link, pose, s.bins):
            pose, stages = refined, f"{stages}+refine"
    result = pose.with_source(f"automatic (Mattes MI of edges, {stages})")
    try:
        check_invertible(result, "The registration result")
    except RegistrationError as exc:
        raise RegistrationError(f"{exc} The previous pose is kept.") from exc
    if after > before + WORSE_TOLERANCE * abs(before):
        raise RegistrationError(
            f"The automatic registration made the match worse (mutual information "
            f"{-before:.3f} -> {-after:.3f}); the previous pose is kept: move the MRI closer by "
            "hand and try again."
        )
    return RegistrationResult(result, before, after, runner.done, time.perf_counter() - t0, stages)


def _edge_stages(runner, edges, start, angle_deg, center, s):
    """The rigid then affine stages from ``start`` turned by ``angle_deg`` about ``center``:
    ``(pose, edge metric, stages kept)``."""
    import SimpleITK as sitk

    rigid = sitk.Euler2DTransform()
    rigid.SetCenter(center)
    rigid.SetAngle(float(np.radians(angle_deg)))
    # start o rigid; only the last transform of a composite is optimised
    composite = sitk.CompositeTransform([to_sitk(start), rigid])
    runner.run(edges, s.schedule(s.rigid_iterations, "rigid"), composite)
    rigid = sitk.Euler2DTransform(composite.GetNthTransform(1))  # the composite holds a copy
    pose, stages = compose(start, from_sitk(rigid, "rigid")), "rigid"
    after = metric_value(edges, pose, s.bins)
    if s.affine_iterations > 0:
        affine = _affine(runner, edges, pose, s.schedule(s.affine_iterations, "affine"), start, s)
        affine_metric = metric_value(edges, affine, s.bins)
        if affine_metric <= after:
            pose, after, stages = affine, affine_metric, "rigid+affine"
    return pose, after, stages


def _affine(runner, pair, initial, schedule, start, settings) -> AffineTransform2D:
    """The affine transform that optimises ``pair`` from ``initial``, its scale bounded."""
    affine = to_sitk(initial)
    runner.run(pair, schedule, affine)
    return bound_scale(from_sitk(affine, "affine"), start, settings.scale_bounds)
