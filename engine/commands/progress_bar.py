"""A text progress bar on stderr, driven by :class:`~engine.progress.ProgressEvent`."""

from __future__ import annotations

import sys

from ..progress import ProgressEvent


class TextProgressBar:
    """Callable progress sink: ``[#######.....] 7/10  3.1 s  ETA 1.3 s  message``."""

    def __init__(self, label: str, width: int = 30, stream=None) -> None:
        self.label = label
        self.width = width
        self.stream = stream if stream is not None else sys.stderr

    def __call__(self, event: ProgressEvent) -> None:
        filled = int(round(event.fraction * self.width))
        eta = "" if event.eta_s is None else f"  ETA {event.eta_s:.1f} s"
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{event.step}/{event.total}  {event.elapsed_s:.1f} s{eta}  {event.message}"
        )
        self.stream.write(line[:160].ljust(100))
        if event.step >= event.total:
            self.stream.write("\n")
        self.stream.flush()
