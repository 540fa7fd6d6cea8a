"""Running a fusion from the window (mixed into :class:`MainWindow`): start it on the worker
thread with the dock's parameters, show progress and previews, file the finished record in the
session (which numbers it and keeps it with its pair)."""

from __future__ import annotations

import time

import numpy as np

from engine.errors import EndoFuseError
from engine.progress import ProgressEvent

from .fusion_worker import FusionJob, FusionOutcome
from .image_pane import PaneImage
from .loading import grid_mm_per_pixel

PREVIEW_INTERVAL_S = 0.15


class FusionMixin:
    """Fuse / Cancel and the runner's signals."""

    def fuse(self, method: str | None = None) -> bool:
        """Start a fusion on the worker thread; False (with a message) when it cannot start."""
        dock = self.fusion_dock
        if self.runner.busy:
            message = "A fusion is already running; wait for it to finish or press Cancel."
            self.statusBar().showMessage(message, 6000)
            dock.progress_label.setText(message)
            return False
        if self.fusion_input is None:
            self.show_error(
                "Open an MRI and an ultrasound scan of the same plane first "
                "(File > Open, or File > Open demo pair)."
            )
            return False
        if method is not None and method != dock.method:
            dock.method_choice.setCurrentText(method)
            if dock.method != method:
                self.show_error(f"Unknown method '{method}'.")
                return False
        if not dock.ensure_form():
            self.show_error(dock.method_note.text())
            return False
        try:
            params = dock.param_panel.params()
            from engine.params import validate_params

            validate_params(params)
        except (EndoFuseError, ValueError) as exc:
            self.show_error(str(exc))
            return False
        job = FusionJob(dock.method, params, self.fusion_input, self.results_panel.image)
        self._last_preview = 0.0
        dock.begin_progress(f"Starting {job.method}...")
        return self.runner.start(job)

    def cancel_fusion(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.fusion_dock.progress_label.setText("Cancelling...")

    def _on_progress(self, event: ProgressEvent) -> None:
        self.fusion_dock.show_progress(event)
        if event.preview is not None:
            now = time.monotonic()
            if now - self._last_preview >= PREVIEW_INTERVAL_S:
                self._last_preview = now
                self._show_preview(np.asarray(event.preview), event)

    def _show_preview(self, preview: np.ndarray, event: ProgressEvent) -> None:
        """The running fusion's current estimate, with a window of its own (auto, preset 1):
        a diffusion estimate's range has nothing to do with the previous result's."""
        job = self.runner.job
        title = f"Fused: {job.method if job else ''} (preview)"
        lines = (f"current estimate, step {event.step}/{event.total}",)
        mm = grid_mm_per_pixel(job.fusion_input if job else self.fusion_input)
        self.fused_pane.set_image(PaneImage(preview, title, lines, 1.0, mm), keep_window=False)

    def _on_finished(self, outcome: FusionOutcome) -> None:
        record = self.session.add_result(outcome.record)  # the results panel selects it
        dock = self.fusion_dock
        dock.reset_progress(f"{record.name} finished in {record.result.elapsed_s:.1f} s")
        self.fusion_finished.emit(record)

    def _on_failed(self, message: str) -> None:
        self.fusion_dock.reset_progress("Failed")
        self.show_error(message)
        self.fusion_failed.emit(message)

    def _on_cancelled(self) -> None:
        self.fusion_dock.reset_progress("Cancelled")
        self.statusBar().showMessage("Fusion cancelled.", 5000)
        current = self.results_panel.current()
        if current is not None:
            self._show_record(current)
        self.fusion_cancelled.emit()
