"""The graphics of one measurement in one pane: a pyqtgraph ROI (line segment, ellipse or
rectangle) and its label, converted to and from the engine's shapes.

Every pane draws in data units of the US grid (:mod:`app.image_pane`), so one shape sets the same
item state in each pane. A rotated ROI of size (w, h) at ``pos`` maps its local point (u, v) to
``pos + R(θ) (u, v)``, ``R(θ) = [[cos θ, -sin θ], [sin θ, cos θ]]`` (Qt's rotation), so its
width axis runs along (cos θ, sin θ), the convention of :class:`engine.measurements.RoiShape`,
and ``pos = centre - R(θ) (w/2, h/2)``.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

from engine.measurements import Distance, RoiShape

Shape = Distance | RoiShape
PEN = (80, 220, 255)
SELECTED_PEN = (255, 120, 60)
LABEL_FILL = (0, 0, 0, 170)


class PaneMeasurement:
    """One shape drawn in one pane's view box: the ROI and its label."""

    def __init__(self, view_box: pg.ViewBox, shape: Shape) -> None:
        self.view_box = view_box
        pen = pg.mkPen(PEN, width=2)
        if isinstance(shape, Distance):
            self.roi = pg.LineSegmentROI([shape.start, shape.end], pen=pen)
        elif shape.kind == "ellipse":
            self.roi = pg.EllipseROI((0, 0), (1, 1), pen=pen)
        else:
            self.roi = pg.RectROI((0, 0), (1, 1), pen=pen)
        self.roi.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.roi.setZValue(20)
        self.label = pg.TextItem("", color=(235, 235, 235), anchor=(0, 1), fill=LABEL_FILL)
        self.label.setZValue(21)
        self._box = (0.0, 0.0, 0.0, 0.0)
        view_box.addItem(self.roi, ignoreBounds=True)
        view_box.addItem(self.label, ignoreBounds=True)
        view_box.sigRangeChanged.connect(self._place_label)
        self.set_shape(shape)

    def set_shape(self, shape: Shape) -> None:
        """Move the ROI to ``shape`` (without reporting a change) and the label beside it."""
        self.roi.blockSignals(True)
        try:
            if isinstance(shape, Distance):
                self.roi.setPos(0.0, 0.0, update=False)
                first, second = self.roi.getHandles()
                self.roi.movePoint(first, QPointF(*shape.start), finish=False)
                self.roi.movePoint(second, QPointF(*shape.end), finish=False)
                (x0, y0), (x1, y1) = shape.start, shape.end
                self._box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            else:
                theta = math.radians(shape.angle_deg)
                w, h = shape.size
                x, y = shape.centre
                pos = (
                    x - (w / 2 * math.cos(theta) - h / 2 * math.sin(theta)),
                    y - (w / 2 * math.sin(theta) + h / 2 * math.cos(theta)),
                )
                self.roi.setState({"pos": pos, "size": (w, h), "angle": shape.angle_deg})
                self._box = shape.bounds()
        finally:
            self.roi.blockSignals(False)
        self.roi.update()
        self._place_label()

    def _place_label(self, *args) -> None:
        """The label at the corner of the shape's box nearest the middle of the view, outside
        the box (so that it stays in the pane and off the corner texts)."""
        x0, y0, x1, y1 = self._box
        view = self.view_box.viewRect()
        left = (x0 + x1) / 2.0 > view.center().x()
        below = (y0 + y1) / 2.0 < view.center().y()  # y runs downwards
        self.label.setAnchor((1 if left else 0, 0 if below else 1))
        self.label.setPos(x0 if left else x1, y1 if below else y0)

    def shape(self, like: Shape) -> Shape:
        """The shape the ROI shows now (after the user moved it), of the kind of ``like``."""
        if isinstance(like, Distance):
            start, end = (self.roi.mapToParent(h.pos()) for h in self.roi.getHandles())
            return Distance((start.x(), start.y()), (end.x(), end.y()), like.grid)
        w, h = self.roi.size()
        centre = self.roi.mapToParent(QPointF(w / 2.0, h / 2.0))
        axis = self.roi.mapToParent(QPointF(1.0, 0.0)) - self.roi.mapToParent(QPointF(0.0, 0.0))
        angle = math.degrees(math.atan2(axis.y(), axis.x()))
        return RoiShape(like.kind, (centre.x(), centre.y()), (w, h), angle, like.grid)

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def set_selected(self, selected: bool) -> None:
        pen = pg.mkPen(SELECTED_PEN if selected else PEN, width=2)
        self.roi.setPen(pen)

    def set_visible(self, visible: bool) -> None:
        self.roi.setVisible(visible)
        self.label.setVisible(visible)

    def remove(self) -> None:
        try:
            self.view_box.sigRangeChanged.disconnect(self._place_label)
        except (RuntimeError, TypeError):
            pass
        for item in (self.roi, self.label):
            if item.scene() is not None:
                self.view_box.removeItem(item)
