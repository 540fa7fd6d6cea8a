"""One batch from plan to report: skip what is finished, run the rest, write the tables.

::

    plan = read_manifest("cohort.csv", method="palm")            # or pair_tree("dicom/", "palm")
    summary = run_batch(plan, BatchSettings(out=Path("fused"), scheduler="local:2"))
    summary.counts()  # {"fused": 10, "failed": 2}

A pair is skipped when the output tree holds it finished with the same inputs
(:meth:`~engine.batch.store.OutputTree.finished`); everything else runs on the engine that
``scheduler`` names (:func:`~engine.batch.execute.make_engine`). ``results.csv`` and
``report.md`` are rewritten at the end of every run and list every pair of the plan, reused or
not, and every input that was left out.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError
from .execute import make_engine
from .plan import BatchPlan, PairTask
from .report import write_report, write_results_csv
from .steps import FORMATS
from .store import OutputTree, PairOutcome

#: default output formats: the DICOM derived image and a PNG
DEFAULT_FORMATS = ("dcm", "png")


@dataclass(frozen=True)
class BatchSettings:
    """Where outputs go, in which formats, and which engine runs the pairs."""

    out: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS
    #: None: local process pool; ``local:N``: Dask LocalCluster; ``tcp://HOST:PORT``: Dask
    scheduler: str | None = None
    #: workers of the local process pool (default: one per core)
    workers: int | None = None
    #: how many more times a pair runs after the worker running it died
    retries: int = 2
    progress: bool = True


@dataclass(frozen=True)
class BatchSummary:
    """Every pair's outcome in plan order, and where the tables are."""

    outcomes: tuple[PairOutcome, ...]
    results_csv: Path
    report: Path
    engine: str

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.outcomes))

    def ran(self) -> list[str]:
        """Keys of the pairs this run fused or tried (not reused, not left out)."""
        return [o.key for o in self.outcomes if not o.reused and o.status != "unpaired"]


def parse_formats(text: str) -> tuple[str, ...]:
    """``"dcm,png"`` -> ``("dcm", "png")``, refusing unknown names."""
    names = tuple(dict.fromkeys(n.strip().lower().lstrip(".") for n in text.split(",") if n))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ParameterError(
            f"Unknown output format {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(FORMATS)} (comma-separated)."
        )
    return names


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="pair", disable=not enabled, file=sys.stderr, smoothing=0.1)


def pending(task: PairTask) -> PairOutcome:
    """The row of a pair that the batch did not reach (it was interrupted)."""
    return PairOutcome(
        key=task.key, status="pending", mri=str(task.mri), us=str(task.us), method=task.method,
        d=task.d, error="The batch stopped before this pair was fused; run it again.",
    )


def run_batch(
    plan: BatchPlan,
    settings: BatchSettings,
    on_outcome: Callable[[PairOutcome], None] | None = None,
    say: Callable[[str], None] = print,
) -> BatchSummary:
    """Run ``plan`` (module docstring); ``on_outcome`` sees each pair as it finishes."""
    settings.out.mkdir(parents=True, exist_ok=True)
    tree = OutputTree(settings.out.resolve())
    engine = make_engine(settings.scheduler, settings.workers, say)
    outcomes: dict[str, PairOutcome] = {}
    todo = []
    for task in plan.tasks:
        finished = tree.finished(task, settings.formats)
        if finished is None:
            todo.append(task)
        else:
            outcomes[task.key] = finished
    say(f"{len(plan.tasks)} pair(s): {len(outcomes)} already done, {len(todo)} to run on "
        f"{engine.describe()}.")
    bar = _progress_bar(len(todo), settings.progress and bool(todo))
    counts: Counter = Counter()
    try:
        for outcome in engine.run(todo, str(tree.root), settings.formats, settings.retries):
            outcomes[outcome.key] = outcome
            counts[outcome.status] += 1
            bar.set_postfix(counts, refresh=False)
            bar.update()
            if on_outcome is not None:
                on_outcome(outcome)
    finally:  # the tables list every pair even when the batch is interrupted
        bar.close()
        ordered = [outcomes.get(t.key) or pending(t) for t in plan.tasks]
        ordered += [PairOutcome(key=item.what, status="unpaired", error=item.reason)
                    for item in plan.unpaired]
        results = write_results_csv(ordered, tree.root / "results.csv")
        report = write_report(ordered, tree.root, engine.describe())
    return BatchSummary(tuple(ordered), results, report, engine.describe())
