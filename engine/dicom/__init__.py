"""DICOM: reading MR/US scans into :class:`~engine.scan.Scan`, derived-image export, C-STORE."""

from .read import read_dicom

__all__ = ["read_dicom"]
