"""One image pane: a pyqtgraph ViewBox holding an ImageItem, with radiology mouse conventions.

Data coordinates of every pane are ultrasound pixels (x = column, y = row, y downwards). A coarser
image (the MRI, d times coarser) is drawn with each of its pixels spanning ``cell = d`` units, so
that all panes cover the same physical field and can be linked directly (:mod:`app.linked_views`).

Mouse: wheel zooms about the cursor, middle-drag pans, left-drag changes window/level (right =
wider window, down = higher level), right-drag zooms (up = in) about the press point. Corner text
is painted by a transparent overlay widget: title and patient/series lines top left, W/L top
right, the cursor readout bottom left, zoom and the scale bar (when spacing is known) bottom right
(:mod:`app.pane_overlay`, at the chosen annotation level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .orientation_marks import OrientationMarks
from .pane_overlay import ANNOTATION_LEVELS, PaneOverlay, nice_length
from .window_level import WindowLevel, preset_window

__all__ = ["ANNOTATION_LEVELS", "ImagePane", "PaneImage", "PaneViewBox", "nice_length"]

CROSSHAIR_PEN = (255, 210, 0, 120)


@dataclass(frozen=True)
class PaneImage:
    """What a pane shows: pixels plus the words and geometry around them.

    ``cell`` is the size of one pixel in data units (US pixels); ``mm_per_unit`` the size of one
    data unit in millimetres when the files know their pixel spacing.
    """

    pixels: np.ndarray
    title: str
    lines: tuple[str, ...] = ()
    cell: float = 1.0
    mm_per_unit: float | None = None
    file_window: WindowLevel | None = None

    @property
    def data_rect(self) -> QRectF:
        h, w = self.pixels.shape[:2]
        return QRectF(0.0, 0.0, w * self.cell, h * self.cell)


class PaneViewBox(pg.ViewBox):
    """ViewBox with locked aspect, y downwards, no context menu and viewer-style drags."""

    window_dragged = Signal(float, float)
    clicked = Signal()

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self.setMouseEnabled(x=True, y=True)
        #: called as ``drag_tool(phase, point)`` for left drags (phase "start" at the press point,
        #: then "move"... and "finish", points in data units); while it returns True for "move"
        #: and "finish" the drag draws instead of changing the window/level
        self.drag_tool = None

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - Qt override
        ev.accept()
        self.clicked.emit()

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt override
        button = ev.button()
        ev.accept()
        if ev.isStart():
            self.clicked.emit()
        if button == Qt.MouseButton.LeftButton and self.drag_tool is not None:
            if ev.isStart():
                self.drag_tool("start", self.mapToView(ev.buttonDownPos()))
            phase = "finish" if ev.isFinish() else "move"
            if self.drag_tool(phase, self.mapToView(ev.pos())):
                return
        if button == Qt.MouseButton.LeftButton:
            delta = ev.screenPos() - ev.lastScreenPos()
            self.window_dragged.emit(delta.x(), delta.y())
        elif button == Qt.MouseButton.MiddleButton:
            shift = self.mapToView(ev.pos()) - self.mapToView(ev.lastPos())
            self.translateBy(x=-shift.x(), y=-shift.y())
        elif button == Qt.MouseButton.RightButton:
            dy = (ev.screenPos() - ev.lastScreenPos()).y()
            factor = 1.01**dy
            self.scaleBy((factor, factor), center=self.mapToView(ev.buttonDownPos()))


class ImagePane(QWidget):
    """A titled image view; accepts dropped files; reports the cursor in data units."""

    cursor_moved = Signal(float, float)
    cursor_left = Signal()
    files_dropped = Signal(list)
    activated = Signal(object)
    window_changed = Signal(object)
    content_changed = Signal()

    def __init__(self, name: str, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(f"pane-{name}")
        self.setAcceptDrops(True)
        self.setMinimumSize(160, 160)
        self._content: PaneImage | None = None
        self._window: WindowLevel | None = None
        self._hint = hint

        self.view = pg.GraphicsView(self)
        self.view.setBackground("k")
        self.view.setAcceptDrops(False)
        self.view.viewport().setAcceptDrops(False)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.view_box = PaneViewBox()
        self.view.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        pen = pg.mkPen(CROSSHAIR_PEN, width=1)
        self._vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self._hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for line in (self._vline, self._hline):
            line.setVisible(False)
            self.view_box.addItem(line, ignoreBounds=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.overlay = PaneOverlay(self.view)
        self.overlay.hint = hint
        self.orientation = OrientationMarks(self.view)

        self.view.installEventFilter(self)
        self.view.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.view_box.window_dragged.connect(self._on_window_dragged)
        self.view_box.clicked.connect(lambda: self.activated.emit(self))
        self.view_box.sigRangeChanged.connect(self._update_zoom_text)

    # ----- content -------------------------------------------------------------------------------
    @property
    def content(self) -> PaneImage | None:
        return self._content

    def set_image(self, content: PaneImage | None, keep_window: bool = False) -> None:
        """Show ``content`` (None clears the pane); the window goes to preset 1 unless kept."""
        self._content = content
        self.overlay.hint = "" if content is not None else self._hint
        if content is None:
            self.image_item.clear()
            self._window = None
            self.overlay.title = ""
            self.overlay.top_left = []
            self.overlay.top_right = []
            self.overlay.bottom_left = []
            self.overlay.bottom_right = []
            self.overlay.scale_bar = None
            self.overlay.update()
            self.content_changed.emit()
            return
        if not keep_window or self._window is None:
            self._window = preset_window(1, content.pixels, content.file_window)
        self.image_item.setImage(content.pixels, autoLevels=False, levels=self._window.levels)
        self.image_item.setRect(content.data_rect)
        self.overlay.title = content.title
        self.overlay.top_left = list(content.lines)
        self._update_window_text()
        self._update_zoom_text()
        self.content_changed.emit()

    def set_hint(self, hint: str) -> None:
        """The text shown while the pane is empty."""
        self._hint = hint
        if self._content is None and self.overlay.hint != hint:
            self.overlay.hint = hint
            self.overlay.update()

    def set_pixels(self, pixels: np.ndarray) -> None:
        """Replace the pixels only (live preview): view and window stay."""
        if self._content is None or pixels.shape != self._content.pixels.shape:
            return
        self._content = PaneImage(
            pixels,
            self._content.title,
            self._content.lines,
            self._content.cell,
            self._content.mm_per_unit,
            self._content.file_window,
        )
        self.image_item.setImage(pixels, autoLevels=False, levels=self._window.levels)
        self.content_changed.emit()

    def set_annotation_level(self, level: str) -> None:
        """How much corner text to draw: one of :data:`ANNOTATION_LEVELS`."""
        if level not in ANNOTATION_LEVELS:
            raise ValueError(f"annotation level {level} is not one of {ANNOTATION_LEVELS}")
        self.overlay.level = level
        self.overlay.update()

    def set_lines(self, title: str, lines: tuple[str, ...]) -> None:
        self.overlay.title = title
        self.overlay.top_left = list(lines)
        self.overlay.update()

    # ----- window / level ------------------------------------------------------------------------
    @property
    def window(self) -> WindowLevel | None:
        return self._window

    def set_window(self, window: WindowLevel) -> None:
        if self._content is None:
            return
        self._window = window
        self.image_item.setLevels(window.levels)
        self._update_window_text()
        self.window_changed.emit(window)

    def apply_preset(self, number: int) -> None:
        if self._content is not None:
            self.set_window(preset_window(number, self._content.pixels, self._content.file_window))

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        if self._content is None or self._window is None:
            return
        pixels = self._content.pixels
        per_pixel = float(pixels.max() - pixels.min()) / 500.0 or 1e-3
        self.set_window(self._window.dragged(dx, dy, per_pixel))

    def _update_window_text(self) -> None:
        self.overlay.top_right = [self._window.describe()] if self._window is not None else []
        self.overlay.update()

    # ----- geometry, cursor ----------------------------------------------------------------------
    def value_at(self, x: float, y: float) -> tuple[int, int, float] | None:
        """(row, col, value) of the pixel under data point (x, y), or None outside the image."""
        if self._content is None:
            return None
        cell = self._content.cell
        row, col = math.floor(y / cell), math.floor(x / cell)
        h, w = self._content.pixels.shape
        if 0 <= row < h and 0 <= col < w:
            return row, col, float(self._content.pixels[row, col])
        return None

    def set_crosshair(self, point: tuple[float, float] | None) -> None:
        visible = point is not None and self._content is not None
        self._vline.setVisible(visible)
        self._hline.setVisible(visible)
        if visible:
            self._vline.setValue(point[0])
            self._hline.setValue(point[1])

    def set_readout(self, lines: list[str]) -> None:
        self.overlay.bottom_left = lines
        self.overlay.update()

    def reset_view(self) -> None:
        if self._content is not None:
            self.view_box.setRange(self._content.data_rect, padding=0)

    def _update_zoom_text(self, *args) -> None:
        if self._content is None:
            return
        px_w = self.view_box.viewPixelSize()[0]  # data units per screen pixel
        if not px_w > 0:
            return
        lines = [f"Zoom {1.0 / px_w:.2f}x"]
        self.overlay.scale_bar = None
        if self._content.mm_per_unit:
            mm_per_screen_px = px_w * self._content.mm_per_unit
            length_mm = nice_length(90.0 * mm_per_screen_px)
            label = f"{length_mm:g} mm" if length_mm >= 1 else f"{length_mm * 1000:g} um"
            self.overlay.scale_bar = (length_mm / mm_per_screen_px, label)
        self.overlay.bottom_right = lines
        self.overlay.update()

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._content is None:
            return
        if self.view_box.sceneBoundingRect().contains(scene_pos):
            point = self.view_box.mapSceneToView(scene_pos)
            self.cursor_moved.emit(point.x(), point.y())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.view:
            kind = event.type()
            if kind == QEvent.Type.Resize:
                self.overlay.setGeometry(self.view.rect())
                self.orientation.setGeometry(self.view.rect())
            elif kind == QEvent.Type.Leave:
                self.cursor_left.emit()
            elif kind == QEvent.Type.Enter:
                self.activated.emit(self)
        return super().eventFilter(watched, event)

    # ----- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            event.ignore()

    def dispose(self) -> None:
        """Detach the pyqtgraph items before the widget goes away (clean interpreter exit)."""
        try:
            self.view.scene().sigMouseMoved.disconnect(self._on_scene_mouse_moved)
        except (RuntimeError, TypeError):
            pass
        self.view.removeEventFilter(self)
        self.view_box.clear()
        self.view.close()
