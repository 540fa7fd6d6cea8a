"""Fusion off the UI thread: a QObject worker moved to a QThread, one run at a time.

The worker calls :func:`engine.methods.run` with a progress callback that only emits a Qt signal
(queued to the UI thread) and a :class:`~engine.progress.CancelToken`. The engine checks the token
at every iteration (``ProgressReporter.step``), so Cancel takes effect within one iteration.
The worker returns the measured :class:`engine.pipeline.FusionRecord` (metrics computed on the
worker thread too, by :func:`engine.pipeline.record_of`), so that the UI thread only displays.
A second :meth:`FusionRunner.start` while one runs is refused (returns False).
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from engine.errors import EndoFuseError, FusionCancelled
from engine.fusion import FusionInput
from engine.progress import CancelToken, ProgressEvent

OUT_OF_MEMORY = (
    "The computer ran out of memory during the fusion; close other programs or crop the scans "
    "to the region of interest and try again."
)


#: Modules a fusion needs, imported ahead on a helper thread (see :meth:`FusionRunner.warm_up`):
#: module initialisation holds the interpreter lock, so importing them during the first fusion
#: would stall the UI thread for up to a tenth of a second.
WARM_UP_MODULES = (
    ("engine.methods.palm_method", None),
    ("engine.palm", None),
    ("engine.denoise", None),
    # scikit-image loads lazily: asking for the function imports its module (and scipy's)
    ("skimage.restoration", "denoise_tv_chambolle"),
    ("skimage.metrics", "structural_similarity"),
    ("scipy.ndimage", "sobel"),
    ("engine.metrics", None),
    ("engine.pipeline", None),
    ("engine.resample", None),
    ("engine.methods.ddfm", None),
)


def fusion_thread_count() -> int:
    """Compute threads for a fusion: every core but one, which stays with the UI thread.

    With all cores taken, each parallel numerical operation waits for a thread the UI (or any
    other program) has pre-empted; on a 2-core machine that made one fusion stage 20x slower
    and stalled the window. One core fewer costs far less.
    """
    return max(1, (os.cpu_count() or 1) - 1)


def _import_modules(names: tuple[tuple[str, str | None], ...]) -> None:
    for name, attribute in names:
        try:
            module = importlib.import_module(name)
            if attribute is not None:
                getattr(module, attribute)
        except Exception:  # noqa: BLE001 - a missing optional method is reported when chosen
            continue


@dataclass(frozen=True)
class FusionJob:
    """Everything one run needs: method id, parameter dataclass (seeded methods carry their
    seed there) and input."""

    method: str
    params: Any
    fusion_input: FusionInput
    #: the image the record shows and measures: "mri" (MRI contrast) or "us" (US appearance)
    image: str = "mri"


@dataclass(frozen=True)
class FusionOutcome:
    """A finished run: its measured record (numbered by the session when it is filed)."""

    record: Any


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, EndoFuseError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return OUT_OF_MEMORY
    return (
        f"The fusion stopped on an unexpected error ({type(exc).__name__}: {exc}); "
        "try the default parameters, and report the problem if it persists."
    )


class FusionWorker(QObject):
    """Runs one :class:`FusionJob` when its ``run`` slot is called (on the worker thread)."""

    progress = Signal(object)  # ProgressEvent
    finished = Signal(object)  # FusionOutcome
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, job: FusionJob, cancel: CancelToken) -> None:
        super().__init__()
        self._job = job
        self._cancel = cancel

    def _report(self, event: ProgressEvent) -> None:
        self.progress.emit(event)

    @Slot()
    def run(self) -> None:
        job = self._job
        try:
            from engine import methods

            result = methods.run(
                job.method, job.fusion_input, job.params, progress=self._report, cancel=self._cancel
            )
            self._cancel_point()
            from engine.pipeline import record_of

            record = record_of(result, job.fusion_input, number=0, image=job.image)
            self.finished.emit(FusionOutcome(record))
        except FusionCancelled:
            self.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user as a sentence
            self.failed.emit(_describe_failure(exc))
        finally:
            # Back to the UI thread before this thread ends: deleteLater() on an object whose
            # thread has finished is never carried out, so every worker (with its job, the
            # parameters and the cancel token) would stay alive for the whole session.
            application = QCoreApplication.instance()
            if application is not None:
                self.moveToThread(application.thread())
            self.done.emit()

    def _cancel_point(self) -> None:
        if self._cancel.is_cancelled():
            raise FusionCancelled("Fusion cancelled by the user.")


class FusionRunner(QObject):
    """Owns the worker thread of the running fusion; UI-thread object."""

    started = Signal(object)  # FusionJob
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: FusionWorker | None = None
        self._cancel: CancelToken | None = None
        self._job: FusionJob | None = None
        self._ending: tuple[Signal, tuple] | None = None
        self._warm_up: threading.Thread | None = None

    def warm_up(self) -> None:
        """Import what a fusion needs on a helper thread (once), while the user is still busy."""
        if self._warm_up is None:
            self._warm_up = threading.Thread(
                target=_import_modules, args=(WARM_UP_MODULES,), name="fusion-warm-up"
            )
            self._warm_up.start()

    @property
    def warmed_up(self) -> bool:
        return self._warm_up is not None and not self._warm_up.is_alive()

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def job(self) -> FusionJob | None:
        return self._job

    def start(self, job: FusionJob) -> bool:
        """Start ``job`` on a new thread; False (and nothing started) while another one runs."""
        if self.busy:
            return False
        self._cancel = CancelToken()
        self._job = job
        thread = QThread()
        thread.setObjectName(f"fusion-{job.method}")
        worker = FusionWorker(job, self._cancel)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.finished.connect(self._on_outcome)
        worker.failed.connect(self._on_failure)
        worker.cancelled.connect(self._on_cancelled)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        # Objects alive now are moved out of the cycle collector's reach for the run: a full
        # collection over the viewer's heap, triggered by the worker's allocations, would hold
        # the interpreter lock (and so the UI thread) for a tenth of a second.
        gc.freeze()
        import torch

        torch.set_num_threads(fusion_thread_count())
        thread.start()
        self.busy_changed.emit(True)
        self.started.emit(job)
        return True

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel and wait for the threads (used when the window closes)."""
        if self._warm_up is not None:
            self._warm_up.join()
        thread = self._thread
        if thread is None:
            return
        self.cancel()
        thread.quit()
        thread.wait(timeout_ms)
        self._on_thread_finished()

    # The worker's terminal signal is held until its thread has ended, so that listeners of
    # finished/failed/cancelled find the runner idle (and may start the next run at once).
    @Slot(object)
    def _on_outcome(self, outcome: FusionOutcome) -> None:
        self._ending = (self.finished, (outcome,))

    @Slot(str)
    def _on_failure(self, message: str) -> None:
        self._ending = (self.failed, (message,))

    @Slot()
    def _on_cancelled(self) -> None:
        self._ending = (self.cancelled, ())

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.wait()
        self._thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._thread = self._worker = self._cancel = None
        self._job = None
        gc.unfreeze()
        ending, self._ending = self._ending, None
        self.busy_changed.emit(False)
        if ending is not None:
            signal, args = ending
            signal.emit(*args)
