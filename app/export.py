"""Exports: the fused image (DICOM via the engine, PNG/TIFF/NPY), the current view, the clipboard.

Every export carries provenance: DICOM through the engine's derived-image exporter, PNG/TIFF
through :func:`engine.io.save_image` text metadata, NPY through a JSON side file
(``name.npy.json``), view PNGs as PNG text chunks, the clipboard as image plus a text part.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QWidget

from engine.errors import ScanReadError
from engine.io import save_image
from engine.scan import Scan

from .results import ResultRecord

FUSED_FILTERS = (
    "DICOM derived image (*.dcm);;PNG (*.png);;TIFF float32 (*.tif *.tiff);;NumPy (*.npy)"
)


def dicom_available() -> bool:
    try:
        from engine.dicom import export_derived_dicom  # noqa: F401
    except ImportError:
        return False
    return True


def export_fused(
    record: ResultRecord,
    path: str | Path,
    mri: Scan | None,
    us: Scan | None,
    anonymise: bool = True,
) -> Path:
    """Write ``record``'s fused image; the format follows the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".dcm", ".dicom"):
        if not dicom_available():
            raise ScanReadError(
                "DICOM export is not available in this build; export PNG, TIFF or NPY instead."
            )
        from engine.dicom import DicomExportOptions, export_derived_dicom

        written = export_derived_dicom(
            record.result, mri, us, path, options=DicomExportOptions(anonymise=anonymise)
        )
        return Path(written) if written is not None else path
    provenance = record.provenance()
    written = save_image(path, record.result.fused, provenance)
    if suffix == ".npy":
        side = written.with_name(written.name + ".json")
        side.write_text(json.dumps(provenance, indent=2, sort_keys=True))
    return written


def grab_view(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def export_view_png(widget: QWidget, path: str | Path, provenance: dict[str, str]) -> Path:
    """Save what ``widget`` shows as PNG with the provenance as text chunks."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    image = grab_view(widget)
    for key, value in provenance.items():
        image.setText(key, str(value))
    if not image.save(str(path), "PNG"):
        raise ScanReadError(
            f"Could not write {path}; check that the folder exists and is writable."
        )
    return path


def copy_view_to_clipboard(widget: QWidget, provenance: dict[str, str]) -> None:
    """Put the view on the clipboard as an image, with the provenance as the text part."""
    data = QMimeData()
    data.setImageData(grab_view(widget))
    data.setText(json.dumps(provenance, sort_keys=True))
    QGuiApplication.clipboard().setMimeData(data)


def release_clipboard() -> None:
    """On the display-less platforms (offscreen, minimal) an image left on the clipboard crashes
    the process when the application is destroyed; clear it there. Real desktops keep it."""
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        clipboard = QGuiApplication.clipboard()
        if clipboard.mimeData() is not None and clipboard.mimeData().hasImage():
            clipboard.clear()
