"""The three fusion methods behind one interface.

``run(method, fusion_input, params, progress, cancel, generator) -> FusionResult``. Methods are
registered by import path so that listing them does not import torch (the GUI starts faster).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ParameterError
from ..fusion import FusionInput, FusionResult
from ..params import validate_params
from ..progress import CancelToken, ProgressCallback, ProgressReporter
from .base import FusionMethod

#: method id -> "module:class"
REGISTRY: dict[str, str] = {
    "palm": "engine.methods.palm_method:PalmMethod",
    "ddfm-em": "engine.methods.ddfm:DdfmEmMethod",
    "ddfm-palm": "engine.methods.ddfm:DdfmPalmMethod",
}


def method_names() -> list[str]:
    return list(REGISTRY)


def get_method(name: str) -> FusionMethod:
    if name not in REGISTRY:
        raise ParameterError(f"Unknown method '{name}'; choose one of {', '.join(REGISTRY)}.")
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def run(
    method: str,
    fusion_input: FusionInput,
    params: Any | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    generator: Any | None = None,
    device: str | None = None,
) -> FusionResult:
    """Run one fusion method; ``params`` defaults to the method's parameter dataclass defaults."""
    impl = get_method(method)
    params = impl.params_type() if params is None else params
    if not isinstance(params, impl.params_type):
        raise ParameterError(
            f"Method {method} takes {impl.params_type.__name__}, not {type(params).__name__}."
        )
    validate_params(params)
    reporter = ProgressReporter(progress, cancel)
    return impl.run(fusion_input, params, reporter, generator=generator, device=device)


__all__ = ["FusionMethod", "REGISTRY", "get_method", "method_names", "run"]
