"""PALM speed on the Data1 problem (600x600, d = 6): ours (torch) against a plain NumPy version.

Prints, for the reference variant and the demo hyper-parameters, the time per outer iteration,
per inner (US descent) step and per MRI update, for our torch implementation and for a
straightforward NumPy transcription of the same algorithm (loop invariants hoisted, no fusing of
element-wise passes), both measured in this run; and the FFT floor (one 600x600 complex fft2).

    python bench/palm.py [--iterations 10] [--repeat 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.operators import centred_otf, difference_spectrum, gaussian_psf  # noqa: E402
from engine.palm import (  # noqa: E402
    PalmParams,
    initial_state,
    make_problem,
    mri_update,
    palm_fuse,
    us_descent_reference,
)
from engine.resample import imresize_bicubic  # noqa: E402


def numpy_link(c, x, g):
    terms = [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (1, 1), (2, 1), (3, 1), (0, 2),
             (1, 2), (2, 2), (0, 3), (1, 3), (0, 4)]
    return sum(ck * x**p * g**q for ck, (p, q) in zip(c, terms, strict=True))


def numpy_grad(a):
    jx = a.copy()
    jx[:, :-1] -= a[:, 1:]
    jy = a.copy()
    jy[:-1] -= a[1:]
    return np.sqrt(jx**2 + jy**2)


def numpy_palm(ym, xu0, c, p: PalmParams):
    """Plain NumPy PALM (reference semantics), written for clarity, invariants hoisted."""
    d = p.d
    n1, n2 = xu0.shape
    h, w = ym.shape
    fb = centred_otf(gaussian_psf(), xu0.shape)
    fbc = np.conj(fb)
    f2b = np.abs(fb) ** 2
    q = difference_spectrum(xu0.shape) + 100 * p.tau1
    sty = np.zeros(xu0.shape)
    sty[::d, ::d] = ym
    fr0 = fbc * np.fft.fft2(sty)
    inv_w = (f2b / q).reshape(d, h, d, w).sum(axis=(0, 2))
    yint = imresize_bicubic(ym, d)
    gy = numpy_grad(yint)
    dc = [c[1], 2 * c[2], 3 * c[3], 4 * c[4], c[6], 2 * c[7], 3 * c[8], c[10], 2 * c[11], c[13]]
    x1, x2 = yint.copy(), xu0 + 1e-8
    y = xu0.T.reshape(-1)
    t_mri = t_inner = 0.0
    steps = 0
    for _ in range(p.iterations):
        t = time.perf_counter()
        deriv = (dc[0] + dc[1] * x1 + dc[2] * x1**2 + dc[3] * x1**3 + gy * (dc[4] + dc[5] * x1
                 + dc[6] * x1**2) + gy**2 * (dc[7] + dc[8] * x1) + dc[9] * gy**3)
        target = x1 - 4 * deriv * (x2 - numpy_link(c, x1, numpy_grad(x1)))
        fr = fr0 + np.fft.fft2(2 * p.tau1 * target)
        fbr = (fb * fr / q).reshape(d, h, d, w).sum(axis=(0, 2))
        x1 = np.real(np.fft.ifft2((fr - fbc * np.tile(fbr / (inv_w + 4), (d, d))) / q))
        t_mri += time.perf_counter() - t
        t = time.perf_counter()
        v = x1.T.reshape(-1)
        dv = v.copy()
        dv[:-1] -= v[1:]
        xt = 4 * numpy_link(c, v, np.sqrt(v**2 + dv**2)) - 3 * x2.T.reshape(-1)
        x = y + 1e-8
        for _k in range(p.inner_iterations):
            lap = np.empty_like(x)
            lap[1:-1] = 2 * x[1:-1] - x[:-2] - x[2:]
            lap[0], lap[-1] = x[0] - x[1], x[-1] - x[-2]
            g = p.tau2 * (p.gamma - np.exp(y - x)) + p.tau3 * lap + p.tau4 / 2 * (x - xt)
            x_new = x - p.step * g
            steps += 1
            done = np.linalg.norm(x_new - x) < p.min_step_norm
            x = x_new
            if done:
                break
        x2 = x.reshape(n2, n1).T
        t_inner += time.perf_counter() - t
    return x2, x1, t_mri, t_inner, steps


def best_of(repeat, fn):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "fixtures" / "palm"
                                              / "data1_reference.npz"))
    args = parser.parse_args()
    z = np.load(args.data)
    ym, xu0, c = z["ym"], z["xu0"], z["c_octave"]
    params = PalmParams(iterations=args.iterations)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def ours():
        result = palm_fuse(ym, xu0, c, params, device=device)
        sync()
        return result

    ours()  # warm-up (allocations, FFT plans)
    t_ours, result = best_of(args.repeat, ours)
    problem = make_problem(ym, xu0, c, params, device=device)
    state = initial_state(problem)
    t_mri_ours, x1 = best_of(args.repeat, lambda: (mri_update(state, problem), sync())[0])
    t_desc_ours, (x2, steps_ours) = best_of(
        args.repeat, lambda: (us_descent_reference(x1, state.x_us, problem), sync())[0]
    )
    t_np, (x2_np, _x1_np, t_mri_np, t_inner_np, steps_np) = best_of(
        1, lambda: numpy_palm(ym, xu0, c, params)
    )
    spec = torch.from_numpy(np.random.default_rng(0).normal(size=xu0.shape) + 0j).to(device)
    t_fft, _ = best_of(20, lambda: (torch.fft.fft2(spec), sync()))

    agree = np.linalg.norm(result.x_us - x2_np) / np.linalg.norm(x2_np)
    err = np.linalg.norm(result.x_us - z["x2_octave_10"]) / np.linalg.norm(z["x2_octave_10"])
    n = args.iterations
    print(f"PALM reference variant, Data1 600x600, d=6, {n} outer iterations, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'':28s}{'ours (torch)':>14s}{'plain NumPy':>14s}{'ratio':>8s}")
    rows = [
        ("total, s", t_ours, t_np),
        ("per outer iteration, ms", 1e3 * t_ours / n, 1e3 * t_np / n),
        ("MRI update, ms", 1e3 * t_mri_ours, 1e3 * t_mri_np / n),
        ("US descent step, ms", 1e3 * t_desc_ours / steps_ours, 1e3 * t_inner_np / steps_np),
    ]
    for label, a, b in rows:
        print(f"{label:28s}{a:14.3f}{b:14.3f}{b / a:8.1f}x")
    print(f"{'FFT floor (fft2 600x600), ms':28s}{1e3 * t_fft:14.3f}")
    print(f"MRI update / FFT floor: {t_mri_ours / t_fft:.1f}; "
          f"ours vs NumPy x2 rel. diff {agree:.1e}; vs Octave x2_octave_10 {err:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
