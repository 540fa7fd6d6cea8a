"""Calipers in the viewer (offscreen): a known 10.0 mm segment on the demo phantom reads
10.0 ± 0.1 mm in every pane, regions give the engine's statistics, the mouse draws through the same
path, H hides, Delete deletes, the exports carry the text, and without a pixel size it says px."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from viewer_fixtures import fused_small_demo, save_phantom  # noqa: E402

from engine.formatting import format_number  # noqa: E402

pytestmark = [
    pytest.mark.usefixtures("settings_in_tmp"),
    pytest.mark.window_size((1440, 860)),
]


def _drag(pane, kind, start, end, tool):
    """What a left-drag does: the view box hands its press, move and release points (data units)
    to the tool that the window installed on it."""
    tool.arm(kind)
    draw = pane.view_box.drag_tool
    assert draw("start", QPointF(*start))
    assert draw("move", QPointF((start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    assert draw("finish", QPointF(*end))
    return tool.measurements[-1]


def _label(item, pane):
    return item.items[id(pane)].label.toPlainText()


def test_a_10_mm_segment_reads_10_mm_in_every_pane(qtbot, window):
    record = fused_small_demo(qtbot, window)
    tool = window.measure_tool
    cal = tool.calibration()
    assert (cal.row_mm, cal.col_mm) == pytest.approx((0.1, 0.1))  # the phantom's US spacing
    # 6 mm across and 8 mm down: exactly 10.0 mm, drawn in the MRI pane
    start = (23.4, 20.7)
    end = (start[0] + 6.0 / cal.col_mm, start[1] + 8.0 / cal.row_mm)
    item = _drag(window.mri_pane, "distance", start, end, tool)
    assert len(tool.panes) == 4  # MRI, US, Fused and the Compare view
    for pane in tool.panes:
        shown = item.items[id(pane)].shape(item.shape)
        assert shown.length(tool.calibration(pane)).value == pytest.approx(10.0, abs=0.1)
        assert _label(item, pane) == "D1  10.0 mm", pane.name
    assert tool.list.item(0).text() == "D1  10.0 mm"

    # an ellipse: analytic area, and the mean/SD of every image shown under it
    ellipse = _drag(window.us_pane, "ellipse", (10.0, 20.0), (110.0, 100.0), tool)
    text = _label(ellipse, window.fused_pane)
    assert text.startswith("E2  area 62.8 mm²")  # pi * 5 mm * 4 mm
    yy, xx = np.mgrid[0:120, 0:120]
    inside = ((xx + 0.5 - 60) / 50) ** 2 + ((yy + 0.5 - 60) / 40) ** 2 <= 1
    mri = np.kron(window.mri_pane.content.pixels, np.ones((6, 6)))
    for name, image in (("MRI", mri), ("US", window.us_pane.content.pixels),
                        ("Fused", record.pixels())):
        values = image[inside]
        sd = values.std(ddof=1)  # the mean to the SD's precision
        mean, sd = format_number(values.mean(), 3, scale=sd), format_number(sd, 3)
        assert f"{name} {mean} ± {sd}" in text.splitlines()


def test_a_mouse_drag_in_a_pane_draws_the_distance(qtbot, window):
    assert window.open_demo()
    pane, tool = window.us_pane, window.measure_tool
    qtbot.waitUntil(lambda: pane.view_box.viewRect().width() > 500)  # the image fitted
    viewport = pane.view.viewport()

    def screen(x, y):
        return pane.view.mapFromScene(pane.view_box.mapViewToScene(QPointF(x, y))).toPointF()

    def send(kind, at, button, buttons):
        event = QMouseEvent(kind, at, viewport.mapToGlobal(at), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)
        qtbot.wait(25)  # the scene drops mouse moves closer than its rate limit

    levels = window.us_pane.window
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert tool.armed == "distance"
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    a, b = screen(200, 300), screen(300, 300)
    send(QMouseEvent.Type.MouseButtonPress, a, left, left)
    for t in np.linspace(0.1, 1.0, 8):
        send(QMouseEvent.Type.MouseMove, a + (b - a) * float(t), none, left)
    send(QMouseEvent.Type.MouseButtonRelease, b, left, none)
    assert len(tool.measurements) == 1 and tool.armed is None
    shape = tool.measurements[0].shape
    per_px = pane.view_box.viewPixelSize()[0]  # data units per screen pixel
    assert shape.start == pytest.approx((200, 300), abs=2 * per_px)
    assert shape.end == pytest.approx((300, 300), abs=2 * per_px)
    assert window.us_pane.window == levels  # the drag drew; it did not change the window

    # not armed: a drag (away from the line) changes the window and draws nothing
    a, b = screen(200, 400), screen(300, 400)
    send(QMouseEvent.Type.MouseButtonPress, a, left, left)
    for t in np.linspace(0.1, 1.0, 4):
        send(QMouseEvent.Type.MouseMove, a + (b - a) * float(t), none, left)
    send(QMouseEvent.Type.MouseButtonRelease, b, left, none)
    assert len(tool.measurements) == 1 and window.us_pane.window != levels
    assert tool.measurements[0].shape == shape


def test_moving_a_shape_in_one_pane_moves_it_everywhere(qtbot, window):
    assert window.open_demo()
    tool = window.measure_tool
    item = _drag(window.us_pane, "rectangle", (100.0, 100.0), (200.0, 150.0), tool)
    assert _label(item, window.mri_pane).startswith("R1  area 50.0 mm²")
    roi = item.items[id(window.us_pane)].roi
    roi.setSize((200.0, 50.0))  # what the scale handle does
    assert item.shape.size == pytest.approx((200.0, 50.0))
    assert item.shape.centre == pytest.approx((200.0, 125.0))  # the corner at (100, 100) stays
    other = item.items[id(window.mri_pane)].roi
    assert tuple(other.size()) == pytest.approx((200.0, 50.0))
    assert tuple(other.pos()) == pytest.approx((100.0, 100.0))
    assert _label(item, window.mri_pane).startswith("R1  area 100.0 mm²")

    roi.setAngle(30.0, center=(0.5, 0.5))  # what the rotate handle does (about the centre)
    assert item.shape.angle_deg == pytest.approx(30.0)
    assert item.shape.centre == pytest.approx((200.0, 125.0))
    # the engine's shape is the one drawn: points near the drawn corners are in, beyond are out
    w, h = item.shape.size
    for pane in (window.us_pane, window.mri_pane):
        drawn = item.items[id(pane)].roi
        for u, v, inside in ((0.02, 0.02, True), (0.98, 0.98, True), (-0.02, 0.5, False),
                             (0.5, 1.05, False)):
            p = drawn.mapToParent(QPointF(u * w, v * h))
            assert bool(item.shape.inside(np.array(p.x()), np.array(p.y()))) is inside


def test_h_hides_and_shows_delete_removes_the_selected_then_the_last(qtbot, window):
    assert window.open_demo()
    tool = window.measure_tool
    first = _drag(window.us_pane, "distance", (10.0, 10.0), (50.0, 10.0), tool)
    second = _drag(window.us_pane, "ellipse", (100.0, 100.0), (150.0, 140.0), tool)
    third = _drag(window.us_pane, "rectangle", (300.0, 100.0), (350.0, 140.0), tool)
    roi = first.items[id(window.mri_pane)].roi
    assert roi.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert not roi.isVisible() and not third.items[id(window.us_pane)].label.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert roi.isVisible()

    tool.list.setCurrentRow(0)  # select the first in the list
    assert tool.selected is first
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert tool.measurements == [second, third] and roi.scene() is None
    assert tool.list.count() == 2
    qtbot.keyClick(window, Qt.Key.Key_Delete)  # nothing selected: the last one goes
    assert tool.measurements == [second]
    assert tool.list.item(0).text().startswith("E2  area")


def test_exports_carry_the_measurements(qtbot, window, tmp_path):
    fused_small_demo(qtbot, window)
    tool = window.measure_tool
    _drag(window.fused_pane, "distance", (10.0, 10.0), (10.0, 110.0), tool)
    npy = window.export_fused(tmp_path / "fused.npy")
    side = json.loads(Path(str(npy) + ".json").read_text())
    lines = side["measurements"].splitlines()
    assert lines[0].startswith("calibration 0.1 x 0.1 mm/px")
    assert lines[1].startswith("D1: distance 10.0 mm, (10.0, 10.0) to (10.0, 110.0)")
    from PIL import Image

    with Image.open(window.export_view(tmp_path / "view.png")) as image:
        assert "D1: distance 10.0 mm" in image.text["measurements"]
    import pydicom

    ds = pydicom.dcmread(window.export_fused(tmp_path / "fused.dcm"))
    assert "Measurement D1: distance 10.0 mm" in ds.ImageComments


def test_without_a_pixel_size_lengths_are_in_px(qtbot, window, tmp_path):
    mri, us = save_phantom(tmp_path)
    assert window.open_mri(mri) and window.open_us(us)
    tool = window.measure_tool
    assert tool.calibration() is None
    item = _drag(window.us_pane, "distance", (10.0, 10.0), (40.0, 50.0), tool)
    ellipse = _drag(window.us_pane, "ellipse", (10.0, 10.0), (40.0, 50.0), tool)
    for pane in (window.mri_pane, window.us_pane):
        assert _label(item, pane) == "D1  50.0 px"
        assert _label(ellipse, pane).startswith("E2  area 942.5 px²")
    assert "mm" not in " ".join(tool.provenance_lines())


def test_a_single_dicom_scan_is_measured_with_its_own_spacing(qtbot, window, tmp_path,
                                                              dicom_pair_writer):
    mri, us = dicom_pair_writer(tmp_path, "PATIENT-M", 60, seed=1, spacing_mm=0.25)
    assert window.open_us(us)  # no MRI yet: the US pane on its own grid
    tool = window.measure_tool
    item = _drag(window.us_pane, "distance", (10.0, 10.0), (50.0, 10.0), tool)
    assert _label(item, window.us_pane) == "D1  10.0 mm"  # 40 px of 0.25 mm
    assert tool.provenance_lines()[0].startswith("calibration 0.25 x 0.25 mm/px")
