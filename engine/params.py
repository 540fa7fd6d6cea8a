"""Declaring fusion parameters once: default, range and help text, read by the CLI and the GUI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ParameterError


@dataclass(frozen=True)
class ParamSpec:
    """Range and help of one parameter; stored in the dataclass field's metadata."""

    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    log_scale: bool = False


def param(
    default: Any,
    help: str,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
    log_scale: bool = False,
) -> Any:
    """A dataclass field with a :class:`ParamSpec` attached."""
    spec = ParamSpec(help, minimum, maximum, choices, log_scale)
    return field(default=default, metadata={"spec": spec})


def spec_of(f: dataclasses.Field) -> ParamSpec:
    return f.metadata.get("spec", ParamSpec(help=f.name))


def validate_params(params: Any) -> None:
    """Raise :class:`ParameterError` for a value outside its declared range or choices."""
    for f in dataclasses.fields(params):
        spec = spec_of(f)
        value = getattr(params, f.name)
        if spec.choices is not None and value not in spec.choices:
            raise ParameterError(
                f"Parameter {f.name} must be one of {', '.join(spec.choices)} (got {value!r})."
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if spec.minimum is not None and value < spec.minimum:
                raise ParameterError(
                    f"Parameter {f.name} must be at least {spec.minimum:g} (got {value:g})."
                )
            if spec.maximum is not None and value > spec.maximum:
                raise ParameterError(
                    f"Parameter {f.name} must be at most {spec.maximum:g} (got {value:g})."
                )


def params_with_overrides(params: Any, overrides: dict[str, str]) -> Any:
    """A copy of ``params`` with string overrides (``--param k=v``) parsed by field type."""
    known = {f.name: f for f in dataclasses.fields(params)}
    changes: dict[str, Any] = {}
    for key, text in overrides.items():
        if key not in known:
            raise ParameterError(
                f"Unknown parameter '{key}'; known parameters: {', '.join(sorted(known))}."
            )
        current = getattr(params, key)
        try:
            if isinstance(current, bool):
                value: Any = text.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int):
                value = int(text)
            elif isinstance(current, float):
                value = float(text)
            else:
                value = text
        except ValueError as exc:
            raise ParameterError(f"Parameter {key} expects a number (got {text!r}).") from exc
        changes[key] = value
    updated = dataclasses.replace(params, **changes)
    validate_params(updated)
    return updated


def params_as_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params)
