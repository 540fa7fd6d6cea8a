"""The viewer end to end (offscreen): loading, drops, fusion on the worker thread, cancel,
responsiveness, linked panes, metrics and export (the viewer as a process: test_app_cli.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from viewer_fixtures import FUSION_TIMEOUT_MS, WINDOW_SIZE, fuse, open_small_demo  # noqa: E402

from engine.formatting import format_number  # noqa: E402
from engine.phantom import make_phantom_pair  # noqa: E402

pytestmark = pytest.mark.usefixtures("settings_in_tmp")


def _drop(widget, paths):
    """What a file manager does: drag-enter (which must be accepted), then drop; returns
    whether the drop was accepted."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = QPointF(widget.width() // 2, widget.height() // 2)
    args = (
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(centre.toPoint(), *args)  # Qt's signature: QPoint here, QPointF below
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(centre, *args)
    QApplication.sendEvent(widget, drop)
    return bool(drop.isAccepted())


def _quick_palm(window, iterations=3):
    window.method_choice.setCurrentText("palm")
    window.param_panel.editors["iterations"].setValue(iterations)


# ----- the test window ---------------------------------------------------------------------------
@pytest.mark.window_size((1280, 720))
def test_the_window_has_the_size_its_mark_asks_for(window):
    assert (window.width(), window.height()) == (1280, 720)


def test_the_window_without_a_mark_has_the_default_size(window):
    assert (window.width(), window.height()) == WINDOW_SIZE


# ----- loading ---------------------------------------------------------------------------------
def test_load_via_api_pairs_and_remembers(window, phantom_files):
    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    assert window.fusion_input is not None and window.fusion_input.d == 6
    assert window.mri_pane.content.cell == 6
    assert window.mri_pane.content.data_rect == window.us_pane.content.data_rect
    assert window.fuse_button.isEnabled()
    roles = [role for role, _ in window.recent_files()]
    assert roles == ["us", "mri"]
    assert window.recent_menu.actions()[0].text() == "US: us.npy"


def test_load_via_drops_on_panes(window, phantom_files):
    mri, us = phantom_files
    assert _drop(window.mri_pane, [mri])
    _drop(window.us_pane, [us])
    assert window.mri.shape == (20, 20) and window.us.shape == (120, 120)
    assert window.fusion_input.d == 6
    window.mri = window.us = None
    _drop(window.fused_pane, [us, mri])  # two files anywhere: the smaller one is the MRI
    assert window.mri.shape == (20, 20) and window.us.shape == (120, 120)


def test_errors_show_one_sentence_and_keep_what_is_loaded(window, phantom_files, tmp_path):
    mri, us = phantom_files
    window.open_mri(mri)
    window.open_us(us)
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    _drop(window.us_pane, [broken])
    assert "broken.png" in window.last_error
    assert window._error_box is not None and window._error_box.isVisible()
    assert window._error_box.text() == window.last_error
    assert window.us.shape == (120, 120) and window.fusion_input is not None

    odd = tmp_path / "odd.npy"
    np.save(odd, np.random.default_rng(0).random((121, 120)))
    window.open_us(odd)
    assert "whole multiple" in window.last_error
    assert window.us.shape == (121, 120) and window.mri.shape == (20, 20)
    assert window.fusion_input is None and not window.fuse_button.isEnabled()


# ----- fusion ----------------------------------------------------------------------------------
def test_fuse_on_worker_shows_result_metrics_and_refuses_a_second_run(qtbot, window):
    open_small_demo(window)
    _quick_palm(window)
    events = []
    window.runner.progress.connect(events.append)
    with qtbot.waitSignal(window.fusion_finished, timeout=FUSION_TIMEOUT_MS) as blocker:
        assert window.fuse("palm")
        assert window.runner.busy and not window.fuse_button.isEnabled()
        assert window.fuse("palm") is False
        assert "already running" in window.progress_label.text()
    record = blocker.args[0]
    assert record.method == "palm" and record.result.params.iterations == 3
    assert [e.step for e in events if e.step > 0] == [1, 2, 3]
    assert not window.runner.busy and window.fuse_button.isEnabled()
    assert window.progress_bar.text() == "idle"  # done: back to idle
    assert window.results_panel.records == [record]
    assert "iterations = 3" in window.results_panel.list.item(0).toolTip()
    np.testing.assert_array_equal(window.fused_pane.content.pixels, record.result.mri_estimate)
    assert window.fused_pane.overlay.title == "Fused: #1 palm"

    shown = window.metrics_panel.shown_values()
    for key in (
        "Fusion metrics/Entropy (bits)",
        "Fusion metrics/Q^AB/F edge transfer (0–1)",
        "Fusion metrics/SSIM(F,A)+SSIM(F,B) (0–2)",
        "Legacy proxy set (seed-compatible)/QAB/F proxy (legacy)",
        "Ground truth/US-appearance vs ground truth: PSNR (dB)",
    ):
        assert key in shown, shown
    assert float(shown["Fusion metrics/Entropy (bits)"]) == pytest.approx(
        record.metrics.standard["EN"], rel=1e-3
    )
    assert window.metrics_panel.bars.opts["height"].size == 1
    assert "#1 palm" in [
        window.compare.a_choice.itemText(i) for i in range(window.compare.a_choice.count())
    ]


def test_finished_workers_are_deleted_with_their_jobs(qtbot, window, phantom_files):
    """Each run's worker (holding its job, parameters and cancel token) goes when its thread
    has ended: a session of many fusions must not keep one per run."""
    import gc

    from app.fusion_worker import FusionWorker

    assert window.open_mri(phantom_files[0]) and window.open_us(phantom_files[1])
    for _ in range(3):
        fuse(qtbot, window, "palm", iterations=1)
    qtbot.wait(50)  # lets the pending deleteLater() of the last run be carried out
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, FusionWorker)]
    assert len(alive) <= 1, f"{len(alive)} finished fusion workers are still alive"


