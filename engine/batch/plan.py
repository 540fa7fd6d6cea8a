"""What a batch will do: the pairs to fuse and the inputs it could not pair, before any work.

A batch is read either from a manifest (CSV) or from a folder tree of DICOM files
(:mod:`engine.batch.dicom_tree`). Both give a :class:`BatchPlan`: one :class:`PairTask` per pair,
keyed by a path-safe name that is stable across runs (the manifest's ``id`` column or row number,
or ``STUDY-UID/US-SOP-INSTANCE-UID`` for DICOM), and one :class:`Unpaired` per input left out,
each with the sentence that says why.

Manifest columns (header row required, names case-insensitive):

======== =========================================================================
mri, us  paths of the two scans, relative to the manifest's folder or absolute (required)
d        scale factor; needed when a file does not know its pixel spacing
method   fusion method of this row (default: the command's ``--method``)
image    ``mri`` (the MRI-contrast estimate) or ``us`` (the US-appearance image) to write
         (default: the command's ``--image``)
id       the pair's key in the output tree (default ``row-NNNN``, the 1-based data row)
transform  a registration transform file (``endofuse register``'s JSON) applied to the MRI
other    any other non-empty cell is a parameter of the method (``iterations``, ``tau3``, ...)
======== =========================================================================
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EndoFuseError, ParameterError, ScanReadError
from ..methods import REGISTRY
from ..pipeline import IMAGE_CHOICES

#: columns with a meaning of their own; every other column is a method parameter
MANIFEST_COLUMNS = ("mri", "us", "d", "method", "image", "id", "transform")
#: characters allowed in a key component (everything else becomes "_")
UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class PairingError(EndoFuseError):
    """Two scans cannot be fused as a pair (different patients, no spacing, ambiguous match)."""


@dataclass(frozen=True)
class PairTask:
    """One pair to fuse: inputs, method and parameter overrides, and its key in the output tree."""

    key: str
    mri: Path
    us: Path
    method: str
    d: int | None = None
    #: which image of the fusion the outputs hold: ``mri`` (MRI contrast) or ``us``
    image: str = "mri"
    transform: Path | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    #: where the pair came from, for listings ("manifest row 3", "study 1.2.3")
    origin: str = ""

    @property
    def uses_gpu(self) -> bool:
        """Diffusion methods want a GPU worker; PALM runs anywhere."""
        return self.method.startswith("ddfm")


@dataclass(frozen=True)
class Unpaired:
    """An input the batch leaves out, with the sentence that says why."""

    what: str
    reason: str


@dataclass(frozen=True)
class BatchPlan:
    """Everything a batch will fuse and everything it could not pair."""

    tasks: tuple[PairTask, ...]
    unpaired: tuple[Unpaired, ...] = ()
    source: str = ""

    def listing(self) -> str:
        """The text ``--dry-run`` prints: one line per pair, then one per input left out."""
        lines = [f"{len(self.tasks)} pair(s) to fuse from {self.source}:"]
        for task in self.tasks:
            d = "" if task.d is None else f" d={task.d}"
            lines.append(
                f"  {task.key}: {task.mri} + {task.us} [{task.method}{d}, {task.image} image] "
                f"{task.origin}"
            )
        if self.unpaired:
            lines.append(f"{len(self.unpaired)} input(s) not paired:")
            lines.extend(f"  {item.what}: {item.reason}" for item in self.unpaired)
        return "\n".join(lines)


def safe_key(*parts: str) -> str:
    """A relative path from key components: unsafe characters replaced, no empty parts."""
    cleaned = [UNSAFE_KEY_CHARS.sub("_", part.strip()).strip(".") or "_" for part in parts]
    return "/".join(cleaned)


@dataclass
class _Row:
    """One manifest row being read (cells by lower-case column name)."""

    number: int
    cells: dict[str, str] = field(default_factory=dict)

    def get(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()


def read_manifest(path: str | Path, method: str, image: str = "mri") -> BatchPlan:
    """Read a manifest CSV (see the module docstring); ``method`` and ``image`` are the
    defaults of the rows that do not name theirs.

    A row with a missing file, a bad ``d`` or an unreadable transform is listed as unpaired, not
    fatal; a manifest without the ``mri`` and ``us`` columns, or with a repeated ``id``, is refused.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [name.strip().lower() for name in reader.fieldnames or []]
            rows = [
                _Row(n, {c: v for c, v in zip(columns, raw.values(), strict=False)})
                for n, raw in enumerate(reader, start=1)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScanReadError(f"The manifest {path} cannot be read ({exc}).") from exc
    missing = [c for c in ("mri", "us") if c not in columns]
    if missing:
        raise ParameterError(
            f"The manifest {path.name} has no {' and no '.join(missing)} column; its header must "
            "name at least the columns mri,us."
        )
    tasks, unpaired, keys = [], [], set()
    for row in rows:
        key = safe_key(row.get("id") or f"row-{row.number:04d}")
        if key in keys:
            raise ParameterError(
                f"The manifest {path.name} uses the id '{key}' twice; each row needs its own id."
            )
        keys.add(key)
        try:
            tasks.append(_task_of(row, key, path.parent, method, image))
        except EndoFuseError as exc:
            unpaired.append(Unpaired(f"manifest row {row.number}", str(exc)))
    return BatchPlan(tuple(tasks), tuple(unpaired), source=str(path))


def _task_of(row: _Row, key: str, folder: Path, method: str, image: str) -> PairTask:
    files = {}
    for column in ("mri", "us"):
        text = row.get(column)
        if not text:
            raise ParameterError(f"The {column} cell is empty; give the path of the scan.")
        file = Path(text) if Path(text).is_absolute() else folder / text
        if not file.exists():
            raise ScanReadError(f"The {column} file {file} does not exist.")
        files[column] = file
    d_text = row.get("d")
    if d_text and not d_text.isdigit():
        raise ParameterError(f"The scale factor d must be a whole number, not '{d_text}'.")
    transform = None
    if row.get("transform"):
        from ..geometry.transform import read_transform

        text = row.get("transform")
        transform = Path(text) if Path(text).is_absolute() else folder / text
        read_transform(transform)  # a missing or non-invertible file: one sentence, now
    row_method = row.get("method") or method
    if row_method not in REGISTRY:
        raise ParameterError(
            f"Unknown method '{row_method}'; choose one of {', '.join(REGISTRY)}."
        )
    row_image = row.get("image") or image
    if row_image not in IMAGE_CHOICES:
        raise ParameterError(
            f"The image to write is mri or us, not '{row_image}'."
        )
    overrides = tuple(
        (column, value.strip())
        for column, value in row.cells.items()
        if column not in MANIFEST_COLUMNS and value and value.strip()
    )
    return PairTask(
        key=key,
        mri=files["mri"],
        us=files["us"],
        method=row_method,
        d=int(d_text) if d_text else None,
        image=row_image,
        transform=transform,
        overrides=overrides,
        origin=f"(manifest row {row.number})",
    )


def check_parameters(plan: BatchPlan) -> BatchPlan:
    """Move every pair whose parameters its method refuses (unknown name, value out of range)
    from the tasks to the inputs left out, with the sentence, before anything runs."""
    from ..methods import get_method
    from ..params import params_with_overrides

    tasks, unpaired = [], list(plan.unpaired)
    for task in plan.tasks:
        try:
            params_with_overrides(get_method(task.method).params_type(), dict(task.overrides))
        except EndoFuseError as exc:
            unpaired.append(Unpaired(f"{task.key} {task.origin}".strip(), str(exc)))
        else:
            tasks.append(task)
    return BatchPlan(tuple(tasks), tuple(unpaired), plan.source)
