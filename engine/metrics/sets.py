"""The three metric sets: standard (MMIF-CDDFuse Evaluator), seed-compatible, ground truth.

Every two-source metric is an A-term plus a B-term (or their mean); ``*_per_source`` returns the
terms. Source order: A first (the US in this product), B second (the MRI), F the fused image.
Aggregation is deliberately not uniform, as in the references: MI, VIF(F), SSIM, SCD and the seed
proxy are sums over the two sources (a perfect score can exceed 1), CC and MSE are means, Qabf is a
gradient-weighted ratio, PSNR uses max(F) as its peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import edges, information, statistics, structure
from .scale import DataRange, check_same_shape, quantise_uint8, to_uint8_scale
from .vif import VifTerms, vif_terms_many


def _triple(a, b, f, data_range: DataRange) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images = {"first source (A)": a, "second source (B)": b, "fused image (F)": f}
    check_same_shape(images)
    a_s, b_s, f_s = (to_uint8_scale(image, data_range, name) for name, image in images.items())
    return a_s, b_s, f_s


@dataclass(frozen=True)
class PairTerms:
    """The costly per-source terms that both sets use: VIFp sums and SSIM (R = 255) of X vs F."""

    vif_af: VifTerms
    vif_bf: VifTerms
    ssim_af: float
    ssim_bf: float


def pair_terms(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> PairTerms:
    """VIFp and SSIM (data range 255) of both sources against F (0..255-scale arrays)."""
    vif_af, vif_bf = vif_terms_many([a, b], f)
    return PairTerms(
        vif_af,
        vif_bf,
        structure.ssim(f, a, structure.DATA_RANGE_8BIT),
        structure.ssim(f, b, structure.DATA_RANGE_8BIT),
    )


def _viff_pair(terms: VifTerms) -> float:
    """Evaluator ``compare_viff``: VIFp, but a 0/0 pair (constant reference) counts as 1.0."""
    if terms.fits and terms.denominator == 0:
        return 1.0
    return terms.value


def _standard_terms(a, b, f, shared: PairTerms) -> dict[str, float]:
    a_q, b_q, f_q = quantise_uint8(a), quantise_uint8(b), quantise_uint8(f)
    out: dict[str, float] = {
        "EN": statistics.entropy_bits(f_q),
        "SD": statistics.standard_deviation(f),
        "SF": statistics.spatial_frequency(f),
        "AG": statistics.average_gradient(f),
    }
    out["MI_AF"] = information.mutual_information_levels(f_q, a_q)
    out["MI_BF"] = information.mutual_information_levels(f_q, b_q)
    out["MI"] = out["MI_AF"] + out["MI_BF"]
    out["SCD_A"] = statistics.difference_correlation(a, f, b)
    out["SCD_B"] = statistics.difference_correlation(b, f, a)
    out["SCD"] = out["SCD_A"] + out["SCD_B"]
    out["VIFF_AF"] = _viff_pair(shared.vif_af)
    out["VIFF_BF"] = _viff_pair(shared.vif_bf)
    out["VIFF"] = out["VIFF_AF"] + out["VIFF_BF"]
    field_f = edges.edge_field(f)
    transfer_a = edges.edge_transfer(edges.edge_field(a), field_f)
    transfer_b = edges.edge_transfer(edges.edge_field(b), field_f)
    out["Qabf"] = edges.qabf_from(transfer_a, transfer_b)
    out["Qabf_AF_only"] = edges.qabf_from(transfer_a)
    out["Qabf_BF_only"] = edges.qabf_from(transfer_b)
    out["SSIM_AF"] = shared.ssim_af
    out["SSIM_BF"] = shared.ssim_bf
    out["SSIM"] = shared.ssim_af + shared.ssim_bf
    out["SSIM_legacy_AF"] = structure.ssim(f, a, structure.DATA_RANGE_LEGACY)
    out["SSIM_legacy_BF"] = structure.ssim(f, b, structure.DATA_RANGE_LEGACY)
    out["SSIM_legacy"] = out["SSIM_legacy_AF"] + out["SSIM_legacy_BF"]
    out["MSE_AF"] = statistics.mean_squared_error(a, f)
    out["MSE_BF"] = statistics.mean_squared_error(b, f)
    out["MSE"] = (out["MSE_AF"] + out["MSE_BF"]) / 2.0
    out["PSNR"] = statistics.psnr_db(float(f.max()), out["MSE"])
    out["CC_AF"] = statistics.pearson(a, f)
    out["CC_BF"] = statistics.pearson(b, f)
    out["CC"] = (out["CC_AF"] + out["CC_BF"]) / 2.0
    return out


def _seed_terms(a_q, b_q, f_q, shared: PairTerms) -> dict[str, float]:
    sobel_f = edges.wrapped_sobel(f_q)
    out: dict[str, float] = {
        "EN": statistics.entropy_bits(f_q),
        "SD": statistics.standard_deviation(f_q),
        "MI_AF": information.mutual_information_binned(a_q, f_q, bins=20),
        "MI_BF": information.mutual_information_binned(b_q, f_q, bins=20),
        "VIF_AF": shared.vif_af.value,
        "VIF_BF": shared.vif_bf.value,
        "QABF_proxy_AF": statistics.pearson(sobel_f, edges.wrapped_sobel(a_q)),
        "QABF_proxy_BF": statistics.pearson(sobel_f, edges.wrapped_sobel(b_q)),
        "SSIM_AF": shared.ssim_af,
        "SSIM_BF": shared.ssim_bf,
    }
    for key in ("MI", "VIF", "QABF_proxy", "SSIM"):
        out[key] = out[f"{key}_AF"] + out[f"{key}_BF"]
    return out


STANDARD_KEYS = (
    "EN",
    "SD",
    "SF",
    "AG",
    "MI",
    "SCD",
    "VIFF",
    "Qabf",
    "SSIM",
    "SSIM_legacy",
    "PSNR",
    "CC",
    "MSE",
)
SEED_KEYS = ("EN", "SD", "MI", "VIF", "QABF_proxy", "SSIM")


def standard_metrics_per_source(a, b, f, *, data_range: DataRange = None) -> dict[str, float]:
    """The standard set (see :func:`standard_metrics`) with the A- and B-terms of each
    two-source metric: keys ``<metric>`` and ``<metric>_AF`` / ``<metric>_BF`` (SCD: ``SCD_A`` =
    r(A, F-B), ``SCD_B``; Qabf: ``Qabf_AF_only`` = Qabf(F, A, A) = sum(Q_AF gA) / sum(gA))."""
    a, b, f = _triple(a, b, f, data_range)
    return _standard_terms(a, b, f, pair_terms(a, b, f))


def standard_metrics(a, b, f, *, data_range: DataRange = None) -> dict[str, float]:
    """Standard fusion metrics of F against the sources A and B, on the 0..255 scale.

    Keys (in this order) ``EN SD SF AG MI SCD VIFF Qabf SSIM SSIM_legacy PSNR CC MSE``; the
    definitions are those of ``utils/Evaluator.py`` in the MMIF-CDDFuse repository:

    * EN, SD, SF, AG of F (:mod:`.statistics`);
    * MI = I(F;A) + I(F;B), nats, one class per grey level (:mod:`.information`);
    * SCD = r(A, F-B) + r(B, F-A); CC = (r(A,F) + r(B,F)) / 2;
      MSE = (MSE(A,F) + MSE(B,F)) / 2; PSNR = 10 log10(max(F)^2 / MSE);
    * VIFF = VIFp(A,F) + VIFp(B,F), a constant source's pair counting 1.0 (:mod:`.vif`);
    * Qabf: Xydeas-Petrovic as the Evaluator codes it (:mod:`.edges`);
    * SSIM = SSIM(F,A) + SSIM(F,B) with data range 255; ``SSIM_legacy`` the same with the data
      range 2 that the Evaluator used on 0..255 images (:mod:`.structure`).

    Inputs go through :func:`~engine.metrics.scale.to_uint8_scale` (``data_range`` as there).
    EN and MI need grey-level classes, so they use F, A, B rounded to the nearest level; for
    integer inputs on 0..255 that is the identity, i.e. exactly the Evaluator's values.
    Shape mismatch raises :class:`~engine.errors.GeometryError`; NaN/inf, non-2-D or < 7x7 input
    raises :class:`~engine.errors.InvalidImageError`; metrics undefined for constant images are
    NaN (see :data:`~engine.metrics.catalog.STANDARD`).
    """
    terms = standard_metrics_per_source(a, b, f, data_range=data_range)
    return {key: terms[key] for key in STANDARD_KEYS}


def seed_metrics_per_source(us, mri, f, *, data_range: DataRange = None) -> dict[str, float]:
    """The seed-compatible set (see :func:`seed_metrics`) with its A- (US) and B- (MRI) terms:
    keys ``<metric>`` and ``<metric>_AF`` / ``<metric>_BF``."""
    a_q, b_q, f_q = (quantise_uint8(x) for x in _triple(us, mri, f, data_range))
    return _seed_terms(a_q, b_q, f_q, pair_terms(a_q, b_q, f_q))


def seed_metrics(us, mri, f, *, data_range: DataRange = None) -> dict[str, float]:
    """Seed-compatible (legacy proxy) metrics: keys ``EN SD MI VIF QABF_proxy SSIM``.

    The metric functions of the seed DDFM-PALM repository's ``metrics.py``, fed uint8 arrays
    (without that script's ``np.clip(img, -1, 1)``, which binarises 8-bit images):

    * EN: entropy in bits of F's grey levels; SD: population std of F;
    * MI = MI20(US,F) + MI20(MRI,F), nats, 20 equal-width bins per image between its min and max;
    * VIF = VIFp(US,F) + VIFp(MRI,F) (``sewar.full_ref.vifp``), NaN for a constant source;
    * QABF_proxy = r(S(F), S(US)) + r(S(F), S(MRI)), S = uint8-wrapped scipy Sobel
      (:func:`~engine.metrics.edges.wrapped_sobel`); **not** Xydeas-Petrovic Q^AB/F;
    * SSIM = SSIM(US,F) + SSIM(MRI,F), scikit-image defaults with data range 255.

    Inputs go through :func:`~engine.metrics.scale.to_uint8_scale` and are then rounded to uint8,
    as the seed's pipeline saw them (identity for uint8 input). Errors as :func:`standard_metrics`.
    """
    terms = seed_metrics_per_source(us, mri, f, data_range=data_range)
    return {key: terms[key] for key in SEED_KEYS}


@dataclass(frozen=True)
class FusionMetrics:
    """Both sets of one triple; ``*_terms`` add the per-source terms (``*_per_source`` keys)."""

    standard: dict[str, float]
    seed_compatible: dict[str, float]
    standard_terms: dict[str, float]
    seed_terms: dict[str, float]


def fusion_metrics(a, b, f, *, data_range: DataRange = None) -> FusionMetrics:
    """:func:`standard_metrics` and :func:`seed_metrics` of one triple, with the same values, but
    computing the VIF and SSIM terms that both sets share once (when the inputs are whole grey
    levels, which makes the seed set's uint8 copies equal to the standard set's arrays)."""
    a, b, f = _triple(a, b, f, data_range)
    shared = pair_terms(a, b, f)
    standard = _standard_terms(a, b, f, shared)
    a_q, b_q, f_q = quantise_uint8(a), quantise_uint8(b), quantise_uint8(f)
    whole_levels = all(np.array_equal(x, q) for x, q in ((a, a_q), (b, b_q), (f, f_q)))
    seed = _seed_terms(a_q, b_q, f_q, shared if whole_levels else pair_terms(a_q, b_q, f_q))
    return FusionMetrics(
        standard={key: standard[key] for key in STANDARD_KEYS},
        seed_compatible={key: seed[key] for key in SEED_KEYS},
        standard_terms=standard,
        seed_terms=seed,
    )


def reference_scores(f, clean, *, data_range: float | None = None) -> dict[str, float]:
    """Scores of F against a ground-truth ``clean`` image: ``PSNR SSIM RelErr``.

    Both images are compared **in their own units, unscaled** (they must share them, e.g. a
    phantom's truth and its fused estimate both in 0..1). The data range is
    R = max(clean) - min(clean) unless ``data_range`` is given, so the scores do not depend on the
    units:

    * PSNR = 10 log10(R^2 / mean((F - clean)^2)) dB (+inf when F = clean);
    * SSIM = scikit-image SSIM(F, clean) with data range R (defaults otherwise, as above);
    * RelErr = ||F - clean||_2 / ||clean||_2 (NaN when clean is all zero).

    A blank clean image without ``data_range`` raises :class:`~engine.errors.InvalidImageError`.
    """
    from ..errors import InvalidImageError

    images = {"fused image": f, "clean reference": clean}
    check_same_shape(images)
    fused, truth = (_finite_float(image, name) for name, image in images.items())
    if data_range is None:
        data_range = float(truth.max() - truth.min())
        if data_range == 0:
            raise InvalidImageError(
                "The clean reference is blank, so it defines no data range; give the range."
            )
    elif not data_range > 0:
        raise InvalidImageError(f"The data range must be positive (got {data_range:g}).")
    mse = statistics.mean_squared_error(fused, truth)
    norm = float(np.sqrt(np.sum(truth * truth)))
    error = float(np.sqrt(np.sum(np.square(fused - truth))))
    rel_err = error / norm if norm > 0 else float("nan")
    return {
        "PSNR": statistics.psnr_db(float(data_range), mse),
        "SSIM": structure.ssim(fused, truth, float(data_range)),
        "RelErr": rel_err,
    }


def _finite_float(image, what: str) -> np.ndarray:
    """float64 copy after the same checks as :func:`to_uint8_scale`, without rescaling."""
    from .scale import _check_array

    array = np.asarray(image)
    _check_array(array, what)
    return array.astype(np.float64)
