"""Linked zoom, pan and crosshair across panes.

The group holds one view state: the centre ``c`` of the visible field (data units = US pixels)
and the scale ``u`` (data units per screen pixel). A view of ``w x h`` screen pixels then shows
``[c_x - u w / 2, c_x + u w / 2] x [c_y - u h / 2, c_y + u h / 2]``, so panes of different sizes
share the same zoom centre and magnification. Because every pane draws in US-pixel units (the
MRI with d-unit
pixels, see :mod:`app.image_pane`), the same state fits the MRI and the US alike.

A user change in one view (wheel, drag) updates the state and is pushed to the others; a view
that merely changed size pulls the state instead, so showing a hidden pane never moves the rest.
"""

from __future__ import annotations

from functools import partial

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, QSizeF, Signal
from PySide6.QtWidgets import QWidget


class ViewLink(QObject):
    """Keeps a set of ViewBoxes at one centre and scale; relays the crosshair."""

    view_changed = Signal(float, float, float)  # centre x, centre y, units per screen pixel
    cursor_changed = Signal(object)  # (x, y) in data units, or None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[pg.ViewBox] = []
        self._widgets: dict[int, QWidget] = {}
        self._sizes: dict[int, QSizeF] = {}
        self._centre: QPointF | None = None
        self._scale: float | None = None
        self._syncing = False

    @property
    def centre(self) -> QPointF | None:
        return self._centre

    @property
    def scale(self) -> float | None:
        return self._scale

    def add(self, view: pg.ViewBox, widget: QWidget) -> None:
        """Link ``view``; ``widget`` is the on-screen widget showing it (for its visibility)."""
        self._views.append(view)
        self._widgets[id(view)] = widget
        self._sizes[id(view)] = QSizeF(view.size())
        view.sigRangeChanged.connect(partial(self._on_range_changed, view))

    def remove_all(self) -> None:
        for view in self._views:
            try:
                view.sigRangeChanged.disconnect()
            except (RuntimeError, TypeError):
                pass
        self._views.clear()

    def set_cursor(self, point: tuple[float, float] | None) -> None:
        self.cursor_changed.emit(point)

    def _usable(self, view: pg.ViewBox) -> bool:
        widget = self._widgets.get(id(view))
        shown = widget is None or widget.isVisible()
        return shown and view.width() >= 2 and view.height() >= 2

    def fit(self, rect: QRectF) -> None:
        """Show all of ``rect`` in every visible view, centred (the ``r`` key)."""
        usable = [v for v in self._views if self._usable(v)]
        if not usable or rect.width() <= 0 or rect.height() <= 0:
            return
        self._centre = rect.center()
        self._scale = max(max(rect.width() / v.width(), rect.height() / v.height()) for v in usable)
        self._apply_all()

    def set_state(self, centre: QPointF, scale: float) -> None:
        self._centre, self._scale = QPointF(centre), float(scale)
        self._apply_all()

    def _apply_all(self, skip: pg.ViewBox | None = None) -> None:
        self._syncing = True
        try:
            for view in self._views:
                if view is not skip and self._usable(view):
                    self._apply(view)
        finally:
            self._syncing = False
        self.view_changed.emit(self._centre.x(), self._centre.y(), self._scale)

    def _apply(self, view: pg.ViewBox) -> None:
        half_w = 0.5 * self._scale * view.width()
        half_h = 0.5 * self._scale * view.height()
        c = self._centre
        view.setRange(
            xRange=(c.x() - half_w, c.x() + half_w),
            yRange=(c.y() - half_h, c.y() + half_h),
            padding=0,
        )
        self._sizes[id(view)] = QSizeF(view.size())

    def _on_range_changed(self, view: pg.ViewBox, *args) -> None:
        if self._syncing or not self._usable(view):
            return
        size = QSizeF(view.size())
        if size != self._sizes.get(id(view)):
            # a resize (or first show): take the group's state rather than imposing this view's
            self._sizes[id(view)] = size
            if self._centre is not None:
                self._syncing = True
                try:
                    self._apply(view)
                finally:
                    self._syncing = False
            return
        rect = view.viewRect()
        self._centre = rect.center()
        self._scale = rect.width() / view.width()
        self._apply_all(skip=view)
