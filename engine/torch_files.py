"""Reading network and training files safely: ``torch.load(weights_only=True)`` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import WeightsError


def load_torch_file(path: str | Path, what: str = "network weights file") -> Any:
    """Load a file written by ``torch.save`` without arbitrary pickles, onto the CPU.

    A missing or unreadable file raises :class:`WeightsError` with a sentence naming it
    (``what`` says what the file is, e.g. "DnCNN weights file").
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"The {what} {path} was not found; place it there or choose another.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt/foreign files
        raise WeightsError(
            f"The {what} {path.name} could not be read ({type(exc).__name__}); it is corrupt or "
            "not a PyTorch file: replace it with an intact copy."
        ) from exc
