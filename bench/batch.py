"""Batch throughput with 1 and 2 workers, and the per-pair overhead of Dask against a plain loop.

Fuses the same phantom pairs (written as NumPy files with ``d`` in the manifest, PALM with its
default parameters) in one run on five engines, each pair doing the full batch work (load, fuse,
measure, export, record):

* a plain loop calling :func:`engine.batch.execute.run_pair` in this process, after one warm-up
  pair (the reference);
* a Dask ``LocalCluster`` of 1 and of 2 single-threaded worker processes, timed after the
  cluster has started and each worker has fused one warm-up pair (start-up printed apart);
* the local process pool of 1 and of 2 workers, timed from the start (spawning included);
* the plain loop again.

Columns: ``in-pair s`` is the mean time each pair's record says its own work took; ``outside``
= wall x workers / summed in-pair seconds - 1, the share of worker time spent on anything but
the pairs (scheduling, transfers, idle workers, and for the pool its start-up); ``vs loop`` the
seconds per pair against the mean of the two plain loops (one before, one after, to show how
much the load of the machine moved meanwhile). The per-pair overhead of the distributed path is
``outside`` of Dask with one worker; the goal is at most 5 %. Every process computes with one
thread (``OMP_NUM_THREADS=1`` and friends, one torch thread), as the batch's workers do.

    python bench/batch.py [--pairs 8] [--size 240] [--d 4] [--iterations 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.batch.execute import DaskCluster, LocalPool, run_pair  # noqa: E402
from engine.batch.plan import PairTask  # noqa: E402
from engine.phantom import make_phantom_pair  # noqa: E402

FORMATS = ("dcm", "png")


def write_pairs(folder: Path, count: int, size: int, d: int, iterations: int) -> list[PairTask]:
    tasks = []
    for seed in range(count):
        pair = make_phantom_pair(seed=seed, size=size, d=d)
        mri, us = folder / f"mr{seed}.npy", folder / f"us{seed}.npy"
        np.save(mri, pair.mri.pixels)
        np.save(us, pair.us.pixels)
        tasks.append(PairTask(f"pair-{seed:03d}", mri, us, "palm", d=d,
                              overrides=(("iterations", str(iterations)),)))
    return tasks


def timed(run, tasks: list[PairTask], out: Path) -> tuple[float, float]:
    """(wall seconds, summed in-pair seconds) of ``run(tasks, root, formats, retries)``."""
    started = time.perf_counter()
    outcomes = list(run(tasks, str(out), FORMATS, 0))
    seconds = time.perf_counter() - started
    assert [o.status for o in outcomes] == ["fused"] * len(tasks), outcomes
    return seconds, sum(o.seconds["total"] for o in outcomes)


def plain_loop(tasks, root, formats, retries):
    return (run_pair(task, root, formats) for task in tasks)


def dask_steady(workers: int, tasks: list[PairTask], warm: PairTask, out: Path):
    """(start-up seconds, (wall, in-pair) seconds) on a LocalCluster of ``workers`` processes."""
    engine = DaskCluster(f"local:{workers}", say=lambda _: None)
    started = time.perf_counter()
    with engine.connect(0) as client:
        warmups = [PairTask(f"warm-{i}", warm.mri, warm.us, warm.method, d=warm.d,
                            overrides=warm.overrides) for i in range(workers)]
        list(engine.outcomes(client, warmups, str(out / "warm"), FORMATS))
        startup = time.perf_counter() - started
        seconds = timed(lambda t, r, f, _: engine.outcomes(client, t, r, f), tasks, out)
    return startup, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--size", type=int, default=240, help="US side in pixels")
    parser.add_argument("--d", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10, help="PALM outer iterations")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tasks = write_pairs(root, args.pairs + 1, args.size, args.d, args.iterations)
        warm, tasks = tasks[0], tasks[1:]
        run_pair(warm, str(root / "warm"), FORMATS)
        rows = [("plain loop", 1, None, timed(plain_loop, tasks, root / "loop"))]
        for workers in (1, 2):
            startup, seconds = dask_steady(workers, tasks, warm, root / f"dask{workers}")
            rows.append((f"Dask local:{workers}", workers, startup, seconds))
        for workers in (1, 2):
            seconds = timed(LocalPool(workers).run, tasks, root / f"pool{workers}")
            rows.append(("process pool (incl. start)", workers, None, seconds))
        rows.append(("plain loop (again)", 1, None, timed(plain_loop, tasks, root / "loop2")))

    n = len(tasks)
    loop_per_pair = (rows[0][3][0] + rows[-1][3][0]) / (2 * n)
    print(f"{n} pairs of {args.size}x{args.size} (d = {args.d}), palm {args.iterations} "
          f"iterations, outputs {'+'.join(FORMATS)}; one thread per process")
    header = (f"{'engine':28s} {'workers':>7s} {'start s':>8s} {'wall s':>8s} {'pairs/s':>8s} "
              f"{'s/pair':>7s} {'in-pair s':>9s} {'outside':>8s} {'vs loop':>8s}")
    print(header)
    print("-" * len(header))
    for name, workers, startup, (seconds, inside) in rows:
        per_pair = seconds / n
        start = "" if startup is None else f"{startup:.1f}"
        print(f"{name:28s} {workers:7d} {start:>8s} {seconds:8.2f} {n / seconds:8.3f} "
              f"{per_pair:7.3f} {inside / n:9.3f} {seconds * workers / inside - 1:+8.1%} "
              f"{per_pair / loop_per_pair - 1:+8.1%}")
    dask1, dask1_inside = rows[1][3]
    print(f"\nper-pair overhead of the distributed path (Dask local:1, time outside the pairs' "
          f"own work): {dask1 / dask1_inside - 1:+.1%} (goal <= 5 %); its wall time per pair "
          f"against the plain loop (mean of both loops): {dask1 / n / loop_per_pair - 1:+.1%}; "
          f"speed-up of 2 Dask workers over 1: {dask1 / rows[2][3][0]:.2f}x, of 2 pool workers "
          f"over 1: {rows[3][3][0] / rows[4][3][0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
