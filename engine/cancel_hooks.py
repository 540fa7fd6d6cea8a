"""Cancel points inside a network evaluation: forward pre-hooks that call a cancel check.

A fusion is cancelled by a check that raises (:meth:`engine.progress.ProgressReporter.
check_cancel`). Between iterations the loops call it themselves; inside one evaluation of a
network (a diffusion UNet, a despeckling DnCNN), :func:`cancel_between_blocks` registers a
forward pre-hook on every block, so a cancel waits for at most one block instead of a whole
evaluation. The hooks exist only while the context is open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


def network_blocks(model: Any) -> list[Any]:
    """The model's blocks: the items of its direct module lists and sequential containers
    (ADM: input, middle and output blocks; DnCNN: its layers), and its other direct children."""
    import torch

    blocks: list[Any] = []
    for child in model.children():
        containers = (torch.nn.ModuleList, torch.nn.Sequential)
        blocks.extend(child if isinstance(child, containers) else [child])
    return blocks


@contextlib.contextmanager
def cancel_between_blocks(model: Any, check: Callable[[], None] | None) -> Iterator[None]:
    """Call ``check()`` before every block of ``model`` while the context is open.

    ``check`` raises to cancel; the hooks are removed on exit, whatever happened. A model that is
    not a torch module, or no ``check``, leaves the network untouched.
    """
    import torch

    if check is None or not isinstance(model, torch.nn.Module):
        yield
        return
    handles = [block.register_forward_pre_hook(lambda module, args: check())
               for block in network_blocks(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
