"""The overlay's controls and sources: a tool bar (on/off, top layer, opacity, colour map, flip)
that drives a :class:`app.overlay.PaneOverlay` on the US and fused panes and the compare view's
overlay mode with one :class:`app.overlay.OverlayStyle`.

Keys: ``O`` shows or hides the overlay, ``F`` flips which layer is on top. The second layer of
the panes is the MRI on the US grid (sampled at every US pixel through the pairing when there is
one, else each MRI pixel as a d x d block) or the selected result's MRI-contrast estimate.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSlider

from .compositing import on_grid
from .overlay import COLOUR_MAPS, OverlayStyle, PaneOverlay, dense_mri

#: the panes' second layer: key -> label
SOURCES = {"mri": "MRI", "mri_estimate": "MRI-contrast fused"}


class OverlayController(QObject):
    """Owns the overlay tool bar and the panes' overlay layers of one main window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.style = OverlayStyle()
        self._mri_key: tuple | None = None
        self._mri: np.ndarray | None = None
        self.layers = [
            PaneOverlay(pane, window.pairing.nudge) for pane in (window.us_pane, window.fused_pane)
        ]

        self.act_show = QAction("Overlay", window)
        self.act_show.setCheckable(True)
        self.act_show.setShortcut(QKeySequence("O"))
        self.act_show.setToolTip("Show the second layer in colour over the image (O)")
        self.act_show.toggled.connect(self.set_enabled)
        self.act_flip = QAction("Flip layers", window)
        self.act_flip.setShortcut(QKeySequence("F"))
        self.act_flip.setToolTip("Swap which layer is on top, in colour (F)")
        self.act_flip.triggered.connect(self.flip)
        window.addActions([self.act_show, self.act_flip])

        self.source = QComboBox()
        self.source.setObjectName("overlay-source")
        for key, label in SOURCES.items():
            self.source.addItem(label, key)
        self.source.setToolTip("The layer drawn over the US and fused panes")
        self.source.currentIndexChanged.connect(lambda _: self.update_sources())
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("overlay-opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(100 * self.style.alpha))
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Opacity of the top layer: the same at every pixel (0-100 %)")
        self.opacity_label = QLabel(f"{self.opacity.value()} %")
        self.opacity_label.setMinimumWidth(40)
        self.opacity.valueChanged.connect(self._on_opacity)
        self.colour_map = QComboBox()
        self.colour_map.setObjectName("overlay-colour-map")
        self.colour_map.addItems(COLOUR_MAPS)
        self.colour_map.setToolTip("Colour map of the top layer")
        self.colour_map.currentTextChanged.connect(
            lambda name: self.set_style(replace(self.style, colour_map=name))
        )

        bar = window.addToolBar("Overlay")
        bar.setObjectName("toolbar-overlay")
        bar.setMovable(False)
        bar.addAction(self.act_show)
        bar.addWidget(self.source)
        bar.addWidget(self.opacity)
        bar.addWidget(self.opacity_label)
        bar.addWidget(self.colour_map)
        bar.addAction(self.act_flip)
        self.toolbar = bar

        window.scans_changed.connect(self.update_sources)
        window.results_panel.selected.connect(lambda _: self.update_sources())
        window.results_panel.image_changed.connect(lambda _: self.update_sources())

    # ----- settings --------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        if self.act_show.isChecked() != enabled:
            self.act_show.setChecked(enabled)  # comes back here through toggled
            return
        self.update_sources()
        for layer in self.layers:
            layer.set_enabled(enabled)

    def set_opacity(self, percent: int) -> None:
        self.opacity.setValue(int(percent))

    def _on_opacity(self, percent: int) -> None:
        self.opacity_label.setText(f"{percent} %")
        self.set_style(replace(self.style, alpha=percent / 100.0))

    def flip(self) -> None:
        self.set_style(replace(self.style, flipped=not self.style.flipped))

    def set_source(self, key: str) -> None:
        self.source.setCurrentIndex(self.source.findData(key))

    def set_style(self, style: OverlayStyle) -> None:
        self.style = style
        for layer in self.layers:
            layer.set_style(style)
        self.window.compare.set_overlay_style(style)

    # ----- sources ---------------------------------------------------------------------------
    def mri_on_us_grid(self) -> np.ndarray | None:
        """The MRI at every US pixel of the current pair (cached per pair and MRI)."""
        fi = self.window.fusion_input
        if fi is None:
            return None
        mri = self.window.mri
        key = (id(fi), id(mri))
        if key != self._mri_key:
            image = None
            if fi.pairing is not None and mri is not None:
                image = dense_mri(fi.pairing, mri.pixels)
            if image is None or image.shape != fi.y_u.shape:
                image = on_grid(fi.y_m, fi.d)
            self._mri_key, self._mri = key, image
        return self._mri

    def update_sources(self) -> None:
        """Give the panes their second layer (only while the overlay is shown)."""
        other = None
        if self.act_show.isChecked():
            record = self.window.results_panel.current()
            if self.source.currentData() == "mri_estimate" and record is not None:
                other = record.result.mri_estimate
            else:
                other = self.mri_on_us_grid()
        for layer in self.layers:
            layer.set_other(other)
