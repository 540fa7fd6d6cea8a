"""Metrics of the selected result (one column pair per metric set) and a bar chart of one metric
across all results. The tooltip says how the images were scaled for the metrics."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.pipeline import FusionRecord
from engine.pipeline.measure import GROUP_TITLES

from .results import METRICS_SCALE_NOTE, metric_tooltip

BAR_BRUSH = (90, 140, 200)
SELECTED_BRUSH = (255, 200, 70)
GROUPS = tuple(GROUP_TITLES.values())
HEADERS = ("Standard", "Legacy proxy set", "Ground truth")


class MetricsPanel(QWidget):
    """Observes the results list: table for the selected result, chart over all of them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[FusionRecord] = []
        self._selected: FusionRecord | None = None
        self.setToolTip(METRICS_SCALE_NOTE)

        self.caption = QLabel("No result yet.")
        self.caption.setObjectName("metrics-caption")
        self.table = QTableWidget(0, 2 * len(GROUPS), self)
        self.table.setHorizontalHeaderLabels([t for g in HEADERS for t in (g, "")])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(19)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column in range(2 * len(GROUPS)):
            mode = (
                QHeaderView.ResizeMode.Stretch
                if column % 2 == 0
                else QHeaderView.ResizeMode.ResizeToContents
            )
            header.setSectionResizeMode(column, mode)
        self.table.setToolTip(METRICS_SCALE_NOTE)

        self.metric_choice = QComboBox(self)
        self.metric_choice.setToolTip("Metric compared across the results in the bar chart.")
        self.metric_choice.currentTextChanged.connect(self._update_chart)
        self.chart = pg.PlotWidget(self, background=(30, 31, 34))
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.setMinimumSize(180, 120)
        self.chart.getPlotItem().showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.6)
        self.chart.addItem(self.bars)

        left = QVBoxLayout()
        left.addWidget(self.caption)
        left.addWidget(self.table, 1)
        right = QVBoxLayout()
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Across results:"))
        chooser.addWidget(self.metric_choice, 1)
        right.addLayout(chooser)
        right.addWidget(self.chart, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)

    def set_records(self, records: list[FusionRecord], selected: FusionRecord | None) -> None:
        self._records = list(records)
        self._selected = selected
        self._fill_table()
        names: list[str] = []
        for record in self._records:
            for name in record.metrics.all_values():
                if name not in names:
                    names.append(name)
        current = self.metric_choice.currentText()
        self.metric_choice.blockSignals(True)
        self.metric_choice.clear()
        self.metric_choice.addItems(names)
        if current in names:
            self.metric_choice.setCurrentText(current)
        self.metric_choice.blockSignals(False)
        self._update_chart()

    def shown_values(self) -> dict[str, str]:
        """ "group/metric" -> the text shown in the table."""
        out = {}
        for row in range(self.table.rowCount()):
            for g, group in enumerate(GROUPS):
                name, value = self.table.item(row, 2 * g), self.table.item(row, 2 * g + 1)
                if name is not None and value is not None and name.text():
                    out[f"{group}/{name.text()}"] = value.text()
        return out

    def _fill_table(self) -> None:
        self.table.clearContents()
        record = self._selected
        if record is None:
            self.table.setRowCount(0)
            self.caption.setText("No result yet.")
            return
        metrics = record.metrics
        caption = f"{record.name}: {metrics.image}" if metrics.image else record.name
        self.caption.setText(f"{record.name}: {metrics.error}" if metrics.error else caption)
        groups = dict(metrics.groups())
        self.table.setRowCount(max((len(v) for v in groups.values()), default=0))
        for g, group in enumerate(GROUPS):
            for row, (name, value) in enumerate(groups.get(group, {}).items()):
                name_item = QTableWidgetItem(name)
                name_item.setToolTip(metric_tooltip(group, name))
                value_item = QTableWidgetItem(f"{value:.4g}")
                value_item.setTextAlignment(
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                )
                value_item.setToolTip(name_item.toolTip())
                self.table.setItem(row, 2 * g, name_item)
                self.table.setItem(row, 2 * g + 1, value_item)

    def _update_chart(self, *args) -> None:
        name = self.metric_choice.currentText()
        xs, heights, brushes, ticks = [], [], [], []
        for i, record in enumerate(self._records):
            value = record.metrics.all_values().get(name)
            if value is None or not np.isfinite(value):
                continue
            xs.append(i)
            heights.append(value)
            brushes.append(pg.mkBrush(SELECTED_BRUSH if record is self._selected else BAR_BRUSH))
            ticks.append((i, record.name))
        self.bars.setOpts(
            x=np.asarray(xs, dtype=float),
            height=np.asarray(heights, dtype=float),
            width=0.6,
            brushes=brushes,
            pen=pg.mkPen(None),
            pens=None,
        )
        plot = self.chart.getPlotItem()
        plot.getAxis("bottom").setTicks([ticks])
        if xs:
            plot.setXRange(-0.6, max(xs) + 0.6, padding=0)
            top, bottom = max(max(heights), 0.0), min(min(heights), 0.0)
            plot.setYRange(bottom, top if top > bottom else bottom + 1, padding=0.1)

    def dispose(self) -> None:
        self.chart.clear()
        self.chart.close()
