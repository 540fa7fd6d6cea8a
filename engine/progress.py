"""Progress reporting and cancellation without any GUI dependency.

Long loops call ``reporter.step(i, n, message, preview)`` once per iteration. That call first checks
the cancel flag (raising :class:`~engine.errors.FusionCancelled`) and then forwards a
:class:`ProgressEvent` to a plain callback. The GUI worker turns the callback into a Qt signal; the
CLI prints a bar on stderr.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import FusionCancelled


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``step`` of ``total`` done, with optional live preview (US grid)."""

    step: int
    total: int
    message: str = ""
    elapsed_s: float = 0.0
    preview: np.ndarray | None = None

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)

    @property
    def eta_s(self) -> float | None:
        """Linear estimate of the remaining time, or None before the first step."""
        if self.step <= 0 or self.total <= 0:
            return None
        return self.elapsed_s * (self.total - self.step) / self.step


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """A thread-safe cancel flag; the GUI sets it, the engine checks it at every step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def is_cancelled(self) -> bool:
        return self._event.is_set()


class ProgressReporter:
    """Binds a callback and a cancel token for one run; ``step`` is the only call loops make."""

    def __init__(
        self, callback: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> None:
        self._callback = callback
        self._cancel = cancel
        self._t0 = time.perf_counter()

    def check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_cancelled():
            raise FusionCancelled("Fusion cancelled by the user.")

    def step(
        self, step: int, total: int, message: str = "", preview: np.ndarray | None = None
    ) -> None:
        self.check_cancel()
        if self._callback is not None:
            elapsed = time.perf_counter() - self._t0
            self._callback(ProgressEvent(step, total, message, elapsed, preview))
