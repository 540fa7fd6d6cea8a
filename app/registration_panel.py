"""The Pairing dock: region, frame, spacings, d, the MRI pose (manual and automatic).

The panel edits a :class:`engine.pairing.PairingOptions`; the :class:`PairingController` pairs the
window's scans with it whenever something changes (the MRI overlay that shows the pose on the US
and fused panes is :mod:`app.overlay_controls`; Ctrl+drag on it moves the MRI). The pose is
one affine transform (US mm -> MRI mm): the numeric fields show its translation,
angle and mean scale; the nudge buttons and keys (arrows move 1 US pixel, Shift x10; ``[``/``]``
rotate 0.5 degree; ``+``/``-`` scale 1 %) compose a small move with it about the centre of the
region. *Register* runs the mutual-information registration on a worker thread from the current
pose, with progress and cancel; a failure says why and keeps the pose.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EndoFuseError, FusionCancelled, PairingSafetyError
from engine.geometry import AffineTransform2D, parse_roi
from engine.geometry.checks import SafetyOptions
from engine.pairing import PairingOptions
from engine.progress import CancelToken, ProgressReporter

from .docks import make_dock

#: (key, dx px, dy px, degrees, scale factor) of each nudge
NUDGES = {
    Qt.Key.Key_Left: (-1, 0, 0.0, 1.0),
    Qt.Key.Key_Right: (1, 0, 0.0, 1.0),
    Qt.Key.Key_Up: (0, -1, 0.0, 1.0),
    Qt.Key.Key_Down: (0, 1, 0.0, 1.0),
    Qt.Key.Key_BracketLeft: (0, 0, -0.5, 1.0),
    Qt.Key.Key_BracketRight: (0, 0, 0.5, 1.0),
    Qt.Key.Key_Plus: (0, 0, 0.0, 1.01),
    Qt.Key.Key_Minus: (0, 0, 0.0, 1 / 1.01),
}


def nudged(transform, center, pixel_mm, dx=0.0, dy=0.0, degrees=0.0, scale=1.0):
    """``T o M^-1``, M the on-screen move of the MRI (pixels, degrees, scale about ``center``)."""
    from engine.registration import compose

    move = AffineTransform2D.from_parameters(
        degrees, scale, (dx * pixel_mm[1], dy * pixel_mm[0]), center
    )
    return compose(transform, move.inverse()).with_source("manual")


def _spin(lo, hi, decimals, step, suffix, special=None):
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    if special:
        spin.setSpecialValueText(special)
    return spin


class RegistrationWorker(QThread):
    """Runs :func:`engine.registration.register` off the GUI thread."""

    progress = Signal(int, int, str)
    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(self, mri, us, options: PairingOptions, parent=None) -> None:
        super().__init__(parent)
        self.mri, self.us, self.options = mri, us, options
        self.cancel_token = CancelToken()

    def run(self) -> None:
        from engine.registration import register

        reporter = ProgressReporter(
            lambda e: self.progress.emit(e.step, e.total, e.message), self.cancel_token
        )
        try:
            self.succeeded.emit(register(self.mri, self.us, self.options, reporter=reporter))
        except FusionCancelled:
            self.failed.emit("Registration cancelled; the previous pose is kept.")
        except EndoFuseError as exc:
            self.failed.emit(str(exc))


class PairingPanel(QWidget):
    """The form; every edit emits ``changed``."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("pairing-panel")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        form = QFormLayout()
        self.frame = QSpinBox()
        self.frame.setRange(-1, 9999)
        self.frame.setSpecialValueText("middle")
        self.frame.setValue(-1)
        self.roi = QLineEdit()
        self.roi.setPlaceholderText("x,y,w,h (blank: DICOM image region)")
        self.draw_roi = QPushButton("Draw...")
        roi_row = QHBoxLayout()
        roi_row.addWidget(self.roi, 1)
        roi_row.addWidget(self.draw_roi)
        self.us_spacing = _spin(0, 10, 4, 0.01, " mm", "from file")
        self.mri_spacing = _spin(0, 20, 4, 0.05, " mm", "from file")
        self.d = QSpinBox()
        self.d.setRange(0, 32)
        self.d.setSpecialValueText("auto")
        self.tx, self.ty = _spin(-500, 500, 2, 0.1, " mm"), _spin(-500, 500, 2, 0.1, " mm")
        self.angle = _spin(-180, 180, 2, 0.5, " deg")
        self.scale = _spin(0.2, 5, 3, 0.01, "")
        self.scale.setValue(1.0)
        for label, widget in (
            ("US frame", self.frame),
            ("US region", roi_row),
            ("US spacing", self.us_spacing),
            ("MRI spacing", self.mri_spacing),
            ("d", self.d),
            ("Shift x", self.tx),
            ("Shift y", self.ty),
            ("Rotation", self.angle),
            ("Scale", self.scale),
        ):
            form.addRow(label, widget)
        nudges = QGridLayout()
        self.nudge_buttons = {}
        for (row, col), key, text in (
            ((0, 1), Qt.Key.Key_Up, "Up"),
            ((1, 0), Qt.Key.Key_Left, "Left"),
            ((1, 2), Qt.Key.Key_Right, "Right"),
            ((2, 1), Qt.Key.Key_Down, "Down"),
            ((0, 0), Qt.Key.Key_BracketLeft, "Rot -"),
            ((0, 2), Qt.Key.Key_BracketRight, "Rot +"),
            ((2, 0), Qt.Key.Key_Minus, "Smaller"),
            ((2, 2), Qt.Key.Key_Plus, "Larger"),
        ):
            button = QPushButton(text)
            self.nudge_buttons[key] = button
            nudges.addWidget(button, row, col)
        self.register_button = QPushButton("Register automatically")
        self.register_button.setObjectName("register-button")
        self.cancel_button = QPushButton("Cancel")
        self.reset_button = QPushButton("Reset pose")
        actions = QHBoxLayout()
        for button in (self.register_button, self.cancel_button, self.reset_button):
            actions.addWidget(button)
        self.confirm_patients = QPushButton("Pair anyway (different patients)")
        self.confirm_patients.setObjectName("confirm-patients")
        self.confirm_patients.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        for part in (form, nudges, actions):
            layout.addLayout(part)
        layout.addWidget(self.confirm_patients)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.roi.editingFinished.connect(self.changed)
        for spin in (
            self.frame,
            self.us_spacing,
            self.mri_spacing,
            self.d,
            self.tx,
            self.ty,
            self.angle,
            self.scale,
        ):
            spin.editingFinished.connect(self.changed)

    def show_pose(self, transform: AffineTransform2D) -> None:
        """Fields from the transform: translation, angle of the first column, sqrt |det A|."""
        A = transform.A  # noqa: N806
        for widget, value in (
            (self.tx, transform.translation[0]),
            (self.ty, transform.translation[1]),
            (self.angle, math.degrees(math.atan2(A[1, 0], A[0, 0]))),
            (self.scale, math.sqrt(abs(A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]))),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in NUDGES:
            self.nudge_buttons[event.key()].click()
            return
        super().keyPressEvent(event)


