"""DICOM: reading MR/US scans into :class:`~engine.scan.Scan`, derived-image export, C-STORE.

Heavy dependencies (pydicom, highdicom, pynetdicom) are imported inside the functions, so
importing this package is cheap.
"""

from .export import DicomExportError, DicomExportOptions, export_derived_dicom
from .read import read_dicom_file
from .send import PacsAddress, PacsError, echo, parse_pacs_address, send_files
from .series import read_dicom, read_dicom_series
from .sources import SourcePatient, write_source_dicom

__all__ = [
    "DicomExportError",
    "DicomExportOptions",
    "PacsAddress",
    "PacsError",
    "SourcePatient",
    "echo",
    "export_derived_dicom",
    "parse_pacs_address",
    "read_dicom",
    "read_dicom_file",
    "read_dicom_series",
    "send_files",
    "write_source_dicom",
]
