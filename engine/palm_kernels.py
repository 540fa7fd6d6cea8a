"""Fused CPU kernel of the PALM US descent (numba) for :func:`engine.palm.us_descent_reference`.

The reference descent iterates, on the column-major vector z = y - x (see that function),

    delta_k = b'_k + c exp(z_k) + a0 z_k - a1 (z_{k-1} + z_{k+1})      (z_0, z_{N+1} := z_1, z_N)
    z_k    <- z_k - delta_k,          stop when sum_k delta_k^2 < min_step_norm^2,

with c = alpha tau2. Written as separate tensor operations this is seven passes over N-element
arrays per step; :func:`_steps` does one pass (read z and b', write the new z into a second
buffer, accumulate sum delta^2 and max z), single-threaded: on a loaded 2-core machine a second
thread costs more than it gains.

The speckle term. With the reference weights c = 0.2 * 1e-15, so c exp(z_k) is below 1e-15 for
z_k < 1.6, under the rounding of the O(1) values it is added to. The kernel drops it while that is
provably harmless: if every step runs with max_k z_k <= L, L = ln(NEGLIGIBLE / (c n_max)) for
n_max steps at most, each delta changes by at most c e^L and the final iterate by at most
n_max c e^L = NEGLIGIBLE per element (the smoothing part of the iteration is a contraction, it
cannot amplify it). The kernel returns as soon as a step ends with max z > L, and the caller
finishes with the full update. libm exp has no vector form in numba, so with the term the tensor
code is the faster one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

#: largest change of the final US iterate (per pixel) that dropping the speckle term may cause;
#: the iterates are O(1) and the golden tolerance against the reference is 1e-9 relative
NEGLIGIBLE = 1e-12

_compiled = None  # the numba kernel, compiled on first use (keeps numba out of start-up)


def _steps(z, spare, b, a0, a1, count, min_norm2, limit, z_bound):
    """Up to ``count`` steps; returns (steps done, stopped by the norm test, bound on max z).

    ``z_bound`` >= max z on entry. Each step moves every z_k by |delta_k| <= sqrt(sum delta^2),
    so the bound grows by that much per step (no extra reduction in the loop); when it passes
    ``limit`` the exact max is taken, and the kernel returns if that is above ``limit`` too.
    Steps alternate between ``z`` and ``spare``; the result always ends in ``z``.
    """
    n = z.size
    first = z
    done = 0
    stopped = False
    while done < count:
        if z_bound > limit:
            z_bound = z.max()
            if z_bound > limit:
                break
        acc = 0.0
        d = b[0] + a0 * z[0] - a1 * (z[0] + z[1 % n])
        spare[0] = z[0] - d
        acc += d * d
        for k in range(1, n - 1):
            d = b[k] + a0 * z[k] - a1 * (z[k - 1] + z[k + 1])
            spare[k] = z[k] - d
            acc += d * d
        if n > 1:
            d = b[n - 1] + a0 * z[n - 1] - a1 * (z[n - 2] + z[n - 1])
            spare[n - 1] = z[n - 1] - d
            acc += d * d
        z, spare = spare, z
        done += 1
        z_bound += np.sqrt(acc)
        if acc < min_norm2:
            stopped = True
            break
    if done % 2 == 1:
        first[:] = z
    return done, stopped, z_bound


def applies(z: torch.Tensor) -> bool:
    """Whether the fused kernel can run on ``z``: a contiguous float64 vector on the CPU."""
    return z.device.type == "cpu" and z.dtype == torch.float64 and z.is_contiguous()


def speckle_free_limit(c: float, max_steps: int) -> float:
    """L = ln(NEGLIGIBLE / (c max_steps)): below it the speckle term may be dropped (inf: c = 0)."""
    if c <= 0:
        return math.inf
    return math.log(NEGLIGIBLE / (c * max(1, max_steps)))


def _kernel():
    global _compiled
    if _compiled is None:
        import numba

        _compiled = numba.njit(fastmath=True, nogil=True, cache=True)(_steps)
    return _compiled


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
    kernel = _kernel()
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