class PairingController(QObject):
    """Owns the panel and the registration worker of one main window."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.panel = PairingPanel()
        self.transform = AffineTransform2D()
        #: (MRI patient, US patient) pairs the user confirmed; another pair is asked about again
        self.confirmed_patients: set[tuple[str, str]] = set()
        self.report = None
        self.worker: RegistrationWorker | None = None
        window.session.pair_function = self.pair
        scroll = QScrollArea()  # the panel scrolls rather than make the window taller than 720
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.panel)
        dock = make_dock(window, "pairing", "Pairing", scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        window.tabifyDockWidget(window.docks["fusion"], dock)
        window.docks["fusion"].raise_()
        p = self.panel
        p.changed.connect(self._on_fields_changed)
        p.draw_roi.clicked.connect(self.draw_roi)
        p.register_button.clicked.connect(self.register)
        p.cancel_button.clicked.connect(self.cancel)
        p.reset_button.clicked.connect(lambda: self.set_transform(AffineTransform2D()))
        p.confirm_patients.clicked.connect(self.confirm_patients)
        for key, button in p.nudge_buttons.items():
            button.clicked.connect(lambda _=False, k=key: self.nudge(*NUDGES[k]))

    # ----- options and pairing -------------------------------------------------------------------
    def options(self, mri=None, us=None) -> PairingOptions:
        p = self.panel
        confirmed = _patients(mri, us) in self.confirmed_patients
        return PairingOptions(
            d=p.d.value() or None,
            roi=parse_roi(p.roi.text()) if p.roi.text().strip() else None,
            us_spacing=p.us_spacing.value() or None,
            mri_spacing=p.mri_spacing.value() or None,
            transform=self.transform,
            safety=SafetyOptions(allow_different_patients=confirmed),
        )

    def pair(self, mri, us):
        """The session's pairing with the panel's options; raises the engine's error (which the
        window shows) when the scans do not pair. A patient mismatch also shows *Pair anyway*."""
        from engine.pairing import pair_scans

        self.panel.confirm_patients.setVisible(False)
        try:
            fusion_input = pair_scans(mri, us, options=self.options(mri, us))
        except EndoFuseError as exc:
            self.report = None
            if isinstance(exc, PairingSafetyError) and "--allow-different-patients" in str(exc):
                self.panel.confirm_patients.setVisible(True)
            raise
        self.report = fusion_input.pairing
        self.panel.status.setText("; ".join((self.report.roi.note, *self.report.notes)))
        return fusion_input

    def confirm_patients(self) -> None:
        """The user's explicit confirmation that these two patients' scans are to be paired."""
        self.confirmed_patients.add(_patients(self.window.mri, self.window.us))
        self.repair()

    def repair(self) -> None:
        """Pair the session's scans again with the panel's current options."""
        session = self.window.session
        if session.mri is not None and session.us is not None:
            session.open_scans(session.mri, session.us)

    # ----- pose -----------------------------------------------------------------------------------
    def set_transform(self, transform: AffineTransform2D) -> None:
        """Pair with ``transform``; when that fails (error shown) the previous pose comes back."""
        previous, self.transform = self.transform, transform
        self.repair()
        if self.window.fusion_input is None and previous is not transform:
            self.transform = previous
            self.repair()
        self.panel.show_pose(self.transform)

    def nudge(self, dx=0.0, dy=0.0, degrees=0.0, scale=1.0) -> None:
        if self.report is None:
            return
        geometry = self.report.geometry
        self.set_transform(
            nudged(self.transform, geometry.roi_center, geometry.us_spacing, dx, dy, degrees, scale)
        )

    def _on_fields_changed(self) -> None:
        p = self.panel
        center = self.report.geometry.roi_center if self.report is not None else (0.0, 0.0)
        fields = AffineTransform2D.from_parameters(
            p.angle.value(), p.scale.value(), (p.tx.value(), p.ty.value()), center, "manual"
        )
        if not _same_pose(fields, self.transform):
            self.transform = fields
        us = self.window.us
        wanted = None if p.frame.value() < 0 else p.frame.value()
        if (
            us is not None
            and us.path is not None
            and us.info.frame_count > 1
            and (wanted if wanted is not None else us.info.frame_count // 2) != us.info.frame_index
        ):
            self._reload_frame(wanted)  # opening the frame pairs it
            return
        self.repair()

    def _reload_frame(self, frame) -> None:
        from engine.io import load_scan

        try:
            self.window.us = load_scan(self.window.us.path, frame=frame)
        except EndoFuseError as exc:
            self.window.show_error(str(exc))

    def draw_roi(self) -> None:
        from engine.geometry import Roi

        from .roi_tool import RoiDialog

        us = self.window.us
        if us is None:
            return
        current = self.report.roi.roi if self.report is not None else Roi(0, 0, *us.shape[::-1])
        dialog = RoiDialog(us.pixels, current, self.window)
        if dialog.exec():
            self.panel.roi.setText(dialog.roi().text())
            self.repair()

    # ----- automatic registration -----------------------------------------------------------------
    def register(self) -> bool:
        w = self.window
        if w.mri is None or w.us is None or (self.worker is not None and self.worker.isRunning()):
            return False
        try:
            options = self.options(w.mri, w.us)
        except EndoFuseError as exc:
            w.show_error(str(exc))
            return False
        self.worker = RegistrationWorker(w.mri, w.us, options, self)
        self.worker.progress.connect(self._on_progress)
        self.worker.succeeded.connect(self._on_registered)
        self.worker.failed.connect(self._on_failed)
        self.panel.status.setText("Registering...")
        self.worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel_token.cancel()

    def _on_progress(self, step: int, total: int, message: str) -> None:
        self.panel.progress.setRange(0, max(total, 1))
        self.panel.progress.setValue(step)

    def _on_registered(self, result) -> None:
        self.panel.progress.setValue(self.panel.progress.maximum())
        self.set_transform(result.transform)
        self.panel.status.setText(result.describe())

    def _on_failed(self, message: str) -> None:
        self.panel.progress.setValue(0)
        self.panel.status.setText(message)
        self.window.show_error(message)


def _patients(mri, us) -> tuple[str, str]:
    """Who the two scans belong to, as the confirmation remembers it."""
    return tuple(  # type: ignore[return-value]
        f"{s.info.patient_id}|{s.info.patient_name}" if s is not None else "" for s in (mri, us)
    )


def _same_pose(a: AffineTransform2D, b: AffineTransform2D) -> bool:
    """Whether the fields still describe ``b`` (so that an untouched form keeps its shear)."""
    import numpy as np

    return bool(np.allclose(a.A, b.A, atol=1e-3) and np.allclose(a.offset, b.offset, atol=1e-2))
