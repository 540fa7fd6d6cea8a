"""Output paths: checked before any fusion starts, written atomically.

:func:`check_output_path` refuses, with one sentence (:class:`~engine.errors.OutputPathError`):
an unsupported suffix, a missing folder, a folder that cannot be written (probed by creating and
removing a temporary file there), a path that is a folder, a path that is one of the inputs, and
an existing file unless ``overwrite`` is set (``--overwrite`` on the command line; the viewer's
save dialog asks first).

:func:`atomic_write` lets a writer fill a temporary file in the destination folder, then renames
it over the destination with :func:`os.replace` (atomic on one file system), so a reader never
sees half a file and a failed write leaves the old file as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import OutputPathError

#: suffix -> format name; the order is the one the messages list
OUTPUT_FORMATS = {
    ".dcm": "DICOM",
    ".dicom": "DICOM",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".npy": "NumPy",
}
SUPPORTED_TEXT = ".dcm, .png, .tiff or .npy"


def sidecar_path(path: Path) -> Path:
    """The JSON provenance file next to a ``.npy`` output: ``name.npy.json``."""
    return path.with_name(path.name + ".json")


def _probe_writable(folder: Path) -> None:
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".endofuse-probe-")
    except OSError as exc:
        raise OutputPathError(
            f"The folder {folder} cannot be written ({exc.strerror or exc}); choose another one."
        ) from None
    os.close(handle)
    os.unlink(name)


def check_output_path(
    path: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path | None] = ()
) -> Path:
    """Return ``path`` when a fused image can be written there, else raise one sentence."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise OutputPathError(
            f"Cannot write '{suffix or path.name}' files; name the output {SUPPORTED_TEXT}."
        )
    folder = path.parent
    if not folder.is_dir():
        raise OutputPathError(
            f"The folder {folder} does not exist; create it or choose another output."
        )
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; give a file name ending in {suffix}.")
    target = path.resolve()
    for source in inputs:
        if source is not None and Path(source).resolve() == target:
            raise OutputPathError(f"{path} is one of the input scans; choose another output name.")
    if not overwrite:
        for existing in (path, sidecar_path(path)) if suffix == ".npy" else (path,):
            if existing.exists():
                raise OutputPathError(
                    f"{existing} already exists; use --overwrite to replace it."
                )
    _probe_writable(folder)
    return path


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` with a same-suffix file in ``path``'s folder, then rename it
    (:func:`engine.file_safety.write_atomically`)."""
    from ..file_safety import write_atomically

    return write_atomically(path, write)
