"""An overlay layer in any image pane: one image in colour over another in grey, one opacity.

The blend itself is :func:`app.compositing.overlay` (``alpha * colour(top) + (1 - alpha) *
grey(bottom)``, the same function the compare view's overlay mode uses), computed in NumPy and
drawn as an opaque RGB ImageItem above the pane's own image, in the same data units (US pixels of
the fused grid). The pane's layer is its own image through the pane's window/level; the other
layer (the MRI sampled at every US pixel of the fused box, :func:`dense_mri`, or the
MRI-contrast fused image) goes to 0..1 through its robust 0.5-99.5 % range. ``flipped`` swaps
which of the two is on top (in colour). The layer follows the pane: a new image, a live preview
or a window/level drag recomputes the blend.

With the mouse on the overlay, Ctrl+drag moves the MRI, Ctrl+Shift+drag rotates it and
Ctrl+wheel scales it; plain drags and wheel stay with the pane.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from .compositing import overlay, unit_window

#: rotation per screen pixel of a Ctrl+Shift+drag, and scale per wheel notch of Ctrl+wheel
DEGREES_PER_PIXEL, SCALE_PER_NOTCH = 0.2, 1.01
#: colour maps offered (pyqtgraph's bundled names)
COLOUR_MAPS = ("inferno", "viridis", "magma", "CET-L8", "CET-R4")
#: the overlay's z value in a pane's view box (above the image, below crosshair lines)
OVERLAY_Z = 10


@dataclass(frozen=True)
class OverlayStyle:
    """How the top layer is drawn: ``alpha`` the constant opacity (0..1), ``colour_map`` one of
    :data:`COLOUR_MAPS`, ``flipped`` whether the pane's own image is the coloured top layer."""

    alpha: float = 0.4
    colour_map: str = COLOUR_MAPS[0]
    flipped: bool = False


def dense_mri(report, mri_pixels: np.ndarray) -> np.ndarray:
    """The MRI at every US pixel of the fused box of ``report`` (a ``PairingReport``)."""
    return replace(report.geometry, d=1).sample_mri(mri_pixels, report.box)


def colour_table(name: str, points: int = 256) -> np.ndarray:
    """The (points, 3) uint8 RGB table of colour map ``name``; fully opaque (no alpha ramp)."""
    return pg.colormap.get(name).getLookupTable(nPts=points, alpha=False)[:, :3]


def robust_levels(image: np.ndarray) -> tuple[float, float]:
    """The 0.5-99.5 % percentiles of ``image`` (a non-empty range)."""
    lo, hi = (float(v) for v in np.percentile(image, [0.5, 99.5]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def blend_style(bottom: np.ndarray, top: np.ndarray, style: OverlayStyle) -> np.ndarray:
    """:func:`app.compositing.overlay` of two 0..1 grey layers with ``style`` (``flipped``
    puts ``bottom`` on top)."""
    if style.flipped:
        bottom, top = top, bottom
    return overlay(bottom, top, style.alpha, colour_table(style.colour_map))


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


class PaneOverlay:
    """The overlay layer of one :class:`app.image_pane.ImagePane`: ``other`` (an image on the
    pane's grid) blended with the pane's own image by ``style``; shown while ``enabled``.
    ``rgb`` holds the last blend (float RGB 0..1), None while hidden."""

    def __init__(self, pane, on_move=None) -> None:
        self.pane = pane
        self.item = _MovableImage(on_move)
        self.item.setZValue(OVERLAY_Z)
        pane.view_box.addItem(self.item)
        self.item.setVisible(False)
        self.style = OverlayStyle()
        self.enabled = False
        self.rgb: np.ndarray | None = None
        self._other: np.ndarray | None = None
        self._other_grey: np.ndarray | None = None
        pane.content_changed.connect(self.refresh)
        pane.window_changed.connect(self.refresh)

    def set_other(self, image: np.ndarray | None) -> None:
        """The second layer (None removes it); its grey levels come from its robust range."""
        if image is not self._other:
            self._other = image
            self._other_grey = None if image is None else unit_window(image, robust_levels(image))
        self.refresh()

    def set_style(self, style: OverlayStyle) -> None:
        self.style = style
        self.refresh()

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = bool(enabled)
        self.refresh()

    def refresh(self, *args) -> None:
        content, window = self.pane.content, self.pane.window
        if (
            not self.enabled
            or self._other_grey is None
            or content is None
            or window is None
            or content.pixels.shape != self._other_grey.shape
        ):
            self.rgb = None
            self.item.setVisible(False)
            return
        own = unit_window(content.pixels, window.levels)
        self.rgb = blend_style(own, self._other_grey, self.style)
        self.item.setImage(self.rgb, autoLevels=False, levels=(0.0, 1.0))
        self.item.setRect(content.data_rect)
        self.item.setVisible(True)
