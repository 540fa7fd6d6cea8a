"""Running the pairs of a batch: a local process pool, or a Dask cluster where each pair is a task.

Both engines run :func:`run_pair` in worker processes with one torch thread each, and both yield
one :class:`~engine.batch.store.PairOutcome` per pair as it finishes. A pair whose data cannot be
fused is an ordinary outcome (``failed`` with its sentence) and is never retried; only a worker
that dies (killed, out of memory, crashed interpreter) makes its pairs run again, at most
``retries`` more times, after which they are reported ``lost``.

* :class:`LocalPool` (the default): ``concurrent.futures.ProcessPoolExecutor`` with spawned
  workers. At most one pair per worker is in flight, so a dying worker, which breaks the whole
  pool, costs only the pairs that were running; the pool is then rebuilt and they run again.
* :class:`DaskCluster`: ``local:N`` starts a ``distributed.LocalCluster`` of N single-threaded
  worker processes; ``tcp://HOST:PORT`` connects to a running scheduler. The scheduler reschedules
  the tasks of a lost worker and gives up after ``allowed-failures`` = ``retries`` deaths
  (``KilledWorker``). Diffusion pairs carry a higher priority and, when any worker declares the
  resource ``GPU`` (``dask worker ... --resources GPU=1``), need one GPU slot, so that GPU workers
  take them first and CPU workers take ``palm``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import EndoFuseError, ParameterError
from .plan import PairTask
from .steps import fuse_pair
from .store import OutputTree, PairOutcome, fingerprint

#: what a task needs of a GPU worker (a Dask worker resource)
GPU_RESOURCE = "GPU"
ALLOWED_FAILURES = "distributed.scheduler.allowed-failures"
#: Dask settings of a ``local:N`` cluster. Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536,
#: which makes glibc map and unmap every array temporary and ran a 240x240 PALM pair about twice
#: as slow (bench/batch.py); our tasks keep no data between pairs, so it is left unset. The
#: statistical profiler (a thread sampling every 10 ms) is off for the same reason.
LOCAL_CLUSTER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}


def _one_torch_thread() -> None:
    """Each worker computes with one thread: the pool, not the library, uses the cores."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def run_pair(task: PairTask, root: str, formats: tuple[str, ...]) -> PairOutcome:
    """Fuse one pair in a worker and write its record; never raises for bad data."""
    _one_torch_thread()
    tree = OutputTree(root)
    started = time.perf_counter()
    outcome = PairOutcome(
        key=task.key, status="fused", mri=str(task.mri), us=str(task.us), method=task.method,
        d=task.d, worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    try:
        outcome.fingerprint = fingerprint(task, formats)
        metrics, written, seconds = fuse_pair(task, tree.pair_dir(task.key), formats)
        outcome.metrics, outcome.seconds = metrics, seconds
        outcome.outputs = [str(path.relative_to(tree.root)) for path in written]
    except EndoFuseError as exc:
        outcome.status, outcome.error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of the program: reported, redone next run
        outcome.status, outcome.error = "error", f"Unexpected {type(exc).__name__}: {exc}"
    outcome.seconds["total"] = round(time.perf_counter() - started, 4)
    tree.write_record(outcome)
    return outcome


def lost(task: PairTask) -> PairOutcome:
    """The outcome of a pair whose workers died more often than the retry bound."""
    return PairOutcome(
        key=task.key, status="lost", mri=str(task.mri), us=str(task.us), method=task.method,
        d=task.d, error=(
            "The workers fusing this pair died (killed or out of memory) more often than the "
            "retry bound allows; run the batch again to retry it, with fewer workers if memory "
            "is short."
        ),
    )


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class LocalPool:
    """A process pool on this machine, one worker per core by default."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or usable_cores())

    def describe(self) -> str:
        return f"local process pool of {self.workers} worker(s)"

    def run(
        self, tasks: list[PairTask], root: str, formats: tuple[str, ...], retries: int
    ) -> Iterator[PairOutcome]:
        queue, deaths = list(reversed(tasks)), Counter()
        while queue:
            in_flight = yield from self._until_broken(queue, root, formats)
            for task in in_flight:
                deaths[task.key] += 1
                if deaths[task.key] > retries:
                    yield lost(task)
                else:
                    queue.append(task)

    def _until_broken(self, queue: list[PairTask], root: str, formats: tuple[str, ...]):
        """Run the queue on one pool; return the tasks in flight when a worker died, or []."""
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool
        from multiprocessing import get_context

        with ProcessPoolExecutor(
            self.workers, mp_context=get_context("spawn"), initializer=_one_torch_thread
        ) as pool:
            running: dict = {}
            while queue or running:
                try:
                    while queue and len(running) < self.workers:
                        running[pool.submit(run_pair, queue[-1], root, formats)] = queue[-1]
                        queue.pop()
                except BrokenProcessPool:  # a worker died: the pool takes no more work
                    return list(running.values())
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del running[future]
                    yield outcome
                if broken:
                    return list(running.values())
        return []


class DaskCluster:
    """A Dask distributed cluster: ``local:N`` (started here) or ``tcp://HOST:PORT`` (running)."""

    def __init__(self, scheduler: str, say: Callable[[str], None] = print) -> None:
        self.scheduler = scheduler.strip()
        self.say = say
        self.local_workers: int | None = None
        if self.scheduler.startswith("local:"):
            count = self.scheduler.removeprefix("local:")
            if not count.isdigit() or int(count) < 1:
                raise ParameterError(
                    f"--scheduler {scheduler}: write local:N with N a number of workers >= 1."
                )
            self.local_workers = int(count)
        elif not self.scheduler.startswith(("tcp://", "tls://")):
            raise ParameterError(
                f"--scheduler {scheduler} is neither local:N nor a scheduler address such as "
                "tcp://HOST:8786."
            )

    def describe(self) -> str:
        if self.local_workers:
            return f"Dask LocalCluster of {self.local_workers} worker process(es)"
        return f"Dask scheduler {self.scheduler}"

    @contextmanager
    def connect(self, retries: int):
        """A connected ``distributed.Client`` (with its LocalCluster for ``local:N``)."""
        import dask
        from distributed import Client, LocalCluster

        cluster = None
        with dask.config.set({**LOCAL_CLUSTER_CONFIG, ALLOWED_FAILURES: retries}):
            if self.local_workers:
                cluster = LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True,
                    dashboard_address=":0", silence_logs=logging.ERROR,
                )
        try:
            client = Client(cluster or self.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ParameterError(
                f"No Dask scheduler answers at {self.scheduler}; start one with `dask scheduler` "
                "and its workers with `dask worker ADDRESS`, or use --scheduler local:N."
            ) from exc
        try:
            note = ""
            if cluster is not None and importlib.util.find_spec("bokeh") is None:
                note = " (served once bokeh is installed: pip install 'bokeh>=3.1')"
            self.say(f"Dask dashboard: {client.dashboard_link}{note}")
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def outcomes(
        self, client, tasks: list[PairTask], root: str, formats: tuple[str, ...]
    ) -> Iterator[PairOutcome]:
        """Submit one task per pair to ``client``; yield the outcomes as they finish."""
        from distributed import as_completed

        futures = submit_all(client, tasks, root, formats)
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception:  # noqa: BLE001 - KilledWorker and friends: the worker died
                yield lost(futures[future])

    def run(
        self, tasks: list[PairTask], root: str, formats: tuple[str, ...], retries: int
    ) -> Iterator[PairOutcome]:
        with self.connect(retries) as client:
            yield from self.outcomes(client, tasks, root, formats)


def submit_all(client, tasks: list[PairTask], root: str, formats: tuple[str, ...]) -> dict:
    """One Dask task per pair: future -> task. Diffusion pairs get the higher priority and, when
    a worker declares the GPU resource, need it."""
    workers = client.scheduler_info()["workers"].values()
    has_gpu = any(GPU_RESOURCE in (w.get("resources") or {}) for w in workers)
    futures = {}
    for task in tasks:
        future = client.submit(
            run_pair, task, root, formats, key=f"pair-{task.key}-{uuid.uuid4().hex[:8]}",
            pure=False, priority=1 if task.uses_gpu else 0,
            resources={GPU_RESOURCE: 1} if has_gpu and task.uses_gpu else None,
        )
        futures[future] = task
    return futures


def make_engine(
    scheduler: str | None, workers: int | None, say: Callable[[str], None] = print
) -> LocalPool | DaskCluster:
    """The execution engine named by ``--scheduler`` (None: the local process pool)."""
    return LocalPool(workers) if scheduler in (None, "", "pool") else DaskCluster(scheduler, say)

