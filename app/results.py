"""What the viewer says about results, without Qt: metric tooltips and the scaling note.

A result is an :class:`engine.pipeline.FusionRecord` and its metrics are
:func:`engine.pipeline.measure`'s, the same numbers ``endofuse metrics`` prints for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.pipeline.measure import RECORD_SCALING_TEXT

if TYPE_CHECKING:
    from engine.metrics import MetricInfo

METRICS_SCALE_NOTE = "Metrics: " + RECORD_SCALING_TEXT

#: the results' images may hold this much memory together unless the settings say otherwise
#: (``memory/results_budget_mb``); beyond it the oldest results' images are released
DEFAULT_RESULTS_BUDGET_MB = 128
RELEASED_TAG = "[image released]"


def results_budget_bytes(settings) -> int:
    """The budget from a QSettings-like ``settings`` (``value(key, default)``), in bytes."""
    try:
        mb = float(settings.value("memory/results_budget_mb", DEFAULT_RESULTS_BUDGET_MB))
    except (TypeError, ValueError):
        mb = DEFAULT_RESULTS_BUDGET_MB
    return int(max(mb, 0.0) * 2**20)


def metric_tooltip(info: MetricInfo) -> str:
    """Name, definition and reading direction of a metric, from the engine's catalogue."""
    better = "higher is better" if info.higher_is_better else "lower is better"
    text = f"{info.label}: {info.description} ({better})"
    if info.undefined_when:
        text += f"\nUndefined (NaN) when {info.undefined_when}."
    return text
