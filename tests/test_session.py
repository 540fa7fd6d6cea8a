"""The session keeps results per pair: fuse A, open B, export #1 -> A's identity and references;
a second pair of another size opens without error; the window never imports torch to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import pipeline
from engine.fusion import FusionResult
from engine.phantom import make_phantom_pair
from engine.session import Session, SessionEvent

ROOT = Path(__file__).resolve().parents[1]
SPACING = 0.25


def _dicom_pair(folder: Path, patient_id: str, size: int, seed: int):
    import pydicom

    from engine.dicom import SourcePatient, write_source_dicom

    pair = make_phantom_pair(seed=seed, size=size, d=6)
    patient = SourcePatient(patient_name=f"PATIENT^{patient_id}", patient_id=patient_id,
                            study_instance_uid=pydicom.uid.generate_uid())
    folder.mkdir()
    mri = write_source_dicom(pair.mri.pixels, folder / "mr.dcm", "MR", (6 * SPACING,) * 2, patient)
    us = write_source_dicom(pair.us.pixels, folder / "us.dcm", "US", (SPACING,) * 2, patient,
                            series_number=2)
    return mri, us


def _result(fusion_input) -> FusionResult:
    return FusionResult(fused=fusion_input.y_u, method="palm", params=None, elapsed_s=0.0,
                        mri_estimate=np.kron(fusion_input.y_m, np.ones((6, 6))))


# ----- the model alone ------------------------------------------------------------------------
def test_results_stay_with_their_pair():
    session = Session()
    events = []
    session.subscribe(events.append)
    a = make_phantom_pair(seed=0, size=60, d=6)
    b = make_phantom_pair(seed=1, size=72, d=6)
    first = session.open_scans(a.mri, a.us)
    record = session.add_result(pipeline.record_of(_result(first.fusion_input),
                                                   first.fusion_input, with_metrics=False))
    session.open_scan("us", b.us)  # a US of another size: a new pair that does not pair
    assert session.pair.error and session.fusion_input is None
    session.open_scan("mri", b.mri)
    assert session.fusion_input.y_u.shape == (72, 72)
    assert session.records == [record] and record.us is a.us and record.number == 1
    assert session.pair_of(record) is first and len(session.pairs) == 2  # unpaired one dropped
    second = session.add_result(pipeline.record_of(_result(session.fusion_input),
                                                   session.fusion_input, with_metrics=False))
    assert second.number == 2 and session.pair_of(second) is session.pair
    session.close_result(record)
    assert session.records == [second]
    assert events.count(SessionEvent.RESULTS) == 3 and SessionEvent.PAIR in events


# ----- the viewer -----------------------------------------------------------------------------
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    settings = QSettings(str(tmp_path / "viewer.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, restore_layout=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()


@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_export_of_an_earlier_result_carries_its_own_sources(qtbot, window, tmp_path):
    import pydicom

    mri_a, us_a = _dicom_pair(tmp_path / "a", "PATIENT-A", 60, seed=0)
    mri_b, us_b = _dicom_pair(tmp_path / "b", "PATIENT-B", 72, seed=1)
    window.act_anonymise.setChecked(False)
    assert window.open_mri(mri_a) and window.open_us(us_a)
    window.method_choice.setCurrentText("palm")
    window.param_panel.editors["iterations"].setValue(1)
    window.param_panel.editors["despeckle"].setChecked(False)
    with qtbot.waitSignal(window.fusion_finished, timeout=300_000):
        assert window.fuse("palm")

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


def test_building_the_window_imports_no_torch(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.main_window import MainWindow\n"
        "from PySide6.QtCore import QSettings\n"
        f"w = MainWindow(QSettings({str(tmp_path / 'v.ini')!r}, QSettings.Format.IniFormat),"
        " restore_layout=False)\n"
        "w.show()\n"
        "print('torch' in sys.modules)\n"
        "w.shutdown()\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"
