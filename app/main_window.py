"""The main window: MRI | US | Fused panes, compare view, fusion controls, results and metrics.

State held here is only what the user opened (two :class:`~engine.scan.Scan`, the paired
:class:`~engine.fusion.FusionInput`) and the finished results; every computation is the engine's.
Errors from the engine arrive as one sentence and are shown in one dialog; nothing already loaded
is dropped when an action fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EndoFuseError
from engine.fusion import FusionInput
from engine.progress import ProgressEvent
from engine.scan import Scan

from . import APPLICATION, ORGANISATION, export
from .compare_view import CompareView
from .compositing import on_grid
from .fusion_worker import FusionJob, FusionOutcome, FusionRunner
from .image_pane import ImagePane, PaneImage
from .linked_views import ViewLink
from .metrics_panel import MetricsPanel
from .pacs_sender import start_send
from .param_panel import ParamPanel
from .results import ResultRecord
from .results_panel import ResultsPanel
from .window_level import PRESET_NAMES, WindowLevel

SCAN_FILTERS = (
    "Scans (*.dcm *.dicom *.ima *.png *.tif *.tiff *.jpg *.jpeg *.bmp *.mat *.npy);;All files (*)"
)
MAX_RECENT = 8
PREVIEW_INTERVAL_S = 0.15
MOUSE_HELP = (
    "Wheel: zoom about the cursor\nMiddle-drag: pan\nLeft-drag: window/level "
    "(right = wider, down = higher level)\nRight-drag: zoom (up = in)\nR: reset the view\n"
    + "\n".join(f"{i}: {name}" for i, name in enumerate(PRESET_NAMES, start=1))
    + "\nCompare view: Space or T toggles A/B, A and B show one image"
)


def _scan_lines(scan: Scan) -> tuple[str, ...]:
    info = scan.info
    lines = []
    if info.patient_name or info.patient_id:
        lines.append(
            " ".join(
                p for p in (info.patient_name, info.patient_id and f"({info.patient_id})") if p
            )
        )
    if info.study_date:
        lines.append(f"Study {info.study_date}")
    if info.series_description:
        lines.append(info.series_description)
    elif info.study_description:
        lines.append(info.study_description)
    size = f"{scan.shape[1]} x {scan.shape[0]} px"
    lines.append(f"{scan.name}   {size}" if scan.path is not None else size)
    if info.pixel_spacing_mm:
        lines.append(f"{info.pixel_spacing_mm[1]:.3g} x {info.pixel_spacing_mm[0]:.3g} mm/px")
    return tuple(lines)


def _file_window(scan: Scan) -> WindowLevel | None:
    info = scan.info
    if info.window_center is not None and info.window_width and info.window_width > 0:
        return WindowLevel(float(info.window_center), float(info.window_width))
    return None


class MainWindow(QMainWindow):
    """EndoFuse viewer window; pass ``settings`` to keep recent files and layout elsewhere."""

    scans_changed = Signal()
    fusion_finished = Signal(object)  # ResultRecord
    fusion_failed = Signal(str)
    fusion_cancelled = Signal()

    def __init__(self, settings: QSettings | None = None, restore_layout: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(APPLICATION)
        self.setObjectName("main-window")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings(ORGANISATION, APPLICATION)
        self.mri: Scan | None = None
        self.us: Scan | None = None
        self.fusion_input: FusionInput | None = None
        self.pair_title = ""
        self.last_sent: str | None = None
        self.last_error: str | None = None
        self._error_box: QMessageBox | None = None
        self._last_preview = 0.0
        self._next_number = 1
        self.active_pane: ImagePane | None = None

        self.runner = FusionRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.busy_changed.connect(self._on_busy_changed)

        self._build_panes()
        self._build_docks()
        self._build_actions()
        self._keep_layout = restore_layout
        if restore_layout:
            self._restore_layout()
        else:
            self.resize(1440, 860)
        self._update_enabled()
        QTimer.singleShot(0, self.runner.warm_up)

    # ===== construction ==========================================================================
    def _build_panes(self) -> None:
        self.mri_pane = ImagePane("mri", "MRI\n\nDrop a file here or use File > Open MRI")
        self.us_pane = ImagePane(
            "us", "Ultrasound\n\nDrop a file here or use File > Open ultrasound"
        )
        self.fused_pane = ImagePane("fused", "Fused\n\nOpen both scans, then press Fuse")
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
        fusion = QWidget()
        layout = QVBoxLayout(fusion)
        form = QFormLayout()
        self.method_choice = QComboBox()
        self.method_choice.setObjectName("method-choice")
        from engine.methods import method_names

        self.method_choice.addItems(method_names())
        self.method_choice.setToolTip(
            "palm: model-based fusion (PALM)\nddfm-em: diffusion sampling with EM fusion steps\n"
            "ddfm-palm: diffusion sampling with PALM data-consistency steps"
        )
        self.method_choice.currentTextChanged.connect(self._on_method_changed)
        form.addRow("Method", self.method_choice)
        layout.addLayout(form)
        self.method_note = QLabel("")
        self.method_note.setWordWrap(True)
        self.method_note.setObjectName("method-note")
        layout.addWidget(self.method_note)
        self.param_panel = ParamPanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.param_panel)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        self.fuse_button = QPushButton("Fuse")
        self.fuse_button.setObjectName("fuse-button")
        self.fuse_button.setDefault(True)
        self.fuse_button.clicked.connect(lambda: self.fuse())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-button")
        self.cancel_button.clicked.connect(self.cancel_fusion)
        buttons.addWidget(self.fuse_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("step %v / %m")
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("progress-label")
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)

        self.results_panel = ResultsPanel()
        self.results_panel.selected.connect(self._show_record)
        self.metrics_panel = MetricsPanel()

        self.docks = {}
        for key, title, widget in (
            ("fusion", "Fusion", fusion),
            ("results", "Results", self.results_panel),
            ("metrics", "Metrics", self.metrics_panel),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(widget)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            self.docks[key] = dock
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
        self._on_method_changed(self.method_choice.currentText())
        from .registration_panel import PairingController

        self.pairing = PairingController(self)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_open_mri = a(
            "Open MRI...",
            lambda: self._ask_open("mri"),
            QKeySequence.StandardKey.Open,
            "Open the MRI scan (DICOM, PNG, TIFF, MAT, NPY)",
        )
        self.act_open_us = a(
            "Open ultrasound...",
            lambda: self._ask_open("us"),
            "Ctrl+U",
            "Open the ultrasound scan (DICOM, PNG, TIFF, MAT, NPY)",
        )
        self.act_demo = a(
            "Open demo pair",
            self.open_demo,
            "Ctrl+D",
            "Load the built-in synthetic MRI/US phantom pair",
        )
        self.act_export = a(
            "Export fused image...",
            lambda: self.export_fused(),
            "Ctrl+E",
            "Write the selected result as DICOM, PNG, TIFF or NPY with provenance",
        )
        self.act_export_view = a(
            "Export view as PNG...",
            lambda: self.export_view(),
            None,
            "Save what the panes show, with provenance",
        )
        self.act_copy = a(
            "Copy view",
            self.copy_view,
            QKeySequence.StandardKey.Copy,
            "Copy the current view to the clipboard",
        )
        self.act_send = a(
            "Send to PACS...",
            lambda: self.send_to_pacs(),
            None,
            "Export the selected result as DICOM and store it on a PACS (C-ECHO, then C-STORE)",
        )
        self.act_quit = a("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_fuse = a("Fuse", lambda: self.fuse(), "Ctrl+Return", "Run the selected method")
        self.act_cancel = a("Cancel", self.cancel_fusion, "Esc", "Stop the running fusion")
        self.act_reset = a("Reset view", self.reset_view, "R", "Fit the images in the panes")
        self.act_anonymise = QAction("Anonymise DICOM exports", self)
        self.act_anonymise.setCheckable(True)
        self.act_anonymise.setChecked(self.settings.value("export/anonymise", True, type=bool))
        self.act_anonymise.toggled.connect(
            lambda on: self.settings.setValue("export/anonymise", on)
        )
        self.preset_actions = [
            a(f"W/L {name}", lambda checked=False, n=n: self.apply_preset(n), str(n))
            for n, name in enumerate(PRESET_NAMES, start=1)
        ]

        menu = self.menuBar().addMenu("&File")
        menu.addActions([self.act_open_mri, self.act_open_us, self.act_demo])
        self.recent_menu = menu.addMenu("Recent files")
        menu.addSeparator()
        menu.addActions([self.act_export, self.act_export_view, self.act_copy, self.act_send,
                         self.act_anonymise])
        menu.addSeparator()
        menu.addAction(self.act_quit)
        menu = self.menuBar().addMenu("&View")
        menu.addAction(self.act_reset)
        menu.addSeparator()
        menu.addActions(self.preset_actions)
        menu.addSeparator()
        for dock in self.docks.values():
            menu.addAction(dock.toggleViewAction())
        menu = self.menuBar().addMenu("F&usion")
        menu.addActions([self.act_fuse, self.act_cancel])
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(
            a("Mouse and keys", lambda: QMessageBox.information(self, "Mouse and keys", MOUSE_HELP))
        )

        bar = self.addToolBar("Main")
        bar.setObjectName("toolbar-main")
        bar.setMovable(False)
        bar.addActions([self.act_open_mri, self.act_open_us, self.act_demo])
        bar.addSeparator()
        bar.addActions([self.act_fuse, self.act_cancel])
        bar.addSeparator()
        bar.addActions([self.act_reset, self.act_export])
        self._rebuild_recent_menu()

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

    def recent_files(self) -> list[tuple[str, str]]:
        """(role, path) pairs, most recent first; role is "mri" or "us"."""
        entries = self.settings.value("recent/files", [])
        if isinstance(entries, str):
            entries = [entries]
        out = []
        for entry in entries or []:
            role, _, path = str(entry).partition("|")
            if role in ("mri", "us") and path:
                out.append((role, path))
        return out

    def _remember(self, role: str, path: Path) -> None:
        entry = (role, str(Path(path).resolve()))
        entries = [entry] + [e for e in self.recent_files() if e != entry]
        self.settings.setValue("recent/files", [f"{r}|{p}" for r, p in entries[:MAX_RECENT]])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for role, path in self.recent_files():
            label = f"{'MRI' if role == 'mri' else 'US'}: {Path(path).name}"
            action = self.recent_menu.addAction(label)
            action.setToolTip(path)
            action.triggered.connect(
                lambda checked=False, r=role, p=path: (
                    self.open_mri(p) if r == "mri" else self.open_us(p)
                )
            )
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ===== loading ===============================================================================
    def _ask_open(self, role: str) -> None:
        title = "Open MRI" if role == "mri" else "Open ultrasound"
        path, _ = QFileDialog.getOpenFileName(
            self, title, self.settings.value("recent/dir", ""), SCAN_FILTERS
        )
        if path:
            self.settings.setValue("recent/dir", str(Path(path).parent))
            (self.open_mri if role == "mri" else self.open_us)(path)

    def _load(self, path: str | Path) -> Scan | None:
        from engine.io import load_scan

        try:
            return load_scan(path)
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return None

    def open_mri(self, path: str | Path) -> bool:
        scan = self._load(path)
        if scan is None:
            return False
        self.mri = scan
        self.pair_title = ""
        self._remember("mri", Path(path))
        self._pair()
        return True

    def open_us(self, path: str | Path) -> bool:
        scan = self._load(path)
        if scan is None:
            return False
        self.us = scan
        self.pair_title = ""
        self._remember("us", Path(path))
        self._pair()
        return True

    def open_files(self, paths: list[str]) -> None:
        """Files dropped outside the MRI/US panes: two pair by size, one fills the empty slot."""
        paths = [str(p) for p in paths][:2]
        if len(paths) == 2:
            scans = [self._load(p) for p in paths]
            if any(s is None for s in scans):
                return
            small, large = sorted(zip(scans, paths, strict=True), key=lambda sp: sp[0].pixels.size)
            self.mri, self.us = small[0], large[0]
            self._remember("mri", Path(small[1]))
            self._remember("us", Path(large[1]))
            self.pair_title = ""
            self._pair()
        elif paths and self.mri is None:
            self.open_mri(paths[0])
        elif paths and self.us is None:
            self.open_us(paths[0])
        elif paths:
            self.statusBar().showMessage(
                "Drop onto the MRI or the ultrasound pane to replace a scan.", 6000
            )

    def open_demo(self) -> bool:
        """Load the built-in phantom pair (with its ground truth for reference scores)."""
        try:
            from engine.phantom import make_phantom_pair

            pair = make_phantom_pair(seed=0, size=600, d=6)
            fusion_input = pair.fusion_input()
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return False
        self.mri, self.us = pair.mri, pair.us
        self.pair_title = "Demo phantom"
        self._set_fusion_input(fusion_input)
        return True

    def _pair(self) -> None:
        self.fusion_input = None
        if self.mri is not None and self.us is not None:
            self.fusion_input = self.pairing.pair(self.mri, self.us)
        self._set_fusion_input(self.fusion_input)

    def _set_fusion_input(self, fusion_input: FusionInput | None) -> None:
        self.fusion_input = fusion_input
        d = fusion_input.d if fusion_input is not None else 1
        mm = self._mm_per_us_pixel(d)
        first = all(p.content is None for p in self.panes)
        paired = fusion_input is not None and fusion_input.mri is not None
        for pane, scan, cell, label in (
            (self.mri_pane, fusion_input.mri if paired else self.mri, d, "MRI"),
            (self.us_pane, fusion_input.us if paired else self.us, 1, "Ultrasound"),
        ):
            if scan is None:
                pane.set_image(None)
                continue
            lines = _scan_lines(scan)
            if label == "MRI" and fusion_input is not None:
                lines += (f"d = {d} (MRI pixel = {d} x {d} US pixels)",)
            pane.set_image(PaneImage(scan.pixels, label, lines, cell, mm, _file_window(scan)))
        self._update_compare_sources()
        self._update_enabled()
        if first or fusion_input is not None:
            QTimer.singleShot(0, self.reset_view)
        self.scans_changed.emit()

    def _mm_per_us_pixel(self, d: int) -> float | None:
        if self.us is not None and self.us.info.pixel_spacing_mm:
            return float(self.us.info.pixel_spacing_mm[1])
        if self.mri is not None and self.mri.info.pixel_spacing_mm:
            return float(self.mri.info.pixel_spacing_mm[1]) / d
        return None

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

    def _on_cursor_moved(self, x: float, y: float) -> None:
        parts = []
        for pane in self.panes:
            pane.set_crosshair((x, y))
            hit = pane.value_at(x, y)
            if hit is None:
                pane.set_readout([])
                continue
            row, col, value = hit
            pane.set_readout([f"x {col}  y {row}   value {value:.4g}"])
            parts.append(f"{pane.content.title}: ({col}, {row}) {value:.4g}")
        self.readout.setText("   |   ".join(parts))

    def _on_cursor_left(self) -> None:
        for pane in self.panes:
            pane.set_crosshair(None)
            pane.set_readout([])
        self.readout.setText("")

    # ===== fusion ================================================================================
    def _on_method_changed(self, name: str) -> None:
        from engine.methods import get_method

        try:
            impl = get_method(name)
        except Exception as exc:  # noqa: BLE001 - a method that cannot load is shown, not fatal
            self.param_panel.setEnabled(False)
            self.method_note.setText(f"{name} is not available: {exc}")
            return
        self.param_panel.setEnabled(True)
        self.param_panel.set_params_type(impl.params_type)
        self.method_note.setText(getattr(impl, "title", ""))

    def fuse(self, method: str | None = None) -> bool:
        """Start a fusion on the worker thread; False (with a message) when it cannot start."""
        if self.runner.busy:
            message = "A fusion is already running; wait for it to finish or press Cancel."
            self.statusBar().showMessage(message, 6000)
            self.progress_label.setText(message)
            return False
        if self.fusion_input is None:
            self.show_error(
                "Open an MRI and an ultrasound scan of the same plane first "
                "(File > Open, or File > Open demo pair)."
            )
            return False
        if method is not None and method != self.method_choice.currentText():
            self.method_choice.setCurrentText(method)
            if self.method_choice.currentText() != method:
                self.show_error(f"Unknown method '{method}'.")
                return False
        if not self.param_panel.isEnabled():
            self.show_error(self.method_note.text())
            return False
        try:
            params = self.param_panel.params()
            from engine.params import validate_params

            validate_params(params)
        except (EndoFuseError, ValueError) as exc:
            self.show_error(str(exc))
            return False
        job = FusionJob(self.method_choice.currentText(), params, self.fusion_input)
        self._last_preview = 0.0
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText(f"Starting {job.method}...")
        return self.runner.start(job)

    def cancel_fusion(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.progress_label.setText("Cancelling...")

    def _on_progress(self, event: ProgressEvent) -> None:
        total = max(event.total, 1)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(event.step, total))
        eta = event.eta_s
        text = f"Step {event.step}/{event.total}   {event.elapsed_s:.1f} s"
        if eta is not None:
            text += f"   ETA {eta:.0f} s"
        if event.message:
            text += f"   {event.message}"
        self.progress_label.setText(text)
        if event.preview is not None:
            now = time.monotonic()
            if now - self._last_preview >= PREVIEW_INTERVAL_S:
                self._last_preview = now
                self._show_preview(np.asarray(event.preview), event)

    def _show_preview(self, preview: np.ndarray, event: ProgressEvent) -> None:
        job = self.runner.job
        title = f"Fused: {job.method if job else ''} (preview)"
        lines = (f"current estimate, step {event.step}/{event.total}",)
        content = self.fused_pane.content
        if content is not None and content.pixels.shape == preview.shape:
            self.fused_pane.set_pixels(preview)
            self.fused_pane.set_lines(title, lines)
        else:
            self.fused_pane.set_image(
                PaneImage(preview, title, lines, 1.0, self._mm_per_us_pixel(1))
            )

    def _on_finished(self, outcome: FusionOutcome) -> None:
        self.pairing.annotate(outcome.result)
        record = ResultRecord(self._next_number, outcome.result, outcome.metrics)
        self._next_number += 1
        self.progress_bar.setValue(self.progress_bar.maximum())
        self.progress_label.setText(f"{record.name} finished in {record.result.elapsed_s:.1f} s")
        self.results_panel.add(record)  # selects it -> _show_record
        self._update_compare_sources()
        self.fusion_finished.emit(record)

    def _on_failed(self, message: str) -> None:
        self._reset_progress("Failed")
        self.show_error(message)
        self.fusion_failed.emit(message)

    def _on_cancelled(self) -> None:
        self._reset_progress("Cancelled")
        self.statusBar().showMessage("Fusion cancelled.", 5000)
        current = self.results_panel.current()
        if current is not None:
            self._show_record(current)
        self.fusion_cancelled.emit()

    def _reset_progress(self, text: str) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_label.setText(text)

    def _on_busy_changed(self, busy: bool) -> None:
        self._update_enabled()

    def _update_enabled(self) -> None:
        busy = self.runner.busy
        ready = self.fusion_input is not None
        self.fuse_button.setEnabled(ready and not busy)
        self.act_fuse.setEnabled(ready and not busy)
        self.cancel_button.setEnabled(busy)
        self.act_cancel.setEnabled(busy)
        has_result = self.results_panel.current() is not None
        self.act_export.setEnabled(has_result)
        self.fuse_button.setText("Fusing..." if busy else "Fuse")

    def _show_record(self, record: ResultRecord) -> None:
        r = record.result
        lines = (f"{r.elapsed_s:.1f} s   {record.seed_text}   {r.device}",)
        if r.weights:
            lines += (f"weights {r.weights[0].file}",)
        content = self.fused_pane.content
        keep = content is not None and content.pixels.shape == r.fused.shape
        self.fused_pane.set_image(
            PaneImage(
                np.asarray(r.fused), f"Fused: {record.name}", lines, 1.0, self._mm_per_us_pixel(1)
            ),
            keep_window=False,
        )
        if not keep:
            QTimer.singleShot(0, self.reset_view)
        self.metrics_panel.set_records(self.results_panel.records, record)
        self._update_enabled()

    def _update_compare_sources(self) -> None:
        sources: dict[str, np.ndarray] = {}
        fi = self.fusion_input
        if fi is not None:
            for record in self.results_panel.records:
                sources[record.name] = np.asarray(record.result.fused)
            sources["US (source)"] = fi.y_u
            sources["MRI (source, on US grid)"] = on_grid(fi.y_m, fi.d)
        self.compare.set_sources(sources, self._mm_per_us_pixel(1))

    # ===== export ================================================================================
    def _current_record(self) -> ResultRecord | None:
        record = self.results_panel.current()
        if record is None:
            self.show_error("There is no fused image yet; press Fuse first.")
        return record

    def export_fused(self, path: str | Path | None = None) -> Path | None:
        record = self._current_record()
        if record is None:
            return None
        if path is None:
            start = str(
                Path(self.settings.value("export/dir", ""))
                / f"fused_{record.number}_{record.method}"
            )
            path, _ = QFileDialog.getSaveFileName(
                self, "Export fused image", start, export.FUSED_FILTERS
            )
            if not path:
                return None
            self.settings.setValue("export/dir", str(Path(path).parent))
        try:
            written = export.export_fused(
                record, path, self.mri, self.us, anonymise=self.act_anonymise.isChecked()
            )
        except (EndoFuseError, OSError) as exc:
            self.show_error(str(exc))
            return None
        self.statusBar().showMessage(f"Exported {written}", 6000)
        return written

    def send_to_pacs(self, address: str | None = None) -> bool:
        """Export the selected result as DICOM into a temporary folder and C-STORE it.

        ``address`` is "AET@HOST:PORT"; when None the user is asked (the last one is remembered).
        Returns True when the send was started; the outcome arrives in the status bar or as the
        error dialog.
        """
        import tempfile

        from engine.dicom.send import parse_pacs_address

        record = self._current_record()
        if record is None:
            return False
        if address is None:
            address, ok = QInputDialog.getText(
                self, "Send to PACS", "PACS address (AET@HOST:PORT):",
                text=str(self.settings.value("pacs/address", "")),
            )
            if not ok or not address.strip():
                return False
        address = address.strip()
        try:
            parse_pacs_address(address)
            folder = Path(tempfile.mkdtemp(prefix="endofuse-send-"))
            path = export.export_fused(
                record, folder / f"fused_{record.number}_{record.method}.dcm", self.mri, self.us,
                anonymise=self.act_anonymise.isChecked(),
            )
        except (EndoFuseError, OSError) as exc:
            self.show_error(str(exc))
            return False
        self.settings.setValue("pacs/address", address)
        self.statusBar().showMessage(f"Sending to {address}...")
        self._send_job = start_send(path, address, self._on_sent, self.show_error)
        return True

    def _on_sent(self, message: str) -> None:
        self.last_sent = message
        self.statusBar().showMessage(message, 8000)

    def _view_provenance(self) -> dict[str, str]:
        record = self.results_panel.current()
        info = record.provenance() if record is not None else {"software": APPLICATION}
        info["view"] = self.tabs.tabText(self.tabs.currentIndex())
        return info

    def export_view(self, path: str | Path | None = None) -> Path | None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export view", "view.png", "PNG (*.png)")
            if not path:
                return None
        try:
            written = export.export_view_png(
                self.tabs.currentWidget(), path, self._view_provenance()
            )
        except EndoFuseError as exc:
            self.show_error(str(exc))
            return None
        self.statusBar().showMessage(f"Saved view to {written}", 6000)
        return written

    def copy_view(self) -> None:
        export.copy_view_to_clipboard(self.tabs.currentWidget(), self._view_provenance())
        self.statusBar().showMessage("View copied to the clipboard.", 4000)

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
        self.runner.shutdown()
        super().closeEvent(event)