def test_cancel_mid_run(qtbot, window):
    open_small_demo(window)
    _quick_palm(window, iterations=500)  # the most allowed: the cancel comes long before the end
    steps = []
    window.runner.progress.connect(lambda e: steps.append(e.step))
    with qtbot.waitSignal(
        window.runner.progress, timeout=FUSION_TIMEOUT_MS, check_params_cb=lambda e: e.step >= 1
    ):
        assert window.fuse("palm")
    with qtbot.waitSignal(window.fusion_cancelled, timeout=60_000):
        window.cancel_button.click()
    assert max(steps) < 500
    assert window.results_panel.records == []
    assert not window.runner.busy and window.progress_label.text() == "Cancelled"
    assert window.progress_bar.text() == "idle"


def test_fusion_runs_on_a_worker_thread_while_the_ui_handles_events(qtbot, window, monkeypatch):
    """Responsiveness as behaviour (the stall in milliseconds is bench/ui_stall.py's number): the
    engine runs on another thread, and it is held there until the UI thread has served a timer,
    a cursor move and the progress of the run; a fusion on the UI thread would never see them."""
    from engine import methods

    open_small_demo(window)
    _quick_palm(window, iterations=2)
    real_run, runs = methods.run, []  # per engine run: its thread, whether the UI served
    ui_served = threading.Event()

    def held_run(*args, **kwargs):
        run = {"thread": threading.get_ident()}
        runs.append(run)
        run["served"] = ui_served.wait(timeout=30)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(methods, "run", held_run)
    progress_while_busy = []
    window.runner.progress.connect(lambda e: progress_while_busy.append(window.runner.busy))
    with qtbot.waitSignal(window.fusion_finished, timeout=FUSION_TIMEOUT_MS) as blocker:
        assert window.fuse("palm")
        qtbot.waitUntil(lambda: bool(runs), timeout=60_000)
        # the engine is running (held): the window still follows the cursor
        window.us_pane.cursor_moved.emit(100.5, 61.2)
        assert "Ultrasound: (100, 61)" in window.readout.text()
        assert window.runner.busy and window.cancel_button.isEnabled()
        QTimer.singleShot(0, ui_served.set)  # served only by a running UI event loop
    assert len(runs) == 1, runs
    assert runs[0]["thread"] != threading.get_ident(), "the engine ran on the UI thread"
    assert runs[0]["served"], "the UI thread served no event while the fusion ran"
    assert progress_while_busy and all(progress_while_busy)  # progress shown during the run
    assert blocker.args[0].result.method == "palm"


# ----- panes -----------------------------------------------------------------------------------
def _state(pane):
    rect = pane.view_box.viewRect()
    return rect.center().x(), rect.center().y(), rect.width() / pane.view_box.width()


