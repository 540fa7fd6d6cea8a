"""The Fusion dock: method, preset, the raw parameters under "Advanced", Fuse / Cancel, progress.

Presets come first (:mod:`engine.presets`: Balanced, More MRI, More US); choosing one fills the
form, and editing a field shows the preset as "Custom". The form (the method's raw weights) sits
under a collapsed "Advanced" fold; opening it, or switching the method, changes what the dock
shows inside its own area only (a stretch takes the room the fold leaves), so the panes keep
their size. The progress bar reads "idle" whenever no fusion runs.

The form is generated from the chosen method's parameter dataclass (:class:`ParamPanel`). Asking
the engine for that dataclass imports the method's module (and with it torch), so the form is
built on first use — when the user picks a method, presses Fuse, or reads :attr:`param_panel` —
or, without blocking the window, once the fusion modules have been imported in the background
(:meth:`build_form_when`). Constructing the dock imports no method.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.presets import BALANCED, CUSTOM, Preset, preset_of, presets_for
from engine.progress import ProgressEvent

from .param_panel import ParamPanel

METHOD_TIPS = (
    "palm: model-based fusion (PALM)\nddfm-em: diffusion sampling with EM fusion steps\n"
    "ddfm-palm: diffusion sampling with PALM data-consistency steps"
)
FORM_POLL_MS = 100
#: the progress bar's text when no fusion runs, and while one starts
IDLE_FORMAT, STARTING_FORMAT, RUNNING_FORMAT = "idle", "starting", "step %v / %m"
PRESET_TIP = "Start from a preset; the Advanced fields show (and change) its raw weights."


class FusionDock(QWidget):
    """Method, parameters, Fuse/Cancel and progress; the window connects the buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from engine.methods import method_names

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.method_choice = QComboBox()
        self.method_choice.setObjectName("method-choice")
        self.method_choice.addItems(method_names())
        self.method_choice.setToolTip(METHOD_TIPS)
        self.method_choice.currentTextChanged.connect(self._build_form)
        form.addRow("Method", self.method_choice)
        self.preset_choice = QComboBox()
        self.preset_choice.setObjectName("preset-choice")
        self.preset_choice.setToolTip(PRESET_TIP)
        self.preset_choice.activated.connect(self._on_preset_chosen)
        form.addRow("Preset", self.preset_choice)
        layout.addLayout(form)
        self.method_note = QLabel("")
        self.method_note.setWordWrap(True)
        self.method_note.setObjectName("method-note")
        layout.addWidget(self.method_note)
        self._presets: tuple[Preset, ...] = (BALANCED,)
        self._applying = False
        self._fill_presets()

        self.advanced_button = QToolButton()
        self.advanced_button.setObjectName("advanced-button")
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolTip("Show the method's raw parameters (weights, iterations).")
        self.advanced_button.toggled.connect(self.set_advanced_open)
        layout.addWidget(self.advanced_button)
        self._panel = ParamPanel()
        self._panel.changed.connect(self._on_form_changed)
        self._form_for: str | None = None
        self._form_ok = False
        self.advanced = QScrollArea()
        self.advanced.setObjectName("advanced-fold")
        self.advanced.setWidgetResizable(True)
        self.advanced.setWidget(self._panel)
        self.advanced.setFrameShape(QScrollArea.Shape.NoFrame)
        self.advanced.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.advanced.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.advanced.setVisible(False)
        layout.addWidget(self.advanced, 1)
        layout.addStretch(0)  # takes the room of the closed fold
        buttons = QHBoxLayout()
        self.fuse_button = QPushButton("Fuse")
        self.fuse_button.setObjectName("fuse-button")
        self.fuse_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-button")
        buttons.addWidget(self.fuse_button, 2)
        buttons.addWidget(self.cancel_button, 1)
        layout.addLayout(buttons)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progress-bar")
        self.reset_progress("Idle")
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("progress-label")
        # a long phase message wraps inside the dock instead of widening it (and the panes)
        self.progress_label.setWordWrap(True)
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        self._poll = QTimer(self)
        self._poll.setInterval(FORM_POLL_MS)

    # ----- the form ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.method_choice.currentText()

    @property
    def param_panel(self) -> ParamPanel:
        """The form of the chosen method (built now if it was not yet)."""
        self.ensure_form()
        return self._panel

    def ensure_form(self) -> bool:
        """Build the chosen method's form if needed; False when the method cannot load."""
        if self._form_for != self.method:
            self._build_form(self.method)
        return self._form_ok

    def build_form_when(self, ready: Callable[[], bool]) -> None:
        """Build the form as soon as ``ready()`` (polled on a timer) says the import is cheap."""

        def check() -> None:
            if ready():
                self._poll.stop()
                self.ensure_form()

        self._poll.timeout.connect(check)
        self._poll.start()

    def _build_form(self, name: str) -> None:
        from engine.methods import get_method

        self._form_for = name
        try:
            impl = get_method(name)
        except Exception as exc:  # noqa: BLE001 - a method that cannot load is shown, not fatal
            self._form_ok = False
            self._panel.setEnabled(False)
            self.method_note.setText(f"{name} is not available: {exc}")
            return
        self._form_ok = True
        self._panel.setEnabled(True)
        wanted = self.preset_choice.currentText()
        self._applying = True
        try:
            self._panel.set_params_type(impl.params_type)
        finally:
            self._applying = False
        self._presets = presets_for(impl.params_type)
        self._fill_presets()
        names = [p.name for p in self._presets]
        self.apply_preset(wanted if wanted in names else BALANCED.name)
        self.method_note.setText(getattr(impl, "title", ""))

    # ----- presets and the Advanced fold -------------------------------------------------------
    @property
    def preset(self) -> str:
        """The preset the form's values match, or "Custom"."""
        return self.preset_choice.currentText()

    def _fill_presets(self) -> None:
        self.preset_choice.blockSignals(True)
        self.preset_choice.clear()
        for preset in self._presets:
            self.preset_choice.addItem(preset.name)
            self.preset_choice.setItemData(
                self.preset_choice.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
            )
        self.preset_choice.addItem(CUSTOM)
        custom = self.preset_choice.count() - 1
        self.preset_choice.setItemData(
            custom, "Values edited under Advanced; choose a preset to start again.",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.preset_choice.model().item(custom).setEnabled(False)  # shown, never chosen
        self.preset_choice.blockSignals(False)

    def apply_preset(self, name: str) -> None:
        """Fill the form with the preset ``name`` (of the chosen method)."""
        preset = next(p for p in self._presets if p.name == name)
        if self._form_for is not None and self._form_ok:
            self._applying = True
            try:
                self._panel.set_values(preset.apply(self._panel.defaults))
            finally:
                self._applying = False
        self._show_preset(preset.name)

    def _on_preset_chosen(self, index: int) -> None:
        name = self.preset_choice.itemText(index)
        if name != CUSTOM:
            self.ensure_form()
            self.apply_preset(name)

    def _on_form_changed(self) -> None:
        if not self._applying:
            self._show_preset(preset_of(self._panel.params()))

    def _show_preset(self, name: str) -> None:
        self.preset_choice.blockSignals(True)
        self.preset_choice.setCurrentText(name)
        self.preset_choice.blockSignals(False)
        index = self.preset_choice.currentIndex()
        tip = self.preset_choice.itemData(index, Qt.ItemDataRole.ToolTipRole) or ""
        self.preset_choice.setToolTip(f"{PRESET_TIP}\n{name}: {tip}")

    def set_advanced_open(self, open_: bool) -> None:
        """Show or hide the raw parameters; the dock keeps its size either way."""
        if open_:
            self.ensure_form()
        self.advanced.setVisible(open_)
        arrow = Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow
        self.advanced_button.setArrowType(arrow)
        if self.advanced_button.isChecked() != open_:
            self.advanced_button.setChecked(open_)

    # ----- progress --------------------------------------------------------------------------
    def begin_progress(self, text: str) -> None:
        """A fusion is starting: a busy bar until its first step."""
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(STARTING_FORMAT)
        self.progress_label.setText(text)

    def show_progress(self, event: ProgressEvent) -> None:
        total = max(event.total, 1)
        self.progress_bar.setFormat(RUNNING_FORMAT)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(event.step, total))
        text = f"Step {event.step}/{event.total}   {event.elapsed_s:.1f} s"
        if event.eta_s is not None:
            text += f"   ETA {event.eta_s:.0f} s"
        if event.message:
            text += f"   {event.message}"
        self.progress_label.setText(text)

    def reset_progress(self, text: str) -> None:
        """No fusion runs (idle, finished, failed or cancelled): the bar reads "idle", the
        label says ``text``."""
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(IDLE_FORMAT)
        if hasattr(self, "progress_label"):
            self.progress_label.setText(text)

    def set_state(self, ready: bool, busy: bool) -> None:
        self.fuse_button.setEnabled(ready and not busy)
        self.cancel_button.setEnabled(busy)
        self.fuse_button.setText("Fusing..." if busy else "Fuse")

    def stop(self) -> None:
        self._poll.stop()
