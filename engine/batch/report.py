"""The batch's tables: ``results.csv`` (one row per pair) and ``report.md`` (thumbnails, metrics).

``results.csv`` columns: ``key, status, reused, error, mri, us, method, d``, the seconds of each
stage (``load_s, fuse_s, measure_s, export_s, total_s``), ``worker``, ``outputs`` (``;``-separated,
relative to the output folder), then one column per metric of the standard set of
:func:`engine.pipeline.measure`. Pairs that were left out by the pairing have the status
``unpaired`` and their sentence in ``error``.

``report.md`` counts the statuses, shows the distribution of every metric over the fused pairs
(one histogram each, ``metrics.png``, drawn with matplotlib) and lists every pair with its
thumbnail, or its sentence when it was not fused.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path

from .store import PairOutcome, write_atomically

STAGES = ("load", "fuse", "measure", "export", "total")
COLUMNS = ("key", "status", "reused", "error", "mri", "us", "method", "d")
#: metrics the report's pair table shows (all of them are in results.csv and the histograms)
TABLE_METRICS = ("PSNR", "SSIM", "MI", "Qabf")


def metric_label(key: str) -> str:
    """A standard-set key's one display name (:mod:`engine.metrics.catalog`) for the report;
    ``results.csv`` keeps the keys as its column names."""
    from ..metrics import metric_info

    try:
        return metric_info("standard", key).label
    except KeyError:
        return key


def metric_names(outcomes: list[PairOutcome]) -> list[str]:
    names: dict[str, None] = {}
    for outcome in outcomes:
        names.update(dict.fromkeys(outcome.metrics))
    return list(names)


def write_results_csv(outcomes: list[PairOutcome], path: Path) -> Path:
    """One row per pair (columns in the module docstring), written atomically."""
    metrics = metric_names(outcomes)
    header = [*COLUMNS, *(f"{stage}_s" for stage in STAGES), "worker", "outputs", *metrics]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for o in outcomes:
        writer.writerow([
            o.key, o.status, "yes" if o.reused else "no", o.error, o.mri, o.us, o.method,
            "" if o.d is None else o.d,
            *(o.seconds.get(stage, "") for stage in STAGES),
            o.worker, ";".join(o.outputs),
            *(_number(o.metrics.get(name)) for name in metrics),
        ])
    return write_atomically(path, buffer.getvalue().encode())


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


#: the histogram grid: panels per row; inches: one panel's axes (width, height), the gaps between
#: axes (across, down: tick labels + the next title), the margins (left, right, bottom, top)
GRID_COLUMNS = 4
AXES_INCHES = (2.75, 1.85)
GAP_INCHES = (0.45, 0.55)
MARGIN_INCHES = (0.45, 0.15, 0.35, 0.35)
DPI = 80


def metric_histogram_figure(outcomes: list[PairOutcome]):
    """A matplotlib ``Figure`` with one histogram per metric over the fused pairs' finite values
    (title ``label (n=count)``, integer counts on the y axis) on a grid of :data:`GRID_COLUMNS`
    panels a row; None when no pair was fused.

    The layout is fixed in inches (no layout engine, which would draw the figure several times
    to measure it): width = left + right + columns * axes width + (columns - 1) * gap, and alike
    for the height; the margins and gaps fit the tick labels and one title line.
    """
    fused = [o for o in outcomes if o.status == "fused" and o.metrics]
    names = metric_names(fused)
    if not names:
        return None
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    columns = min(GRID_COLUMNS, len(names))
    rows = math.ceil(len(names) / columns)
    (axes_w, axes_h), (gap_w, gap_h) = AXES_INCHES, GAP_INCHES
    left, right, bottom, top = MARGIN_INCHES
    width = left + right + columns * axes_w + (columns - 1) * gap_w
    height = bottom + top + rows * axes_h + (rows - 1) * gap_h
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                           top=1 - top / height, wspace=gap_w / axes_w, hspace=gap_h / axes_h)
    grid = figure.add_gridspec(rows, columns)
    for index, name in enumerate(names):
        axes = figure.add_subplot(grid[index // columns, index % columns])
        values = np.array([o.metrics[name] for o in fused if name in o.metrics], dtype=float)
        values = values[np.isfinite(values)]
        counts, edges = np.histogram(values, bins=min(20, max(3, len(values))))
        axes.stairs(counts, edges, fill=True, color="#4477aa")
        # a fixed title height (y=1): matplotlib then skips measuring the tick labels for it
        axes.set_title(f"{metric_label(name)} (n={len(values)})", fontsize=9, y=1.0)
        axes.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        axes.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        axes.tick_params(labelsize=7)
    return figure


def plot_metric_histograms(outcomes: list[PairOutcome], path: Path) -> Path | None:
    """``metric_histogram_figure`` written as a PNG at ``path``; None when no pair was fused."""
    figure = metric_histogram_figure(outcomes)
    if figure is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure).print_png(path)
    return path


def write_report(outcomes: list[PairOutcome], root: Path, engine: str = "") -> Path:
    """``report.md`` under ``root`` (content in the module docstring)."""
    counts = Counter(o.status for o in outcomes)
    reused = sum(o.reused for o in outcomes)
    lines = [
        "# EndoFuse batch report",
        "",
        f"{len(outcomes)} pair(s): "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        + f"; {reused} reused from an earlier run." + (f" Ran on {engine}." if engine else ""),
        "",
    ]
    if plot_metric_histograms(outcomes, root / "metrics.png"):
        lines += ["## Metric distributions", "", "![metrics](metrics.png)", ""]
    shown = [m for m in TABLE_METRICS if m in metric_names(outcomes)]
    lines += [
        "## Pairs",
        "",
        "| pair | status | fused | fuse time (s) | "
        + " | ".join(metric_label(m) for m in shown) + " |",
        "|---|---|---|---|" + "---|" * len(shown),
    ]
    for o in outcomes:
        thumb = f"pairs/{o.key}/thumb.png"
        picture = f"![{o.key}]({thumb})" if (root / thumb).exists() and o.status == "fused" else ""
        status = o.status if not o.error else f"{o.status}: {o.error}"
        values = " | ".join(_number(o.metrics.get(m)) for m in shown)
        fuse_s = _number(o.seconds.get("fuse"))
        lines.append(f"| {o.key} | {status.replace('|', '/')} | {picture} | {fuse_s} | {values} |")
    return write_atomically(root / "report.md", ("\n".join(lines) + "\n").encode())
