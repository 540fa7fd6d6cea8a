"""Fused CPU kernels (numba) of one PALM iteration in float64, called by :mod:`engine.palm`.

Each kernel replaces a chain of tensor operations (one pass over memory each) by one pass; all
are single-threaded: on a loaded 2-core machine a second thread costs more than it gains
(``bench/palm.py``). Off the CPU or in float32 the tensor code runs instead.

* :func:`mri_target` - the MRI update's linearised target 2 tau1 X (link, gradient, slope);
* :func:`mri_solve` - its Fourier solve with real FFTs: the Woodbury tile sum over the full
  spectrum is read from the half spectrum by Hermitian symmetry (:func:`_woodbury_half`);
* :func:`descent_offset` - the constant b' of the reference US descent;
* :func:`descend_speckle_free` - the descent itself. On the column-major vector z = y - x:

    delta_k = b'_k + c exp(z_k) + a0 z_k - a1 (z_{k-1} + z_{k+1})      (z_0, z_{N+1} := z_1, z_N)
    z_k    <- z_k - delta_k,          stop when sum_k delta_k^2 < min_step_norm^2,

  with c = alpha tau2: seven tensor passes per step, one here (:func:`_steps`: read z and b',
  write the new z into a second buffer, accumulate sum delta^2).

The speckle term. With the reference weights c = 0.2 * 1e-15, so c exp(z_k) is below 1e-15 for
z_k < 1.6, under the rounding of the O(1) values it is added to. The descent kernel drops it
while that is provably harmless: if every step runs with max_k z_k <= L, L = ln(NEGLIGIBLE /
(c n_max)) for n_max steps at most, each delta changes by at most c e^L and the final iterate by
at most n_max c e^L = NEGLIGIBLE per element (the rest of the step is non-expansive: its
infinity norm is 1 - alpha tau4 / 2 - alpha rho for a0 <= 1). A running bound max z + sum of
the step norms is kept, the exact max is taken when it passes L, and the kernel hands back to
the caller (which finishes with the full update) when that is above L. libm exp has no vector
form in numba, so with the term the tensor code is the faster one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np
import torch

#: largest change of the final US iterate (per pixel) that dropping the speckle term may cause;
#: the iterates are O(1) and the golden tolerance against the reference is 1e-9 relative
NEGLIGIBLE = 1e-12

#: compiled on first call, then kept in numba's on-disk cache; nogil: the viewer's UI thread runs
_jit = numba.njit(fastmath=True, nogil=True, cache=True)

#: elements per block of the two-step sweep (its intermediate step stays in the L1 cache)
SWEEP_BLOCK = 2048


@_jit
def _sweep(z, out, b, a0, a1):
    """One step from ``z`` into ``out``; returns sum delta^2."""
    n = z.size
    acc = 0.0
    d = b[0] + a0 * z[0] - a1 * (z[0] + z[1 % n])
    out[0] = z[0] - d
    acc += d * d
    for k in range(1, n - 1):
        d = b[k] + a0 * z[k] - a1 * (z[k - 1] + z[k + 1])
        out[k] = z[k] - d
        acc += d * d
    if n > 1:
        d = b[n - 1] + a0 * z[n - 1] - a1 * (z[n - 2] + z[n - 1])
        out[n - 1] = z[n - 1] - d
        acc += d * d
    return acc


@_jit
def _double_sweep(z, out, b, a0, a1, tmp):
    """Two steps from ``z`` into ``out`` in one pass over memory (n >= 3); (acc1, acc2).

    Block by block, the first step is computed on the block and one neighbour on each side into
    ``tmp`` (SWEEP_BLOCK + 2 elements), the second step from ``tmp``: z and b are read once
    and ``out`` written once for two steps. acc1, acc2: sum delta^2 of each step.
    """
    n = z.size
    block = tmp.size - 2
    acc1 = 0.0
    acc2 = 0.0
    for start in range(0, n, block):
        stop = min(start + block, n)
        lo = max(start - 1, 0)
        hi = min(stop + 1, n)
        m = hi - lo
        zv, bv, ov, t = z[lo:hi], b[lo:hi], out[lo:hi], tmp[:m]
        for k in range(1, m - 1):  # first step inside the view
            t[k] = zv[k] - (bv[k] + a0 * zv[k] - a1 * (zv[k - 1] + zv[k + 1]))
        left = z[lo - 1] if lo > 0 else z[0]  # first step at the view's two ends
        t[0] = zv[0] - (bv[0] + a0 * zv[0] - a1 * (left + z[lo + 1]))
        right = z[hi] if hi < n else z[n - 1]
        t[m - 1] = zv[m - 1] - (bv[m - 1] + a0 * zv[m - 1] - a1 * (z[hi - 2] + right))
        for k in range(1, m - 1):  # second step inside the view (the block but its global ends)
            d1 = zv[k] - t[k]
            d2 = bv[k] + a0 * t[k] - a1 * (t[k - 1] + t[k + 1])
            ov[k] = t[k] - d2
            acc1 += d1 * d1
            acc2 += d2 * d2
        if start == 0:  # global ends: the element is its own missing neighbour
            d1 = zv[0] - t[0]
            d2 = bv[0] + a0 * t[0] - a1 * (t[0] + t[1])
            ov[0] = t[0] - d2
            acc1 += d1 * d1
            acc2 += d2 * d2
        if stop == n:
            d1 = zv[m - 1] - t[m - 1]
            d2 = bv[m - 1] + a0 * t[m - 1] - a1 * (t[m - 2] + t[m - 1])
            ov[m - 1] = t[m - 1] - d2
            acc1 += d1 * d1
            acc2 += d2 * d2
    return acc1, acc2


@_jit
def _steps(z, spare, b, a0, a1, count, min_norm2, limit, z_bound):
    """Up to ``count`` steps; returns (steps done, stopped by the norm test, bound on max z).

    ``z_bound`` >= max z on entry. Each step moves every z_k by |delta_k| <= sqrt(sum delta^2),
    so the bound grows by that much per step (no extra reduction in the loop); when it passes
    ``limit`` the exact max is taken, and the kernel returns if that is above ``limit`` too.
    Steps go two at a time (:func:`_double_sweep`) unless the first of the two ends the
    descent or lifts the bound past ``limit``: then that pair is discarded and one step taken.
    Sweeps alternate between ``z`` and ``spare``; the result always ends in ``z``.
    """
    n = z.size
    first = z
    tmp = np.empty(SWEEP_BLOCK + 2)
    done = 0
    sweeps = 0
    stopped = False
    while done < count:
        if z_bound > limit:
            z_bound = z.max()
            if z_bound > limit:
                break
        if count - done >= 2 and n >= 3:
            acc1, acc2 = _double_sweep(z, spare, b, a0, a1, tmp)
            bound1 = z_bound + np.sqrt(acc1)
            if acc1 >= min_norm2 and bound1 <= limit:
                z, spare = spare, z
                sweeps += 1
                done += 2
                z_bound = bound1 + np.sqrt(acc2)
                if acc2 < min_norm2:
                    stopped = True
                    break
                continue
        acc = _sweep(z, spare, b, a0, a1)
        z, spare = spare, z
        sweeps += 1
        done += 1
        z_bound += np.sqrt(acc)
        if acc < min_norm2:
            stopped = True
            break
    if sweeps % 2 == 1:
        first[:] = z
    return done, stopped, z_bound


@_jit
def _link(c, x, g):
    """f(x, g) = P0(x) + g (P1(x) + g (P2(x) + g (P3(x) + g c15))) (PolynomialLink.value)."""
    p0 = (((c[4] * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0]
    p1 = ((c[8] * x + c[7]) * x + c[6]) * x + c[5]
    p2 = (c[11] * x + c[10]) * x + c[9]
    p3 = c[13] * x + c[12]
    return p0 + g * (p1 + g * (p2 + g * (p3 + g * c[14])))


@_jit
def _descent_offset(x1, x2, y, anchor, c, s, const, r, a0, a1, out):
    """out_k = s (4 f(v_k, g_k) - 3 w_k) + const + r anchor_k - (S y)_k (reference descent).

    v, w: the images x1, x2 read in column-major order (k = j H + i), without a copy;
    g_k = sqrt(v_k^2 + (v_k - v_{k+1})^2), with v_{N+1} := 0; S y as in the descent.
    """
    rows, cols = x1.shape
    n = y.size
    for j in range(cols):
        for i in range(rows):
            k = j * rows + i
            v = x1[i, j]
            if i + 1 < rows:
                right = x1[i + 1, j]
            elif j + 1 < cols:
                right = x1[0, j + 1]
            else:
                right = 0.0
            dv = v - right
            g = np.sqrt(v * v + dv * dv)
            y_left = y[k - 1] if k > 0 else y[0]
            y_right = y[k + 1] if k + 1 < n else y[n - 1]
            s_y = a0 * y[k] - a1 * (y_left + y_right)
            out[k] = s * (4.0 * _link(c, v, g) - 3.0 * x2[i, j]) + const + r * anchor[k] - s_y


@_jit
def _image_of_difference(y, z, out):
    """out(i, j) = y_k - z_k, k = j H + i: x = y - z back on the image grid, in one pass."""
    rows, cols = out.shape
    for j in range(cols):
        for i in range(rows):
            out[i, j] = y[j * rows + i] - z[j * rows + i]


@_jit
def _mri_target(x, x2, a0, a1, a2, c, tau1, out):
    """out = 2 tau1 x - 8 tau1 f'(x; g_yint) (x2 - f(x, |grad x|)) (the MRI update's target).

    f' = ((A3 x + A2) x + A1) x + A0 with A3 = 4 c5; |grad x| from the zero-padded forward
    differences x(i, j) - x(i, j+1) and x(i, j) - x(i+1, j).
    """
    rows, cols = x.shape
    a3 = 4.0 * c[4]
    for i in range(rows):
        for j in range(cols):
            v = x[i, j]
            jx = v - x[i, j + 1] if j + 1 < cols else v
            jy = v - x[i + 1, j] if i + 1 < rows else v
            g = np.sqrt(jx * jx + jy * jy)
            slope = ((a3 * v + a2[i, j]) * v + a1[i, j]) * v + a0[i, j]
            out[i, j] = 2.0 * tau1 * v - 8.0 * tau1 * slope * (x2[i, j] - _link(c, v, g))


@_jit
def _woodbury_half(r, rhs, otf_over_q, otf_conj_over_q_tau, inv_q_tau, inv_denominator, out):
    """Half-spectrum Woodbury solve of the MRI update (module docstring of engine.palm).

    ``r`` holds the columns j <= W/2 of F(2 tau1 X) (rfft2); ``rhs`` etc. are full (H, W).
        r_hat = r + rhs                                     (columns j <= W/2, in place)
        C = U^H(B r_hat / Q) / (kappa + U^H(|B|^2 / Q))     (sum over the d x d tiles)
        out = r_hat / (tau Q) - conj(B) / (tau Q) U C       (columns j <= W/2)
    The columns j > W/2 of B r_hat / Q that the tile sum needs follow from Hermitian symmetry,
    Z(i, j) = conj(Z(-i, -j)), since Z is the spectrum of a real image (B: real PSF; Q even).
    """
    rows, cols = otf_over_q.shape
    h, w = inv_denominator.shape
    half = r.shape[1]
    for i in range(rows):
        for j in range(half):
            r[i, j] += rhs[i, j]
    tiles = np.zeros((h, w), dtype=np.complex128)
    for i in range(rows):
        mirror_i = (rows - i) % rows
        for j in range(cols):
            if j < half:
                z = otf_over_q[i, j] * r[i, j]
            else:
                mirror = otf_over_q[mirror_i, cols - j] * r[mirror_i, cols - j]
                z = mirror.conjugate()
            tiles[i % h, j % w] += z
    for a in range(h):
        for b in range(w):
            tiles[a, b] *= inv_denominator[a, b]
    for i in range(rows):
        for j in range(half):
            out[i, j] = r[i, j] * inv_q_tau[i, j] - otf_conj_over_q_tau[i, j] * tiles[i % h, j % w]


def applies(*tensors: torch.Tensor) -> bool:
    """Whether the fused kernels can run on these tensors: float64 on the CPU."""
    return all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)


def _arrays(*tensors: torch.Tensor) -> list[np.ndarray]:
    return [t.detach().contiguous().numpy() for t in tensors]


def descent_offset(
    x1: torch.Tensor, x2: torch.Tensor, y: torch.Tensor, anchor: torch.Tensor | None,
    coefficients, s: float, const: float, r: float, a0: float, a1: float,
) -> torch.Tensor:
    """b' of the reference descent in one pass (see :func:`_descent_offset`); r = 0: no anchor.

    ``x1``, ``x2`` are images; ``y``, ``anchor`` and the result column-major vectors.
    """
    out = torch.empty_like(y)
    x1_np, x2_np, y_np = _arrays(x1, x2, y)
    anchor_np = y_np if anchor is None else _arrays(anchor)[0]
    c = np.asarray(coefficients, dtype=np.float64)
    _descent_offset(x1_np, x2_np, y_np, anchor_np, c, s, const, r, a0, a1, out.numpy())
    return out


def image_of_difference(y: torch.Tensor, z: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """y - z for column-major vectors, returned as an image of ``shape`` (one pass)."""
    out = torch.empty(shape, dtype=y.dtype)
    _image_of_difference(*_arrays(y, z), out.numpy())
    return out


def mri_target(
    x: torch.Tensor, x2: torch.Tensor, slope: tuple[torch.Tensor, ...], coefficients, tau1: float
) -> torch.Tensor:
    """2 tau1 X of the MRI update in one pass (:func:`_mri_target`); slope = (A0, A1, A2, A3)."""
    x_np, x2_np, a0, a1, a2 = _arrays(x, x2, *slope[:3])
    out = np.empty_like(x_np)
    _mri_target(x_np, x2_np, a0, a1, a2, np.asarray(coefficients, dtype=np.float64), tau1, out)
    return torch.from_numpy(out)


def speckle_free_limit(c: float, max_steps: int) -> float:
    """L = ln(NEGLIGIBLE / (c max_steps)): below it the speckle term may be dropped (inf: c = 0)."""
    if c <= 0:
        return math.inf
    return math.log(NEGLIGIBLE / (c * max(1, max_steps)))


def descend_speckle_free(
    z: torch.Tensor,
    b: torch.Tensor,
    a0: float,
    a1: float,
    c: float,
    max_steps: int,
    min_step_norm: float,
    check_cancel: Callable[[], None] | None,
    check_every: int,
) -> tuple[int, bool]:
    """Run the descent on ``z`` in place while the speckle term is negligible (module docstring).

    Returns (steps taken, finished): finished is False when the caller must continue the
    remaining steps with the full update. ``check_cancel`` is called before steps 0,
    check_every, 2 check_every, ... as in the tensor loop.
    """
    kernel = _steps
    z_np, b_np = z.numpy(), b.numpy()
    spare = np.empty_like(z_np)
    limit = speckle_free_limit(c, max_steps)
    z_bound = float(z_np.max())
    steps = 0
    while steps < max_steps:
        if check_cancel is not None and steps % check_every == 0:
            check_cancel()
        count = min(check_every - steps % check_every, max_steps - steps)
        done, stopped, z_bound = kernel(
            z_np, spare, b_np, a0, a1, count, min_step_norm * min_step_norm, limit, z_bound
        )
        steps += done
        if stopped:
            break
        if done < count:  # max z passed the limit: the speckle term matters from here on
            return steps, False
    return steps, True


def mri_solve(weighted_target: torch.Tensor, problem) -> torch.Tensor:
    """x1 = F^-1(x_hat) of the MRI update from 2 tau1 X, with real FFTs (:func:`_woodbury_half`).

    ``problem`` is the :class:`engine.palm.PalmProblem`. The FFTs are scipy's, on one thread
    whatever torch's thread count (see the module docstring).
    """
    import scipy.fft

    shape = tuple(weighted_target.shape)
    r = scipy.fft.rfft2(_arrays(weighted_target)[0])
    out = np.empty_like(r)
    rhs, otf_over_q, otf_conj, inv_q_tau, inv_den = _arrays(
        problem.rhs_data_hat, problem.otf_over_q, problem.otf_conj_over_q_tau,
        problem.inv_q_tau, problem.inv_denominator,
    )
    _woodbury_half(r, rhs, otf_over_q, otf_conj, inv_q_tau, inv_den, out)
    return torch.from_numpy(scipy.fft.irfft2(out, s=shape))


def warm_up() -> None:
    """Compile every kernel (or load it from numba's cache) on tiny inputs of the real types.

    The first compilation on a machine takes seconds (about 25 s on 2 busy cores); a viewer can
    call this in the background at start so that the first PALM run does not wait for it.
    """
    image = np.linspace(0.1, 0.9, 12).reshape(3, 4)
    vector = image.T.reshape(-1).copy()
    c = np.linspace(0.0, 0.1, 15)
    out = np.empty_like(vector)
    _descent_offset(image, image, vector, vector, c, 1.0, 0.0, 0.0, 0.5, 0.1, out)
    _image_of_difference(vector, out, np.empty_like(image))
    _mri_target(image, image, image, image, image, c, 1.0, np.empty_like(image))
    _steps(vector.copy(), out, vector, 0.5, 0.1, 3, 0.0, math.inf, 1.0)
    spectrum = np.fft.fft2(image)
    half = np.ascontiguousarray(spectrum[:, :3])
    _woodbury_half(half, spectrum, spectrum, spectrum, image, image[:1, :2].copy(), half.copy())
