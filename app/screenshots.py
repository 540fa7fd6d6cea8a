"""Render the README screenshots: the main window after a demo fusion, the compare view, the
MRI overlay at 40 % and two measurements.

``python -m app.screenshots [--out resources/screenshots]`` runs the viewer's automation for the
first two (offscreen unless a display is set), then drives one window through the states of
:mod:`app.window_states` for the others (the demo pair fused once with palm's defaults, at the
automation's default size), and stores palette PNGs (< 300 KB each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = {
    "main_window.png": ["--demo", "--fuse", "palm"],
    "compare_view.png": ["--demo", "--fuse", "palm", "--compare"],
}
#: file -> state of :mod:`app.window_states`
STATE_SHOTS = {"overlay.png": "overlay", "measurement.png": "measurement"}
SIZE = (1440, 860)
MAX_BYTES = 300_000
WAIT_S = 600.0


def shrink(path: Path) -> None:
    """Re-save as a 256-colour palette PNG (the viewer is mostly grey), halving if still big."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
    while True:
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES or image.width < 600:
            return
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)


def _wait(app, done, what: str) -> None:
    end = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > end:
            raise RuntimeError(f"{what} took longer than {WAIT_S:.0f} s")
        app.processEvents()
        time.sleep(0.005)


def render_states(out: Path, shots: dict[str, str]) -> list[Path]:
    """Write ``file -> state`` grabs of one window (demo pair, one palm fusion) into ``out``."""
    from PySide6.QtCore import QCoreApplication, QEvent, QSettings
    from PySide6.QtWidgets import QApplication

    from .main import load_style_sheet
    from .main_window import MainWindow
    from .window_states import STATES

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setStyleSheet(load_style_sheet())
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "viewer.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, restore_layout=False)
        window.resize(*SIZE)
        window.show()
        try:
            _wait(app, lambda: window.runner.warmed_up and window.param_panel is not None,
                  "the start-up")
            if not window.open_demo():
                raise RuntimeError(window.last_error)
            ended: list = []
            window.fusion_finished.connect(ended.append)
            window.fusion_failed.connect(ended.append)
            if not window.fuse("palm"):
                raise RuntimeError(window.last_error)
            _wait(app, lambda: bool(ended), "the fusion")
            if not window.results_panel.records:
                raise RuntimeError(f"the fusion failed: {ended[0]}")
            for name, state in shots.items():
                STATES[state][1](window)
                window.reset_view()
                _wait(app, _after(0.3), "the layout")
                path = out / name
                if not window.grab().save(str(path), "PNG"):
                    raise RuntimeError(f"the screenshot could not be written to {path}")
                written.append(path)
        finally:
            window.shutdown()
            window.close()
            window.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return written


def _after(seconds: float):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for name, extra in SHOTS.items():
        path = args.out / name
        command = [sys.executable, "-m", "app.main", *extra, "--screenshot", str(path), "--quit"]
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        if code != 0:
            print(f"screenshot {name} failed (exit {code})", file=sys.stderr)
            return code
        shrink(path)
        print(f"{path}: {path.stat().st_size // 1024} KB")
    try:
        paths = render_states(args.out, STATE_SHOTS)
    except RuntimeError as exc:
        print(f"screenshots of the window states failed: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        shrink(path)
        print(f"{path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
