"""The batch report's figure: one readable histogram per metric over the fused pairs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine.batch.report import metric_histogram_figure, metric_label, plot_metric_histograms
from engine.batch.store import PairOutcome
from engine.metrics import catalog


def _outcomes(pairs: int) -> list[PairOutcome]:
    """``pairs`` fused pairs with every standard metric (one NaN SCD, one pair without MSE)
    and a failed pair whose metrics must not count."""
    rng = np.random.default_rng(0)
    keys = [info.key for info in catalog.STANDARD]
    outcomes = [PairOutcome(f"p{i}", "fused", metrics={k: float(rng.normal(20, 5)) for k in keys})
                for i in range(pairs)]
    outcomes[0].metrics["SCD"] = math.nan
    del outcomes[1].metrics["MSE"]
    outcomes.append(PairOutcome("bad", "failed", error="unreadable",
                                metrics=dict.fromkeys(keys, 1e6)))
    return outcomes


def test_every_metric_has_its_histogram_of_the_fused_pairs():
    outcomes = _outcomes(7)
    figure = metric_histogram_figure(outcomes)
    keys = [info.key for info in catalog.STANDARD]
    assert len(figure.axes) == len(keys) == 13
    fused = outcomes[:-1]
    for axes, key in zip(figure.axes, keys, strict=True):
        values = [o.metrics[key] for o in fused if math.isfinite(o.metrics.get(key, math.nan))]
        assert axes.get_title() == f"{metric_label(key)} (n={len(values)})"
        (histogram,) = axes.patches
        counts, edges, _ = histogram.get_data()
        assert counts.sum() == len(values)
        assert edges[0] == pytest.approx(min(values)) and edges[-1] == pytest.approx(max(values))
        assert all(float(t).is_integer() for t in axes.get_yticks())  # counts, not 0.25 steps
    assert figure.axes[keys.index("SCD")].get_title().endswith("(n=6)")
    assert figure.axes[keys.index("MSE")].get_title().endswith("(n=6)")
    # 13 panels on a grid of 4 columns: 4 rows
    rows = {round(axes.get_position().y0, 6) for axes in figure.axes}
    columns = {round(axes.get_position().x0, 6) for axes in figure.axes}
    assert (len(rows), len(columns)) == (4, 4)


@pytest.mark.parametrize("pairs", [2, 40])
def test_the_figure_text_fits_and_nothing_overlaps(pairs):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = metric_histogram_figure(_outcomes(pairs))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = figure.bbox
    texts = []
    for axes in figure.axes:  # the title and the tick labels within the axes' limits
        texts.append(axes.title)
        for along, axis in enumerate((axes.xaxis, axes.yaxis)):
            low, high = sorted(axis.get_view_interval())
            texts += [t for t in axis.get_ticklabels()
                      if t.get_text() and low - 1e-9 <= t.get_position()[along] <= high + 1e-9]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for text, box in zip(texts, boxes, strict=True):
        assert page.x0 <= box.x0 and box.x1 <= page.x1 + 0.5, text.get_text()
        assert page.y0 <= box.y0 and box.y1 <= page.y1 + 0.5, text.get_text()
    for (a, box_a), (b, box_b) in itertools.combinations(zip(texts, boxes, strict=True), 2):
        assert not box_a.overlaps(box_b), (a.get_text(), b.get_text())


def test_png_is_written_and_nothing_when_no_pair_was_fused(tmp_path):
    from PIL import Image

    path = plot_metric_histograms(_outcomes(3), tmp_path / "metrics.png")
    figure = metric_histogram_figure(_outcomes(3))
    with Image.open(path) as image:
        width, height = figure.get_size_inches() * figure.dpi
        assert image.size == (round(width), round(height))
        assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 10  # drawn, not blank
    failed = [PairOutcome("bad", "failed", error="unreadable")]
    assert plot_metric_histograms(failed, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
