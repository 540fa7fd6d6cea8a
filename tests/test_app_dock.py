"""The Fusion dock for people: presets first, raw weights under Advanced, one number format,
tooltips with meaning and range, panes that keep their size, and an idle progress bar."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
)
from viewer_fixtures import show  # noqa: E402

from app.fusion_dock import FusionDock  # noqa: E402
from engine.formatting import format_number  # noqa: E402
from engine.methods import get_method, method_names  # noqa: E402
from engine.params import spec_of  # noqa: E402
from engine.presets import find_preset  # noqa: E402
from engine.progress import ProgressEvent  # noqa: E402


@pytest.fixture
def dock(qtbot):
    widget = show(qtbot, FusionDock(), (330, 700))
    yield widget
    widget.stop()


def _items(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_presets_fill_the_advanced_fields_and_an_edit_shows_custom(dock):
    dock.method_choice.setCurrentText("palm")
    assert dock.ensure_form()
    assert _items(dock.preset_choice) == ["Balanced", "More MRI", "More US", "Custom"]
    assert dock.preset == "Balanced"
    assert dock.param_panel.params() == get_method("palm").params_type()
    assert not dock.advanced.isVisible()  # the raw weights start folded away

    more_mri = find_preset(dock.param_panel.defaults.__class__, "More MRI")
    dock.preset_choice.activated.emit(_items(dock.preset_choice).index("More MRI"))
    assert dock.preset == "More MRI"
    assert dock.param_panel.params() == more_mri.apply(dock.param_panel.defaults)
    assert dock.param_panel.editors["coupling"].text() == "0.15"  # the default 1.5 / 10

    dock.param_panel.editors["iterations"].setValue(7)
    assert dock.preset == "Custom"
    restored = more_mri.apply(dock.param_panel.defaults).iterations  # the preset's own count
    dock.param_panel.editors["iterations"].setValue(restored)
    assert dock.preset == "More MRI"  # back to the preset's exact values

    dock.preset_choice.activated.emit(_items(dock.preset_choice).index("More US"))
    dock.method_choice.setCurrentText("ddfm-palm")  # has the same weights: keeps the preset
    assert dock.preset == "More US"
    assert dock.param_panel.params().us_fidelity == 100.0
    dock.method_choice.setCurrentText("ddfm-em")  # has no such weights: balanced only
    assert _items(dock.preset_choice) == ["Balanced", "Custom"] and dock.preset == "Balanced"


def test_every_field_has_a_tooltip_with_meaning_and_range_in_one_number_format(dock):
    for method in method_names():
        dock.method_choice.setCurrentText(method)
        assert dock.ensure_form(), method
        params_type = get_method(method).params_type
        editors = dock.param_panel.editors
        assert set(editors) == {f.name for f in dataclasses.fields(params_type)}
        for f in dataclasses.fields(params_type):
            editor, spec = editors[f.name], spec_of(f)
            tip = editor.toolTip()
            assert spec.help in tip and "Range: " in tip, (method, f.name, tip)
            for bound in (spec.minimum, spec.maximum):
                if bound is not None:
                    assert format_number(bound) in tip.split("Range: ")[1], (f.name, tip)
            if spec.choices is not None:
                assert isinstance(editor, QComboBox)
                assert " | ".join(spec.choices) in tip
            if isinstance(editor, QDoubleSpinBox):
                assert editor.text() == format_number(editor.value()), (f.name, editor.text())
                value = abs(editor.value())
                if value == 0 or 1e-3 <= value < 1e6:
                    assert "e" not in editor.text(), (f.name, editor.text())
            assert isinstance(editor, (QComboBox, QCheckBox, QSpinBox, QDoubleSpinBox, QLineEdit))
    dock.method_choice.setCurrentText("palm")
    editors = dock.param_panel.editors
    assert (editors["psf_sigma"].text(), editors["step_factor"].text()) == ("4", "8")
    assert editors["tau1"].text() == "1e-12"
    assert "Range: 0.3 .. 32" in editors["psf_sigma"].toolTip()


def test_progress_bar_reads_idle_when_no_fusion_runs(dock):
    bar = dock.progress_bar
    assert bar.text() == "idle"
    dock.begin_progress("Starting palm...")
    assert bar.format() == "starting"
    dock.show_progress(ProgressEvent(step=2, total=5, elapsed_s=0.5))
    assert bar.text() == "step 2 / 5"
    dock.reset_progress("#1 palm finished in 1.0 s")
    assert bar.text() == "idle" and dock.progress_label.text().startswith("#1 palm")


@pytest.mark.parametrize("size", [(1280, 720), (1440, 860)])
def test_opening_advanced_or_switching_method_keeps_the_panes_size(qtbot, make_window, size):
    window = make_window(size)
    dock = window.fusion_dock
    assert dock.ensure_form()

    def settled():
        for _ in range(3):
            QApplication.processEvents()
            qtbot.wait(20)
        return window.centralWidget().geometry(), window.docks["fusion"].geometry()

    before = settled()
    dock.advanced_button.click()
    assert dock.advanced.isVisible()
    assert settled() == before
    for method in ("ddfm-em", "ddfm-palm", "palm"):
        dock.method_choice.setCurrentText(method)
        assert settled() == before, method
    dock.preset_choice.activated.emit(1)
    assert settled() == before
    dock.advanced_button.click()
    assert not dock.advanced.isVisible()
    assert settled() == before
    long_phase = "Joint PALM: restoring the MRI alone before the iterations " * 2
    dock.show_progress(ProgressEvent(step=0, total=10, message=long_phase, elapsed_s=0.9))
    assert settled() == before  # a long progress message wraps, it never widens the dock
    dock.reset_progress("idle")
    assert settled() == before
