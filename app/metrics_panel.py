"""Metrics of the selected result and a bar chart of one metric across all results.

The table is a tree of the record's metric sets (:meth:`engine.pipeline.Measurement.rows`), each a
fold headed by its catalog title: "Ground truth" (open; present only when the pair has a truth),
"Fusion metrics" (the literature's no-reference set) and the legacy proxy set (both folded
until opened; the panel remembers what the user opened). Every metric is shown by its one
display name (``MetricInfo.label``) and its value by :func:`engine.formatting.format_number`.
The chart shows the metric named in the box above it; its y axis is labelled with the metric's
unit (or "no unit"), its x axis with the results. The tooltip says how the images were scaled
for the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.formatting import format_number
from engine.pipeline import FusionRecord

if TYPE_CHECKING:
    from engine.metrics import MetricInfo

from .results import METRICS_SCALE_NOTE, metric_tooltip

BAR_BRUSH = (90, 140, 200)
SELECTED_BRUSH = (255, 200, 70)
AXIS_PEN = (200, 200, 200)
AXIS_TEXT = "#c8c8c8"
#: set key -> open when first shown
OPEN_AT_FIRST = {"reference": True, "standard": False, "seed_compatible": False}
RESULTS_AXIS = "result"
#: the y axis of a metric without a unit (a ratio or a plain score)
NO_UNIT = "no unit"


class MetricsPanel(QWidget):
    """Observes the results list: metric folds for the selected result, chart over all of them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[FusionRecord] = []
        self._selected: FusionRecord | None = None
        self._infos: dict[str, MetricInfo] = {}
        self._open = dict(OPEN_AT_FIRST)
        self.setToolTip(METRICS_SCALE_NOTE)

        self.caption = QLabel("No result yet.")
        self.caption.setObjectName("metrics-caption")
        self.table = QTreeWidget(self)
        self.table.setObjectName("metrics-table")
        self.table.setColumnCount(2)
        self.table.setHeaderHidden(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setUniformRowHeights(True)
        self.table.setIndentation(12)
        header = self.table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip(METRICS_SCALE_NOTE)
        self.table.itemExpanded.connect(lambda item: self._remember(item, True))
        self.table.itemCollapsed.connect(lambda item: self._remember(item, False))

        self.metric_choice = QComboBox(self)
        self.metric_choice.setToolTip("Metric compared across the results in the bar chart.")
        self.metric_choice.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.metric_choice.setMinimumContentsLength(12)
        self.metric_choice.currentTextChanged.connect(self._update_chart)
        self.chart = pg.PlotWidget(self, background=(30, 31, 34))
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.setMinimumSize(180, 120)
        plot = self.chart.getPlotItem()
        plot.showGrid(y=True, alpha=0.25)
        for side in ("left", "bottom"):
            plot.getAxis(side).setTextPen(pg.mkPen(AXIS_PEN))
            plot.getAxis(side).enableAutoSIPrefix(False)  # ticks in the metric's own unit
        plot.setLabel("bottom", RESULTS_AXIS, color=AXIS_TEXT)
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
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)

    def set_records(self, records: list[FusionRecord], selected: FusionRecord | None) -> None:
        self._records = list(records)
        self._selected = selected
        self._fill_table()
        self._infos = {info.label: info for record in self._records
                       for _, rows in record.metrics.rows() for info, _ in rows}
        names: list[str] = []
        for record in self._records:
            for name in record.metrics.named_values():
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

    def folds(self) -> dict[str, QTreeWidgetItem]:
        """Set title -> its fold (top-level item) in the table."""
        root = self.table.invisibleRootItem()
        return {root.child(i).text(0): root.child(i) for i in range(root.childCount())}

    def shown_values(self) -> dict[str, str]:
        """ "set title/metric name" -> the text shown in the table (open folds or not)."""
        out = {}
        for title, fold in self.folds().items():
            for i in range(fold.childCount()):
                row = fold.child(i)
                out[f"{title}/{row.text(0)}"] = row.text(1)
        return out

    def _remember(self, item: QTreeWidgetItem, is_open: bool) -> None:
        key = item.data(0, Qt.ItemDataRole.UserRole)
        if key is not None:
            self._open[key] = is_open

    def _fill_table(self) -> None:
        from engine.metrics import SET_TITLES

        self.table.clear()
        record = self._selected
        if record is None:
            self.caption.setText("No result yet.")
            return
        metrics = record.metrics
        caption = f"{record.name}: {metrics.image}" if metrics.image else record.name
        self.caption.setText(f"{record.name}: {metrics.error}" if metrics.error else caption)
        self.table.blockSignals(True)
        for key, rows in metrics.rows():
            fold = QTreeWidgetItem(self.table, [SET_TITLES[key], ""])
            fold.setData(0, Qt.ItemDataRole.UserRole, key)
            fold.setFirstColumnSpanned(True)
            font = fold.font(0)
            font.setBold(True)
            fold.setFont(0, font)
            for info, value in rows:
                row = QTreeWidgetItem(fold, [info.label, format_number(value)])
                row.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                tip = metric_tooltip(info)
                row.setToolTip(0, tip)
                row.setToolTip(1, tip)
            fold.setExpanded(self._open.get(key, False))
        self.table.blockSignals(False)

    def _update_chart(self, *args) -> None:
        name = self.metric_choice.currentText()
        xs, heights, brushes, ticks = [], [], [], []
        for i, record in enumerate(self._records):
            value = record.metrics.named_values().get(name)
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
        info = self._infos.get(name)
        plot.setLabel("left", (info.unit or NO_UNIT) if info else "", color=AXIS_TEXT)
        plot.getAxis("bottom").setTicks([ticks])
        if xs:
            plot.setXRange(-0.6, max(xs) + 0.6, padding=0)
            top, bottom = max(max(heights), 0.0), min(min(heights), 0.0)
            plot.setYRange(bottom, top if top > bottom else bottom + 1, padding=0.1)

    def axis_labels(self) -> tuple[str, str]:
        """The chart's (y, x) axis titles: the chosen metric's unit, and "result"."""
        plot = self.chart.getPlotItem()
        return plot.getAxis("left").labelText, plot.getAxis("bottom").labelText

    def dispose(self) -> None:
        self.chart.clear()
        self.chart.close()
