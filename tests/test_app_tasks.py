"""A radiologist's task list, end to end in the offscreen viewer: open a DICOM pair, fuse, look at
the overlay at 40 %, measure a 10 mm structure (10.0 +- 0.1 mm in every pane), compare two
methods, export (with the measurement in the file's provenance)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF  # noqa: E402
from viewer_fixtures import fuse  # noqa: E402

from app import compositing  # noqa: E402
from app.overlay import colour_table  # noqa: E402

pytestmark = pytest.mark.usefixtures("settings_in_tmp")


def test_open_fuse_overlay_measure_compare_two_methods_export(
    window, qtbot, tmp_path, dicom_pair_writer
):
    # open the pair (as File > Open would)
    mri, us = dicom_pair_writer(tmp_path / "in", "TASKS", size=120, seed=3)
    assert window.open_mri(mri) and window.open_us(us), window.last_error
    assert window.fusion_input is not None and window.fusion_input.d == 6
    assert window.mri_pane.orientation.markers is not None  # the MR file knows its orientation

    # fuse with two methods
    palm = fuse(qtbot, window, "palm", iterations=2)
    ddfm = fuse(qtbot, window, "ddfm-em", steps=2)
    assert [r.name for r in window.results_panel.records] == [palm.name, ddfm.name]

    # the MRI over the US and the fused image at 40 %
    window.overlay.set_opacity(40)
    window.overlay.set_enabled(True)
    us_layer, fused_layer = window.overlay.layers
    assert us_layer.item.isVisible() and fused_layer.item.isVisible()
    assert us_layer.style.alpha == pytest.approx(0.4)

    # measure a 10 mm structure: 6 mm across and 8 mm down, dragged in the MRI pane
    tool = window.measure_tool
    cal = tool.calibration()
    assert (cal.row_mm, cal.col_mm) == pytest.approx((0.25, 0.25))  # the US file's spacing
    start = (30.3, 40.7)
    end = (start[0] + 6.0 / cal.col_mm, start[1] + 8.0 / cal.row_mm)
    tool.arm("distance")
    draw = window.mri_pane.view_box.drag_tool  # what a left-drag in the pane calls
    assert draw("start", QPointF(*start)) and draw("finish", QPointF(*end))
    (item,) = tool.measurements
    for pane in tool.panes:  # MRI, US, Fused and the Compare view
        shown = item.items[id(pane)].shape(item.shape)
        assert shown.length(tool.calibration(pane)).value == pytest.approx(10.0, abs=0.1)
        assert item.items[id(pane)].label.toPlainText() == "D1  10.0 mm", pane.name

    # compare the two methods side by side, then as an overlay of one on the other
    window.tabs.setCurrentWidget(window.compare)
    window.compare.set_pair(palm.name, ddfm.name)
    window.compare.set_mode("swipe-vertical")
    a, b = window.compare.images()
    half = a.shape[1] // 2
    np.testing.assert_array_equal(window.compare.composite()[:, : half - 1], a[:, : half - 1])
    np.testing.assert_array_equal(window.compare.composite()[:, half + 1 :], b[:, half + 1 :])
    window.compare.set_mode("overlay")
    np.testing.assert_allclose(
        window.compare.composite(), compositing.overlay(b, a, 0.4, colour_table("inferno"))
    )

    # export the selected result as DICOM, with how it was made
    window.results_panel.list.setCurrentRow(0)
    out = window.export_fused(tmp_path / "fused.dcm")
    assert out is not None and out.exists(), window.last_error
    import pydicom

    ds = pydicom.dcmread(out)
    assert (ds.Rows, ds.Columns) == palm.result.fused.shape
    assert '"method": "palm"' in ds.ImageComments  # the selected result, not the newest
    assert "Measurement D1: distance 10.0 mm" in ds.ImageComments
