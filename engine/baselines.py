"""Single-modality restorations: what MRI alone and US alone give, the bar a fusion must clear.

* MRI alone, with the true PSF (std ``psf_sigma``, +-2 sigma support) and decimation d:
  Tikhonov (Wiener-type) deconvolution / super-resolution
  argmin 1/2||S H x - y_m||^2 + (lam/2)||D x||^2, lam = rho 100 sigma_m^2, solved in Fourier;
  total-variation deconvolution / super-resolution
  argmin 1/2||S H x - y_m||^2 + lam TV(x), lam = rho 10 sigma_m^2 (ADMM);
  and plain bicubic upsampling. sigma_m is estimated from y_m (:func:`estimate_noise_std`), so
  rho is scale-free, like the weights of :mod:`engine.joint_palm`.
* US alone: the despeckler (:func:`engine.denoise.despeckle_stage`, learned or classical) and
  the MRI-only restoration mapped through the link a + b x + c |grad x| fitted to the
  despeckled US by least squares.

All images are max-normalised like the fusion input; every function returns the unpadded US grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .operators import gradient_magnitude
from .resample import imresize_bicubic
from .superres import (
    PSF_SIGMA,
    NormalSystem,
    PaddedGrid,
    estimate_noise_std,
    tikhonov_restore,
    tv_restore,
)

#: relative weights chosen on the tuning pairs (bench/tune_baselines.py: the best mean), never on
#: reported ones
TIKHONOV_WEIGHT = 1.0
TV_WEIGHT = 0.3
TV_ITERATIONS = 200


@dataclass(frozen=True)
class MriOnly:
    """One MRI-only restoration: how it was made and the image on the US grid."""

    name: str
    image: np.ndarray


def _system(y_m: np.ndarray, d: int, psf_sigma: float):
    y_m = np.asarray(y_m, dtype=np.float64)
    grid = PaddedGrid.for_psf(d, psf_sigma, y_m.shape)
    y = torch.as_tensor(grid.low(y_m))
    system = NormalSystem((y.shape[0] * d, y.shape[1] * d), d, psf_sigma)
    return grid, system, y


def tikhonov_mri(y_m, d: int, weight: float = TIKHONOV_WEIGHT,
                 psf_sigma: float = PSF_SIGMA) -> np.ndarray:
    grid, system, y = _system(y_m, d, psf_sigma)
    lam = weight * 100 * estimate_noise_std(y_m) ** 2
    return grid.crop_high(tikhonov_restore(system, y, lam)).numpy()


def tv_mri(y_m, d: int, weight: float = TV_WEIGHT, psf_sigma: float = PSF_SIGMA,
           iterations: int = TV_ITERATIONS) -> np.ndarray:
    grid, system, y = _system(y_m, d, psf_sigma)
    sigma2 = estimate_noise_std(y_m) ** 2
    start = tikhonov_restore(system, y, TIKHONOV_WEIGHT * 100 * sigma2)
    x, _ = tv_restore(system, y, weight * 10 * sigma2, start, iterations=iterations)
    return grid.crop_high(x).numpy()


def mri_alone(y_m, d: int, psf_sigma: float = PSF_SIGMA) -> list[MriOnly]:
    """Bicubic, Tikhonov and TV restorations of the MRI alone."""
    y_m = np.asarray(y_m, dtype=np.float64)
    bicubic = imresize_bicubic(y_m, d) if d > 1 else y_m.copy()
    return [
        MriOnly("MRI bicubic" if d > 1 else "MRI observed", bicubic),
        MriOnly("MRI Tikhonov (true PSF)", tikhonov_mri(y_m, d, psf_sigma=psf_sigma)),
        MriOnly("MRI TV (true PSF)", tv_mri(y_m, d, psf_sigma=psf_sigma)),
    ]


def link_mapped(mri_image: np.ndarray, despeckled_us: np.ndarray) -> np.ndarray:
    """a + b x + c |grad x| of an MRI-only image, fitted to the despeckled US (least squares)."""
    x = torch.as_tensor(np.asarray(mri_image, dtype=np.float64))
    g = gradient_magnitude(x)
    design = torch.stack([torch.ones_like(x), x, g]).reshape(3, -1).T
    target = torch.as_tensor(np.asarray(despeckled_us, dtype=np.float64)).reshape(-1, 1)
    coef = torch.linalg.lstsq(design, target).solution
    return (design @ coef).reshape(x.shape).numpy()
