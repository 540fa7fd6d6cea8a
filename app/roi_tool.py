"""Draw or adjust the ultrasound region of interest on the whole frame.

A dialog shows the full US frame (text, calipers and panes included) with a rectangle that the user
drags and resizes (pyqtgraph ``RectROI``, snapped to whole pixels and kept inside the frame); OK
returns it as an :class:`engine.geometry.Roi`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout

from engine.geometry import Roi


class RoiDialog(QDialog):
    """The whole US frame with a movable, resizable box."""

    def __init__(self, frame: np.ndarray, roi: Roi, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Ultrasound region of interest")
        self.setObjectName("roi-dialog")
        self.resize(760, 620)
        h, w = frame.shape
        self.view = pg.GraphicsLayoutWidget()
        box = self.view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        image = pg.ImageItem(np.asarray(frame, dtype=np.float32), axisOrder="row-major")
        box.addItem(image)
        self.rect = pg.RectROI(
            (roi.x, roi.y),
            (roi.w, roi.h),
            pen=pg.mkPen((255, 214, 102), width=2),
            maxBounds=QRectF(0, 0, w, h),
            snapSize=1.0,
            translateSnap=True,
            scaleSnap=True,
        )
        box.addItem(self.rect)
        box.autoRange()
        self.label = QLabel()
        self.rect.sigRegionChanged.connect(self._update_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Drag the box onto the image region; drag its corner to resize."))
        layout.addWidget(self.view, 1)
        layout.addWidget(self.label)
        layout.addWidget(buttons)
        self._update_label()

    def roi(self) -> Roi:
        (x, y), (w, h) = self.rect.pos(), self.rect.size()
        return Roi(int(round(x)), int(round(y)), int(round(w)), int(round(h)))

    def set_roi(self, roi: Roi) -> None:
        self.rect.setPos((roi.x, roi.y))
        self.rect.setSize((roi.w, roi.h))

    def _update_label(self) -> None:
        self.label.setText(f"x, y, w, h = {self.roi().text()} pixels")
