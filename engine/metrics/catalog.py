"""What each metric is called and means: one frozen :class:`MetricInfo` per key, one name each.

``MetricInfo.label`` is THE display name of a metric: the viewer's table and chart, ``endofuse
metrics``, the README and the benchmark tables all print it (never a second spelling). A set's
heading is :data:`SET_TITLES`. Three sets, in the order the viewer shows them (:data:`SETS`):

* :data:`REFERENCE` ("Ground truth") -- scores against a clean image, only when the pair has one
  (phantoms, simulated pairs): the US-appearance image against the clean US and the MRI-contrast
  image against the MRI truth, named from :data:`GROUND_TRUTH` ("vs ground truth: PSNR (dB)");
* :data:`STANDARD` ("Fusion metrics") -- the no-reference set of the multi-modal image fusion
  literature (MMIF-CDDFuse Evaluator); the summed SSIM is "SSIM(F,A)+SSIM(F,B) (0–2)";
* :data:`SEED_COMPATIBLE` -- the legacy proxy set behind the earlier DDFM-PALM table (its "QAB/F"
  is a Sobel-correlation proxy, not Q^AB/F).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Description of one metric key of a metric set."""

    key: str
    #: what the value is, without its unit ("SSIM(F,A)+SSIM(F,B)")
    name: str
    #: True: larger is better; False: smaller is better
    higher_is_better: bool
    #: one or two sentences for a tooltip: definition and reading
    description: str
    #: when the value is NaN (or infinite) instead of a number; empty when it always is defined
    undefined_when: str = ""
    #: the unit or the range of the value ("dB", "bits", "0–2"); empty for a plain number
    unit: str = ""

    @property
    def label(self) -> str:
        """The one display name (tables, chart, command line, README): ``name (unit)``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name


#: the entropy is defined alike in both source sets
ENTROPY = MetricInfo("EN", "Entropy", True,
                     "Shannon entropy of the fused grey levels, in bits.", unit="bits")

STANDARD: tuple[MetricInfo, ...] = (
    ENTROPY,
    MetricInfo("SD", "Standard deviation", True,
               "Standard deviation of the fused image on 0..255 (contrast).", unit="grey levels"),
    MetricInfo("SF", "Spatial frequency", True,
               "RMS of horizontal and vertical pixel differences of F.", unit="grey levels"),
    MetricInfo("AG", "Average gradient", True, "Mean local gradient magnitude of F (sharpness).",
               unit="grey levels"),
    MetricInfo(
        "MI",
        "MI(F,A)+MI(F,B)",
        True,
        "I(F;A) + I(F;B) in nats over the exact 256 grey levels.",
        unit="nats",
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
        "VIF(F,A)+VIF(F,B)",
        True,
        "Pixel-domain visual information fidelity of F w.r.t. A plus w.r.t. B.",
        "the image is smaller than 41x41 pixels (a constant source counts as 1.0, as in the "
        "reference evaluator)",
    ),
    MetricInfo(
        "Qabf",
        "Q^AB/F edge transfer",
        True,
        "Xydeas-Petrovic edge transfer: gradient-weighted share of source edges kept in F (0..1).",
        "neither source has any gradient",
        unit="0–1",
    ),
    MetricInfo("SSIM", "SSIM(F,A)+SSIM(F,B)", True,
               "SSIM of F with the US plus SSIM of F with the MRI, 7x7 windows, data range 255; "
               "each term is at most 1, so the sum is at most 2.", unit="0–2"),
    MetricInfo(
        "SSIM_legacy",
        "SSIM sum, data range 2 (published tables)",
        True,
        "As SSIM(F,A)+SSIM(F,B) but with the data range 2 that the reference evaluator used on "
        "0..255 images; only for comparison with published tables.",
    ),
    MetricInfo(
        "PSNR",
        "PSNR vs sources",
        True,
        "10 log10(max(F)^2 / MSE) in dB, MSE averaged over both sources.",
        "+inf when F equals both sources",
        unit="dB",
    ),
    MetricInfo(
        "CC",
        "Correlation with sources (mean r)",
        True,
        "Mean Pearson correlation of F with A and with B.",
        "F or a source is constant",
    ),
    MetricInfo(
        "MSE", "MSE vs sources", False,
        "Mean of the squared errors of F to A and to B (0..255 scale).", unit="grey levels²",
    ),
)

SEED_COMPATIBLE: tuple[MetricInfo, ...] = (
    ENTROPY,
    MetricInfo("SD", "Standard deviation, 8-bit legacy", True,
               "Standard deviation of the fused image rounded to 8 bits.", unit="grey levels"),
    MetricInfo(
        "MI",
        "MI, 20 bins, legacy",
        True,
        "MI(US,F) + MI(MRI,F) in nats over 20 equal-width bins per image (legacy definition).",
        unit="nats",
    ),
    MetricInfo(
        "VIF",
        "VIF (legacy)",
        True,
        "Pixel-domain VIF of F w.r.t. US plus w.r.t. MRI.",
        "a source is constant, or the image is smaller than 41x41 pixels",
    ),
    MetricInfo(
        "QABF_proxy",
        "QAB/F proxy (legacy)",
        True,
        "Legacy proxy: correlation of 8-bit-wrapped Sobel responses; not an edge-transfer "
        "metric, kept only to compare with the earlier table.",
        "a wrapped Sobel response is constant (e.g. a constant image)",
    ),
    MetricInfo("SSIM", "SSIM(F,A)+SSIM(F,B), 8-bit legacy", True,
               "As SSIM(F,A)+SSIM(F,B) (0–2), on the images rounded to 8 bits as the earlier "
               "code saw them (equal for whole grey levels).", unit="0–2"),
)

#: the ground-truth scores of an image against its clean truth (what a benchmark column is called)
GROUND_TRUTH: tuple[MetricInfo, ...] = (
    MetricInfo(
        "PSNR",
        "vs ground truth: PSNR",
        True,
        "10 log10(R^2 / MSE(F, clean)) in dB, R = data range of the clean image.",
        "+inf when F equals the clean image",
        unit="dB",
    ),
    MetricInfo("SSIM", "vs ground truth: SSIM", True,
               "SSIM(F, clean) with the same data range R (max 1).", unit="0–1"),
    MetricInfo(
        "RelErr",
        "vs ground truth: relative error",
        False,
        "||F - clean||_2 / ||clean||_2.",
        "the clean image is all zero",
    ),
)
#: which image of a record each ground-truth score is of: (key prefix, name, truth)
GROUND_TRUTH_IMAGES = (
    ("", "US-appearance", "the US-appearance image against the clean US"),
    ("MRI ", "MRI-contrast", "the MRI-contrast image against the MRI truth"),
)
#: the ground-truth set of a record: "US-appearance vs ground truth: PSNR (dB)", then the
#: MRI-contrast image's scores ("MRI-contrast vs ground truth: ...", keys "MRI PSNR" ...)
REFERENCE: tuple[MetricInfo, ...] = tuple(
    MetricInfo(prefix + info.key, f"{image} {info.name}", info.higher_is_better,
               f"{what[0].upper()}{what[1:]}: {info.description}", info.undefined_when,
               info.unit)
    for prefix, image, what in GROUND_TRUTH_IMAGES
    for info in GROUND_TRUTH
)

#: heading of each set in tables and in the viewer, in display order
SET_TITLES: dict[str, str] = {
    "reference": "Ground truth",
    "standard": "Fusion metrics",
    "seed_compatible": "Legacy proxy set (seed-compatible)",
}

SETS: dict[str, tuple[MetricInfo, ...]] = {
    "reference": REFERENCE,
    "standard": STANDARD,
    "seed_compatible": SEED_COMPATIBLE,
}


def metric_info(set_name: str, key: str) -> MetricInfo:
    """The description of ``key`` in the set ``set_name`` (``standard``, ``seed_compatible``,
    ``reference``); KeyError for an unknown pair."""
    for info in SETS[set_name]:
        if info.key == key:
            return info
    raise KeyError(f"{set_name}.{key}")
