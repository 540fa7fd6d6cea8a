"""The link of the original PALM: 15 monomials of the bicubic MRI and its gradient fitted to US.

``estimate_link`` follows the reference ``estimate_c``: both images divided by their spectral
norm (largest singular value, MATLAB ``norm``), the MRI bicubic-upsampled by d, and the
least-squares fit

    us / n_u ~ sum_k c_k x^p_k g^q_k,   x = yint / n_m, g = |grad x|,  (p_k, q_k) in MONOMIALS

solved in column-major pixel order with MATLAB's ``pinv`` tolerance. ``link_on_image_scale``
rescales the same fit to the images as given (``c'_k = n_u c_k / n_m^deg_k``). The product's
joint PALM (:mod:`engine.joint_palm`) fits its own three-term link instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .errors import ParameterError
from .operators import MONOMIALS, gradient_magnitude
from .resample import imresize_bicubic
from .scan import size_text

CancelCheck = Callable[[], None]


def column_major(image: torch.Tensor) -> torch.Tensor:
    """The image as a vector in MATLAB's (column-major) pixel order."""
    return image.t().contiguous().reshape(-1)


def matlab_pinv_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """pinv(A) b with MATLAB's default tolerance max(size(A)) * sigma_max * eps.

    A tall A (m x n, m >> n) is first reduced by a QR factorisation, A = Q R; the singular values
    of A are those of the small R = U_R S V^T, so pinv(A) b = V S^+ U_R^T Q^T b. (Done in torch,
    which releases the interpreter lock: the viewer stays responsive during the fit.)
    """
    q, r = torch.linalg.qr(a, mode="reduced")
    u, s, vh = torch.linalg.svd(r)
    tol = max(a.shape) * float(s[0]) * float(np.finfo(np.float64).eps)
    keep = s > tol
    return vh[keep].T @ ((u[:, keep].T @ (q.T @ b)) / s[keep])


def spectral_norm(image: torch.Tensor) -> float:
    """MATLAB ``norm(A)`` of a matrix: its largest singular value."""
    return float(torch.linalg.matrix_norm(image, ord=2))


def _fit_link(mri_lowres, us, d: int, check_cancel: CancelCheck | None = None
              ) -> tuple[np.ndarray, float, float]:
    """(c, n_mri, n_us): the spectral-norm-scale fit of :func:`estimate_link` and the norms;
    ``check_cancel`` is called before each of the three dense factorisations (two norms, one
    pseudo-inverse), the long stretches of the fit."""
    check = check_cancel or (lambda: None)
    mri = torch.as_tensor(np.asarray(mri_lowres, dtype=np.float64))
    us_t = torch.as_tensor(np.asarray(us, dtype=np.float64))
    if us_t.shape != (mri.shape[0] * d, mri.shape[1] * d):
        raise ParameterError(
            f"The US image ({size_text(tuple(us_t.shape))}) must be d = {d} times the MRI "
            f"({size_text(tuple(mri.shape))})."
        )
    check()
    n_mri = spectral_norm(mri)
    check()
    n_us = spectral_norm(us_t)
    check()
    yint = torch.from_numpy(imresize_bicubic((mri / n_mri).numpy(), d))
    x, g = column_major(yint), column_major(gradient_magnitude(yint))
    design = torch.stack([x**p * g**q for p, q in MONOMIALS], dim=1)
    c = matlab_pinv_solve(design, column_major(us_t / n_us)).numpy()
    return c, n_mri, n_us


def estimate_link(mri_lowres, us, d: int = 6, check_cancel: CancelCheck | None = None
                  ) -> np.ndarray:
    """Least-squares link coefficients (signed) with the reference ``estimate_c`` semantics.

    Both images are divided by their spectral norm (largest singular value, MATLAB ``norm``),
    the MRI is bicubic-upsampled by d, and the 15 monomials of (yint, |grad yint|) are fitted to
    the US in column-major pixel order with MATLAB's ``pinv`` tolerance. The fusion uses |c|.
    """
    return _fit_link(mri_lowres, us, d, check_cancel)[0]


#: total degree of each of the 15 link monomials (1, x, .., x^4, g, gx, .., g^4)
LINK_DEGREES = np.array([p + q for p, q in MONOMIALS])


def link_on_image_scale(mri_lowres, us, d: int, check_cancel: CancelCheck | None = None
                        ) -> np.ndarray:
    """Signed link coefficients on the scale of the images themselves.

    :func:`estimate_link` fits ``us / n_u ~ sum_k c_k m_k(x / n_m)`` (n: spectral norms). The
    monomial m_k has total degree deg_k, so on the images as given (the max-normalised images
    the fusion works on) the same fit reads ``c'_k = n_u c_k / n_m^deg_k``. The reference instead
    applies |c| of the spectral-norm fit to max-normalised images, which puts the link at the
    wrong scale (of order 1e3 to 1e4 for images in [0, 1]) and can make the descent diverge.
    """
    c, n_m, n_u = _fit_link(mri_lowres, us, d, check_cancel)
    return n_u * c / n_m**LINK_DEGREES
