"""Pairs with ground truth in both domains, split into tuning and reported pairs.

Reported (never used to choose a default): Data2 and Data3 of the reference data (d = 1, as
published), the same two decimated by d = 2 and 4 (MRI truth blurred with the true PSF, a
Gaussian of std 4 with a 17x17 support and replicated borders like MATLAB ``imgaussfilt``, then
every d-th pixel, plus white noise of the published std, seeded), and the demo phantoms (seeds 0
and 1, held out of training) at d = 6 and d = 4.

Tuning: phantom seeds 20 (d = 6) and 21 (d = 4), and scikit-image scenes simulated like
Data2/3 (the 10-term link, log-Rayleigh speckle, MRI noise std 0.02): ``camera`` (d = 1) and
``astronaut`` (d = 2) on a US offset of 1, and six scenes without the offset that span the
conditions of real pairs: speckle as light as Data2's (gamma 0.09) and as heavy as Data3's (0.21,
Rayleigh scale 1.1), MRI contrast 1 or 0.6 (a relative MRI noise like Data3's), d = 1, 2 and 4.
Under heavy speckle and low contrast the defaults chosen on the first four alone lost to the MRI
alone (``moon`` and ``chelsea`` at d = 4); every default is chosen on all ten.

Check: eight more scenes simulated the same way from other images (``CHECK_SCENES``), run after
the defaults were fixed (``bench/quality.py --pairs check``); like the reported pairs, they never
choose anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy.ndimage import gaussian_filter

from engine.fusion import FusionInput
from engine.phantom import gradient_magnitude, log_rayleigh_speckle, make_phantom_pair
from engine.scan import Scan

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: the published MRI noise std of Data2 / Data3
MRI_NOISE = {"data2": 0.026, "data3": 0.02}
#: Data2's link in the 10-term order of the synthetic scripts (1, x, x^2, x^3, g, gx, gx^2, ...)
DATA2_LINK = (0.0, 1.0, 1e-4, -1e-5, 1.0, 1e-3, 1e-5)


@dataclass(frozen=True)
class TruthPair:
    """A fusion input with the truth of both domains, in the units of the observations."""

    name: str
    role: str  # "tune", "report" or "check"
    fusion_input: FusionInput
    mri_truth: np.ndarray
    us_truth: np.ndarray
    mri_scale: float  # the max that normalised the MRI (multiply to return to its units)
    us_scale: float


def _pair(name, role, y_m, y_u, d, mri_truth, us_truth) -> TruthPair:
    m_scale, u_scale = float(np.max(y_m)), float(np.max(y_u))
    fusion_input = FusionInput(y_m / m_scale, y_u / u_scale, d,
                               mri=Scan(np.asarray(y_m)), us=Scan(np.asarray(y_u)),
                               clean_us=us_truth / u_scale, clean_mri=mri_truth / m_scale)
    return TruthPair(name, role, fusion_input, mri_truth, us_truth, m_scale, u_scale)


def _only(path: Path) -> np.ndarray:
    content = scipy.io.loadmat(path)
    return next(v for k, v in content.items() if not k.startswith("__"))


def simulate_mri(truth: np.ndarray, d: int, noise_std: float, seed: int) -> np.ndarray:
    """S H x + n with the true PSF (sigma 4, 17x17, replicated borders)."""
    low = gaussian_filter(truth, 4.0, mode="nearest", truncate=2.0)[::d, ::d]
    return low + noise_std * np.random.default_rng(seed).standard_normal(low.shape)


def reference_pair(folder: str, d: int = 1) -> TruthPair:
    base = DATA / folder
    mri_truth, us_truth = _only(base / "IRM_GT.mat"), _only(base / "US_GT.mat")
    us = _only(base / "US_observed.mat")
    if d == 1:
        mri = _only(base / "IRM_observed.mat")
    else:
        h, w = (s - s % d for s in mri_truth.shape)
        mri_truth, us_truth, us = mri_truth[:h, :w], us_truth[:h, :w], us[:h, :w]
        mri = simulate_mri(mri_truth, d, MRI_NOISE[folder], seed=100 * d + len(folder))
    return _pair(f"{folder} d{d}", "report", mri, us, d, mri_truth, us_truth)


def phantom_pair(seed: int, d: int, role: str, size: int = 600) -> TruthPair:
    p = make_phantom_pair(seed=seed, size=size, d=d)
    return _pair(f"phantom{seed} d{d}", role, p.mri.pixels, p.us.pixels, d, p.clean_tissue,
                 p.clean_us)


def scene_pair(image: str, d: int, seed: int, gamma: float = 0.15, speckle_scale: float = 1.0,
               contrast: float = 1.0, us_offset: float = 1.0, role: str = "tune") -> TruthPair:
    """A scikit-image scene as tissue (values 0.1..1 times ``contrast``, 420x360), its US the
    10-term link plus ``us_offset`` and log-Rayleigh speckle (``gamma``, Rayleigh scale
    ``speckle_scale``), its MRI blurred by the true PSF, decimated by d, with noise std 0.02."""
    import skimage.color
    import skimage.data
    import skimage.transform

    picture = getattr(skimage.data, image)()
    if picture.ndim == 3:
        picture = skimage.color.rgb2gray(picture[..., :3])
    picture = skimage.transform.resize(skimage.img_as_float(picture), (420, 360),
                                       anti_aliasing=True)
    x = contrast * (0.1 + 0.9 * picture)
    x = x[: x.shape[0] - x.shape[0] % d, : x.shape[1] - x.shape[1] % d]
    g = gradient_magnitude(x)
    c = DATA2_LINK
    us_truth = (us_offset + c[1] * x + c[2] * x**2 + c[3] * x**3
                + g * (c[4] + c[5] * x + c[6] * x**2))
    rng = np.random.default_rng(seed)
    us = us_truth + log_rayleigh_speckle(rng, x.shape, gamma, speckle_scale)
    mri = simulate_mri(x, d, 0.02, seed + 1)
    name = f"{image} d{d}" if us_offset else f"{image} d{d} g{gamma:g} c{contrast:g}"
    return _pair(name, role, mri, us, d, x, us_truth)


#: (image, d, seed, gamma, contrast) of the tuning scenes without a US offset
BARE_SCENES = (("moon", 4, 30, 0.21, 0.6), ("chelsea", 4, 32, 0.21, 0.6),
               ("coffee", 2, 34, 0.21, 0.6), ("gravel", 1, 36, 0.21, 0.6),
               ("moon", 4, 38, 0.09, 1.0), ("coins", 2, 40, 0.09, 1.0))


#: (image, d, seed, gamma, contrast) of the check scenes: simulated like the tuning scenes from
#: other images, run once after the defaults were fixed, never used to choose anything
CHECK_SCENES = (("rocket", 4, 50, 0.21, 0.6), ("clock", 2, 56, 0.21, 0.6),
                ("immunohistochemistry", 2, 52, 0.15, 0.8), ("cell", 4, 58, 0.09, 1.0),
                ("retina", 2, 60, 0.15, 0.8), ("grass", 1, 62, 0.21, 0.6),
                ("chelsea", 1, 64, 0.09, 1.0), ("camera", 4, 66, 0.21, 0.6))


def _bare_scenes(specs, role: str) -> list[TruthPair]:
    """Scenes without a US offset; Rayleigh scale 1.1 for heavy speckle (gamma > 0.15)."""
    return [scene_pair(image, d, seed, gamma, 1.1 if gamma > 0.15 else 1.0, contrast, 0.0, role)
            for image, d, seed, gamma, contrast in specs]


def check_pairs() -> list[TruthPair]:
    return _bare_scenes(CHECK_SCENES, "check")


def tuning_pairs() -> list[TruthPair]:
    bare = _bare_scenes(BARE_SCENES, "tune")
    return [phantom_pair(20, 6, "tune"), phantom_pair(21, 4, "tune"), scene_pair("camera", 1, 7),
            scene_pair("astronaut", 2, 8, gamma=0.2)] + bare


def reported_pairs() -> list[TruthPair]:
    pairs = []
    for folder in ("data2", "data3"):
        if (DATA / folder).is_dir():
            pairs += [reference_pair(folder, d) for d in (1, 2, 4)]
    pairs += [phantom_pair(0, 6, "report"), phantom_pair(1, 6, "report"),
              phantom_pair(0, 4, "report")]
    return pairs
