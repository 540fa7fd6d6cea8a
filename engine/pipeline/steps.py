"""Load, pair and fuse: the first three steps of the pipeline, as plain functions.

``load(path) -> Scan`` and ``pair(mri, us, d) -> FusionInput`` are the engine's readers and
pairing; ``fuse`` runs a method and returns the measured :class:`FusionRecord` that every later
step (measure, export, the viewer's lists) receives.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..fusion import FusionInput
from ..io import load_scan as load
from ..pairing import pair_scans as pair
from ..progress import CancelToken, ProgressCallback
from .measure import measure
from .record import FusionRecord, ImageChoice


def record_of(
    result,
    fusion_input: FusionInput,
    *,
    number: int = 1,
    image: ImageChoice = "mri",
    with_metrics: bool = True,
) -> FusionRecord:
    """The record of a finished ``result`` of ``fusion_input``, measured unless told not to; the
    result's notes get how the pair was formed (:func:`engine.pairing.annotate_result`)."""
    from ..pairing import annotate_result

    annotate_result(result, fusion_input)
    record = FusionRecord(number, result, fusion_input, image)
    if not with_metrics:
        return record
    return dataclasses.replace(record, measurement=measure(record))


def fuse(
    fusion_input: FusionInput,
    method: str,
    params: Any | None = None,
    *,
    number: int = 1,
    image: ImageChoice = "mri",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    device: str | None = None,
    with_metrics: bool = True,
) -> FusionRecord:
    """Run ``method`` on ``fusion_input`` and return its record (measured unless told not to)."""
    from ..methods import run

    result = run(method, fusion_input, params, progress=progress, cancel=cancel, device=device)
    return record_of(
        result, fusion_input, number=number, image=image, with_metrics=with_metrics
    )


__all__ = ["fuse", "load", "pair", "record_of"]
