"""Write an MR or US image as a DICOM file of its own modality (synthetic pairs, demos, tests).

MR files use MR Image Storage with ``PixelSpacing``; US files use Ultrasound Image Storage with
their spacing in one ``SequenceOfUltrasoundRegions`` item covering the whole image
(``PhysicalDeltaX/Y`` in cm, units code 3), which is how scanners calibrate US images. Pixels are
stored as unsigned 16-bit (MR) or 8-bit (US) integers after the linear map
``stored = round((x - min) / (max - min) * top)``; MR keeps ``x`` through RescaleSlope/Intercept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ParameterError

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


@dataclass(frozen=True)
class SourcePatient:
    """Patient and study shared by the files of one synthetic pair."""

    patient_name: str = "PHANTOM^PAIR"
    patient_id: str = "PHANTOM-0001"
    patient_birth_date: str = "19800101"
    patient_sex: str = "F"
    study_instance_uid: str | None = None
    study_id: str = "1"
    study_date: str = "20240102"
    study_time: str = "101500"
    accession_number: str = "ACC0001"
    referring_physician_name: str = "REFERRING^DOCTOR"


def write_source_dicom(
    pixels: np.ndarray,
    path: str | Path,
    modality: str,
    spacing_mm: tuple[float, float],
    patient: SourcePatient | None = None,
    series_number: int = 1,
) -> Path:
    """Write ``pixels`` (2-D, finite, not constant) as an ``MR`` or ``US`` DICOM file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    modality = modality.upper()
    if modality not in ("MR", "US"):
        raise ParameterError(f"Source files are MR or US, not '{modality}'.")
    image = np.asarray(pixels, dtype=np.float64)
    lo, hi = float(image.min()), float(image.max())
    if image.ndim != 2 or not np.all(np.isfinite(image)) or hi <= lo:
        raise ParameterError("A source image must be 2-D, finite and not constant.")
    patient = patient or SourcePatient()
    path = Path(path)

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    sop_class = MR_IMAGE_STORAGE if modality == "MR" else US_IMAGE_STORAGE
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.patient_birth_date
    ds.PatientSex = patient.patient_sex
    ds.StudyInstanceUID = patient.study_instance_uid or generate_uid()
    ds.StudyID = patient.study_id
    ds.StudyDate = patient.study_date
    ds.StudyTime = patient.study_time
    ds.AccessionNumber = patient.accession_number
    ds.ReferringPhysicianName = patient.referring_physician_name
    ds.Modality = modality
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.Manufacturer = "EndoFuse synthetic"
    ds.ContentDate = dt.date.today().strftime("%Y%m%d")
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.BurnedInAnnotation = "NO"  # synthetic pixels carry no text
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = image.shape
    ds.PixelRepresentation = 0
    row_mm, col_mm = (float(s) for s in spacing_mm)
    if modality == "MR":
        top = 4095
        stored = np.round((image - lo) / (hi - lo) * top).astype(np.uint16)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.RescaleSlope = f"{(hi - lo) / top:.10g}"
        ds.RescaleIntercept = f"{lo:.10g}"
        ds.PixelSpacing = [f"{row_mm:.10g}", f"{col_mm:.10g}"]
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
        ds.MRAcquisitionType = "2D"
        ds.FrameOfReferenceUID = generate_uid()
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceThickness = "3"
    else:
        top = 255
        stored = np.round((image - lo) / (hi - lo) * top).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = 1
        region.RegionFlags = 0
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
        region.RegionLocationMaxX1 = image.shape[1] - 1
        region.RegionLocationMaxY1 = image.shape[0] - 1
        region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX = col_mm / 10.0
        region.PhysicalDeltaY = row_mm / 10.0
        ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = stored.tobytes()

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
