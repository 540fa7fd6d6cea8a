"""The Fusion dock: method choice, the parameter form, Fuse / Cancel, progress.

The form is generated from the chosen method's parameter dataclass (:class:`ParamPanel`). Asking
the engine for that dataclass imports the method's module (and with it torch), so the form is
built on first use — when the user picks a method, presses Fuse, or reads :attr:`param_panel` —
or, without blocking the window, once the fusion modules have been imported in the background
(:meth:`build_form_when`). Constructing the dock imports no method.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.progress import ProgressEvent

from .param_panel import ParamPanel

METHOD_TIPS = (
    "palm: model-based fusion (PALM)\nddfm-em: diffusion sampling with EM fusion steps\n"
    "ddfm-palm: diffusion sampling with PALM data-consistency steps"
)
FORM_POLL_MS = 100


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
        layout.addLayout(form)
        self.method_note = QLabel("")
        self.method_note.setWordWrap(True)
        self.method_note.setObjectName("method-note")
        layout.addWidget(self.method_note)
        self._panel = ParamPanel()
        self._form_for: str | None = None
        self._form_ok = False
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._panel)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(scroll, 1)
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
        self.reset_progress("Idle")
        self.progress_bar.setFormat("step %v / %m")
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("progress-label")
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
        self._panel.set_params_type(impl.params_type)
        self.method_note.setText(getattr(impl, "title", ""))

    # ----- progress --------------------------------------------------------------------------
    def show_progress(self, event: ProgressEvent) -> None:
        total = max(event.total, 1)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(event.step, total))
        text = f"Step {event.step}/{event.total}   {event.elapsed_s:.1f} s"
        if event.eta_s is not None:
            text += f"   ETA {event.eta_s:.0f} s"
        if event.message:
            text += f"   {event.message}"
        self.progress_label.setText(text)

    def reset_progress(self, text: str) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        if hasattr(self, "progress_label"):
            self.progress_label.setText(text)

    def set_state(self, ready: bool, busy: bool) -> None:
        self.fuse_button.setEnabled(ready and not busy)
        self.cancel_button.setEnabled(busy)
        self.fuse_button.setText("Fusing..." if busy else "Fuse")

    def stop(self) -> None:
        self._poll.stop()
