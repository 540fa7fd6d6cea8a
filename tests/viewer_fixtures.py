"""Fixtures and helpers shared by the viewer's GUI tests (offscreen, pytest-qt).

``conftest.py`` loads this module as a plugin, so its fixtures need no import; the helpers
(:func:`fuse`, :func:`show`, ...) are imported by the GUI tests. Qt is imported only inside the
fixtures and helpers: the engine tests run where PySide6 is not installed.

* :func:`window` is a shown :class:`~app.main_window.MainWindow` of :data:`WINDOW_SIZE`, or of
  the size a module or test asks for with ``@pytest.mark.window_size((width, height))``
  (``window_size(None)``: the size the window gives itself); :func:`make_window` makes more
  (each its size, or its own settings); all are shut down after the test.
* A window's settings are the ini file :func:`ini_settings` in the test's ``tmp_path``, and with
  :func:`settings_in_tmp` (which every window asks for; a module without a window asks with
  ``pytest.mark.usefixtures("settings_in_tmp")``) any QSettings opened by default lands in
  ``tmp_path/settings``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

#: how long a test waits for one fusion, in ms (a loaded machine is slow, never this slow)
FUSION_TIMEOUT_MS = 300_000
#: the main window's size unless a test asks for another (width, height)
WINDOW_SIZE = (1300, 820)


@pytest.fixture
def settings_in_tmp(tmp_path):
    """Any QSettings the viewer opens by default lands in a temporary folder."""
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))


def ini_settings(tmp_path: Path):
    """The viewer's settings (a QSettings) as the ini file ``tmp_path/viewer.ini``."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "viewer.ini"), QSettings.Format.IniFormat)


def show(qtbot, widget, size: tuple[int, int] | None):
    """``widget`` handed to ``qtbot``, resized to ``size`` (None: its own), shown and exposed."""
    qtbot.addWidget(widget)
    if size is not None:
        widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def make_window(qtbot, tmp_path, settings_in_tmp):
    """``make(size=WINDOW_SIZE, settings=None)``: a shown main window (settings None: the ini
    file of :func:`ini_settings`); every window made is shut down after the test."""
    from app.main_window import MainWindow

    made = []

    def make(size: tuple[int, int] | None = WINDOW_SIZE, settings=None):
        win = MainWindow(settings=settings or ini_settings(tmp_path), restore_layout=False)
        made.append(win)
        return show(qtbot, win, size)

    yield make
    for win in made:
        win.shutdown()


@pytest.fixture
def window(request, make_window):
    """One shown main window, of the size of the nearest ``window_size`` mark (or WINDOW_SIZE)."""
    mark = request.node.get_closest_marker("window_size")
    return make_window(WINDOW_SIZE if mark is None else mark.args[0])


def save_phantom(folder: Path, size: int = 120, seed: int = 0, d: int = 6) -> tuple[Path, Path]:
    """The phantom pair of :func:`engine.phantom.make_phantom_pair` saved as
    ``(folder/mri.npy, folder/us.npy)`` (arrays only: no pixel size)."""
    from engine.phantom import make_phantom_pair

    pair = make_phantom_pair(seed=seed, size=size, d=d)
    mri, us = folder / "mri.npy", folder / "us.npy"
    np.save(mri, pair.mri.pixels)
    np.save(us, pair.us.pixels)
    return mri, us


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    """The 120x120 phantom pair (d = 6, seed 0) of :func:`save_phantom`, once per module."""
    return save_phantom(tmp_path_factory.mktemp("phantom"))


def fuse(qtbot, window, method: str = "palm", **params):
    """Choose ``method``, set the form's ``params`` (a bool ticks a check box), fuse and wait;
    returns the :class:`~engine.pipeline.FusionRecord` the window received."""
    window.method_choice.setCurrentText(method)
    assert window.fusion_dock.ensure_form()
    for name, value in params.items():
        editor = window.param_panel.editors[name]
        if isinstance(value, bool):
            editor.setChecked(value)
        else:
            editor.setValue(value)
    with qtbot.waitSignal(window.fusion_finished, timeout=FUSION_TIMEOUT_MS) as blocker:
        assert window.fuse(method), window.last_error
    return blocker.args[0]


#: the side of :func:`open_small_demo`'s phantom (the demo's is 600): 25 times fewer pixels
SMALL_DEMO_SIDE = 120


def open_small_demo(window, size: int = SMALL_DEMO_SIDE) -> None:
    """The demo phantom (seed 0, d = 6, 0.1 mm US spacing, with its ground truth) at ``size`` x
    ``size``, opened as ``open_demo`` opens the demo (a paired entry of the session): for the
    tests whose property does not depend on the image size, so that fusing it is quick."""
    from engine.phantom import make_phantom_pair

    fusion_input = make_phantom_pair(seed=0, size=size, d=6).fusion_input()
    window.session.open_paired(fusion_input, "Demo phantom")


def fused_small_demo(qtbot, window, iterations: int = 2):
    """:func:`open_small_demo`, paired and fused by PALM with ``iterations``."""
    open_small_demo(window)
    qtbot.waitUntil(lambda: window.link.scale is not None)
    return fuse(qtbot, window, "palm", iterations=iterations)
