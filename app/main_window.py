"""The main window: MRI | US | Fused panes, compare view, and the docks that observe the session.

The state is an :class:`engine.session.Session` (scans, pairs, results per pair; no Qt). The
window is a shell of widgets: :mod:`.loading` (opening scans), :mod:`.fusion_dock` and
:mod:`.fusion_control` (method, parameters, running, progress), :mod:`.results_panel` and
:mod:`.metrics_panel` (results and their metrics), :mod:`.export_actions` (export and PACS),
:mod:`.menus` (actions). Every computation is the engine's. Errors arrive as one sentence and are
shown in one dialog; nothing already loaded is dropped when an action fails.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget

from engine.formatting import format_number
from engine.fusion import FusionInput
from engine.pipeline import FusionRecord
from engine.scan import Scan
from engine.session import Session, SessionEvent

from . import APPLICATION, ORGANISATION, export
from .compare_view import CompareView
from .compositing import on_grid
from .docks import make_dock
from .export_actions import ExportMixin
from .fusion_control import FusionMixin
from .fusion_dock import FusionDock
from .fusion_worker import FusionRunner
from .image_pane import ANNOTATION_LEVELS, ImagePane, PaneImage
from .linked_views import ViewLink
from .loading import LoadingMixin, fused_hint, grid_mm_per_pixel
from .menus import build_actions
from .metrics_panel import MetricsPanel
from .overlay_controls import OverlayController
from .process_memory import give_back_freed_memory, tune_allocator
from .results import results_budget_bytes
from .results_panel import ResultsPanel
from .window_level import PRESET_NAMES

#: the compare view's names of the current pair's sources
US_SOURCE = "US (source)"
MRI_SOURCE = "MRI (source, on US grid)"


class MainWindow(LoadingMixin, FusionMixin, ExportMixin, QMainWindow):
    """EndoFuse viewer window; pass ``settings`` to keep recent files and layout elsewhere."""

    scans_changed = Signal()
    fusion_finished = Signal(object)  # FusionRecord
    fusion_failed = Signal(str)
    fusion_cancelled = Signal()

    def __init__(self, settings: QSettings | None = None, restore_layout: bool = True) -> None:
        super().__init__()
        tune_allocator()
        self.setWindowTitle(APPLICATION)
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)
        self.session = Session()
        self.session.image_budget_bytes = results_budget_bytes(self.settings)
        self.last_sent: str | None = None
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self._last_preview = 0.0
        self.active_pane: ImagePane | None = None

        self.runner = FusionRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(lambda busy: self._update_enabled())

        self._build_panes()
        self._build_docks()
        build_actions(self)
        self.overlay = OverlayController(self)
        self._keep_layout = restore_layout
        if restore_layout:
            self._restore_layout()
        else:
            self.resize(1440, 860)
        self.session.subscribe(self._on_session)
        self._update_enabled()
        self.fusion_dock.build_form_when(lambda: self.runner.warmed_up)
        QTimer.singleShot(0, self.runner.warm_up)

    # ===== the session's state, as the panes and tests read it ===================================
    @property
    def mri(self) -> Scan | None:
        return self.session.mri

    @mri.setter
    def mri(self, scan: Scan | None) -> None:
        self.session.open_scans(scan, self.us)

    @property
    def us(self) -> Scan | None:
        return self.session.us

    @us.setter
    def us(self, scan: Scan | None) -> None:
        self.session.open_scans(self.mri, scan)

    @property
    def fusion_input(self) -> FusionInput | None:
        return self.session.fusion_input

    # the fusion dock's widgets, under the names the window has always had
    method_choice = property(lambda self: self.fusion_dock.method_choice)
    param_panel = property(lambda self: self.fusion_dock.param_panel)
    fuse_button = property(lambda self: self.fusion_dock.fuse_button)
    cancel_button = property(lambda self: self.fusion_dock.cancel_button)
    progress_bar = property(lambda self: self.fusion_dock.progress_bar)
    progress_label = property(lambda self: self.fusion_dock.progress_label)

    # ===== construction ==========================================================================
    def _build_panes(self) -> None:
        self.mri_pane = ImagePane("mri", "MRI\n\nDrop a file here or use File > Open MRI")
        self.us_pane = ImagePane(
            "us", "Ultrasound\n\nDrop a file here or use File > Open ultrasound"
        )
        self.fused_pane = ImagePane("fused", fused_hint(None, None, False, False))
        self.panes = [self.mri_pane, self.us_pane, self.fused_pane]
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("pane-splitter")
        self.splitter.setChildrenCollapsible(False)
        self.link = ViewLink(self)
        for pane in self.panes:
            self.splitter.addWidget(pane)
            self.link.add(pane.view_box, pane)
            pane.cursor_moved.connect(self._on_cursor_moved)
            pane.cursor_left.connect(self._on_cursor_left)
            pane.activated.connect(self._set_active_pane)
        self.mri_pane.files_dropped.connect(lambda paths: self.open_mri(paths[0]))
        self.us_pane.files_dropped.connect(lambda paths: self.open_us(paths[0]))
        self.fused_pane.files_dropped.connect(self.open_files)

        self.compare = CompareView()
        self.link.add(self.compare.pane.view_box, self.compare.pane)
        self.compare.pane.activated.connect(self._set_active_pane)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("view-tabs")
        self.tabs.addTab(self.splitter, "MRI | US | Fused")
        self.tabs.addTab(self.compare, "Compare")
        self.setCentralWidget(self.tabs)

        self.readout = QLabel("")
        self.readout.setObjectName("readout")
        self.statusBar().addPermanentWidget(self.readout)

    def _build_docks(self) -> None:
        self.fusion_dock = FusionDock()
        self.fusion_dock.fuse_button.clicked.connect(lambda: self.fuse())
        self.fusion_dock.cancel_button.clicked.connect(self.cancel_fusion)
        self.results_panel = ResultsPanel()
        self.results_panel.selected.connect(self._show_record)
        self.results_panel.image_changed.connect(self._on_image_changed)
        self.results_panel.close_requested.connect(self.session.close_result)
        self.metrics_panel = MetricsPanel()

        self.docks = {}
        for key, title, widget in (
            ("fusion", "Fusion", self.fusion_dock),
            ("results", "Results", self.results_panel),
            ("metrics", "Metrics", self.metrics_panel),
        ):
            make_dock(self, key, title, widget)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.docks["fusion"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.docks["results"])
        self.splitDockWidget(
            self.docks["results"], self.docks["metrics"], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.docks["fusion"]], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["results"]], [320], Qt.Orientation.Vertical)
        self.resizeDocks(
            [self.docks["results"], self.docks["metrics"]], [300, 900], Qt.Orientation.Horizontal
        )
        from .registration_panel import PairingController

        self.pairing = PairingController(self)
        from .measure_tool import MeasureTool

        self.measure_tool = MeasureTool(self)

    # ===== settings ==============================================================================
    def _restore_layout(self) -> None:
        geometry = self.settings.value("layout/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 860)
        state = self.settings.value("layout/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.settings.value("layout/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def save_layout(self) -> None:
        self.settings.setValue("layout/geometry", self.saveGeometry())
        self.settings.setValue("layout/state", self.saveState())
        self.settings.setValue("layout/splitter", self.splitter.saveState())
        self.settings.sync()

    # ===== observing the session =================================================================
    def _on_session(self, event: SessionEvent) -> None:
        if event is SessionEvent.PAIR:
            self._show_pair()
            return
        shown = self.results_panel.records
        records = self.session.records
        new = [r for r in records if r not in shown]
        self.results_panel.set_records(records, select=new[-1] if new else None)
        if not records:
            self.fused_pane.set_image(None)
            self.metrics_panel.set_records([], None)
        self._update_compare_sources()
        self._update_enabled()
        give_back_freed_memory()  # a result added, closed, cleared or its images released

    # ===== view ==================================================================================
    def _data_rect(self):
        for pane in (self.us_pane, self.fused_pane, self.mri_pane, self.compare.pane):
            if pane.content is not None:
                return pane.content.data_rect
        return None

    def reset_view(self) -> None:
        rect = self._data_rect()
        if rect is not None:
            self.link.fit(rect)

    def _set_active_pane(self, pane: ImagePane) -> None:
        self.active_pane = pane

    def apply_preset(self, number: int) -> None:
        """W/L preset on the pane last under the mouse (all panes when none was)."""
        if self.tabs.currentWidget() is self.compare:
            targets = [self.compare.pane]
        elif self.active_pane in self.panes:
            targets = [self.active_pane]
        else:
            targets = self.panes
        for pane in targets:
            pane.apply_preset(number)
        self.statusBar().showMessage(f"Window/level: {PRESET_NAMES[number - 1]}", 3000)

    def set_annotation_level(self, level: str) -> None:
        """Corner text of every pane: "full", "minimal" (one line per corner) or "off"; kept in
        the settings."""
        for pane in (*self.panes, self.compare.pane):
            pane.set_annotation_level(level)
        self.annotation_level = level
        self.annotation_actions[level].setChecked(True)
        self.settings.setValue("view/annotations", level)

    def cycle_annotation_level(self) -> None:
        levels = ANNOTATION_LEVELS
        self.set_annotation_level(levels[(levels.index(self.annotation_level) + 1) % len(levels)])

    def _on_cursor_moved(self, x: float, y: float) -> None:
        parts = []
        for pane in self.panes:
            pane.set_crosshair((x, y))
            hit = pane.value_at(x, y)
            if hit is None:
                pane.set_readout([])
                continue
            row, col, value = hit
            text = pane.window.text(value) if pane.window else format_number(value)
            pane.set_readout([f"x {col}  y {row}   value {text}"])
            parts.append(f"{pane.content.title}: ({col}, {row}) {text}")
        self.readout.setText("   |   ".join(parts))

    def _on_cursor_left(self) -> None:
        for pane in self.panes:
            pane.set_crosshair(None)
            pane.set_readout([])
        self.readout.setText("")

    def _update_enabled(self) -> None:
        busy = self.runner.busy
        ready = self.fusion_input is not None
        self.fusion_dock.set_state(ready, busy)
        current = self.results_panel.current()
        released = current is not None and current.images_released
        self.fused_pane.set_hint(
            fused_hint(self.mri, self.us, ready, busy, current.name if released else None)
        )
        self.act_fuse.setEnabled(ready and not busy)
        self.act_cancel.setEnabled(busy)
        self.act_export.setEnabled(self.results_panel.current() is not None)
        self.act_clear_results.setEnabled(bool(self.session.records))

    def _on_image_changed(self, choice: str) -> None:
        current = self.results_panel.current()
        if current is not None:
            self._show_record(current)

    def _show_record(self, record: FusionRecord) -> None:
        self.metrics_panel.set_records(self.results_panel.records, record)
        if record.images_released:
            self.fused_pane.set_image(None)
            self._update_enabled()
            return
        r = record.result
        which = self.results_panel.image
        lines = (record.image_note(which), f"{r.elapsed_s:.1f} s   {record.seed_text}   {r.device}")
        if r.weights:
            lines += (f"weights {r.weights[0].file}",)
        pixels = record.pixels(which)
        content = self.fused_pane.content
        keep = content is not None and content.pixels.shape == pixels.shape
        self.fused_pane.set_image(
            PaneImage(
                pixels, f"Fused: {record.name}", lines, 1.0,
                grid_mm_per_pixel(record.fusion_input),
            ),
            keep_window=False,
        )
        if not keep:
            QTimer.singleShot(0, self.reset_view)
        self._update_enabled()

    def _update_compare_sources(self) -> None:
        """The current pair's results and sources (one grid, so they can be compared)."""
        sources: dict[str, np.ndarray] = {}
        pair = self.session.pair
        fi = self.fusion_input
        shown = [r for r in pair.records if not r.images_released] if fi is not None else []
        for record in shown:
            sources[record.name] = record.pixels(self.results_panel.image)
        if fi is not None:
            sources[US_SOURCE] = fi.y_u
            sources[MRI_SOURCE] = on_grid(fi.y_m, fi.d)
        newest = shown[-1].name if shown else MRI_SOURCE
        self.compare.set_sources(sources, grid_mm_per_pixel(fi), default=(newest, US_SOURCE))

    # ===== errors, drops, shutdown ===============================================================
    def show_error(self, message: str) -> None:
        """One non-blocking dialog with the engine's sentence; the previous one is replaced."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Warning, APPLICATION, message, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda *_: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    def shutdown(self) -> None:
        """Stop the worker and release the pyqtgraph views (idempotent)."""
        self.fusion_dock.stop()
        self.runner.shutdown()
        export.release_clipboard()
        if getattr(self, "_disposed", False):
            return
        self._disposed = True
        self.link.remove_all()
        for pane in self.panes:
            pane.dispose()
        self.compare.dispose()
        self.metrics_panel.dispose()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._keep_layout:
            self.save_layout()
        self.fusion_dock.stop()
        self.runner.shutdown()
        super().closeEvent(event)
