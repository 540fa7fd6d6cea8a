"""The output tree of a batch: one folder per pair, and the record that makes re-runs idempotent.

Layout under the output folder ``OUT``::

    OUT/pairs/<key>/fused.dcm, fused.png, ...   the fused image in every requested format
    OUT/pairs/<key>/thumb.png                   a small preview for the report
    OUT/pairs/<key>/record.json                 the pair's :class:`PairOutcome`, written last
    OUT/results.csv, OUT/report.md              the whole batch (see :mod:`engine.batch.report`)

A pair is finished when its ``record.json`` exists, says ``fused`` or ``failed`` (a failure caused
by the data, which would fail again), and its fingerprint equals the pair's fingerprint now:

    fingerprint = {mri: sha256(mri file), us: sha256(us file), method, d, image, transform,
                   parameter overrides, formats}

so a changed input file, method or parameter redoes the pair, and nothing else does. The record
is written atomically (temporary file, then rename) after the images, so a worker killed at any
moment leaves either a complete pair or one that the next run redoes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .plan import PairTask

RECORD_NAME = "record.json"
#: statuses that a re-run keeps (the others are redone)
FINAL_STATUSES = ("fused", "failed")
HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of every file of a folder in sorted order (a DICOM series)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def fingerprint(task: PairTask, formats: tuple[str, ...]) -> dict[str, object]:
    """What a finished pair must match to be skipped (see the module docstring)."""
    return {
        "mri": file_sha256(task.mri),
        "us": file_sha256(task.us),
        "method": task.method,
        "d": task.d,
        "image": task.image,
        "transform": None if task.transform is None else file_sha256(task.transform),
        "overrides": sorted(list(item) for item in task.overrides),
        "formats": list(formats),
    }


@dataclass
class PairOutcome:
    """What became of one pair: status, the error sentence, timings, metrics and outputs.

    ``status`` is ``fused``; ``failed`` (the data cannot be fused: ``error`` says why, not
    retried); ``error`` (an unexpected fault of the program, redone on the next run); ``lost``
    (the workers running it died more often than the retry bound, redone on the next run);
    ``pending`` (the batch was interrupted before it); or ``unpaired`` (left out by the pairing,
    never run).
    """

    key: str
    status: str
    error: str = ""
    mri: str = ""
    us: str = ""
    method: str = ""
    d: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    fingerprint: dict[str, object] = field(default_factory=dict)
    worker: str = ""
    #: True when this run found the pair finished and did not redo it
    reused: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> PairOutcome:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class OutputTree:
    """The folder of one batch's outputs (layout in the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def pair_dir(self, key: str) -> Path:
        return self.root / "pairs" / key

    def record(self, key: str) -> PairOutcome | None:
        """The stored outcome of a pair, or None when there is none (or it is unreadable)."""
        try:
            return PairOutcome.from_json((self.pair_dir(key) / RECORD_NAME).read_text())
        except (OSError, ValueError, TypeError):
            return None

    def finished(self, task: PairTask, formats: tuple[str, ...]) -> PairOutcome | None:
        """The stored outcome when the pair is finished with these very inputs, else None."""
        stored = self.record(task.key)
        if stored is None or stored.status not in FINAL_STATUSES:
            return None
        if stored.fingerprint != fingerprint(task, formats):
            return None
        if any(not (self.root / output).exists() for output in stored.outputs):
            return None
        return dataclasses.replace(stored, reused=True)

    def write_record(self, outcome: PairOutcome) -> Path:
        """Write ``record.json`` of the pair atomically and return its path."""
        folder = self.pair_dir(outcome.key)
        folder.mkdir(parents=True, exist_ok=True)
        return write_atomically(folder / RECORD_NAME, outcome.to_json().encode())


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
