"""The metrics panel a radiologist reads: ground-truth scores only with a truth and named as such,
the literature's no-reference set under a "Fusion metrics" fold, one catalog name per metric in
the table and the chart, and a chart whose axes say what they show."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from viewer_fixtures import show  # noqa: E402

from app.metrics_panel import MetricsPanel  # noqa: E402
from engine.formatting import format_number  # noqa: E402
from engine.metrics import SEED_COMPATIBLE, SET_TITLES, STANDARD  # noqa: E402
from engine.metrics.catalog import REFERENCE  # noqa: E402

SSIM_SUM = "SSIM(F,A)+SSIM(F,B) (0–2)"


@pytest.fixture(scope="module")
def records():
    """Two palm records of a small phantom (with its truth) and one of the same pair without."""
    from engine.fusion_params import PalmMethodParams
    from engine.methods import run
    from engine.phantom import make_phantom_pair
    from engine.pipeline import record_of

    fi = make_phantom_pair(seed=0, size=120, d=6).fusion_input()
    no_truth = dataclasses.replace(fi, clean_us=None, clean_mri=None)
    out = []
    for number, (pair, iterations) in enumerate(((fi, 1), (fi, 2), (no_truth, 1)), start=1):
        result = run("palm", pair, PalmMethodParams(iterations=iterations))
        out.append(record_of(result, pair, number=number))
    return out


@pytest.fixture
def panel(qtbot):
    widget = show(qtbot, MetricsPanel(), (900, 260))
    yield widget
    widget.dispose()


def test_ground_truth_first_and_named_fusion_metrics_folded(panel, records):
    with_truth = records[0]
    panel.set_records(records[:2], with_truth)
    folds = panel.folds()
    assert list(folds) == ["Ground truth", "Fusion metrics", "Legacy proxy set (seed-compatible)"]
    assert folds["Ground truth"].isExpanded() and not folds["Fusion metrics"].isExpanded()
    shown = panel.shown_values()
    psnr = "Ground truth/US-appearance vs ground truth: PSNR (dB)"
    assert shown[psnr] == format_number(with_truth.metrics.reference["PSNR"])
    assert "Ground truth/MRI-contrast vs ground truth: SSIM (0–1)" in shown
    assert shown[f"Fusion metrics/{SSIM_SUM}"] == format_number(
        with_truth.metrics.standard["SSIM"]
    )
    # one name per metric: every row is a catalog display name, and no key leaks through
    catalog = {info.label for info in STANDARD + SEED_COMPATIBLE + REFERENCE}
    assert {key.split("/", 1)[1] for key in shown} <= catalog
    assert {title for title in folds} <= set(SET_TITLES.values())

    folds["Fusion metrics"].setExpanded(True)  # the user's choice survives a new selection
    panel.set_records(records[:2], records[1])
    assert panel.folds()["Fusion metrics"].isExpanded()


def test_no_truth_no_ground_truth_rows_and_no_nan(panel, records):
    panel.set_records(records, records[2])
    shown = panel.shown_values()
    assert "Ground truth" not in panel.folds()
    assert not any("ground truth" in key.lower() for key in shown)
    assert "nan" not in shown.values() and shown
    assert records[2].metrics.reference == {}


def test_chart_names_its_axes_with_the_metric_and_unit(panel, records):
    panel.set_records(records[:2], records[1])
    names = [panel.metric_choice.itemText(i) for i in range(panel.metric_choice.count())]
    assert names[0] == "US-appearance vs ground truth: PSNR (dB)"
    assert SSIM_SUM in names and len(names) == len(set(names))
    panel.metric_choice.setCurrentText(SSIM_SUM)
    assert panel.axis_labels() == ("0–2", "result")
    assert panel.bars.opts["height"].size == 2
    panel.metric_choice.setCurrentText("US-appearance vs ground truth: PSNR (dB)")
    assert panel.axis_labels()[0] == "dB"
    panel.metric_choice.setCurrentText("US-appearance vs ground truth: relative error")
    assert panel.axis_labels()[0] == "no unit"
    # ticks in the metric's own unit: no "(x0.001)" scale added to the axis title
    left = panel.chart.getPlotItem().getAxis("left")
    assert "x0.0" not in left.labelString() and left.autoSIPrefixScale == 1.0
