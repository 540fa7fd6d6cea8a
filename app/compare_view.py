"""Two images in one pane: swipe (vertical or horizontal divider), blend, checkerboard, flip,
and overlay (A in colour over B in grey with the window's overlay style, the blend the panes'
overlay uses: :func:`app.overlay.blend_style`; a flipped style puts B on top).

Both images are brought to a common display scale first (:func:`app.compositing.display_scale`),
so the composite is shown with one window (0..1 by default). Keys: Space or T toggles between A
and B (flip mode), A and B show that image alone.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from . import compositing
from .image_pane import ImagePane, PaneImage
from .overlay import OverlayStyle, blend_style
from .window_level import WindowLevel

MODES = {
    "swipe-vertical": "Swipe  |  (vertical divider)",
    "swipe-horizontal": "Swipe  --  (horizontal divider)",
    "blend": "Blend",
    "checkerboard": "Checkerboard",
    "flip": "Flip A / B",
    "overlay": "Overlay (A in colour over B)",
}
DIVIDER_PEN = (255, 200, 70, 230)


class CompareView(QWidget):
    """Shows a composite of sources A and B; sources are named US-grid arrays."""

    composite_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._sources: dict[str, np.ndarray] = {}
        self._scaled: dict[str, np.ndarray] = {}
        self._mm_per_unit: float | None = None
        self._mode = "swipe-vertical"
        self._show_b = False
        self._composite: np.ndarray | None = None
        self.overlay_style = OverlayStyle()
        #: whether the user picked A or B in the lists (then new sources keep the choice)
        self._chosen_by_user = False

        self.a_choice = QComboBox(self)
        self.b_choice = QComboBox(self)
        for combo in (self.a_choice, self.b_choice):
            combo.setMinimumContentsLength(14)
            combo.currentTextChanged.connect(self._refresh)
            combo.activated.connect(self._on_user_choice)
        swap = QPushButton("Swap A/B", self)
        swap.clicked.connect(self.swap)
        self.mode_choice = QComboBox(self)
        for key, label in MODES.items():
            self.mode_choice.addItem(label, key)
        self.mode_choice.currentIndexChanged.connect(
            lambda i: self.set_mode(self.mode_choice.itemData(i))
        )
        self.blend_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.blend_slider.setRange(0, 100)
        self.blend_slider.setValue(50)
        self.blend_slider.setToolTip("Blend: left end shows A only, right end B only.")
        self.blend_slider.valueChanged.connect(self._refresh)
        self.square_spin = QSpinBox(self)
        self.square_spin.setRange(4, 512)
        self.square_spin.setValue(50)
        self.square_spin.setSuffix(" px")
        self.square_spin.setToolTip("Checkerboard square size in ultrasound pixels.")
        self.square_spin.valueChanged.connect(self._refresh)
        self.toggle_button = QPushButton("Toggle A/B (Space)", self)
        self.toggle_button.clicked.connect(self.toggle)

        controls = QGridLayout()
        controls.addWidget(QLabel("A:"), 0, 0)
        controls.addWidget(self.a_choice, 0, 1)
        controls.addWidget(QLabel("B:"), 0, 2)
        controls.addWidget(self.b_choice, 0, 3)
        controls.addWidget(swap, 0, 4)
        controls.addWidget(QLabel("Mode:"), 1, 0)
        controls.addWidget(self.mode_choice, 1, 1)
        controls.addWidget(QLabel("A  \u25c0 blend \u25b6  B"), 1, 2)
        controls.addWidget(self.blend_slider, 1, 3)
        controls.addWidget(self.square_spin, 1, 4)
        controls.addWidget(self.toggle_button, 1, 5)
        controls.setColumnStretch(3, 1)

        self.pane = ImagePane("compare", "Run a fusion, then choose A and B to compare.", self)
        self.divider = pg.InfiniteLine(
            angle=90,
            movable=True,
            pen=pg.mkPen(DIVIDER_PEN, width=2),
            hoverPen=pg.mkPen((255, 255, 255), width=3),
        )
        self.divider.setVisible(False)
        self.divider.sigPositionChanged.connect(self._refresh)
        self.pane.view_box.addItem(self.divider, ignoreBounds=True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.pane, 1)
        self._sync_controls()

    # ----- sources -------------------------------------------------------------------------------
    def set_sources(
        self,
        sources: dict[str, np.ndarray],
        mm_per_unit: float | None = None,
        default: tuple[str, str] | None = None,
    ) -> None:
        """Replace the images (name -> array on the US grid).

        A and B become ``default`` (the window passes newest result | US) unless the user
        picked in the lists and both picks still exist. Without
        a default, A is the last source and B the first other one (never A itself).
        """
        old_a, old_b = self.a_choice.currentText(), self.b_choice.currentText()
        kept = self._chosen_by_user and old_a in sources and old_b in sources
        if default is not None and not kept:
            old_a, old_b = default
        shapes = {s.shape for s in sources.values()}
        if len(shapes) > 1:
            raise ValueError("compare sources must share one grid")
        new_grid = not self._sources or shapes != {s.shape for s in self._sources.values()}
        self._sources = dict(sources)
        self._scaled = {}
        self._mm_per_unit = mm_per_unit
        names = list(sources)
        for combo in (self.a_choice, self.b_choice):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.blockSignals(False)
        if old_a in names:
            self.a_choice.setCurrentText(old_a)
        elif names:
            self.a_choice.setCurrentIndex(len(names) - 1)
        if old_b in names and (old_b != self.a_choice.currentText() or len(names) == 1):
            self.b_choice.setCurrentText(old_b)
        elif len(names) > 1:
            a = self.a_choice.currentText()
            self.b_choice.setCurrentText(next(n for n in names if n != a))
        if new_grid and names:
            h, w = next(iter(sources.values())).shape
            self.divider.setValue(w / 2 if self._mode != "swipe-horizontal" else h / 2)
        self._refresh(reset_view=new_grid)

    def _on_user_choice(self, *args) -> None:
        self._chosen_by_user = True

    def set_pair(self, a_name: str, b_name: str) -> None:
        self.a_choice.setCurrentText(a_name)
        self.b_choice.setCurrentText(b_name)
        self._refresh()

    def swap(self) -> None:
        a, b = self.a_choice.currentText(), self.b_choice.currentText()
        self.set_pair(b, a)

    def _scaled_image(self, name: str) -> np.ndarray | None:
        if name not in self._sources:
            return None
        if name not in self._scaled:
            self._scaled[name] = compositing.display_scale(self._sources[name])
        return self._scaled[name]

    def images(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """A and B on the common display scale."""
        return (
            self._scaled_image(self.a_choice.currentText()),
            self._scaled_image(self.b_choice.currentText()),
        )

    # ----- modes ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode}")
        self._mode = mode
        index = self.mode_choice.findData(mode)
        if self.mode_choice.currentIndex() != index:
            self.mode_choice.blockSignals(True)
            self.mode_choice.setCurrentIndex(index)
            self.mode_choice.blockSignals(False)
        if mode.startswith("swipe"):
            self.divider.setAngle(90 if mode == "swipe-vertical" else 0)
            a, _ = self.images()
            if a is not None:
                h, w = a.shape
                self.divider.setValue(w / 2 if mode == "swipe-vertical" else h / 2)
        self._sync_controls()
        self._refresh()

    def set_blend(self, t: float) -> None:
        self.blend_slider.setValue(int(round(100 * t)))

    def set_square(self, pixels: int) -> None:
        self.square_spin.setValue(int(pixels))

    def set_divider(self, position: float) -> None:
        self.divider.setValue(position)

    def set_overlay_style(self, style: OverlayStyle) -> None:
        self.overlay_style = style
        if self._mode == "overlay":
            self._refresh()

    def toggle(self) -> None:
        """Flip between A and B (switches to flip mode)."""
        if self._mode != "flip":
            self._show_b = True
            self.set_mode("flip")
        else:
            self._show_b = not self._show_b
            self._refresh()

    def show_side(self, side: str) -> None:
        self._show_b = side == "B"
        if self._mode != "flip":
            self.set_mode("flip")
        else:
            self._refresh()

    def _sync_controls(self) -> None:
        self.blend_slider.setEnabled(self._mode == "blend")
        self.square_spin.setEnabled(self._mode == "checkerboard")
        self.divider.setVisible(self._mode.startswith("swipe") and bool(self._sources))

    def composite(self) -> np.ndarray | None:
        return self._composite

    def _compose(self) -> np.ndarray | None:
        a, b = self.images()
        if a is None or b is None:
            return a if b is None else b
        if self._mode == "swipe-vertical":
            return compositing.swipe(a, b, self.divider.value(), vertical=True)
        if self._mode == "swipe-horizontal":
            return compositing.swipe(a, b, self.divider.value(), vertical=False)
        if self._mode == "blend":
            return compositing.blend(a, b, self.blend_slider.value() / 100.0)
        if self._mode == "checkerboard":
            return compositing.checkerboard(a, b, self.square_spin.value())
        if self._mode == "overlay":
            return blend_style(b, a, self.overlay_style)
        return b if self._show_b else a

    def _describe(self) -> str:
        if self._mode == "blend":
            t = self.blend_slider.value()
            return f"Blend {100 - t}% A + {t}% B"
        if self._mode == "checkerboard":
            return f"Checkerboard {self.square_spin.value()} px"
        if self._mode == "flip":
            return "Showing " + ("B" if self._show_b else "A") + "   (Space toggles)"
        if self._mode == "overlay":
            style = self.overlay_style
            top, bottom = ("B", "A") if style.flipped else ("A", "B")
            colour = f"{style.colour_map} at {style.alpha:.0%}"
            return f"Overlay: {top} in {colour} over {bottom} (F flips)"
        return "Swipe: A " + ("left" if self._mode == "swipe-vertical" else "above") + ", B beyond"

    def _refresh(self, *args, reset_view: bool = False) -> None:
        self._sync_controls()
        image = self._compose()
        self._composite = image
        if image is None:
            self.pane.set_image(None)
            return
        title = f"A: {self.a_choice.currentText()}    B: {self.b_choice.currentText()}"
        first = (
            self.pane.content is None or self.pane.content.pixels.shape[:2] != image.shape[:2]
        )
        content = PaneImage(
            image, title, (self._describe(),), 1.0, self._mm_per_unit, WindowLevel(0.5, 1.0)
        )
        self.pane.set_image(content, keep_window=not first)
        if first or reset_view:
            self.pane.reset_view()
        self.composite_changed.emit()

    # ----- keys ----------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        key = event.key()
        if key in (Qt.Key.Key_Space, Qt.Key.Key_T):
            self.toggle()
        elif key == Qt.Key.Key_A:
            self.show_side("A")
        elif key == Qt.Key.Key_B:
            self.show_side("B")
        else:
            super().keyPressEvent(event)

    def dispose(self) -> None:
        self.pane.dispose()
