"""Exports: the fused image (through :func:`engine.pipeline.export`), the view, the clipboard.

Every export carries provenance: the fused image as the pipeline writes it (DICOM derived image,
PNG/TIFF text metadata, NPY with a JSON side file), view PNGs as PNG text chunks, the clipboard as
image plus a text part.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QWidget

from engine.errors import ScanReadError
from engine.pipeline import FusionRecord

FUSED_FILTERS = (
    "DICOM derived image (*.dcm);;PNG (*.png);;TIFF float32 (*.tif *.tiff);;NumPy (*.npy)"
)


def export_fused(
    record: FusionRecord, path: str | Path, which: str | None = None, anonymise: bool = True,
    dicom_options=None, measurements: tuple[str, ...] = (),
) -> Path:
    """Write ``record``'s image (``which``: "mri" or "us") with :func:`engine.pipeline.export`.

    The identity and references are the record's own sources; ``dicom_options``
    (:class:`engine.dicom.DicomExportOptions`) refines a DICOM export; ``measurements`` (text
    lines) go into the provenance. An existing file is replaced: the save dialog has asked the
    user already.
    """
    from engine.pipeline import export

    return export(record, path, which=which, overwrite=True, anonymise=anonymise,
                  dicom_options=dicom_options, measurements=measurements)


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
