"""The session keeps results per pair (an earlier result keeps its own sources after another pair
is opened; the viewer's side is in test_app_viewer.py); the window never imports torch to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import pipeline
from engine.errors import ImageReleasedError
from engine.fusion import FusionResult
from engine.phantom import make_phantom_pair
from engine.session import Session, SessionEvent

ROOT = Path(__file__).resolve().parents[1]


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


# ----- the viewer ---------------------------------------------------------------------------
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


def test_images_beyond_the_budget_are_released_oldest_first_and_clear_empties():
    session = Session()
    pair = make_phantom_pair(seed=0, size=60, d=6)
    entry = session.open_scans(pair.mri, pair.us)
    one = pipeline.record_of(_result(entry.fusion_input), entry.fusion_input, with_metrics=True)
    assert one.image_bytes == 2 * 60 * 60 * 8  # fused + mri_estimate, float64
    session.image_budget_bytes = 2 * one.image_bytes  # two results' images fit
    for _ in range(4):
        session.add_result(one)
    records = session.records
    assert [r.images_released for r in records] == [True, True, False, False]
    assert sum(r.image_bytes for r in records) <= session.image_budget_bytes
    for record in records:  # metrics, parameters and provenance stay
        assert record.metrics.standard == one.metrics.standard
        assert record.provenance()["method"] == "palm" and record.image_note() == one.image_note()
    with pytest.raises(ImageReleasedError, match="was released to keep the viewer's memory"):
        records[0].pixels()
    np.testing.assert_array_equal(records[-1].pixels(), one.pixels())
    session.set_image_budget(0)  # the newest always keeps its images
    assert [r.images_released for r in session.records] == [True, True, True, False]
    session.clear_results()
    assert session.records == [] and session.pair is entry and session.fusion_input is not None
