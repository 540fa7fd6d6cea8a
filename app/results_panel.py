"""The results list: every open fusion (method, time, seed, sources and parameters in the
tooltip), the image the fused pane shows (MRI contrast or US appearance), and closing a result."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.pipeline import FusionRecord

from .results import RELEASED_TAG

#: (choice, label) of the fused pane's two images
IMAGE_ITEMS = (("mri", "MRI contrast"), ("us", "US appearance"))


class ResultsPanel(QWidget):
    """Observes the session's records; emits the one selected, the image choice, and closes."""

    selected = Signal(object)  # FusionRecord
    image_changed = Signal(str)  # "mri" | "us"
    close_requested = Signal(object)  # FusionRecord

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[FusionRecord] = []
        self.list = QListWidget(self)
        self.list.setToolTip("Finished fusions; select one to show it in the fused pane.")
        self.list.currentRowChanged.connect(self._on_row)
        self.image_choice = QComboBox(self)
        self.image_choice.setObjectName("image-choice")
        for choice, label in IMAGE_ITEMS:
            self.image_choice.addItem(label, choice)
        self.image_choice.setToolTip(
            "MRI contrast: the MRI estimate at ultrasound resolution (default).\n"
            "US appearance: the fused image in ultrasound contrast.\n"
            "Export writes the image shown."
        )
        self.image_choice.currentIndexChanged.connect(
            lambda _: self.image_changed.emit(self.image)
        )
        self.close_button = QPushButton("Close result", self)
        self.close_button.setToolTip("Remove the selected result from the list.")
        self.close_button.clicked.connect(self._on_close)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show:"))
        row.addWidget(self.image_choice, 1)
        row.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.list)

    @property
    def image(self) -> str:
        return str(self.image_choice.currentData())

    def set_image(self, choice: str) -> None:
        index = self.image_choice.findData(choice)
        if index >= 0:
            self.image_choice.setCurrentIndex(index)

    @property
    def records(self) -> list[FusionRecord]:
        return list(self._records)

    def set_records(self, records: list[FusionRecord], select: FusionRecord | None = None) -> None:
        """Show ``records``; select ``select`` (default: keep the selection, else the last)."""
        keep = self.current()
        self._records = list(records)
        self.list.blockSignals(True)
        self.list.clear()
        for record in self._records:
            text = f"{record.summary()}   [{record.sources_text()}]"
            if record.images_released:
                text += f"   {RELEASED_TAG}"
            item = QListWidgetItem(text)
            item.setToolTip(record.details())
            item.setData(Qt.ItemDataRole.UserRole, record.number)
            self.list.addItem(item)
        target = select if select in self._records else keep
        row = self._records.index(target) if target in self._records else len(self._records) - 1
        self.list.setCurrentRow(row)
        self.list.blockSignals(False)
        self._on_row(row)  # once: the finished fusion's display is the UI thread's longest step
        self.close_button.setEnabled(bool(self._records))

    def current(self) -> FusionRecord | None:
        row = self.list.currentRow()
        return self._records[row] if 0 <= row < len(self._records) else None

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self._records):
            self.selected.emit(self._records[row])

    def _on_close(self) -> None:
        record = self.current()
        if record is not None:
            self.close_requested.emit(record)
