"""The interface every fusion method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ..fusion import FusionInput, FusionResult
from ..progress import ProgressReporter


class FusionMethod(ABC):
    """One fusion method: an id, a title, a parameter dataclass and ``run``."""

    name: ClassVar[str]
    title: ClassVar[str]
    params_type: ClassVar[type]

    @abstractmethod
    def run(
        self,
        fusion_input: FusionInput,
        params: Any,
        reporter: ProgressReporter,
        generator: Any | None = None,
        device: str | None = None,
    ) -> FusionResult:
        """Fuse; call ``reporter.step`` once per iteration (it raises on cancel)."""