def test_linked_zoom_pan_crosshair_and_presets(qtbot, window):
    assert window.open_demo()
    qtbot.waitUntil(lambda: window.link.scale is not None)
    window.mri_pane.view_box.scaleBy((0.5, 0.5), center=QPointF(150, 200))
    for pane in (window.us_pane, window.fused_pane):
        assert _state(pane)[:2] == pytest.approx(_state(window.mri_pane)[:2], abs=1e-6)
    assert _state(window.us_pane)[2] == pytest.approx(_state(window.mri_pane)[2], rel=1e-9)
    window.us_pane.view_box.translateBy(x=25, y=0)
    assert _state(window.mri_pane) == pytest.approx(_state(window.us_pane), rel=1e-9)

    window.us_pane.cursor_moved.emit(130.5, 61.2)
    assert window.mri_pane._vline.isVisible() and window.mri_pane._vline.value() == 130.5
    mri_value = format_number(window.mri.pixels[61 // 6, 130 // 6], 3,
                              scale=window.mri_pane.window.width)
    assert window.mri_pane.overlay.bottom_left == [f"x 21  y 10   value {mri_value}"]
    assert "Ultrasound: (130, 61)" in window.readout.text()

    window.active_pane = window.us_pane
    window.apply_preset(3)
    assert window.us_pane.window.levels == pytest.approx(
        (window.us.pixels.min(), window.us.pixels.max())
    )
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert _state(window.us_pane)[:2] == pytest.approx((300, 300), abs=1e-6)
    assert window.us_pane.overlay.scale_bar is not None  # the phantom knows its spacing


# ----- export ----------------------------------------------------------------------------------
def test_export_writes_files_with_provenance(qtbot, window, tmp_path):
    open_small_demo(window)
    record = fuse(qtbot, window, iterations=2)

    npy = window.export_fused(tmp_path / "fused.npy")
    np.testing.assert_array_equal(np.load(npy), record.result.mri_estimate)  # the image shown
    side = json.loads(Path(str(npy) + ".json").read_text())
    assert side["method"] == "palm" and side["image"].startswith("MRI-contrast")
    window.results_panel.set_image("us")
    np.testing.assert_array_equal(window.fused_pane.content.pixels, record.result.fused)
    us_npy = window.export_fused(tmp_path / "fused_us.npy")
    np.testing.assert_array_equal(np.load(us_npy), record.result.fused)
    from PIL import Image

    png = window.export_fused(tmp_path / "fused.png")
    with Image.open(png) as image:
        assert image.size == (120, 120) and image.text["method"] == "palm"
        assert json.loads(image.text["parameters"])["iterations"] == 2
    tif = window.export_fused(tmp_path / "fused.tif")
    assert tif.exists() and tif.stat().st_size > 120 * 120 * 4

    dcm = window.export_fused(tmp_path / "fused.dcm")
    assert dcm is not None, window.last_error
    import pydicom

    ds = pydicom.dcmread(dcm)
    assert (ds.Rows, ds.Columns) == (120, 120)

    view = window.export_view(tmp_path / "view.png")
    with Image.open(view) as image:
        assert image.text["method"] == "palm" and image.size[0] > 120
    data = QApplication.clipboard().mimeData()
    window.copy_view()
    data = QApplication.clipboard().mimeData()
    assert data.hasImage() and json.loads(data.text())["result"] == "#1 palm"


# ----- results keep their own sources ---------------------------------------------------------
def test_export_of_an_earlier_result_carries_its_own_sources(qtbot, window, tmp_path, capsys,
                                                             dicom_pair_writer):
    import pydicom

    mri_a, us_a = dicom_pair_writer(tmp_path / "a", "PATIENT-A", 60, seed=0)
    mri_b, us_b = dicom_pair_writer(tmp_path / "b", "PATIENT-B", 72, seed=1)
    window.act_anonymise.setChecked(False)
    assert window.open_mri(mri_a) and window.open_us(us_a)
    window.method_choice.setCurrentText("palm")
    window.param_panel.editors["iterations"].setValue(1)
    window.param_panel.editors["despeckle"].setChecked(False)
    with qtbot.waitSignal(window.fusion_finished, timeout=300_000):
        assert window.fuse("palm")

    assert window.open_us(us_b)  # a US of another patient beside MRI A: a sentence, no exception
    assert "belong to different patients" in window.last_error
    assert len(window.results_panel.records) == 1 and window.fusion_input is None
    window.last_error = None
    window.open_files([str(mri_b), str(us_b)])  # another patient, another size, both at once
    assert window.last_error is None, window.last_error
    assert window.fusion_input.y_u.shape == (72, 72)
    window.results_panel.list.setCurrentRow(0)
    out = window.export_fused(tmp_path / "result1.dcm")
    assert out is not None, window.last_error

    ds = pydicom.dcmread(out)
    sources_a = {pydicom.dcmread(p).SOPInstanceUID for p in (mri_a, us_a)}
    assert ds.PatientID == "PATIENT-A"
    assert ds.StudyInstanceUID == pydicom.dcmread(us_a).StudyInstanceUID
    assert {item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence} == sources_a
    assert (ds.Rows, ds.Columns) == (60, 60)

    # the command line measures the exported result exactly as the viewer did
    from engine.cli import main

    npy = window.export_fused(tmp_path / "result1.npy")
    record = window.results_panel.current()
    assert main(["metrics", "--record", str(npy), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["standard"] == pytest.approx(dict(record.metrics.standard), rel=1e-12)
    shown = window.metrics_panel.shown_values()
    assert shown["Fusion metrics/Q^AB/F edge transfer (0–1)"] == format_number(
        printed["standard"]["Qabf"]
    )
    assert not any(key.startswith("Ground truth/") for key in shown)  # DICOM pair: no truth


def test_diffusion_fusion_shows_live_previews(qtbot, window, phantom_files, shared):
    """ddfm-em with the small fixture network: x0 previews reach the fused pane while it runs."""
    weights = shared("fixtures", "adm_tiny.pt")
    mri, us = phantom_files
    assert window.open_mri(mri) and window.open_us(us)
    window.method_choice.setCurrentText("ddfm-em")
    editors = window.param_panel.editors
    editors["steps"].setValue(4)
    editors["preview_every"].setValue(1)
    editors["weights_file"].setText(str(weights))
    titles = []
    window.runner.progress.connect(
        lambda e: titles.append(window.fused_pane.overlay.title) if e.preview is not None else None
    )
    with qtbot.waitSignal(window.fusion_finished, timeout=FUSION_TIMEOUT_MS):
        assert window.fuse("ddfm-em")
    assert any("(preview)" in t for t in titles), titles
    record = window.results_panel.current()
    assert record.method == "ddfm-em" and record.result.fused.shape == (120, 120)
    assert window.fused_pane.overlay.title.startswith("Fused: #1 ddfm-em")


def test_mat_with_several_images_asks_which_one(window, tmp_path, monkeypatch):
    import scipy.io
    from PySide6.QtWidgets import QInputDialog

    pair = make_phantom_pair(seed=0, size=120, d=6)
    path = tmp_path / "pair.mat"
    scipy.io.savemat(path, {"mri": pair.mri.pixels, "us": pair.us.pixels})
    offered = []

    def choose(parent, title, label, items, *args):
        offered.append(list(items))
        return "us", True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    assert window.open_us(path)
    assert offered == [["mri", "us"]] and window.us.info.notes["variable"] == "us"
    monkeypatch.setattr(QInputDialog, "getItem", lambda *args: ("", False))
    assert not window.open_mri(path)  # the user closed the list: nothing loaded, no error


def test_anonymised_exports_share_the_patients_pseudonym_and_can_blank(qtbot, window, tmp_path,
                                                                        dicom_pair_writer):
    import pydicom

    mri, us = dicom_pair_writer(tmp_path / "src", "PATIENT-Q", 60, seed=2)
    assert window.open_mri(mri) and window.open_us(us)
    fuse(qtbot, window, iterations=1)
    window.act_anonymise.setChecked(True)
    first = pydicom.dcmread(window.export_fused(tmp_path / "a.dcm"))
    window.act_blank_outside.setChecked(True)
    second = pydicom.dcmread(window.export_fused(tmp_path / "b.dcm"))
    assert first.PatientID == second.PatientID != "PATIENT-Q"
    assert "113101" in [c.CodeValue for c in second.DeidentificationMethodCodeSequence]
    mapping = Path(window.settings.fileName()).with_name("pseudonyms.json")
    assert mapping.is_file() and "PATIENT-Q" in mapping.read_text()
    open_small_demo(window)  # the demo phantom: no ultrasound regions to blank outside
    fuse(qtbot, window, iterations=2)
    assert window.export_fused(tmp_path / "c.dcm") is None
    assert "region is not known" in window.last_error
