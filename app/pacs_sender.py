"""Send an exported DICOM file to a PACS (C-ECHO, then C-STORE) without blocking the window.

The network work runs on a worker thread of the global QThreadPool; the outcome comes back as a
queued signal on the GUI thread. The engine's :func:`engine.dicom.send.send_files` does the work
and raises :class:`engine.dicom.send.PacsError` with one sentence for every failure.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import EndoFuseError


class PacsSendSignals(QObject):
    sent = Signal(str)  # a sentence for the status bar
    failed = Signal(str)  # the engine's sentence for the error dialog


class PacsSendJob(QRunnable):
    """C-STORE ``path`` to ``address`` ("AET@HOST:PORT") on a pool thread.

    With ``remove_folder`` the file's folder is a temporary export folder, deleted after the
    send whether it succeeded or not.
    """

    def __init__(
        self, path: Path, address: str, timeout_s: float = 10.0, remove_folder: bool = False
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.address = address
        self.timeout_s = timeout_s
        self.remove_folder = remove_folder
        self.signals = PacsSendSignals()

    def run(self) -> None:
        from engine.dicom.send import send_files, send_folder_and_remove

        try:
            if self.remove_folder:
                send_folder_and_remove(self.path.parent, self.address, timeout_s=self.timeout_s)
            else:
                send_files([self.path], self.address, timeout_s=self.timeout_s)
        except EndoFuseError as exc:
            self.signals.failed.emit(str(exc))
        except OSError as exc:
            self.signals.failed.emit(f"Sending to {self.address} failed ({exc}).")
        else:
            self.signals.sent.emit(f"Sent {self.path.name} to {self.address}.")


def start_send(
    path: Path, address: str, on_sent, on_failed, timeout_s: float = 10.0,
    remove_folder: bool = False,
):
    """Queue a send; ``on_sent``/``on_failed`` are called on the GUI thread with a sentence."""
    job = PacsSendJob(path, address, timeout_s, remove_folder)
    job.signals.sent.connect(on_sent)
    job.signals.failed.connect(on_failed)
    QThreadPool.globalInstance().start(job)
    return job
