"""Automatic multimodal registration of the MRI onto the ultrasound (SimpleITK).

The US region of interest is the fixed image, the MRI the moving one, both in millimetres with
the placement of :mod:`engine.geometry` (the MRI centred on the region, then the manual pose
``T0``). We look for the transform ``T`` (US mm -> MRI mm) that maximises the Mattes mutual
information

    MI(T) = sum_{a,b} p(a, b; T) log( p(a, b; T) / (p_U(a) p_M(b; T)) ),

estimated with Parzen windows over ``bins`` intensity bins from a random ``sampling`` fraction of
the US pixels (fixed seed, so runs repeat; at least :data:`MIN_SAMPLES` per level), the US first
smoothed by a Gaussian of ``us_smoothing_px`` pixels against the speckle. Two stages, each
multi-resolution (shrink factors ``shrink`` with Gaussian smoothing ``sigmas`` in pixels; levels at
which the MRI would have fewer than :data:`MIN_LEVEL_SIDE` pixels a side are skipped), regular-step
gradient descent (largest step ``max_step_px`` US pixels, at most 1/60 of the region's side) with
the parameter scales estimated from physical shifts:

1. **rigid**: ``T = T0 o R`` with ``R`` an Euler 2-D transform (angle, translation) about the centre
   of the region (a composite transform of which only ``R`` is optimised);
2. **affine**: ``T = A`` a full 2-D affine started from the result of stage 1.

Why SimpleITK: it is the maintained, wheel-installable (no compiler) Python interface of ITK, whose
``ImageRegistrationMethod`` provides exactly these metric, transforms, optimiser and pyramid, with
iteration events that we turn into progress reports and cancel points
(:class:`~engine.progress.ProgressReporter`); ITK-elastix would need parameter-map text files and
offers no cancel.

The run is judged against its start: when the final metric is worse than the metric of the
starting pose (by more than :data:`WORSE_TOLERANCE`), or the result is not safely invertible,
:class:`~engine.errors.RegistrationError` says so and the caller keeps the previous pose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import FusionCancelled, RegistrationError
from .geometry.transform import AffineTransform2D, check_invertible
from .pairing import PairingOptions, plan_pair
from .progress import ProgressReporter
from .scan import Scan

#: the largest step is at most this fraction of the region's side (small images take small steps)
FIELD_PER_MAX_STEP = 60
#: a result whose metric is worse than the start's by more than this fraction has diverged
WORSE_TOLERANCE = 0.02
#: fewest US pixels sampled at a level (small images are sampled more densely)
MIN_SAMPLES = 4000
#: a pyramid level is skipped when the MRI would have fewer pixels a side than this
MIN_LEVEL_SIDE = 16


@dataclass(frozen=True)
class RegistrationSettings:
    """Metric, pyramid and optimiser settings of both stages."""

    bins: int = 32
    #: fraction of the US pixels sampled, per pyramid level
    sampling: tuple[float, ...] = (0.2, 0.1, 0.05)
    shrink: tuple[int, ...] = (4, 2, 1)
    sigmas: tuple[float, ...] = (2.0, 1.0, 0.5)
    rigid_iterations: int = 100
    affine_iterations: int = 100
    #: largest and smallest optimiser step, in US pixels of shift
    max_step_px: float = 10.0
    min_step_px: float = 0.05
    seed: int = 1
    threads: int = 2
    #: Gaussian smoothing of the US before registration, in US pixels (tames the speckle)
    us_smoothing_px: float = 2.0


@dataclass(frozen=True)
class RegistrationResult:
    """The transform found, the metric (negative MI) before and after, and the time taken."""

    transform: AffineTransform2D
    metric_before: float
    metric_after: float
    iterations: int
    elapsed_s: float

    def describe(self) -> str:
        return (
            f"Mattes MI rigid+affine: metric {self.metric_before:.4f} -> "
            f"{self.metric_after:.4f} in {self.iterations} iterations, {self.elapsed_s:.1f} s"
        )


def _image(pixels: np.ndarray, spacing_rc: tuple[float, float], origin_xy):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(pixels, dtype=np.float32))
    image.SetSpacing((float(spacing_rc[1]), float(spacing_rc[0])))
    image.SetOrigin((float(origin_xy[0]), float(origin_xy[1])))
    return image


def _to_sitk(transform: AffineTransform2D):
    import SimpleITK as sitk

    out = sitk.AffineTransform(2)
    out.SetMatrix([v for row in transform.matrix for v in row])
    out.SetTranslation(transform.translation)
    out.SetCenter(transform.center)
    return out


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


def _from_sitk_affine(transform, source: str) -> AffineTransform2D:
    m = transform.GetMatrix()
    return AffineTransform2D(
        ((m[0], m[1]), (m[2], m[3])),
        tuple(transform.GetTranslation()),
        tuple(transform.GetCenter()),
        source,
    )


class _Run:
    """One ImageRegistrationMethod stage with progress and cancel wired to its iterations."""

    def __init__(
        self,
        settings: RegistrationSettings,
        reporter: ProgressReporter,
        total: int,
        pixel_mm: float,
    ):
        self.settings, self.reporter, self.total = settings, reporter, total
        self.pixel_mm = pixel_mm
        self.levels = [len(settings.shrink) - 1]

    def use_levels_for(self, mri_shape: tuple[int, int]) -> None:
        """Keep the pyramid levels at which the MRI still has MIN_LEVEL_SIDE pixels a side."""
        s = self.settings
        fine = [i for i, f in enumerate(s.shrink) if min(mri_shape) / f >= MIN_LEVEL_SIDE]
        self.levels = fine or [len(s.shrink) - 1]

    def sample_enough_of(self, fixed_shape: tuple[int, int]) -> None:
        """Per-level sampling fraction, raised so that each level has MIN_SAMPLES samples."""
        s, pixels = self.settings, fixed_shape[0] * fixed_shape[1]
        self.sampling = [
            min(1.0, max(s.sampling[i], MIN_SAMPLES * s.shrink[i] ** 2 / pixels))
            for i in self.levels
        ]
        self.done = 0
        self.cancelled = False

    def method(self, iterations: int, stage: str):
        import SimpleITK as sitk

        s = self.settings
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=s.bins)
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentagePerLevel(self.sampling, s.seed)
        method.SetInterpolator(sitk.sitkLinear)
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=s.max_step_px * self.pixel_mm,
            minStep=s.min_step_px * self.pixel_mm,
            numberOfIterations=iterations,
            relaxationFactor=0.5,
        )
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetShrinkFactorsPerLevel([s.shrink[i] for i in self.levels])
        method.SetSmoothingSigmasPerLevel([s.sigmas[i] for i in self.levels])
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        method.SetNumberOfThreads(s.threads)

        def on_iteration():
            self.done += 1
            try:
                self.reporter.step(min(self.done, self.total), self.total, f"registration: {stage}")
            except FusionCancelled:
                self.cancelled = True
                method.StopRegistration()

        method.AddCommand(sitk.sitkIterationEvent, on_iteration)
        return method

    def execute(self, method, fixed, moving):
        try:
            method.Execute(fixed, moving)
        except RuntimeError as exc:
            raise RegistrationError(
                "The automatic registration failed (the images hardly overlap); move the MRI "
                "closer by hand and try again."
            ) from exc
        if self.cancelled:
            raise FusionCancelled("Registration cancelled by the user.")


def register(
    mri: Scan,
    us: Scan,
    options: PairingOptions | None = None,
    settings: RegistrationSettings | None = None,
    reporter: ProgressReporter | None = None,
) -> RegistrationResult:
    """Register ``mri`` onto ``us`` starting from ``options.transform`` (see module docstring)."""
    import SimpleITK as sitk

    t0 = time.perf_counter()
    options, settings = options or PairingOptions(), settings or RegistrationSettings()
    reporter = reporter or ProgressReporter()
    reporter.check_cancel()
    report = plan_pair(mri, us, options)
    geometry, roi = report.geometry, report.roi.roi
    (sy, sx) = geometry.us_spacing
    fixed_pixels = us.pixels[roi.rows, roi.cols]
    if settings.us_smoothing_px > 0:
        from scipy import ndimage

        fixed_pixels = ndimage.gaussian_filter(fixed_pixels, settings.us_smoothing_px)
    fixed = _image(fixed_pixels, geometry.us_spacing, (roi.x * sx, roi.y * sy))
    moving = _image(mri.pixels, geometry.mri_spacing, geometry.mri_origin)
    start = options.transform
    center = geometry.roi_center
    run = _Run(
        settings,
        reporter,
        settings.rigid_iterations * len(settings.shrink)
        + settings.affine_iterations * len(settings.shrink),
        min(sx, sy),
    )
    run.use_levels_for(mri.shape)
    run.sample_enough_of(fixed_pixels.shape)
    run.pixel_mm *= min(1.0, min(roi.w, roi.h) / FIELD_PER_MAX_STEP / settings.max_step_px)

    rigid_method = run.method(settings.rigid_iterations, "rigid")
    before = _metric(fixed, moving, _to_sitk(start))
    rigid = sitk.Euler2DTransform()
    rigid.SetCenter(center)
    # start o rigid; only the last transform of a composite is optimised
    composite = sitk.CompositeTransform([_to_sitk(start), rigid])
    rigid_method.SetInitialTransform(composite, inPlace=True)
    run.execute(rigid_method, fixed, moving)
    rigid = sitk.Euler2DTransform(composite.GetNthTransform(1))  # the composite holds a copy
    after_rigid = compose(start, _from_sitk_affine(_euler_as_affine(rigid), "rigid"))

    affine_method = run.method(settings.affine_iterations, "affine")
    affine = _to_sitk(after_rigid)
    affine_method.SetInitialTransform(affine, inPlace=True)
    run.execute(affine_method, fixed, moving)
    result = _from_sitk_affine(affine, "automatic (Mattes MI rigid+affine)")
    after = _metric(fixed, moving, affine)
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
    return RegistrationResult(result, before, after, run.done, time.perf_counter() - t0)


def _euler_as_affine(euler):
    import SimpleITK as sitk

    affine = sitk.AffineTransform(2)
    affine.SetMatrix(euler.GetMatrix())
    affine.SetTranslation(euler.GetTranslation())
    affine.SetCenter(euler.GetCenter())
    return affine


def _metric(fixed, moving, transform) -> float:
    """The metric of ``transform`` at full resolution (negative MI: lower is better)."""
    import SimpleITK as sitk

    probe = sitk.ImageRegistrationMethod()
    probe.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    probe.SetMetricSamplingStrategy(probe.RANDOM)
    probe.SetMetricSamplingPercentage(0.2, 1)
    probe.SetInterpolator(sitk.sitkLinear)
    probe.SetInitialTransform(transform, inPlace=False)
    return float(probe.MetricEvaluate(fixed, moving))
