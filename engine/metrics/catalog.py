"""What each metric means, for tooltips, tables and docs: one frozen :class:`MetricInfo` per key.

Three sets, in the order the viewer shows them:

* :data:`STANDARD` -- the set of the multi-modal image fusion literature (MMIF-CDDFuse Evaluator),
  shown first;
* :data:`SEED_COMPATIBLE` -- the legacy proxy set behind the earlier DDFM-PALM table (its "QAB/F"
  is a Sobel-correlation proxy, not Q^AB/F);
* :data:`REFERENCE` -- ground-truth scores against a clean image (phantoms).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Description of one metric key of a metric set."""

    key: str
    #: short label for a table header or a readout
    label: str
    #: True: larger is better; False: smaller is better
    higher_is_better: bool
    #: one or two sentences for a tooltip: definition and reading
    description: str
    #: when the value is NaN (or infinite) instead of a number; empty when it always is defined
    undefined_when: str = ""


#: the entropy is defined alike in both source sets
ENTROPY = MetricInfo("EN", "Entropy", True, "Shannon entropy of the fused grey levels, in bits.")

STANDARD: tuple[MetricInfo, ...] = (
    ENTROPY,
    MetricInfo("SD", "Std. dev.", True, "Standard deviation of the fused image (contrast)."),
    MetricInfo("SF", "Spatial freq.", True, "RMS of horizontal and vertical pixel differences."),
    MetricInfo("AG", "Avg. gradient", True, "Mean local gradient magnitude (sharpness)."),
    MetricInfo(
        "MI",
        "Mutual info.",
        True,
        "I(F;A) + I(F;B) in nats over the exact 256 grey levels.",
    ),
    MetricInfo(
        "SCD",
        "SCD",
        True,
        "Sum of correlations of differences r(A, F-B) + r(B, F-A).",
        "a source, or F minus a source, is constant",
    ),
    MetricInfo(
        "VIFF",
        "VIF",
        True,
        "Pixel-domain visual information fidelity of F w.r.t. A plus w.r.t. B.",
        "the image is smaller than 41x41 pixels (a constant source counts as 1.0, as in the "
        "reference evaluator)",
    ),
    MetricInfo(
        "Qabf",
        "Q^AB/F",
        True,
        "Xydeas-Petrovic edge transfer: gradient-weighted share of source edges kept in F (0..1).",
        "neither source has any gradient",
    ),
    MetricInfo(
        "SSIM",
        "SSIM",
        True,
        "SSIM(F,A) + SSIM(F,B), 7x7 windows, data range 255 (max 2).",
    ),
    MetricInfo(
        "SSIM_legacy",
        "SSIM (R=2)",
        True,
        "As SSIM but with the data range 2 that the reference evaluator used on 0..255 images; "
        "only for comparison with published tables.",
    ),
    MetricInfo(
        "PSNR",
        "PSNR",
        True,
        "10 log10(max(F)^2 / MSE) in dB, MSE averaged over both sources.",
        "+inf when F equals both sources",
    ),
    MetricInfo(
        "CC",
        "Corr. coeff.",
        True,
        "Mean Pearson correlation of F with A and with B.",
        "F or a source is constant",
    ),
    MetricInfo(
        "MSE", "MSE", False, "Mean of the squared errors of F to A and to B (0..255 scale)."
    ),
)

SEED_COMPATIBLE: tuple[MetricInfo, ...] = (
    ENTROPY,
    MetricInfo("SD", "Std. dev.", True, "Standard deviation of the fused image."),
    MetricInfo(
        "MI",
        "Mutual info. (20 bins)",
        True,
        "MI(US,F) + MI(MRI,F) in nats over 20 equal-width bins per image (legacy definition).",
    ),
    MetricInfo(
        "VIF",
        "VIF",
        True,
        "Pixel-domain VIF of F w.r.t. US plus w.r.t. MRI.",
        "a source is constant, or the image is smaller than 41x41 pixels",
    ),
    MetricInfo(
        "QABF_proxy",
        "QAB/F (legacy proxy)",
        True,
        "Legacy proxy: correlation of 8-bit-wrapped Sobel responses; not an edge-transfer "
        "metric, kept only to compare with the earlier table.",
        "a wrapped Sobel response is constant (e.g. a constant image)",
    ),
    MetricInfo("SSIM", "SSIM", True, "SSIM(US,F) + SSIM(MRI,F), data range 255 (max 2)."),
)

REFERENCE: tuple[MetricInfo, ...] = (
    MetricInfo(
        "PSNR",
        "PSNR vs truth",
        True,
        "10 log10(R^2 / MSE(F, clean)) in dB, R = data range of the clean image.",
        "+inf when F equals the clean image",
    ),
    MetricInfo("SSIM", "SSIM vs truth", True, "SSIM(F, clean) with the same data range R (max 1)."),
    MetricInfo(
        "RelErr",
        "Relative error",
        False,
        "||F - clean||_2 / ||clean||_2.",
        "the clean image is all zero",
    ),
)
#: the same scores of the MRI-contrast image against the MRI truth (pairs that have one)
REFERENCE = REFERENCE + tuple(
    MetricInfo(f"MRI {info.key}", f"MRI {info.label}", info.higher_is_better,
               "MRI-contrast image against the MRI truth: " + info.description,
               info.undefined_when)
    for info in REFERENCE
)

#: heading of each set in tables and in the viewer
SET_TITLES: dict[str, str] = {
    "standard": "Standard fusion metrics",
    "seed_compatible": "Seed-compatible metrics (legacy proxy set)",
    "reference": "Ground truth",
}

SETS: dict[str, tuple[MetricInfo, ...]] = {
    "standard": STANDARD,
    "seed_compatible": SEED_COMPATIBLE,
    "reference": REFERENCE,
}


def metric_info(set_name: str, key: str) -> MetricInfo:
    """The description of ``key`` in the set ``set_name`` (``standard``, ``seed_compatible``,
    ``reference``); KeyError for an unknown pair."""
    for info in SETS[set_name]:
        if info.key == key:
            return info
    raise KeyError(f"{set_name}.{key}")
