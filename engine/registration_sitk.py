"""SimpleITK plumbing of :mod:`engine.registration`: images, transforms, one optimisation stage.

A stage is one ``ImageRegistrationMethod`` run: regular-step gradient descent over a pyramid of
levels (shrink factors and Gaussian smoothing in pixels), the parameter scales estimated from
physical shifts, the metric sampled on a regular grid of a fraction of the fixed pixels (at least
:data:`MIN_SAMPLES` per level) inside the fixed mask, and an iteration event that reports
progress and turns a cancel into ``StopRegistration``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import FusionCancelled, RegistrationError
from .geometry.transform import AffineTransform2D
from .progress import ProgressReporter

#: fewest fixed pixels sampled at a level (small images are sampled more densely)
MIN_SAMPLES = 4000
#: a pyramid level is skipped when the moving image would have fewer pixels a side than this
MIN_LEVEL_SIDE = 16


@dataclass(frozen=True)
class FeaturePair:
    """The two images one stage compares, the fixed mask, and the metric that compares them.

    ``metric`` is ``"mi"`` (Mattes mutual information, negated) or ``"cc"`` (negated normalised
    correlation); both are lower for a better match.
    """

    fixed: object  # SimpleITK.Image, US frame in mm
    moving: object  # SimpleITK.Image, MRI frame in mm
    mask: object  # SimpleITK.Image (uint8) on the fixed grid
    metric: str
    #: SimpleITK.Image (uint8) on the moving grid: US samples whose MRI point falls on a 0 are left
    #: out of the metric (None: every MRI point inside the MRI's grid counts)
    moving_mask: object = None


@dataclass(frozen=True)
class Schedule:
    """How one stage optimises: iterations per level, pyramid, sampling and steps (US pixels)."""

    stage: str  # the name shown with the progress
    iterations: int
    shrink: tuple[int, ...]
    sigmas: tuple[float, ...]
    sampling: tuple[float, ...]
    max_step_px: float
    min_step_px: float
    relaxation: float
    bins: int
    seed: int
    threads: int


def image(pixels: np.ndarray, spacing_rc: tuple[float, float], origin_xy, dtype=np.float32):
    """A SimpleITK image (float32, or ``dtype``: uint8 for a mask) with (row, col) spacing in mm
    and its (x, y) origin in mm."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(np.ascontiguousarray(pixels, dtype=dtype))
    out.SetSpacing((float(spacing_rc[1]), float(spacing_rc[0])))
    out.SetOrigin((float(origin_xy[0]), float(origin_xy[1])))
    return out


def inner_mask(shape: tuple[int, int], margin: float, like):
    """1 inside the image less ``margin`` of its side on each side, 0 elsewhere (on ``like``)."""
    import SimpleITK as sitk

    pixels = np.zeros(shape, dtype=np.uint8)
    r, c = int(round(margin * shape[0])), int(round(margin * shape[1]))
    pixels[r : shape[0] - r, c : shape[1] - c] = 1
    mask = sitk.GetImageFromArray(pixels)
    mask.CopyInformation(like)
    return mask


def to_sitk(transform: AffineTransform2D):
    import SimpleITK as sitk

    out = sitk.AffineTransform(2)
    out.SetMatrix([v for row in transform.matrix for v in row])
    out.SetTranslation(transform.translation)
    out.SetCenter(transform.center)
    return out


def from_sitk(transform, source: str) -> AffineTransform2D:
    """An ``AffineTransform2D`` from a SimpleITK affine or Euler 2-D transform."""
    m = transform.GetMatrix()
    return AffineTransform2D(
        ((m[0], m[1]), (m[2], m[3])),
        tuple(transform.GetTranslation()),
        tuple(transform.GetCenter()),
        source,
    )


def _set_metric(method, pair: FeaturePair, bins: int) -> None:
    import SimpleITK as sitk

    if pair.metric == "cc":
        method.SetMetricAsCorrelation()
    else:
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    method.SetMetricFixedMask(pair.mask)
    if pair.moving_mask is not None:
        method.SetMetricMovingMask(pair.moving_mask)
    method.SetInterpolator(sitk.sitkLinear)


def metric_value(pair: FeaturePair, transform: AffineTransform2D, bins: int) -> float:
    """The metric of ``transform`` over every fixed pixel in the mask (lower is better)."""
    import SimpleITK as sitk

    probe = sitk.ImageRegistrationMethod()
    _set_metric(probe, pair, bins)
    probe.SetMetricSamplingStrategy(probe.NONE)
    probe.SetInitialTransform(to_sitk(transform), inPlace=False)
    return float(probe.MetricEvaluate(pair.fixed, pair.moving))


class StageRunner:
    """Runs stages for one registration; counts iterations for progress and watches cancel."""

    def __init__(self, reporter: ProgressReporter, total: int, pixel_mm: float, moving_side: int):
        self.reporter, self.total, self.pixel_mm = reporter, total, pixel_mm
        self.moving_side = moving_side
        self.done = 0
        self.cancelled = False

    def levels(self, schedule: Schedule) -> list[int]:
        """The pyramid levels at which the moving image keeps MIN_LEVEL_SIDE pixels a side."""
        fine = [i for i, f in enumerate(schedule.shrink) if self.moving_side / f >= MIN_LEVEL_SIDE]
        return fine or [len(schedule.shrink) - 1]

    def run(self, pair: FeaturePair, schedule: Schedule, initial):
        """Optimise the SimpleITK transform ``initial`` in place over ``pair``."""
        import SimpleITK as sitk

        levels = self.levels(schedule)
        size = pair.fixed.GetSize()
        pixels = size[0] * size[1]
        method = sitk.ImageRegistrationMethod()
        _set_metric(method, pair, schedule.bins)
        method.SetMetricSamplingStrategy(method.REGULAR)
        method.SetMetricSamplingPercentagePerLevel(
            [
                min(1.0, max(schedule.sampling[i], MIN_SAMPLES * schedule.shrink[i] ** 2 / pixels))
                for i in levels
            ],
            schedule.seed,
        )
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=schedule.max_step_px * self.pixel_mm,
            minStep=schedule.min_step_px * self.pixel_mm,
            numberOfIterations=schedule.iterations,
            relaxationFactor=schedule.relaxation,
        )
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetShrinkFactorsPerLevel([schedule.shrink[i] for i in levels])
        method.SetSmoothingSigmasPerLevel([schedule.sigmas[i] for i in levels])
        method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
        method.SetNumberOfThreads(schedule.threads)
        method.SetInitialTransform(initial, inPlace=True)

        def on_iteration():
            self.done += 1
            try:
                self.reporter.step(
                    min(self.done, self.total), self.total, f"registration: {schedule.stage}"
                )
            except FusionCancelled:
                self.cancelled = True
                method.StopRegistration()

        method.AddCommand(sitk.sitkIterationEvent, on_iteration)
        try:
            method.Execute(pair.fixed, pair.moving)
        except RuntimeError as exc:
            raise RegistrationError(
                "The automatic registration failed (the images hardly overlap); move the MRI "
                "closer by hand and try again."
            ) from exc
        if self.cancelled:
            raise FusionCancelled("Registration cancelled by the user.")
