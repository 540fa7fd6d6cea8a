"""``endofuse-viewer``: start the viewer, optionally on the demo pair, with an automation hook.

``endofuse-viewer --demo --fuse palm --screenshot out.png --quit`` loads the demo pair, fuses,
renders, writes the window image and exits 0; any failure (a file that does not load, a fusion
that fails or is cancelled, a screenshot that cannot be written) is one sentence on stderr and
exit status 1. The automation only follows the fusion it started itself: what the user does
afterwards in the window never changes the exit status.

On a Linux machine with no display (no DISPLAY or WAYLAND_DISPLAY and no QT_QPA_PLATFORM chosen):

* with ``--screenshot`` or ``--fuse``, the same automation runs offscreen (Qt's ``offscreen``
  platform) on the files and options given and exits when done, as with ``--quit``;
* with ``--mri``/``--us`` alone there is nothing to show: one sentence, exit status 2;
* otherwise (no options, or ``--demo``) it says so in one line and runs the headless demo
  (``endofuse demo``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HEADLESS_DEMO_OUT = "out/demo"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endofuse-viewer", description="EndoFuse MRI/US fusion viewer."
    )
    parser.add_argument("--mri", help="MRI scan to open")
    parser.add_argument("--us", help="ultrasound scan to open")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo pair")
    parser.add_argument("--fuse", metavar="METHOD", help="start this fusion method once loaded")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="after the fusion, show the compare view (swipe result | US)",
    )
    parser.add_argument("--screenshot", metavar="PNG", help="write the window image when done")
    parser.add_argument("--size", default="1440x860", help="window size WxH (default 1440x860)")
    parser.add_argument("--quit", action="store_true", help="exit when done (automation)")
    return parser


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


NOTHING_TO_DO_OFFSCREEN = (
    "No display found: give --screenshot PNG (and --fuse METHOD) to run the viewer offscreen on "
    "these files, or use the command line (endofuse fuse)."
)


def headless_plan(args: argparse.Namespace) -> str:
    """Without a display: "offscreen" (automation on the given files and options), "refuse"
    (files but nothing to produce) or "demo" (the headless demo)."""
    if args.screenshot or args.fuse:
        return "offscreen"
    if args.mri or args.us or args.compare:
        return "refuse"
    return "demo"


def run_headless_demo() -> int:
    print(
        "No display found: running the headless demo instead "
        f"(endofuse demo --out {HEADLESS_DEMO_OUT}).",
        flush=True,
    )
    from engine.cli import main as cli_main

    return int(cli_main(["demo", "--out", HEADLESS_DEMO_OUT]) or 0)


class Automation:
    """Drives load -> fuse -> screenshot -> quit through the window's signals (no polling)."""

    def __init__(self, window, app, args: argparse.Namespace) -> None:
        self.window, self.app, self.args = window, app, args
        self.exit_code = 0
        self._following = False  # True while the fusion started by --fuse runs

    def _follow(self, on: bool) -> None:
        """Listen to the window's fusion signals only while our own fusion runs."""
        w = self.window
        pairs = (
            (w.fusion_finished, self._after_fusion),
            (w.fusion_failed, self._fail),
            (w.fusion_cancelled, self._on_cancelled),
        )
        if on == self._following:
            return
        self._following = on
        for signal, slot in pairs:
            (signal.connect if on else signal.disconnect)(slot)

    def start(self) -> None:
        w, args = self.window, self.args
        ok = True
        if args.demo:
            ok = w.open_demo()
        if args.mri:
            ok = w.open_mri(args.mri) and ok
        if args.us:
            ok = w.open_us(args.us) and ok
        if not ok:
            self._fail(w.last_error or "loading failed")
            return
        if args.fuse:
            self._follow(True)
            if not w.fuse(args.fuse):
                self._fail(w.last_error or "the fusion could not start")
            return
        self._finish()

    def _on_cancelled(self) -> None:
        self._fail("the fusion was cancelled")

    def _after_fusion(self, record) -> None:
        self._follow(False)
        if self.args.compare:
            from app.main_window import US_SOURCE

            self.window.tabs.setCurrentWidget(self.window.compare)
            self.window.compare.set_pair(record.name, US_SOURCE)
        self._finish()

    def _fail(self, message: str) -> None:
        self._follow(False)
        print(f"endofuse-viewer: {message}", file=sys.stderr, flush=True)
        self.exit_code = 1
        if self.args.quit:
            self.app.exit(1)

    def _finish(self) -> None:
        from PySide6.QtCore import QTimer

        # one turn of the event loop so that layouts and the view reset have been applied
        QTimer.singleShot(50, self._screenshot_and_quit)

    def _screenshot_and_quit(self) -> None:
        if self.args.screenshot:
            path = Path(self.args.screenshot)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                saved = self.window.grab().save(str(path), "PNG")
            except OSError:
                saved = False
            if not saved:
                self._fail(f"the screenshot could not be written to {path}")
                return
            print(f"Saved {path}", flush=True)
        if self.args.quit:
            self.app.exit(self.exit_code)


def load_style_sheet() -> str:
    """The viewer's style sheet, read from the ``app`` package (also inside a frozen bundle,
    where this file runs as a top-level script rather than as ``app.main``)."""
    from importlib.resources import files

    return files("app").joinpath("style.qss").read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not has_display():
        plan = headless_plan(args)
        if plan == "demo":
            return run_headless_demo()
        if plan == "refuse":
            print(f"endofuse-viewer: {NOTHING_TO_DO_OFFSCREEN}", file=sys.stderr, flush=True)
            return 2
        print("No display found: running the viewer offscreen on the given files.", flush=True)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        args.quit = True

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setStyle("Fusion")
    app.setStyleSheet(load_style_sheet())

    from app.main_window import MainWindow

    # automation runs neither use nor overwrite the user's saved layout
    window = MainWindow(restore_layout=not args.quit)
    if args.screenshot or args.quit:
        width, _, height = args.size.partition("x")
        window.resize(int(width), int(height))
    window.show()
    automation = Automation(window, app, args)
    QTimer.singleShot(0, automation.start)
    code = app.exec()
    # Release pyqtgraph views while the application still exists, so that nothing pyqtgraph
    # owns is destroyed during interpreter shutdown.
    window.shutdown()
    window.close()
    window.deleteLater()
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del window
    # the automation's status counts only for an automated run; an interactive session that
    # the user closes exits 0 whatever was cancelled or failed on the way
    return int(code or (automation.exit_code if args.quit else 0))


if __name__ == "__main__":
    sys.exit(main())
