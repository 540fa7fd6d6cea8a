"""Read a DICOM file or a series folder: the entry point of :mod:`engine.dicom` reading.

A series folder holds the single-frame files of one series; they are ordered by position along
the slice normal (``ImagePositionPatient`` . normal of ``ImageOrientationPatient``), else by
``InstanceNumber``, else by file name, and ``frame`` picks the slice (default the middle one).
One file is read by :func:`engine.dicom.read.read_dicom_file`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ScanReadError
from ..scan import Scan
from .read import (
    MEDIA_STORAGE_DIRECTORY,
    choose_frame,
    header_int,
    header_text,
    header_value,
    parse_dataset,
    read_dicom_file,
)

#: most files a series folder may hold (a larger folder is not a single series of slices)
MAX_SERIES_FILES = 4096


@dataclass(frozen=True)
class _SliceEntry:
    """One image file of a series folder, with what sorting needs."""

    path: Path
    series_uid: str
    series_label: str
    frames: int
    position: float | None
    instance_number: int | None


def read_dicom(path: str | Path, frame: int | None = None) -> Scan:
    """Read a DICOM file or a folder holding one series; ``frame`` is 0-based (default middle)."""
    path = Path(path)
    if not path.exists():
        raise ScanReadError(f"The file {path} does not exist.")
    if path.is_dir():
        return read_dicom_series(path, slice_index=frame)
    return read_dicom_file(path, frame=frame)



def _slice_entry(path: Path) -> _SliceEntry | None:
    """Sorting keys of one file of a folder, or None when it is not a DICOM image."""
    try:
        ds = parse_dataset(path, stop_before_pixels=True)
    except ScanReadError:
        return None
    if header_text(ds, "SOPClassUID") == MEDIA_STORAGE_DIRECTORY or "Rows" not in ds:
        return None
    series_uid = header_text(ds, "SeriesInstanceUID") or "(no series UID)"
    label = header_text(ds, "SeriesDescription") or header_text(ds, "SeriesNumber") or series_uid
    return _SliceEntry(
        path=path,
        series_uid=series_uid,
        series_label=label,
        frames=header_int(ds, "NumberOfFrames", 1) or 1,
        position=_slice_position(ds),
        instance_number=header_int(ds, "InstanceNumber"),
    )


def _slice_position(ds) -> float | None:
    """Distance of the slice along its normal: ImagePositionPatient . (row x column)."""
    try:
        position = [float(v) for v in header_value(ds, "ImagePositionPatient")]
        cosines = [float(v) for v in header_value(ds, "ImageOrientationPatient")]
    except (TypeError, ValueError):
        return None
    if len(position) != 3 or len(cosines) != 6:
        return None
    normal = np.cross(cosines[:3], cosines[3:])
    value = float(np.dot(normal, position))
    return value if math.isfinite(value) else None


def _sorted_slices(entries: list[_SliceEntry]) -> list[_SliceEntry]:
    if all(e.position is not None for e in entries):
        return sorted(entries, key=lambda e: (e.position, e.path.name))
    if all(e.instance_number is not None for e in entries):
        return sorted(entries, key=lambda e: (e.instance_number, e.path.name))
    return sorted(entries, key=lambda e: e.path.name)


def read_dicom_series(folder: str | Path, slice_index: int | None = None) -> Scan:
    """Read one slice of the series stored in ``folder`` (default the middle slice).

    A folder with one image file (possibly multi-frame) reads that file with
    ``frame = slice_index``. Several series, or several multi-frame files, are refused with a
    sentence naming them, since the choice belongs to the user.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > MAX_SERIES_FILES:
        raise ScanReadError(
            f"The folder {folder.name} holds {len(files)} files, more than one series of "
            f"slices (at most {MAX_SERIES_FILES}); open the folder of a single series."
        )
    entries = [e for e in (_slice_entry(p) for p in files) if e is not None]
    if not entries:
        raise ScanReadError(
            f"The folder {folder.name} contains no DICOM image; choose the folder of an MR or "
            "ultrasound series, or a single image file."
        )
    series = sorted({e.series_uid: e.series_label for e in entries}.items())
    if len(series) > 1:
        labels = ", ".join(label for _, label in series[:5])
        raise ScanReadError(
            f"The folder {folder.name} holds {len(series)} series ({labels}); open the folder of "
            "one series or one of its files."
        )
    if len(entries) == 1:
        return read_dicom_file(entries[0].path, frame=slice_index)
    if any(e.frames > 1 for e in entries):
        raise ScanReadError(
            f"The folder {folder.name} holds {len(entries)} multi-frame files; open one of them."
        )
    ordered = _sorted_slices(entries)
    index = choose_frame(len(ordered), slice_index, f"The series in {folder.name}", "slice")
    scan = read_dicom_file(ordered[index].path)
    notes = dict(scan.info.notes, series_folder=str(folder), slice=f"{index} of {len(ordered)}")
    info = replace(scan.info, frame_count=len(ordered), frame_index=index, notes=notes)
    return replace(scan, info=info)
