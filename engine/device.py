"""Choose where tensors live: CUDA when present (or asked for), else the CPU."""

from __future__ import annotations

from .errors import ParameterError


def pick_device(requested: str | None = None):
    """Return a ``torch.device``; ``requested`` is None/"auto", "cpu" or "cuda[:N]"."""
    import torch

    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError("A CUDA GPU was requested but none is available; use --device cpu.")
    try:
        return torch.device(requested)
    except RuntimeError as exc:
        raise ParameterError(f"Unknown device '{requested}'; use cpu or cuda.") from exc
