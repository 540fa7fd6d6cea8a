"""The corner text of an image pane, painted by a transparent widget over the view.

Title and patient/series lines top left, W/L top right, the cursor readout bottom left, zoom and
the scale bar (when spacing is known) bottom right. The annotation level (:data:`ANNOTATION_LEVELS`)
says how much of it is drawn, so that the text does not cover a small image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QWidget

TEXT_COLOUR = QColor(235, 235, 235)
TITLE_COLOUR = QColor(255, 214, 102)
SHADOW_COLOUR = QColor(0, 0, 0, 220)
PLATE_COLOUR = QColor(0, 0, 0, 150)
#: how much corner text the panes draw: everything, one line per corner, or nothing
ANNOTATION_LEVELS = ("full", "minimal", "off")


@dataclass(frozen=True)
class Corners:
    """The corner texts and the scale bar ((length in screen pixels, label) or None) to draw."""

    title: str
    top_left: tuple[str, ...]
    top_right: tuple[str, ...]
    bottom_left: tuple[str, ...]
    bottom_right: tuple[str, ...]
    scale_bar: tuple[float, str] | None

    def at_level(self, level: str) -> Corners:
        """``full``: all; ``minimal``: the title, the first W/L and readout lines, and the scale
        bar (else the zoom) bottom right; ``off``: nothing."""
        if level == "off":
            return Corners("", (), (), (), (), None)
        if level == "minimal":
            return Corners(
                self.title or (self.top_left[:1] or ("",))[0],
                (),
                self.top_right[:1],
                self.bottom_left[:1],
                () if self.scale_bar is not None else self.bottom_right[:1],
                self.scale_bar,
            )
        return self


def nice_length(target: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``target`` (> 0)."""
    exponent = math.floor(math.log10(target))
    for mantissa in (5.0, 2.0, 1.0):
        value = mantissa * 10.0**exponent
        if value <= target:
            return value
    return 10.0**exponent


class TextOverlay(QWidget):
    """A transparent widget over a pane's view (mouse events pass through it) that paints text
    in ``font_`` (``pixel_size`` pixels high, bold or not) on translucent plates."""

    def __init__(self, parent: QWidget, pixel_size: int, bold: bool = False) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.font_ = QFont(self.font())
        self.font_.setPixelSize(pixel_size)
        if bold:
            self.font_.setBold(True)

    def _text(self, painter: QPainter, x: float, y: float, text: str, colour: QColor) -> None:
        """``text`` with its baseline starting at (x, y), in the painter's font, on a translucent
        dark plate: readable over bright tissue too."""
        metrics = QFontMetrics(painter.font())
        plate = QRectF(
            x - 3,
            y - metrics.ascent() - 1,
            metrics.horizontalAdvance(text) + 6,
            metrics.height() + 2,
        )
        painter.fillRect(plate, PLATE_COLOUR)
        painter.setPen(colour)
        painter.drawText(QPointF(x, y), text)


class PaneOverlay(TextOverlay):
    """Transparent widget over the view that paints the four corner texts and the scale bar."""

    MARGIN = 8

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, pixel_size=12)
        self.title = ""
        self.top_left: list[str] = []
        self.top_right: list[str] = []
        self.bottom_left: list[str] = []
        self.bottom_right: list[str] = []
        self.scale_bar: tuple[float, str] | None = None  # (length in screen pixels, label)
        self.level = "full"  # one of ANNOTATION_LEVELS
        self.hint = ""
        self.title_font = QFont(self.font_)
        self.title_font.setBold(True)
        self.title_font.setPixelSize(13)

    def shown(self) -> Corners:
        """What is drawn at the current annotation level."""
        return Corners(
            self.title,
            tuple(self.top_left),
            tuple(self.top_right),
            tuple(self.bottom_left),
            tuple(self.bottom_right),
            self.scale_bar,
        ).at_level(self.level)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        shown = self.shown()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        m, w, h = self.MARGIN, self.width(), self.height()
        metrics = QFontMetrics(self.font_)
        step = metrics.height()
        if self.hint:
            painter.setFont(self.font_)
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint
            )
        y = m + metrics.ascent()
        if shown.title:
            painter.setFont(self.title_font)
            self._text(painter, m, y, shown.title, TITLE_COLOUR)
            y += QFontMetrics(self.title_font).height()
        painter.setFont(self.font_)
        for line in shown.top_left:
            self._text(painter, m, y, line, TEXT_COLOUR)
            y += step
        y = m + metrics.ascent()
        for line in shown.top_right:
            self._text(painter, w - m - metrics.horizontalAdvance(line), y, line, TEXT_COLOUR)
            y += step
        y = h - m - metrics.descent() - step * (len(shown.bottom_left) - 1)
        for line in shown.bottom_left:
            self._text(painter, m, y, line, TEXT_COLOUR)
            y += step
        y = h - m - metrics.descent() - step * (len(shown.bottom_right) - 1)
        for line in shown.bottom_right:
            self._text(painter, w - m - metrics.horizontalAdvance(line), y, line, TEXT_COLOUR)
            y += step
        if shown.scale_bar is not None:
            length, label = shown.scale_bar
            base = h - m - step * len(shown.bottom_right) - 6
            x1 = w - m
            x0 = x1 - length
            for colour, offset in ((SHADOW_COLOUR, 1), (TEXT_COLOUR, 0)):
                painter.setPen(QPen(colour, 2))
                painter.drawLine(
                    QPointF(x0 + offset, base + offset), QPointF(x1 + offset, base + offset)
                )
                painter.drawLine(
                    QPointF(x0 + offset, base - 4 + offset), QPointF(x0 + offset, base + offset)
                )
                painter.drawLine(
                    QPointF(x1 + offset, base - 4 + offset), QPointF(x1 + offset, base + offset)
                )
            text_w = metrics.horizontalAdvance(label)
            self._text(painter, x1 - text_w, base - 8, label, TEXT_COLOUR)
        painter.end()
