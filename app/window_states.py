"""Named states of the main window on the demo pair, shared by the rendered-image tests
(``tests/rendered_states.py``) and the README screenshots (:mod:`app.screenshots`).

Each state is a function of a window that has the demo pair open (and, except "demo-loaded", one
fusion in its results) and leaves it showing that state: the panes (overlay off), the MRI drawn
over the US and the fused image at 40 %, the compare view as a checkerboard of the result and
the US, and the panes with a 10 mm distance and an ellipse region.
"""

from __future__ import annotations

from collections.abc import Callable

#: the measurement state's shapes on the US grid: a horizontal 10 mm distance across the dark
#: star (its start; the end follows from the pair's calibration) and an ellipse on the round
#: inclusion (its box's corners)
DISTANCE_START = (270.0, 395.0)
ELLIPSE_BOX = ((434.0, 335.0), (534.0, 435.0))
OVERLAY_PERCENT = 40
CHECKER_SQUARE = 60


def demo_loaded(w) -> None:
    w.tabs.setCurrentWidget(w.splitter)


def fused(w) -> None:
    w.measure_tool.clear()
    w.overlay.set_enabled(False)
    w.tabs.setCurrentWidget(w.splitter)


def overlay_40(w) -> None:
    w.measure_tool.clear()
    w.overlay.set_source("mri")
    w.overlay.set_opacity(OVERLAY_PERCENT)
    w.overlay.set_enabled(True)
    w.tabs.setCurrentWidget(w.splitter)


def compare_checkerboard(w) -> None:
    from .main_window import US_SOURCE

    w.measure_tool.clear()
    w.overlay.set_enabled(False)
    w.tabs.setCurrentWidget(w.compare)
    w.compare.set_pair(w.results_panel.records[0].name, US_SOURCE)
    w.compare.set_mode("checkerboard")
    w.compare.set_square(CHECKER_SQUARE)


def measurement(w) -> None:
    """The fused panes with a 10 mm distance and an ellipse region, drawn as a left-drag would
    (through the tool's drag hook on the US pane's view box)."""
    from PySide6.QtCore import QPointF

    fused(w)
    tool = w.measure_tool
    mm_per_px = tool.calibration().col_mm
    x0, y0 = DISTANCE_START
    shapes = (("distance", DISTANCE_START, (x0 + 10.0 / mm_per_px, y0)),
              ("ellipse", *ELLIPSE_BOX))
    for kind, start, end in shapes:
        tool.arm(kind)
        draw = w.us_pane.view_box.drag_tool
        if not (draw("start", QPointF(*start)) and draw("finish", QPointF(*end))):
            raise RuntimeError(f"the {kind} could not be drawn (no image in the US pane)")
    tool.select(None)


#: state name -> (needs a fusion, function)
STATES: dict[str, tuple[bool, Callable]] = {
    "demo-loaded": (False, demo_loaded),
    "fused": (True, fused),
    "overlay": (True, overlay_40),
    "compare-checkerboard": (True, compare_checkerboard),
    "measurement": (True, measurement),
}
