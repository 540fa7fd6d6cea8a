"""Guards around files: refuse what is not a plain file or declares impossible sizes before any
decoding, and write outputs atomically.

* **Inputs**: a path must be a regular file (pipes, devices and sockets are refused without being
  opened, so a FIFO cannot block and ``/dev/zero`` cannot be read forever) and not empty. Image
  sizes are read from the header (TIFF IFD, NPY header, PNG/JPEG/BMP header, MAT variable list)
  and refused when a side exceeds :data:`~engine.scan.MAX_SIDE` or the sample count exceeds
  :data:`MAX_SAMPLES` = 4 * MAX_SIDE^2, before a single pixel is decoded.
* **Outputs**: :func:`write_atomically` writes a temporary file beside the target and renames it
  into place (``os.replace``, atomic on one file system), so a reader never sees a half-written
  file and a full disk leaves the previous file (or nothing) instead of a partial one. The
  temporary file keeps the target's suffix (writers that choose the format by suffix still work)
  and gets the permissions ``open()`` would give. An output path that is one of the input files
  is refused. Every failure is one sentence (:class:`~engine.errors.OutputPathError`).
"""

from __future__ import annotations

import math
import os
import secrets
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import OutputPathError, ScanReadError
from .scan import MAX_SIDE

#: most samples (pixels times channels) a declared image may hold: a 8192 x 8192 RGBA image
MAX_SAMPLES = 4 * MAX_SIDE * MAX_SIDE


def require_regular_file(path: Path) -> int:
    """The size in bytes of ``path``; :class:`ScanReadError` unless it is a non-empty file."""
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise ScanReadError(f"The file {path} does not exist.") from exc
    except OSError as exc:
        raise ScanReadError(f"{path.name} cannot be opened ({exc.strerror or exc}).") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ScanReadError(f"{path.name} is a folder, not an image file; choose a file.")
    if not stat.S_ISREG(info.st_mode):
        raise ScanReadError(
            f"{path.name} is not a regular file (a pipe, device or socket); choose an image file."
        )
    if info.st_size == 0:
        raise ScanReadError(f"{path.name} is empty (0 bytes); choose the exported image file.")
    return info.st_size


def check_declared_shape(shape: Iterable[int], name: str) -> None:
    """Refuse a header's image shape that no 2-D slice we handle can have (module docstring)."""
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ScanReadError(f"{name} is damaged: its header declares a negative image size.")
    if any(n > MAX_SIDE for n in shape) or math.prod(shape) > MAX_SAMPLES:
        declared = "x".join(str(n) for n in shape)
        raise ScanReadError(
            f"{name} declares a {declared} image, larger than the {MAX_SIDE} x {MAX_SIDE} px this "
            "program handles; crop it to the region of interest."
        )


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one existing file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_atomically(
    path: str | Path, write: Callable[[Path], None], inputs: Iterable[Path | None] = ()
) -> Path:
    """Call ``write(temporary)`` on a new file beside ``path``, then rename it to ``path``.

    ``inputs`` are the files the output was made from; writing over one of them is refused.
    The temporary file is removed whatever happens; on failure ``path`` is left as it was.
    """
    path = Path(path)
    for source in inputs:
        if source is not None and same_file(path, Path(source)):
            raise OutputPathError(
                f"{path.name} is one of the input scans; choose another name for the output."
            )
    if path.is_dir():
        raise OutputPathError(f"{path.name} is a folder; choose a file name for the output.")
    temporary = path.parent / f".{path.stem}.{secrets.token_hex(4)}{path.suffix}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"Cannot write {path.name} ({reason}); check the free space and that the folder "
            "is writable, or choose another folder."
        ) from exc
    finally:
        if temporary.exists():
            temporary.unlink()
    return path
