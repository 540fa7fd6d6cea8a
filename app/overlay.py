"""The MRI drawn over an image pane in colour, with an opacity: to judge the alignment by eye.

The overlay is a second pyqtgraph ImageItem in the pane's view box, above the pane's own image, in
the same data units (US pixels of the fused grid). Its pixels are the MRI sampled at every US pixel
of the fused box through the current transform (:func:`dense_mri`), so a nudge of the pose shows
at US resolution; they go through a colour map (any ``pyqtgraph.colormap`` name) whose alpha rises
with the value, and are drawn with the chosen opacity. One overlay is attached to the US pane and
one to the fused pane. With the mouse on the overlay, Ctrl+drag moves the MRI, Ctrl+Shift+drag
rotates it and Ctrl+wheel scales it; plain drags and wheel stay with the pane.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

#: rotation per screen pixel of a Ctrl+Shift+drag, and scale per wheel notch of Ctrl+wheel
DEGREES_PER_PIXEL, SCALE_PER_NOTCH = 0.2, 1.01
#: colour maps offered (pyqtgraph's bundled names; "none" hides the overlay)
COLOUR_MAPS = ("inferno", "viridis", "magma", "CET-L8", "CET-R4")


def dense_mri(report, mri_pixels: np.ndarray) -> np.ndarray:
    """The MRI at every US pixel of the fused box of ``report`` (a ``PairingReport``)."""
    return replace(report.geometry, d=1).sample_mri(mri_pixels, report.box)


def overlay_lookup_table(name: str, points: int = 256) -> np.ndarray:
    """RGBA table of the colour map whose alpha rises with the value (``alpha = 255 v``), so that
    dark MRI leaves the image below visible and bright MRI structures show in colour."""
    rgb = pg.colormap.get(name).getLookupTable(nPts=points, alpha=False)
    alpha = np.linspace(0, 255, points).astype(np.uint8)[:, None]
    return np.concatenate([rgb[:, :3], alpha], axis=1)


class _MovableImage(pg.ImageItem):
    """The overlay image; Ctrl+drag moves the MRI, Ctrl+Shift+drag rotates it, Ctrl+wheel scales
    it (``on_move(dx, dy, degrees, scale)`` in US pixels); everything else goes to the pane."""

    def __init__(self, on_move) -> None:
        super().__init__(axisOrder="row-major")
        self.on_move = on_move

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 - Qt override
        modifiers = ev.modifiers()
        if (
            self.on_move is None
            or ev.button() != Qt.MouseButton.LeftButton
            or not modifiers & Qt.KeyboardModifier.ControlModifier
        ):
            ev.ignore()
            return
        ev.accept()
        step = ev.pos() - ev.lastPos()
        if modifiers & Qt.KeyboardModifier.ShiftModifier:
            self.on_move(0.0, 0.0, DEGREES_PER_PIXEL * step.x(), 1.0)
        else:
            self.on_move(step.x(), step.y(), 0.0, 1.0)

    def wheelEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if self.on_move is None or not ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            ev.ignore()
            return
        ev.accept()
        self.on_move(0.0, 0.0, 0.0, SCALE_PER_NOTCH ** (ev.delta() / 120))


class MriOverlay:
    """A coloured, semi-transparent image layer on top of one pane; ``on_move`` receives the
    mouse moves of the MRI (see :class:`_MovableImage`)."""

    def __init__(self, view_box: pg.ViewBox, on_move=None) -> None:
        self.item = _MovableImage(on_move)
        self.item.setZValue(10)
        view_box.addItem(self.item)
        self.opacity = 0.4
        self.colour_map = COLOUR_MAPS[0]
        self.item.setOpacity(self.opacity)
        self._apply_colour_map()
        self.item.setVisible(False)

    def show(self, image: np.ndarray | None) -> None:
        if image is None:
            self.item.clear()
            self.item.setVisible(False)
            return
        lo, hi = np.percentile(image, [0.5, 99.5])
        self.item.setImage(
            np.asarray(image, dtype=np.float32),
            autoLevels=False,
            levels=(float(lo), float(hi) if hi > lo else float(lo) + 1.0),
        )
        h, w = image.shape
        self.item.setRect(0, 0, w, h)
        self.item.setVisible(self.opacity > 0)

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.item.setOpacity(self.opacity)
        self.item.setVisible(self.opacity > 0 and self.item.image is not None)

    def set_colour_map(self, name: str) -> None:
        self.colour_map = name
        self._apply_colour_map()

    def _apply_colour_map(self) -> None:
        self.item.setLookupTable(overlay_lookup_table(self.colour_map))
