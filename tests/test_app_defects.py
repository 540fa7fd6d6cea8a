"""Defects a first user met in the viewer, each pinned by a test (offscreen): the scale bar and
DICOM spacing of a US file without PixelSpacing, the compare view's default pair, the fused
pane's hint, W/L and size texts, the View menu's dock entries, the annotation level, the
preview's window and the memory budget of results. The command-line side (no display, cancel
then close) is in test_app_cli.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from viewer_fixtures import fuse, ini_settings  # noqa: E402

from engine.phantom import make_phantom_pair  # noqa: E402
from engine.progress import ProgressEvent  # noqa: E402

pytestmark = pytest.mark.usefixtures("settings_in_tmp")


def _fuse_quick(qtbot, window):
    return fuse(qtbot, window, iterations=1, despeckle=False)


# ----- scale bar and spacing -------------------------------------------------------------------
def test_scale_is_the_us_grid_when_the_us_file_has_no_pixel_spacing(qtbot, window, tmp_path):
    """An MRI DICOM at 1.75 mm and a US .npy that says no pixel size, paired with the US
    spacing typed in the Pairing panel (0.25 mm, d = 7): every pane, the preview and the compare
    view measure 0.25 mm per US pixel (the MRI's 1.75 mm was used before: a scale bar 7x too
    large), and the DICOM export carries PixelSpacing 0.25 mm (it had none)."""
    import pydicom

    from engine.dicom import write_source_dicom

    pair = make_phantom_pair(seed=0, size=84, d=7)
    mri = write_source_dicom(pair.mri.pixels, tmp_path / "mr.dcm", "MR", (1.75, 1.75))
    us = tmp_path / "us.npy"
    np.save(us, pair.us.pixels)
    assert window.open_mri(mri) and window.open_us(us)
    assert window.fusion_input is None and "--us-spacing" in window.last_error
    window.pairing.panel.us_spacing.setValue(0.25)
    window.pairing.repair()
    assert window.fusion_input is not None and window.fusion_input.d == 7
    assert window.us.info.pixel_spacing_mm is None  # the file itself still says nothing
    record = _fuse_quick(qtbot, window)
    panes = (window.mri_pane, window.us_pane, window.fused_pane, window.compare.pane)
    for pane in panes:
        assert pane.content.mm_per_unit == pytest.approx(0.25), pane.name
    assert window.fused_pane.overlay.scale_bar is not None
    length, label = window.fused_pane.overlay.scale_bar
    value, unit = label.split()
    mm = float(value) / (1000.0 if unit == "um" else 1.0)
    units_per_screen_px = window.fused_pane.view_box.viewPixelSize()[0]
    assert mm == pytest.approx(length * units_per_screen_px * 0.25, rel=1e-6)

    window._show_preview(record.result.fused * 1000.0, ProgressEvent(1, 4))
    assert window.fused_pane.content.mm_per_unit == pytest.approx(0.25)

    window.act_anonymise.setChecked(False)
    ds = pydicom.dcmread(window.export_fused(tmp_path / "fused.dcm"))
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([0.25, 0.25])


def test_preview_gets_its_own_window(qtbot, window, phantom_files):
    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    record = _fuse_quick(qtbot, window)
    result_levels = window.fused_pane.window.levels
    preview = record.result.fused * 1000.0 + 500.0  # a diffusion estimate: another range
    window._show_preview(preview, ProgressEvent(2, 4))
    lo, hi = window.fused_pane.window.levels
    assert (lo, hi) != pytest.approx(result_levels)
    assert preview.min() <= lo < hi <= preview.max()
    assert window.fused_pane.overlay.title.endswith("(preview)")


# ----- compare view ------------------------------------------------------------------------------
def _choices(compare):
    return compare.a_choice.currentText(), compare.b_choice.currentText()


def test_compare_defaults_to_newest_result_and_us(qtbot, window, phantom_files):
    from app.main_window import MRI_SOURCE, US_SOURCE

    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    window.tabs.setCurrentWidget(window.compare)  # opened by hand, before any fusion
    assert _choices(window.compare) == (MRI_SOURCE, US_SOURCE)
    _fuse_quick(qtbot, window)
    assert _choices(window.compare) == ("#1 palm", US_SOURCE)
    _fuse_quick(qtbot, window)
    assert _choices(window.compare) == ("#2 palm", US_SOURCE)
    # the user's own choice is kept while both images exist
    combo = window.compare.b_choice
    combo.setCurrentText("#1 palm")
    combo.activated.emit(combo.currentIndex())
    window._update_compare_sources()
    assert _choices(window.compare) == ("#2 palm", "#1 palm")


def test_compare_never_pairs_an_image_with_itself(qtbot):
    from app.compare_view import CompareView

    view = CompareView()
    qtbot.addWidget(view)
    for names in ("xy", "xyz"):
        images = {name: np.random.default_rng(i).random((8, 8)) for i, name in enumerate(names)}
        view.set_sources(images)
        a, b = _choices(view)
        assert a != b, names
    view.dispose()


# ----- words on screen ---------------------------------------------------------------------------
def test_fused_pane_hint_follows_what_is_loaded(window, phantom_files):
    mri, us = phantom_files
    hint = lambda: window.fused_pane.overlay.hint  # noqa: E731
    assert "Open both scans" in hint()
    assert window.open_mri(mri)
    assert "Open the ultrasound too" in hint()
    assert window.open_us(us)
    assert "Press Fuse" in hint() and "Open" not in hint()


def test_window_level_and_values_are_plain_numbers(window):
    from app.image_pane import PaneImage
    from app.window_level import WindowLevel
    from engine.formatting import format_number

    # the one rule of engine.formatting: three significant digits of the width for W and L
    assert WindowLevel(880.0, 1760.0).describe() == "W 1760  L 880"
    assert WindowLevel(0.456, 0.912).describe() == "W 0.912  L 0.456"
    assert WindowLevel(12.5, 45.25).describe() == "W 45.2  L 12.5"
    assert WindowLevel(1.59634, 0.998).describe() == "W 0.998  L 1.596"
    assert WindowLevel(0.5, 1.0).describe() == "W 1  L 0.5"
    assert WindowLevel(0.5, 1.0).text(-0.00001) == "0"  # a value under the cursor
    assert format_number(17600.4) == "17600" and format_number(-0.00001, scale=1.0) == "0"
    pixels = np.linspace(0.0, 17600.0, 64 * 64).reshape(64, 64)
    window.fused_pane.set_image(PaneImage(pixels, "big values"))
    text = window.fused_pane.overlay.top_right[0]
    assert "e+" not in text and "e-" not in text, text
    window.fused_pane.set_image(PaneImage(pixels * 1e-6, "small values"))
    text = window.fused_pane.overlay.top_right[0]
    assert "e+" not in text and "e-" not in text, text


def test_sizes_are_width_by_height_everywhere():
    from app.loading import scan_lines
    from engine.errors import GeometryError, InvalidImageError
    from engine.pairing import pair_scans
    from engine.scan import Scan, ScanInfo, validate_pixels

    wide = Scan(np.random.default_rng(0).random((400, 600)), ScanInfo(modality="US"))
    assert "600 x 400 px" in scan_lines(wide)
    with pytest.raises(InvalidImageError, match=r"too small \(5 x 2 px\)"):
        validate_pixels(np.ones((2, 5)))
    mri = Scan(np.random.default_rng(1).random((20, 30)), ScanInfo(modality="MR"))
    us = Scan(np.random.default_rng(2).random((10, 60)), ScanInfo(modality="US"))
    with pytest.raises(GeometryError, match=r"The MRI \(30 x 20 px\) is larger than the "
                                            r"ultrasound \(60 x 10 px\)"):
        pair_scans(mri, us)


# ----- menus and annotations -----------------------------------------------------------------
def test_view_menu_dock_entries_are_enabled_and_follow_visibility(qtbot, window):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    entries = {a.text(): a for a in view_menu.actions()}
    for dock in window.docks.values():
        action = dock.toggleViewAction()
        assert entries[action.text()] is action
        assert action.isEnabled() and action.isChecked() == dock.isVisible()
    fusion = window.docks["fusion"]
    fusion.toggleViewAction().trigger()
    assert not fusion.isVisible() and not fusion.toggleViewAction().isChecked()
    fusion.toggleViewAction().trigger()
    assert fusion.isVisible() and fusion.toggleViewAction().isChecked()


def _lines(pane):
    shown = pane.overlay.shown()
    return {
        "top_left": len(shown.top_left) + bool(shown.title),
        "top_right": len(shown.top_right),
        "bottom_left": len(shown.bottom_left),
        "bottom_right": len(shown.bottom_right) + (shown.scale_bar is not None),
    }


def test_annotation_level_switches_and_is_kept(qtbot, make_window):
    window = make_window((1280, 720))
    assert window.open_demo()
    window.us_pane.set_readout(["x 1  y 2   value 0.5", "second readout line"])
    assert max(_lines(window.us_pane).values()) >= 4  # full: the title and four scan lines
    window.annotation_actions["minimal"].trigger()
    for pane in (*window.panes, window.compare.pane):
        assert max(_lines(pane).values()) <= 1, pane.name
    assert _lines(window.us_pane)["top_left"] == 1 and _lines(window.us_pane)["bottom_left"] == 1
    window.activateWindow()  # a window shortcut needs the window active
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert window.annotation_level == "off" and window.annotation_actions["off"].isChecked()
    assert max(_lines(window.us_pane).values()) == 0
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert window.annotation_level == "full"
    window.set_annotation_level("minimal")
    again = make_window()
    assert again.annotation_level == "minimal"
    assert again.annotation_actions["minimal"].isChecked()
    assert again.us_pane.overlay.level == "minimal"


# ----- memory ------------------------------------------------------------------------------------
def test_results_keep_images_within_the_budget_and_clear(qtbot, make_window, phantom_files,
                                                         tmp_path):
    one_result = 2 * 120 * 120 * 8  # fused + mri_estimate of a 120 x 120 pair, float64
    settings = ini_settings(tmp_path)
    settings.setValue("memory/results_budget_mb", 2.5 * one_result / 2**20)
    window = make_window(settings=settings)
    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    for _ in range(4):
        _fuse_quick(qtbot, window)
    records = window.results_panel.records
    assert [r.images_released for r in records] == [True, True, False, False]
    assert all(r.metrics.standard for r in records)  # the metrics of every result remain
    assert "[image released]" in window.results_panel.list.item(0).text()
    assert "[image released]" not in window.results_panel.list.item(3).text()
    names = [window.compare.a_choice.itemText(i) for i in range(window.compare.a_choice.count())]
    assert "#1 palm" not in names and "#4 palm" in names

    window.results_panel.list.setCurrentRow(0)
    assert window.fused_pane.content is None
    assert "released to save memory" in window.fused_pane.overlay.hint
    assert window.export_fused(tmp_path / "old.npy") is None
    assert "was released" in window.last_error
    window.results_panel.list.setCurrentRow(3)
    assert window.fused_pane.content is not None

    assert window.act_clear_results.isEnabled()
    window.act_clear_results.trigger()
    assert window.results_panel.records == [] and window.session.records == []
    assert window.results_panel.list.count() == 0 and window.fused_pane.content is None
    assert window.fusion_input is not None and not window.act_clear_results.isEnabled()
