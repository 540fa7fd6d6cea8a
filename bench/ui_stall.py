"""The viewer's UI thread while a fusion runs: the longest gap between ticks of a 10 ms timer.

Runs the main window (offscreen unless a display is set) on the demo pair, starts a fusion on the
worker thread and records, on the UI thread, the time between consecutive ticks of a QTimer set
to 10 ms from the start of the fusion to its end. A gap much above 10 ms is a stall the user
feels (a frozen cursor, a late repaint). Prints, per method, the fusion's wall time, the number
of ticks, the median, p99 and maximum gap; the target is a maximum under 100 ms.

    QT_QPA_PLATFORM=offscreen python bench/ui_stall.py [--methods palm ddfm-em] [--size 600]

Not a timed test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TICK_MS = 10
TARGET_MS = 100.0


def measure(app, window, method: str, overrides: dict) -> dict:
    """Fuse once with ``method`` and return the tick gaps (ms) seen on the UI thread."""
    from PySide6.QtCore import QTimer

    window.method_choice.setCurrentText(method)
    for name, value in overrides.items():
        if name in window.param_panel.editors:
            window.param_panel.editors[name].setValue(value)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list = []
    window.fusion_finished.connect(done.append)
    window.fusion_failed.connect(done.append)
    start = time.perf_counter()
    timer.start()
    if not window.fuse(method):
        raise RuntimeError(f"{method} did not start: {window.last_error}")
    while not done:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    wall = time.perf_counter() - start
    gaps = np.diff(np.asarray(ticks)) * 1000.0
    return {
        "method": method,
        "wall_s": wall,
        "ticks": len(ticks),
        "median_ms": float(np.median(gaps)),
        "p99_ms": float(np.percentile(gaps, 99)),
        "max_ms": float(gaps.max()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["palm", "ddfm-em"])
    parser.add_argument("--ddfm-steps", type=int, default=10)
    args = parser.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "viewer.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, restore_layout=False)
        window.resize(1440, 860)
        window.show()
        while not (window.runner.warmed_up and window.param_panel is not None):
            app.processEvents()
            time.sleep(0.005)
        window.open_demo()
        rows = []
        for method in args.methods:
            overrides = {"steps": args.ddfm_steps} if method.startswith("ddfm") else {}
            rows.append(measure(app, window, method, overrides))
        # release the pyqtgraph views while the application exists (as endofuse-viewer does)
        from PySide6.QtCore import QCoreApplication, QEvent

        window.shutdown()
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        del window
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"UI thread during a fusion of the demo pair (600 x 600), QTimer every {TICK_MS} ms")
    print(f"{'method':<10} {'fusion s':>9} {'ticks':>6} {'median ms':>10} {'p99 ms':>8} "
          f"{'max ms':>8}  max < {TARGET_MS:g} ms")
    for r in rows:
        verdict = "yes" if r["max_ms"] < TARGET_MS else "NO"
        print(f"{r['method']:<10} {r['wall_s']:>9.1f} {r['ticks']:>6d} {r['median_ms']:>10.1f} "
              f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
