"""The results list: every finished fusion (method, time, seed; parameters in the tooltip)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .results import ResultRecord


class ResultsPanel(QWidget):
    """Observes the list of :class:`ResultRecord`; emits the one the user selects."""

    selected = Signal(object)  # ResultRecord

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[ResultRecord] = []
        self.list = QListWidget(self)
        self.list.setToolTip("Finished fusions; select one to show it in the fused pane.")
        self.list.currentRowChanged.connect(self._on_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)

    @property
    def records(self) -> list[ResultRecord]:
        return list(self._records)

    def add(self, record: ResultRecord) -> None:
        self._records.append(record)
        item = QListWidgetItem(record.summary())
        item.setToolTip(record.details())
        item.setData(Qt.ItemDataRole.UserRole, record.number)
        self.list.addItem(item)
        self.list.setCurrentRow(self.list.count() - 1)

    def current(self) -> ResultRecord | None:
        row = self.list.currentRow()
        return self._records[row] if 0 <= row < len(self._records) else None

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self._records):
            self.selected.emit(self._records[row])
