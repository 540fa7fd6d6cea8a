"""Fusion quality metrics: the field's standard set, the seed-compatible set, ground-truth scores.

::

    from engine.metrics import standard_metrics, seed_metrics, reference_scores
    standard_metrics(a, b, f)    # EN SD SF AG MI SCD VIFF Qabf SSIM SSIM_legacy PSNR CC MSE
    seed_metrics(us, mri, f)     # EN SD MI VIF QABF_proxy SSIM   (legacy proxy set)
    reference_scores(f, clean)   # PSNR SSIM RelErr
    fusion_metrics(a, b, f)      # both sets at once, shared terms computed once (viewer)

The viewer shows the ground-truth scores first (when there is a truth), then the standard set
under "Fusion metrics"; the seed-compatible set is labelled as the legacy proxy set
(:data:`SET_TITLES`), since its "QAB/F" is a correlation of wrapped Sobel responses. Every
metric's one display name is its catalog ``label``.

Modules: :mod:`.scale` (how inputs reach the 0..255 scale), :mod:`.statistics` (EN, SD, SF, AG,
correlations, MSE, PSNR), :mod:`.information` (MI), :mod:`.vif` (VIFp), :mod:`.structure` (SSIM),
:mod:`.edges` (Q^AB/F and the seed's Sobel proxy), :mod:`.sets` (the three sets),
:mod:`.catalog` (labels and reading direction of every key, for tooltips).
"""

from .catalog import (
    GROUND_TRUTH,
    REFERENCE,
    SEED_COMPATIBLE,
    SET_TITLES,
    STANDARD,
    MetricInfo,
    metric_info,
)
from .scale import DataRange, quantise_uint8, to_uint8_scale
from .sets import (
    SEED_KEYS,
    STANDARD_KEYS,
    FusionMetrics,
    fusion_metrics,
    reference_scores,
    seed_metrics,
    seed_metrics_per_source,
    standard_metrics,
    standard_metrics_per_source,
)

__all__ = [
    "FusionMetrics",
    "fusion_metrics",
    "GROUND_TRUTH",
    "REFERENCE",
    "SEED_COMPATIBLE",
    "SEED_KEYS",
    "SET_TITLES",
    "STANDARD",
    "STANDARD_KEYS",
    "DataRange",
    "MetricInfo",
    "metric_info",
    "quantise_uint8",
    "reference_scores",
    "seed_metrics",
    "seed_metrics_per_source",
    "standard_metrics",
    "standard_metrics_per_source",
    "to_uint8_scale",
]
