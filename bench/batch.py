"""Batch throughput with 1 and 2 workers, and the per-pair overhead of Dask against a plain loop.

Fuses the same phantom pairs (written as NumPy files with ``d`` in the manifest, PALM with its
default parameters) in one run on five engines, each pair doing the full batch work (load, fuse,
measure, export, record):

* a plain loop calling :func:`engine.batch.execute.run_pair` in this process, after one warm-up
  pair (the reference);
* a Dask ``LocalCluster`` of 1 and of 2 single-threaded worker processes, timed after the
  cluster has started and each worker has fused one warm-up pair (start-up printed apart);
* the local process pool of 1 and of 2 workers, timed from the start (spawning included).

Per-pair overhead of the distributed path = (Dask 1-worker seconds per pair) / (loop seconds per
pair) - 1; the goal is at most 5 %. It is split into the time outside the pairs' own work
(scheduling, transfer: wall minus the summed in-pair seconds each record holds) and the pairs'
own work being slower in the worker process than in the loop.

    python bench/batch.py [--pairs 8] [--size 240] [--d 4] [--iterations 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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

    n = len(tasks)
    loop_per_pair = rows[0][3][0] / n
    print(f"{n} pairs of {args.size}x{args.size} (d = {args.d}), palm {args.iterations} "
          f"iterations, outputs {'+'.join(FORMATS)}")
    header = (f"{'engine':28s} {'workers':>7s} {'start s':>8s} {'wall s':>8s} {'pairs/s':>8s} "
              f"{'s/pair':>7s} {'in-pair s':>9s} {'vs loop':>8s}")
    print(header)
    print("-" * len(header))
    for name, workers, startup, (seconds, inside) in rows:
        per_pair = seconds / n
        start = "" if startup is None else f"{startup:.1f}"
        print(f"{name:28s} {workers:7d} {start:>8s} {seconds:8.2f} {n / seconds:8.3f} "
              f"{per_pair:7.3f} {inside / n:9.3f} {per_pair / loop_per_pair - 1:+8.1%}")
    (loop, loop_inside), (dask1, dask1_inside) = rows[0][3], rows[1][3]
    print(f"\nper-pair overhead of the distributed path (Dask local:1 vs loop): "
          f"{dask1 / loop - 1:+.1%} of wall time (goal <= 5 %), of which the time outside the "
          f"pair's own work is {(dask1 - dask1_inside) / loop:+.1%} and the slower work inside "
          f"the worker {(dask1_inside - loop_inside) / loop:+.1%}; speed-up of 2 Dask workers "
          f"over 1: {dask1 / rows[2][3][0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
