"""Measure: the one metrics entry of the product (viewer, ``endofuse metrics``, demo, benchmarks).

:func:`measure` takes a :class:`~engine.pipeline.record.FusionRecord` and returns a
:class:`Measurement`. The images are those of the record, on the US grid:

* A = the US ``y_u``, B = the MRI brought to the US grid by the MATLAB-compatible bicubic
  upsampling ``imresize(y_m, d)``, F = the record's image (``mri_estimate`` or ``fused``);
* intensity scaling (:data:`RECORD_SCALING`, defined here once): each of A, B, F is mapped to
  0..255 by its own minimum and maximum, ``255 (x - min x) / (max x - min x)``
  (:func:`engine.metrics.to_uint8_scale` with ``"minmax"``);
* ground-truth scores, when the pair has one (``fusion_input.clean_us``), compare the
  US-appearance image ``fused`` with the clean US in the pairing's units (both divided by the
  maximum of the observed US), unscaled, by :func:`engine.metrics.reference_scores`
  (``PSNR SSIM RelErr``); with an MRI truth (``fusion_input.clean_mri``) the MRI-contrast image
  ``mri_estimate`` is scored against it likewise (``MRI PSNR``, ``MRI SSIM``, ``MRI RelErr``).
  Both are unchanged by the max-normalisation (the data range comes from the truth).

The scaling and the image measured are stated in every :class:`Measurement` (``scaling``,
``image``), which the viewer shows and the command line prints. Sets and metrics are named by
:mod:`engine.metrics.catalog` only (:data:`~engine.metrics.catalog.SET_TITLES`, each metric's
``label``): the ground-truth set first and only when there is a truth, then "Fusion metrics".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import EndoFuseError

if TYPE_CHECKING:
    from ..metrics import DataRange, MetricInfo
    from .record import FusionRecord, ImageChoice

#: How a record's images reach the metrics' 0..255 scale (see the module docstring).
RECORD_SCALING: DataRange = "minmax"
RECORD_SCALING_TEXT = (
    "A = ultrasound, B = MRI upsampled (bicubic) to the ultrasound grid, F = the result image; "
    "each scaled to 0..255 by its own min-max, 255 (x - min) / (max - min). Ground-truth scores "
    "compare the US-appearance image with the clean ultrasound (and the MRI-contrast image with "
    "the MRI truth) in the pairing's units, unscaled."
)



@dataclass(frozen=True)
class Measurement:
    """Metric key -> value in three sets; ``reference`` only when there is a ground truth."""

    standard: Mapping[str, float] = field(default_factory=dict)
    seed_compatible: Mapping[str, float] = field(default_factory=dict)
    reference: Mapping[str, float] = field(default_factory=dict)
    scaling: str = RECORD_SCALING_TEXT
    image: str = ""
    error: str | None = None

    def sets(self) -> dict[str, Mapping[str, float]]:
        """Set key -> values, non-empty sets only, in display order (the catalog's)."""
        from ..metrics.catalog import SETS

        named = {key: getattr(self, key) for key in SETS}
        return {key: values for key, values in named.items() if values}

    def rows(self) -> list[tuple[str, list[tuple[MetricInfo, float]]]]:
        """(set key, [(metric description, value)]) of the non-empty sets, in the catalog's
        order; the display names are ``info.label`` and the headings ``SET_TITLES[key]``."""
        from ..metrics.catalog import SETS

        return [
            (key, [(info, float(values[info.key])) for info in SETS[key] if info.key in values])
            for key, values in self.sets().items()
        ]

    def named_values(self) -> dict[str, float]:
        """Display name -> value over all sets (a metric both sets define alike, such as the
        entropy, once)."""
        out: dict[str, float] = {}
        for _, rows in self.rows():
            for info, value in rows:
                out.setdefault(info.label, value)
        return out

    def as_json(self) -> dict:
        """JSON-ready object; a non-finite value becomes the string "inf", "-inf" or "nan"."""
        out: dict = {key: {k: _json_number(v) for k, v in values.items()}
                     for key, values in self.sets().items()}
        out["scaling"] = self.scaling
        if self.image:
            out["image"] = self.image
        if self.error:
            out["error"] = self.error
        return out


def _json_number(value: float):
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _floats(values: Mapping) -> dict[str, float]:
    return {str(name): float(value) for name, value in values.items()}


def measure_images(
    a: np.ndarray,
    b: np.ndarray,
    f: np.ndarray,
    *,
    scaling: DataRange,
    scaling_text: str,
    clean: np.ndarray | None = None,
    clean_estimate: np.ndarray | None = None,
    clean_mri: np.ndarray | None = None,
    mri_estimate: np.ndarray | None = None,
    image: str = "",
) -> Measurement:
    """Both source sets of (A, B, F) under ``scaling`` and, with ``clean``, the ground-truth
    scores of ``clean_estimate`` (default F) against it, in the units given."""
    from ..metrics import fusion_metrics, reference_scores

    both = fusion_metrics(a, b, f, data_range=scaling)
    reference: dict[str, float] = {}
    if clean is not None:
        estimate = f if clean_estimate is None else clean_estimate
        reference = _floats(reference_scores(estimate, clean))
    if clean_mri is not None and mri_estimate is not None:
        scores = reference_scores(mri_estimate, clean_mri)
        reference.update({f"MRI {name}": float(value) for name, value in scores.items()})
    return Measurement(
        _floats(both.standard), _floats(both.seed_compatible), reference,
        scaling=scaling_text, image=image,
    )


def mri_on_us_grid(record: FusionRecord) -> np.ndarray:
    """B: the record's MRI brought to the US grid, ``imresize(y_m, d)`` (bicubic)."""
    from ..resample import imresize_bicubic

    return imresize_bicubic(record.fusion_input.y_m, record.fusion_input.d)


def measure(record: FusionRecord, which: ImageChoice | None = None) -> Measurement:
    """The metrics of ``record``'s image (``which``, default the record's choice).

    An engine error (e.g. an image too small for the metrics) becomes a :class:`Measurement`
    with ``error`` set, so that a result is never lost for want of its scores.
    """
    fi = record.fusion_input
    try:
        return measure_images(
            fi.y_u, mri_on_us_grid(record), record.pixels(which),
            scaling=RECORD_SCALING, scaling_text=RECORD_SCALING_TEXT,
            clean=fi.clean_us, clean_estimate=np.asarray(record.result.fused),
            clean_mri=fi.clean_mri, mri_estimate=record.result.mri_estimate,
            image=record.image_note(which),
        )
    except EndoFuseError as exc:
        return Measurement(image=record.image_note(which), error=str(exc))
