"""PALM speed on the Data1 problem (600x600, d = 6): ours against two NumPy ports, in one run.

Prints, for the reference variant and the demo hyper-parameters, the time of 10 outer iterations
(``palm_fuse``: problem set-up included) for our implementation with 1 and 2 torch threads, for
a straightforward NumPy transcription with the descent's loop-invariant target hoisted out of
the inner loop, and for the plain port that recomputes it in every step as the MATLAB code does;
first as the machine was found, then again beside one competing busy process (a pure Python
loop), because with every core taken a multi-threaded run degrades sharply.

    python bench/palm.py [--iterations 10] [--repeat 3] [--threads 1,2] [--no-busy] [--no-plain]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.operators import centred_otf, difference_spectrum, gaussian_psf  # noqa: E402
from engine.palm import PalmParams, palm_fuse  # noqa: E402
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


def vector_target(c, v, w):
    """4 f(v, g) - 3 w on the column-major vectors, g_k = sqrt(v_k^2 + (v_k - v_{k+1})^2)."""
    dv = v.copy()
    dv[:-1] -= v[1:]
    return 4 * numpy_link(c, v, np.sqrt(v**2 + dv**2)) - 3 * w


def numpy_palm(ym, xu0, c, p: PalmParams, hoisted: bool = True):
    """NumPy PALM (reference semantics) written for clarity, one array operation at a time.

    ``hoisted``: the descent's target 4 f(x1) - 3 x2 (fixed during the descent) is computed once
    per descent; otherwise in every step, as the MATLAB code does (the plain port).
    """
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
        v, v2 = x1.T.reshape(-1), x2.T.reshape(-1)
        xt = vector_target(c, v, v2) if hoisted else None
        x = y + 1e-8
        for _k in range(p.inner_iterations):
            if not hoisted:
                xt = vector_target(c, v, v2)
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


@dataclass(frozen=True)
class Timings:
    """One condition (idle or busy): ours per thread count, the two NumPy ports (seconds)."""

    condition: str
    ours: dict[int, float]
    hoisted: float
    plain: float | None
    load: float


def measure(condition, ym, xu0, c, params, device, repeat, threads, with_plain) -> Timings:
    load = os.getloadavg()[0]
    ours = {}
    for n in threads:
        torch.set_num_threads(n)
        palm_fuse(ym, xu0, c, params, device=device)  # warm-up (kernels, FFT plans)
        ours[n], _ = best_of(repeat, lambda: palm_fuse(ym, xu0, c, params, device=device))
    hoisted, _ = best_of(1, lambda: numpy_palm(ym, xu0, c, params, hoisted=True))
    plain = None
    if with_plain:
        plain, _ = best_of(1, lambda: numpy_palm(ym, xu0, c, params, hoisted=False))
    return Timings(condition, ours, hoisted, plain, load)


def busy_process() -> subprocess.Popen:
    """One competing process that keeps a core busy (pure Python loop)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def print_table(rows: list[Timings], iterations: int) -> None:
    threads = list(rows[0].ours)
    head = "".join(f"{f'ours {n} thr., s':>16s}" for n in threads)
    print(f"{'condition':22s}{'load':>6s}{head}{'hoisted NumPy':>15s}{'plain NumPy':>13s}"
          f"{'best/hoisted':>14s}{'best/plain':>12s}")
    for row in rows:
        best = min(row.ours.values())
        plain = "" if row.plain is None else f"{row.plain:13.2f}"
        to_plain = "" if row.plain is None else f"{best / row.plain:12.3f}"
        cells = "".join(f"{row.ours[n]:16.3f}" for n in threads)
        print(f"{row.condition:22s}{row.load:6.1f}{cells}{row.hoisted:15.2f}{plain:>13s}"
              f"{best / row.hoisted:14.3f}{to_plain:>12s}")
    best_idle = min(rows[0].ours.values())
    ratio = best_idle / rows[0].hoisted
    print(f"goals ({rows[0].condition}): <= 0.125x the hoisted port: {ratio:.3f}x "
          f"({'met' if ratio <= 0.125 else 'missed'}); <= 0.5 s for {iterations} iterations: "
          f"{best_idle:.3f} s ({'met' if best_idle <= 0.5 else 'missed'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to compare")
    parser.add_argument("--no-busy", action="store_true", help="skip the busy-process table")
    parser.add_argument("--no-plain", action="store_true", help="skip the (slow) plain port")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "fixtures" / "palm"
                                              / "data1_reference.npz"))
    args = parser.parse_args()
    z = np.load(args.data)
    ym, xu0, c = z["ym"], z["xu0"], z["c_octave"]
    params = PalmParams(iterations=args.iterations)
    device = torch.device(args.device)
    threads = [int(n) for n in args.threads.split(",")]
    print(f"PALM reference variant, Data1 600x600, d=6, {args.iterations} outer iterations "
          f"({params.inner_iterations} descent steps each), device {device}, "
          f"{os.cpu_count()} CPUs; ours = engine.palm.palm_fuse (best of {args.repeat}), "
          "NumPy ports once")
    rows = [measure("idle (as found)", ym, xu0, c, params, device, args.repeat, threads,
                    not args.no_plain)]
    if not args.no_busy:
        busy = busy_process()
        try:
            rows.append(measure("one busy process", ym, xu0, c, params, device, args.repeat,
                                threads, not args.no_plain))
        finally:
            busy.kill()
            busy.wait()
    print_table(rows, args.iterations)
    result = palm_fuse(ym, xu0, c, params, device=device)
    x2_np = numpy_palm(ym, xu0, c, params)[0]
    agree = np.linalg.norm(result.x_us - x2_np) / np.linalg.norm(x2_np)
    print(f"ours vs NumPy x2 rel. diff {agree:.1e}", end="")
    if args.iterations == 10:
        err = np.linalg.norm(result.x_us - z["x2_octave_10"]) / np.linalg.norm(z["x2_octave_10"])
        print(f"; vs Octave x2_octave_10 {err:.1e}", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
