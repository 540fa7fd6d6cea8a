"""The viewer's Pairing dock (offscreen): real DICOM pair with burned-in text, patient dialog, ROI,
nudges (buttons and Ctrl+drag on the MRI overlay), automatic registration on a thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from viewer_fixtures import save_phantom  # noqa: E402

pytestmark = pytest.mark.usefixtures("settings_in_tmp")


def real_pair():
    pydicom_data = pytest.importorskip("pydicom.data")
    data_store = pytest.importorskip("data_store")
    mri = Path(pydicom_data.__file__).parent / "test_files" / "MR_small.dcm"
    return mri, Path(data_store.__file__).parent / "data" / "OBXXXX1A_2frame.dcm"


def test_real_pair_with_text_patient_confirmation_roi_nudge_and_overlay(window, qtbot):
    mri, us = real_pair()
    assert window.open_mri(mri) and window.open_us(us)
    assert "belong to different patients" in window.last_error and window.fusion_input is None
    controller = window.pairing
    assert not controller.panel.confirm_patients.isHidden()
    controller.panel.confirm_patients.click()
    assert controller.panel.confirm_patients.isHidden() and window.fusion_input is not None
    report = window.fusion_input.pairing
    assert report.roi.roi.text() == "120,60,680,459"  # the image region, no text strip
    assert window.us_pane.content.pixels.shape == window.fusion_input.y_u.shape
    assert "frame 1 of 2" in controller.panel.status.text()

    before = window.fusion_input.y_m.copy()
    controller.panel.nudge_buttons[Qt.Key.Key_Right].click()
    assert controller.transform.translation[0] == pytest.approx(-report.geometry.us_spacing[1])
    assert not np.array_equal(before, window.fusion_input.y_m)

    class Drag:  # what pyqtgraph hands an item during a Ctrl+drag of 2 pixels to the right
        def __init__(self, modifiers):
            self.modifiers = lambda: modifiers
            self.accepted = None

        button = staticmethod(lambda: Qt.MouseButton.LeftButton)
        pos, lastPos = staticmethod(lambda: QPointF(12, 5)), staticmethod(lambda: QPointF(10, 5))

        def accept(self):
            self.accepted = True

        def ignore(self):
            self.accepted = False

    overlay = window.overlay
    overlay.set_enabled(True)
    layers = overlay.layers
    start = controller.transform.translation[0]
    plain = Drag(Qt.KeyboardModifier.NoModifier)
    layers[0].item.mouseDragEvent(plain)
    assert plain.accepted is False and controller.transform.translation[0] == start
    layers[0].item.mouseDragEvent(Drag(Qt.KeyboardModifier.ControlModifier))
    spacing = report.geometry.us_spacing[1]
    assert controller.transform.translation[0] == pytest.approx(start - 2 * spacing)
    np.testing.assert_array_equal(overlay.mri_on_us_grid().shape, window.fusion_input.y_u.shape)

    overlay.set_opacity(75)
    overlay.colour_map.setCurrentText("viridis")
    assert layers[0].item.isVisible() and layers[0].style.alpha == pytest.approx(0.75)
    assert layers[0].style.colour_map == "viridis"
    overlay.set_enabled(False)
    assert not any(layer.item.isVisible() for layer in layers)

    panel = controller.panel

    panel.roi.setText("2000,10,50,50")
    panel.changed.emit()
    assert "lies outside" in window.last_error
    assert window.mri is not None and window.us is not None  # nothing loaded is lost
    panel.roi.setText("200,100,300,200")
    panel.changed.emit()
    assert window.fusion_input is not None and window.fusion_input.y_u.shape[1] <= 300

    with qtbot.waitSignal(window.fusion_finished, timeout=120_000) as finished:
        assert window.fuse("palm")
    result = finished.args[0].result
    assert result.fused.shape == window.fusion_input.y_u.shape

    from engine.dicom.export import provenance_record

    text = provenance_record(result, window.mri, window.us)["notes"]  # DICOM ImageComments
    assert "registration manual: A=[[" in text and "US pixels 425,252,75,48" in text


def test_automatic_registration_runs_on_a_thread(window, qtbot, tmp_path):
    mri, us = save_phantom(tmp_path, size=240)
    assert window.open_mri(mri) and window.open_us(us)
    controller = window.pairing
    for _ in range(3):
        controller.panel.nudge_buttons[Qt.Key.Key_Right].click()
    assert controller.transform.translation[0] == pytest.approx(-3.0)
    assert controller.register()
    with qtbot.waitSignal(controller.worker.finished, timeout=120_000):
        pass
    qtbot.waitUntil(lambda: "Mattes MI" in controller.panel.status.text(), timeout=10_000)
    assert abs(controller.transform.translation[0]) < 0.5  # back near the true pose
