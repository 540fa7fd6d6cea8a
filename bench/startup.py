"""Viewer start-up: seconds from launching the interpreter to the window's first paint.

Each run starts a fresh ``python`` (nothing cached in the process), builds ``MainWindow``, shows it
and waits for its first paint event; the time is taken in this process from just before the
launch (so interpreter start-up counts) to the wall-clock time the child reports at the paint.
Also reported: the seconds the child spent building the window, whether torch had been imported
by the first paint (it must not be: the fusion modules load in the background), and when the
parameter form of the default method was ready.

    python bench/startup.py [--runs 3] [--platform offscreen]

Target: first paint <= 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, tempfile, time
t_start = time.time()
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow
marks = {}

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and "paint" not in marks:
            marks["paint"] = time.time()
            marks["torch_at_paint"] = "torch" in sys.modules
        return False

settings = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)
t_build = time.time()
window = MainWindow(settings=settings, restore_layout=False)
marks["build_s"] = time.time() - t_build
spy = FirstPaint()
window.installEventFilter(spy)
window.show()

def poll():
    if "paint" in marks and "form" not in marks and window.fusion_dock._form_for is not None:
        marks["form"] = time.time()
    if "form" in marks or time.time() - t_start > 120:
        app.quit()

timer = QTimer()
timer.timeout.connect(poll)
timer.start(20)
app.exec()
window.shutdown()
print(json.dumps({**marks, "start": t_start}))
"""


def one_run(platform: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM=platform, PYTHONPATH=str(ROOT))
    launched = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    marks = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "first paint s": marks["paint"] - launched,
        "build window s": marks["build_s"],
        "torch at paint": marks["torch_at_paint"],
        "form ready s": marks.get("form", float("nan")) - launched,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--platform", default="offscreen", help="Qt platform plug-in")
    args = parser.parse_args()
    runs = [one_run(args.platform) for _ in range(args.runs)]
    print(f"{'run':>4s} {'first paint s':>14s} {'build window s':>15s} {'torch at paint':>15s} "
          f"{'form ready s':>13s}")
    for i, r in enumerate(runs, start=1):
        print(f"{i:4d} {r['first paint s']:14.2f} {r['build window s']:15.2f} "
              f"{str(r['torch at paint']):>15s} {r['form ready s']:13.2f}")
    median = statistics.median(r["first paint s"] for r in runs)
    print(f"median first paint {median:.2f} s (target <= 2 s); cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
