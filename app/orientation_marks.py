"""The orientation letters (from :mod:`engine.orientation`) painted at the middle of each edge
of a pane's view, by a transparent widget over it; nothing is painted without markers."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QWidget

from .pane_overlay import TextOverlay

MARK_COLOUR = QColor(120, 220, 255)


class OrientationMarks(TextOverlay):
    """Paints ``markers`` (an ``OrientationMarkers`` or None) over its parent view."""

    MARGIN = 6

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, pixel_size=14, bold=True)
        self.markers = None

    def set_markers(self, markers) -> None:
        self.markers = markers
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.markers is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(self.font_)
        metrics = QFontMetrics(self.font_)
        m, w, h = self.MARGIN, self.width(), self.height()
        mk = self.markers
        for text, x, y in (
            (mk.top, (w - metrics.horizontalAdvance(mk.top)) / 2, m + metrics.ascent()),
            (mk.bottom, (w - metrics.horizontalAdvance(mk.bottom)) / 2, h - m - metrics.descent()),
            (mk.left, m, (h + metrics.ascent()) / 2),
            (mk.right, w - m - metrics.horizontalAdvance(mk.right), (h + metrics.ascent()) / 2),
        ):
            self._text(painter, x, y, text, MARK_COLOUR)
        painter.end()
