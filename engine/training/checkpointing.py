"""Resumable training state: model, optimiser, step, RNG states, losses, configuration.

One file (``torch.save``) holding::

    {"format": 1, "kind": "prior" | "despeckler", "step": int, "config": {...},
     "model": state_dict, "ema": state_dict | None, "optimizer": state_dict,
     "data_rng": JSON of numpy's bit-generator state, "torch_rng": ByteTensor,
     "losses": [float, ...]}

The numpy state is stored as JSON text (its 128-bit integers are not plain tensors), so the file
loads with ``torch.load(weights_only=True)``. Writing goes to a temporary file that replaces the
old one, so an interrupted save never leaves a truncated state behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError
from ..torch_files import load_torch_file

STATE_FORMAT = 1


def rng_state_text(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def restore_rng(rng: np.random.Generator, text: str) -> None:
    rng.bit_generator.state = json.loads(text)


def save_training_state(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (the layout of the module docstring) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": STATE_FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_training_state(path: str | Path, kind: str) -> dict[str, Any]:
    """Read a state written by :func:`save_training_state`; check its format and kind."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"There is no training state to resume at {path}.")
    state = load_torch_file(path, "training state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise WeightsError(f"The file {path.name} is not a training state of this version.")
    if state.get("kind") != kind:
        raise WeightsError(
            f"The training state {path.name} belongs to a {state.get('kind')} training, "
            f"not a {kind} training."
        )
    return state
