"""``endofuse-viewer`` as a process: without a display it honours the files and options given
(offscreen) or refuses in one sentence, and runs the headless demo; the automation options (demo,
fuse, screenshot, quit) exit 0; an interactive session in which a fusion was cancelled exits 0
when the user closes the window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from viewer_fixtures import save_phantom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path, **extra):
    """No display at all (no DISPLAY, WAYLAND_DISPLAY or QT_QPA_PLATFORM), settings in tmp."""
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), **extra)
    return env


def _viewer(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "app.main", *map(str, args)],
        cwd=ROOT, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=600,
    )


@pytest.fixture
def pair_files(tmp_path):
    return save_phantom(tmp_path, size=60, seed=3)


@pytest.mark.slow
def test_without_a_display_the_given_files_are_fused_offscreen(tmp_path, pair_files):
    mri, us = pair_files
    shot = tmp_path / "shots" / "fused.png"
    proc = _viewer(tmp_path, "--mri", mri, "--us", us, "--fuse", "palm", "--screenshot", shot,
                   "--size", "1280x720")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "offscreen" in proc.stdout and "headless demo" not in proc.stdout
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 720)


def test_without_a_display_failures_are_one_sentence_and_a_status(tmp_path, pair_files):
    mri, us = pair_files
    nothing = _viewer(tmp_path, "--mri", mri, "--us", us)
    assert nothing.returncode == 2
    assert nothing.stderr.strip().startswith("endofuse-viewer: No display found: give")
    shot = tmp_path / "never.png"
    missing = _viewer(tmp_path, "--mri", tmp_path / "missing.npy", "--us", us,
                      "--screenshot", shot)
    assert missing.returncode == 1 and "missing.npy" in missing.stderr
    assert "Traceback" not in missing.stderr and not shot.exists()


#: the first lines of the drivers below: the demo phantom at 120x120 instead of 600x600 (same
#: generator, seed and d), so that their demo fusions are quick; the full-size demo runs in
#: test_cli.py (``endofuse demo``) and test_rendered_images.py (the window)
SMALL_DEMO = """
import engine.phantom as phantom
_make_pair = phantom.make_phantom_pair
phantom.make_phantom_pair = lambda seed=0, size=600, d=6, settings=None: _make_pair(
    seed, 120, d, settings)
"""

DRIVER = SMALL_DEMO + """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.main

qt_app = QApplication(sys.argv[:1])


def drive():
    window = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "main-window")
    assert window.open_demo()
    window.method_choice.setCurrentText("palm")
    window.param_panel.editors["iterations"].setValue(500)
    window.runner.progress.connect(lambda e: window.cancel_fusion() if e.step >= 1 else None)
    window.fusion_cancelled.connect(lambda: print("cancelled", flush=True))
    window.fusion_cancelled.connect(lambda: QTimer.singleShot(200, window.close))
    assert window.fuse("palm")


QTimer.singleShot(0, drive)
sys.exit(app.main.main([]))
"""


@pytest.mark.slow
def test_cancel_then_close_exits_zero(tmp_path):
    """A user session: open, fuse, cancel, close the window: exit status 0, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=ROOT,
        env=_env(tmp_path, QT_QPA_PLATFORM="offscreen"),
        capture_output=True, text=True, timeout=600,
    )
    assert "cancelled" in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.slow
def test_viewer_automation_exits_cleanly(tmp_path):
    shot = tmp_path / "out.png"
    automation = ["--demo", "--fuse", "palm", "--screenshot", str(shot), "--quit"]
    proc = subprocess.run(
        [sys.executable, "-c", SMALL_DEMO + f"import sys, app.main; sys.exit(app.main.main("
         f"{automation!r}))"],
        cwd=ROOT, env=_env(tmp_path, QT_QPA_PLATFORM="offscreen"),
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1440, 860)


@pytest.mark.slow
def test_no_display_runs_the_headless_demo(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c",
         SMALL_DEMO + "import sys, app.main; sys.exit(app.main.main(['--demo']))"],
        cwd=tmp_path, env=_env(tmp_path, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0].startswith("No display found")
    assert any((tmp_path / "out" / "demo").iterdir())
