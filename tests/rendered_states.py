"""Rendered-image states of the main window and their comparison with reference PNGs.

Each state is one small function of :mod:`app.window_states` (shared with the README
screenshots) that brings a window (demo pair loaded, fused once with a fixed, fast, deterministic
PALM) to what the user would see; :func:`render_states` grabs it at every size of :data:`SIZES`.
The references live in ``tests/reference_images/<state>-<W>x<H>.png``, stored at half size as
256-colour palette PNGs. An image matches its reference when, at half size, the mean absolute
difference over all pixels and channels is at most :data:`MEAN_TOLERANCE` grey levels and at
most :data:`CHANGED_FRACTION` of the pixels differ by more than :data:`CHANGED_LEVEL` in some
channel (text that renders slightly differently with another font stays under both; a blank
pane, an overlay that stopped blending or a measurement not drawn does not).

Regenerate the references after a deliberate change of the design (from the repository root):

    QT_QPA_PLATFORM=offscreen python -m tests.rendered_states --update
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.window_states import STATES

REFERENCE_DIR = Path(__file__).resolve().parent / "reference_images"
SIZES = ((1440, 860), (1280, 720))
MEAN_TOLERANCE = 3.0
CHANGED_LEVEL = 64
CHANGED_FRACTION = 0.01
#: the fixed fusion of every state after "demo-loaded" (PALM is deterministic on the CPU)
FUSION_METHOD, FUSION_ITERATIONS = "palm", 3


def process(app, seconds: float = 0.0, until: Callable[[], bool] | None = None) -> None:
    """Run the event loop for ``seconds`` or until ``until()`` (at most 120 s)."""
    end = time.monotonic() + (120.0 if until is not None else seconds)
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.005)
    if until is not None:
        raise TimeoutError("the window did not reach the state in 120 s")


@dataclass(frozen=True)
class Comparison:
    """How far a rendering is from its reference (both at half size, RGB 0..255)."""

    mean_abs: float
    changed_fraction: float

    def describe(self) -> str:
        return f"mean |diff| {self.mean_abs:.2f}, {100 * self.changed_fraction:.2f} % changed"

    @property
    def ok(self) -> bool:
        return self.mean_abs <= MEAN_TOLERANCE and self.changed_fraction <= CHANGED_FRACTION


def reference_path(state: str, size: tuple[int, int]) -> Path:
    return REFERENCE_DIR / f"{state}-{size[0]}x{size[1]}.png"


def to_stored(image):
    """A grabbed QImage as the stored form: half size, 256-colour palette (a PIL image)."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    with Image.open(io.BytesIO(bytes(buffer.data()))) as grabbed:
        rgb = grabbed.convert("RGB")
    half = rgb.resize((rgb.width // 2, rgb.height // 2), Image.Resampling.BOX)
    return half.quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def compare(stored, reference_file: Path) -> Comparison:
    from PIL import Image

    if not reference_file.exists():  # a new state: nothing to match until --update
        return Comparison(255.0, 1.0)
    with Image.open(reference_file) as ref:
        b = np.asarray(ref.convert("RGB"), dtype=np.int16)
    a = np.asarray(stored.convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return Comparison(255.0, 1.0)
    diff = np.abs(a - b)
    return Comparison(float(diff.mean()), float((diff.max(axis=2) > CHANGED_LEVEL).mean()))


def make_window(app, settings_file: Path):
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    window = MainWindow(
        settings=QSettings(str(settings_file), QSettings.Format.IniFormat), restore_layout=False
    )
    window.show()
    process(app, until=lambda: window.runner.warmed_up and window.param_panel is not None)
    return window


def show_state(app, window, state: str, size: tuple[int, int]):
    """Apply ``state`` at ``size`` and return the grabbed window (a QImage)."""
    window.resize(*size)
    process(app, 0.2)
    STATES[state][1](window)
    process(app, 0.2)
    window.reset_view()
    if window.tabs.currentWidget() is window.compare:
        window.compare.pane.reset_view()
    process(app, 0.2)
    return window.grab().toImage()


def render_states(app, window, states=None):
    """Yield (state, size, grabbed QImage) for every state and size, fusing once when needed."""
    states = list(STATES) if states is None else list(states)
    assert window.open_demo()
    done = []
    for state in states:
        if STATES[state][0] and not done:
            window.fusion_finished.connect(done.append)
            window.method_choice.setCurrentText(FUSION_METHOD)
            window.param_panel.editors["iterations"].setValue(FUSION_ITERATIONS)
            assert window.fuse(FUSION_METHOD)
            process(app, until=lambda: bool(done))
        for size in SIZES:
            yield state, size, show_state(app, window, state, size)


def styled_application():
    """The QApplication with the viewer's style, as ``endofuse-viewer`` sets it up; returns
    (app, restore) where ``restore()`` puts the previous style back."""
    from PySide6.QtWidgets import QApplication

    from app.main import load_style_sheet

    app = QApplication.instance() or QApplication(sys.argv[:1])
    old_sheet, old_style = app.styleSheet(), app.style().name()
    app.setStyle("Fusion")
    app.setStyleSheet(load_style_sheet())

    def restore() -> None:
        app.setStyleSheet(old_sheet)
        app.setStyle(old_style)

    return app, restore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the window states; --update rewrites "
                                     "the reference PNGs, else compares with them.")
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--out", type=Path, help="also save the full-size grabs here")
    args = parser.parse_args(argv)
    app, _ = styled_application()
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        window = make_window(app, Path(tmp) / "viewer.ini")
        try:
            for state, size, image in render_states(app, window):
                stored = to_stored(image)
                path = reference_path(state, size)
                if args.out is not None:
                    args.out.mkdir(parents=True, exist_ok=True)
                    image.save(str(args.out / path.name))
                if args.update:
                    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
                    stored.save(path, optimize=True)
                    print(f"{path.name}: {path.stat().st_size // 1024} KB")
                else:
                    result = compare(stored, path)
                    failures += not result.ok
                    verdict = "ok" if result.ok else "DIFFERS"
                    print(f"{path.name}: {result.describe()}  {verdict}")
        finally:
            window.shutdown()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
