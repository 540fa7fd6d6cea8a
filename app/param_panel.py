"""A form generated from a method's parameter dataclass (defaults, ranges and help as tooltips).

Field kinds follow the default value: bool -> check box, int -> spin box, float ->
:class:`NumberSpinBox` (every float written by :func:`engine.formatting.format_number`; log-scale
parameters step by a factor of ten, the others by a tenth of their magnitude), declared choices ->
combo box, anything else -> line edit. Ranges come from :class:`engine.params.ParamSpec`; every
editor's tooltip says the meaning, the range and the default (:func:`field_tooltip`). The engine
still validates the dataclass when the fusion starts.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.formatting import format_number
from engine.params import ParamSpec, spec_of

INT_LIMIT = 2_000_000_000
FLOAT_LIMIT = 1e12


def _label(name: str) -> str:
    return name.replace("_", " ")


def range_text(spec: ParamSpec, default: Any) -> str:
    """The values a parameter accepts, in words: ``0.3 .. 32``, ``tv | tikhonov``, ``on | off``."""
    if spec.choices is not None:
        return " | ".join(spec.choices)
    if isinstance(default, bool):
        return "on | off"
    if spec.minimum is not None or spec.maximum is not None:
        lo = "-inf" if spec.minimum is None else format_number(spec.minimum)
        hi = "inf" if spec.maximum is None else format_number(spec.maximum)
        return f"{lo} .. {hi}" + (" (log scale)" if spec.log_scale else "")
    if isinstance(default, str):
        return "any text (empty: not used)"
    return "any value"


def field_tooltip(spec: ParamSpec, default: Any) -> str:
    """Meaning, range and default of one parameter, as every editor's tooltip shows them."""
    shown = format_number(default) if isinstance(default, float) else default
    if isinstance(default, bool):
        shown = "on" if default else "off"
    return f"{spec.help}\nRange: {range_text(spec, default)}\nDefault: {shown or '(empty)'}"


class NumberSpinBox(QDoubleSpinBox):
    """The float editor: text by :func:`format_number` (plain for ordinary values, ``1e-12`` for
    tiny ones); a log-scale value steps by a factor of ten, another by a tenth of its magnitude."""

    def __init__(self, log_scale: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(300)
        self._log_scale = log_scale

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return format_number(value)

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D102 - Qt override
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override
        value = self.value()
        if self._log_scale:
            if value == 0.0:
                value = max(self.minimum(), 1e-12)
            value *= 10.0**steps
        else:
            magnitude = abs(value) if value else 1.0
            value += steps * 10.0 ** (math.floor(math.log10(magnitude)) - 1)
        self.setValue(min(self.maximum(), max(self.minimum(), value)))


class ParamPanel(QWidget):
    """Edits one parameter dataclass; :meth:`params` returns a new instance of it."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._type: type | None = None
        self._defaults: Any = None
        self._editors: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._form_host = QWidget(self)
        self._form = QFormLayout(self._form_host)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        outer.addWidget(self._form_host)
        self._reset = QPushButton("Restore defaults", self)
        self._reset.setToolTip("Put every parameter back to the method's reference value.")
        self._reset.clicked.connect(self.restore_defaults)
        outer.addWidget(self._reset)

    @property
    def editors(self) -> dict[str, QWidget]:
        return dict(self._editors)

    @property
    def defaults(self) -> Any:
        """The method's default parameters (an instance of the form's dataclass)."""
        if self._type is None:
            raise RuntimeError("no method selected")
        return self._defaults

    def set_params_type(self, params_type: type) -> None:
        """Rebuild the form for ``params_type`` with its default values."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self._editors.clear()
        self._type = params_type
        self._defaults = params_type()
        for f in dataclasses.fields(params_type):
            editor = self._make_editor(f, getattr(self._defaults, f.name))
            self._editors[f.name] = editor
            label = QLabel(_label(f.name))
            label.setToolTip(editor.toolTip())
            self._form.addRow(label, editor)

    def _make_editor(self, f: dataclasses.Field, default: Any) -> QWidget:
        spec = spec_of(f)
        tip = field_tooltip(spec, default)
        if spec.choices is not None:
            editor: QWidget = QComboBox()
            editor.addItems(list(spec.choices))
            editor.setCurrentText(str(default))
            editor.currentTextChanged.connect(self.changed)
        elif isinstance(default, bool):
            editor = QCheckBox()
            editor.setChecked(default)
            editor.toggled.connect(self.changed)
        elif isinstance(default, int):
            editor = QSpinBox()
            editor.setRange(
                int(spec.minimum) if spec.minimum is not None else -INT_LIMIT,
                int(spec.maximum) if spec.maximum is not None else INT_LIMIT,
            )
            editor.setValue(default)
            editor.valueChanged.connect(self.changed)
        elif isinstance(default, float):
            editor = NumberSpinBox(spec.log_scale or 0 < abs(default) < 1e-3)
            editor.setRange(
                spec.minimum if spec.minimum is not None else -FLOAT_LIMIT,
                spec.maximum if spec.maximum is not None else FLOAT_LIMIT,
            )
            editor.setValue(default)
            editor.valueChanged.connect(self.changed)
        else:
            editor = QLineEdit(str(default))
            editor.textChanged.connect(self.changed)
        editor.setToolTip(tip)
        editor.setObjectName(f"param-{f.name}")
        return editor

    def restore_defaults(self) -> None:
        if self._type is not None:
            self.set_values(self._defaults)

    def set_values(self, params: Any) -> None:
        for name, editor in self._editors.items():
            value = getattr(params, name)
            if isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
            elif isinstance(editor, QLineEdit):
                editor.setText(str(value))

    def params(self) -> Any:
        """A new parameter dataclass with the values in the form."""
        if self._type is None:
            raise RuntimeError("no method selected")
        values: dict[str, Any] = {}
        for name, editor in self._editors.items():
            default = getattr(self._defaults, name)
            if isinstance(editor, QComboBox):
                values[name] = editor.currentText()
            elif isinstance(editor, QCheckBox):
                values[name] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                values[name] = int(editor.value())
            elif isinstance(editor, QDoubleSpinBox):
                values[name] = float(editor.value())
            else:
                values[name] = (
                    type(default)(editor.text()) if default is not None else editor.text()
                )
        return dataclasses.replace(self._defaults, **values)
