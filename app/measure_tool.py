"""Calipers in the panes: distance lines and ellipse / rectangle regions, drawn with the mouse and
shown at once in every linked pane (MRI, US, Fused, Compare), with a list of all of them.

D, E or X arms the tool; the next left-drag in any pane draws a distance (from the press to the
release point), an ellipse or a rectangle (the drag is the box's diagonal) instead of changing the
window. A drawn shape can then be moved and reshaped by its handles in any pane; the others
follow. H hides or shows all measurements; Delete removes the selected one (the last one when
none is selected). The numbers are the engine's (:mod:`engine.measurements`): each pane's label
uses that pane's calibration (mm from the pixel spacing or the US region calibration; px when
unknown), and a region's label holds its area and the mean ± SD of every image shown (MRI on the
US grid, US, the fused image). The measurements leave the program as text in the provenance of
exports (:meth:`MeasureTool.provenance_lines`). A new pair of scans clears them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QListWidget, QMenuBar

from engine.measurements import (
    Calibration,
    Distance,
    Layer,
    RoiShape,
    grid_calibration,
    roi_stats,
    scan_calibration,
)

from .docks import make_dock
from .image_pane import ImagePane
from .measure_items import PaneMeasurement, Shape

KINDS = {"distance": ("D", "Measure distance"), "ellipse": ("E", "Ellipse region"),
         "rectangle": ("X", "Rectangle region")}
PREFIX = {"distance": "D", "ellipse": "E", "rectangle": "R"}


@dataclass
class Measurement:
    """One measurement: its number, its shape on the US grid and its items, one per pane."""

    number: int
    kind: str
    shape: Shape
    items: dict[int, PaneMeasurement] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{PREFIX[self.kind]}{self.number}"


class MeasureTool(QObject):
    """The measurements of the window's current pair, their pane items and their list."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.panes: list[ImagePane] = [*window.panes, window.compare.pane]
        self.measurements: list[Measurement] = []
        self.selected: Measurement | None = None
        self.visible = True
        self.armed: str | None = None
        self._drawing: tuple[Measurement, QPointF] | None = None
        self._count = 0
        for pane in self.panes:
            pane.view_box.drag_tool = partial(self.on_drag, pane)

        self.list = QListWidget()
        self.list.setObjectName("measurement-list")
        self.list.currentRowChanged.connect(self._on_row)
        self.dock = make_dock(window, "measurements", "Measurements", self.list)
        window.splitDockWidget(window.docks["results"], self.dock, Qt.Orientation.Vertical)

        self.actions: dict[str, QAction] = {}
        for kind, (key, text) in KINDS.items():
            action = self._action(f"{text} ({key})", partial(self.arm, kind), key)
            action.setStatusTip(f"{text}: drag in a pane from one point to the other")
            self.actions[kind] = action
        self.actions["hide"] = self._action("Hide/show measurements (H)", self.toggle_visible, "H")
        self.actions["delete"] = self._action(
            "Delete measurement (Del)", self.delete_selected, QKeySequence.StandardKey.Delete
        )
        window.scans_changed.connect(self.clear)
        window.fusion_finished.connect(lambda *_: self.refresh())
        window.results_panel.selected.connect(lambda *_: self.refresh())
        window.results_panel.image_changed.connect(lambda *_: self.refresh())

    def _action(self, text: str, slot, shortcut) -> QAction:
        action = QAction(text, self.window)
        action.triggered.connect(lambda checked=False: slot())
        action.setShortcut(QKeySequence(shortcut))
        self.window.addAction(action)
        return action

    def add_menu(self, menu_bar: QMenuBar) -> None:
        """A "Measure" menu with the tool's actions."""
        menu = menu_bar.addMenu("&Measure")
        menu.addActions([self.actions[k] for k in ("distance", "ellipse", "rectangle")])
        menu.addSeparator()
        menu.addActions([self.actions["hide"], self.actions["delete"]])

    # ----- calibration and layers ---------------------------------------------------------------
    def calibration(self, pane: ImagePane | None = None) -> Calibration | None:
        """One data unit of ``pane`` in mm (None: uncalibrated); default: the pair's US grid."""
        w = self.window
        if pane is w.fused_pane:
            record = w.results_panel.current()
            if record is not None:
                fi = record.fusion_input
                return grid_calibration(fi.us, fi.mri, fi.d)
        fi = w.fusion_input
        if fi is not None and (fi.mri is not None or pane is w.compare.pane):
            return grid_calibration(fi.us, fi.mri, fi.d)
        if pane is w.mri_pane:
            return scan_calibration(w.mri)
        return scan_calibration(w.us) or (scan_calibration(w.mri) if pane is None else None)

    def layers(self) -> list[Layer]:
        """The images under the panes: MRI (its pixels d units wide), US and the fused image."""
        out = []
        for pane, name in ((self.window.mri_pane, "MRI"), (self.window.us_pane, "US"),
                           (self.window.fused_pane, "Fused")):
            content = pane.content
            if content is not None:
                out.append(Layer(name, content.pixels, max(1, round(content.cell))))
        return out

    # ----- drawing ------------------------------------------------------------------------------
    def arm(self, kind: str) -> None:
        """The next left-drag in a pane draws a ``kind`` ("distance", "ellipse", "rectangle")."""
        self.armed = kind
        self.window.statusBar().showMessage(
            f"{KINDS[kind][1]}: drag in a pane from one point to the other", 8000
        )

    def on_drag(self, pane: ImagePane, phase: str, point: QPointF) -> bool:
        """A left-drag in ``pane`` (the mouse's path, also the tests'); True while drawing."""
        if phase == "start":
            if self.armed is None or pane.content is None:
                return False
            kind, self.armed = self.armed, None
            self._count += 1
            item = Measurement(self._count, kind, self._shape(kind, point, point))
            self.measurements.append(item)
            self._drawing = (item, QPointF(point))
            for other in self.panes:
                item.items[id(other)] = PaneMeasurement(other.view_box, item.shape)
                item.items[id(other)].roi.sigRegionChanged.connect(
                    partial(self._on_item_moved, item, other)
                )
                item.items[id(other)].roi.sigClicked.connect(lambda *_, m=item: self.select(m))
            self.set_visible(True)
            self.select(item)
            return True
        if self._drawing is None:
            return False
        item, start = self._drawing
        self._set_shape(item, self._shape(item.kind, start, point))
        if phase == "finish":
            self._drawing = None
            self.window.statusBar().showMessage(f"{item.name}: {self.describe(item)}", 8000)
        return True

    @staticmethod
    def _shape(kind: str, start: QPointF, end: QPointF) -> Shape:
        if kind == "distance":
            return Distance((start.x(), start.y()), (end.x(), end.y()))
        centre = ((start.x() + end.x()) / 2.0, (start.y() + end.y()) / 2.0)
        size = (abs(end.x() - start.x()), abs(end.y() - start.y()))
        return RoiShape(kind, centre, size)

    def _set_shape(self, item: Measurement, shape: Shape, source: ImagePane | None = None) -> None:
        item.shape = shape
        for pane in self.panes:
            if pane is not source:
                item.items[id(pane)].set_shape(shape)
        self._relabel(item)

    def _on_item_moved(self, item: Measurement, pane: ImagePane, *args) -> None:
        if self._drawing is None:
            shape = item.items[id(pane)].shape(item.shape)
            self._set_shape(item, replace(shape, grid=item.shape.grid), source=pane)
            self.select(item)

    # ----- text ---------------------------------------------------------------------------------
    def pane_text(self, item: Measurement, pane: ImagePane | None) -> str:
        """The label in ``pane``: the length, or the area and mean ± SD per image (default: on
        the pair's grid)."""
        calibration = self.calibration(pane)
        if isinstance(item.shape, Distance):
            return f"{item.name}  {item.shape.length(calibration).text()}"
        stats = roi_stats(item.shape, self.layers(), calibration)
        lines = [f"{item.name}  area {stats.area.text()}"]
        lines += [s.text() for s in stats.layers]
        return "\n".join(lines)

    def describe(self, item: Measurement) -> str:
        """The full text of a measurement on the pair's grid (the list, the exports)."""
        calibration = self.calibration()
        if isinstance(item.shape, Distance):
            return item.shape.describe(calibration)
        return roi_stats(item.shape, self.layers(), calibration).describe()

    def texts(self) -> list[str]:
        return [f"{m.name}: {self.describe(m)}" for m in self.measurements]

    def provenance_lines(self) -> tuple[str, ...]:
        """What an export says about the measurements (empty when there are none)."""
        if not self.measurements:
            return ()
        calibration = self.calibration()
        scale = (calibration.describe() if calibration is not None
                 else "no pixel spacing known: lengths in px")
        return (f"calibration {scale}", *self.texts())

    def _relabel(self, item: Measurement) -> None:
        for pane in self.panes:
            graphic = item.items[id(pane)]
            graphic.set_visible(self.visible and pane.content is not None)
            if pane.content is not None:
                graphic.set_text(self.pane_text(item, pane))
        row = self.measurements.index(item)
        if row >= self.list.count():
            self.list.addItem("")
        self.list.item(row).setText(self.pane_text(item, None).replace("\n", ", "))
        self.list.item(row).setToolTip(f"{item.name}: {self.describe(item)}")

    def refresh(self) -> None:
        """Recompute every label (the images or their calibration changed)."""
        for item in self.measurements:
            self._relabel(item)

    # ----- selection, visibility, deletion ------------------------------------------------------
    def select(self, item: Measurement | None) -> None:
        self.selected = item
        for m in self.measurements:
            for graphic in m.items.values():
                graphic.set_selected(m is item)
        row = self.measurements.index(item) if item is not None else -1
        if self.list.currentRow() != row:
            self.list.blockSignals(True)
            self.list.setCurrentRow(row)
            self.list.blockSignals(False)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.measurements):
            self.select(self.measurements[row])

    def set_visible(self, visible: bool) -> None:
        """Show or hide every measurement (never in a pane without an image)."""
        self.visible = visible
        for item in self.measurements:
            for pane in self.panes:
                item.items[id(pane)].set_visible(visible and pane.content is not None)

    def toggle_visible(self) -> None:
        self.set_visible(not self.visible)
        state = "shown" if self.visible else "hidden (H shows them)"
        self.window.statusBar().showMessage(f"Measurements {state}", 4000)

    def delete_selected(self) -> None:
        """Remove the selected measurement, or the last one when none is selected."""
        item = self.selected or (self.measurements[-1] if self.measurements else None)
        if item is None:
            return
        if self._drawing is not None and self._drawing[0] is item:
            self._drawing = None
        for graphic in item.items.values():
            graphic.remove()
        row = self.measurements.index(item)
        self.measurements.remove(item)
        self.list.takeItem(row)
        self.select(None)

    def clear(self) -> None:
        """Remove every measurement (a new pair); the next one is numbered 1 again."""
        while self.measurements:
            self.delete_selected()
        self._count = 0
