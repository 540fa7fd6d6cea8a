"""Export a fused image as a DICOM derived image (Secondary Capture Image Storage).

Why single-frame Secondary Capture (SOP class 1.2.840.10008.5.1.4.1.1.7), built with highdicom:
the fused image is one 2-D plane without a patient coordinate system of its own (ultrasound has
none), every PACS and viewer displays this SOP class, and its Modality LUT module lets the 16-bit
stored values carry the float intensities. The multi-frame grayscale word SC class would add
nothing for one frame and is less widely supported.

Pixel encoding (``x`` the fused float image, ``lo``/``hi`` its minimum and maximum)::

    stored = round((x - lo) / (hi - lo) * 65535)      uint16, MONOCHROME2
    x'     = RescaleSlope * stored + RescaleIntercept  slope = (hi - lo) / 65535, intercept = lo

so a reader that applies the modality LUT gets ``|x' - x| <= slope / 2`` (plus the 16-character
decimal string rounding of slope and intercept, below 1e-9 relative).

What the file says about where it came from:

* new SOP Instance and Series Instance UIDs; Patient and Study modules copied from the US source
  when it is DICOM, else from the MRI source when that is DICOM, else created fresh (new Study
  Instance UID, empty patient name and ID);
* ImageType ``DERIVED\\SECONDARY``, ConversionType ``WSD`` (workstation), Burned In Annotation
  ``NO``, Pixel Spacing of the US grid, Window Center/Width (by default the full intensity range);
* DerivationDescription (VR ST, at most 1024 characters): a one-paragraph summary of method,
  parameters, weights sha256, seed and software version. When the summary is longer it is cut and
  ends with ``[...] full provenance in ImageComments``; ImageComments (VR LT, at most 10240
  characters) always holds the complete provenance as JSON;
* SourceImageSequence: one item per DICOM source (MRI first, then US) with its SOP Class/Instance
  UIDs, the frame used when the source is multi-frame, and purpose of reference
  (121322, DCM, "Source image for image processing operation"). A non-DICOM source (PNG, NPY,
  ...) has no item; its file name is named in the DerivationDescription.

Anonymisation (``DicomExportOptions.anonymise``), a small subset of the PS3.15 basic profile:
patient name and ID replaced, birth date, accession number, referring physician, study ID and
other identifying study text removed, every date shifted by ``date_shift_days`` (or removed when it
is None), the Study Instance UID replaced by one derived from the original (so two exports of one
study stay in one anonymous study), PatientIdentityRemoved ``YES`` with the method described, and
the source references left out unless ``keep_source_references`` is set (they would link the file
back to the identified originals).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EndoFuseError, InvalidImageError
from ..fusion import FusionResult
from ..scan import Scan

#: maximal lengths of the value representations used for provenance (PS3.5 table 6.2-1)
ST_MAX = 1024
LT_MAX = 10240
#: highest stored value of the 16-bit encoding
STORED_MAX = 65535
#: purpose of reference of both sources (CID 7202)
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
TRUNCATION_MARK = " [...] full provenance in ImageComments"


class DicomExportError(EndoFuseError):
    """The derived DICOM file could not be written."""


@dataclass(frozen=True)
class DicomExportOptions:
    """Choices of the user for one DICOM export (defaults: keep identity, full-range window)."""

    anonymise: bool = False
    #: replacement patient name and ID when anonymising
    anonymous_patient_name: str = "ANONYMOUS^PATIENT"
    anonymous_patient_id: str = "ANON"
    #: when anonymising: shift every date by this many days, or None to remove the dates
    date_shift_days: int | None = None
    #: when anonymising: still reference the identified source images
    keep_source_references: bool = False
    series_description: str = "EndoFuse MRI/US fusion"
    series_number: int = 901
    instance_number: int = 1
    manufacturer: str = "EndoFuse"
    #: (centre, width) in the fused image's units; None uses the full range [lo, hi]
    window: tuple[float, float] | None = None


@dataclass(frozen=True)
class _Quantised:
    stored: np.ndarray
    slope: float
    intercept: float
    lo: float
    hi: float


def quantise(image: np.ndarray) -> _Quantised:
    """16-bit stored values and the rescale that maps them back (module docstring).

    Slope and intercept are first rounded to what a decimal string (VR DS) holds, with the
    intercept at or below ``lo`` and ``slope * 65535 + intercept`` at or above ``hi``; the stored
    values are then computed from these rounded numbers, so the half-step bound holds for what
    a reader actually gets back.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise InvalidImageError(
            f"The fused image has shape {image.shape}; a 2-D image is needed for DICOM export."
        )
    if not np.all(np.isfinite(image)):
        raise InvalidImageError(
            "The fused image contains values that are not numbers (NaN or infinite); "
            "run the fusion again before exporting."
        )
    lo, hi = float(image.min()), float(image.max())
    intercept = _ds_value(lo)
    nudge = 1e-9 * max(abs(lo), np.finfo(float).tiny)
    while intercept > lo:
        intercept, nudge = _ds_value(lo - nudge), 2 * nudge
    if hi > lo:
        slope = _ds_value((hi - intercept) / STORED_MAX)
        while slope * STORED_MAX + intercept < hi:
            slope = _ds_value(slope * (1 + 1e-9))
        stored = np.clip(np.round((image - intercept) / slope), 0, STORED_MAX)
    else:
        slope = 1.0
        stored = np.round(image - intercept)
    return _Quantised(stored.astype(np.uint16), slope, intercept, lo, hi)


def _ds_value(value: float) -> float:
    """The float that a 16-character decimal string (VR DS) can hold closest to ``value``."""
    from pydicom.valuerep import format_number_as_ds

    return float(format_number_as_ds(float(value)))


def _ds_text(value: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


# ------------------------------------------------------------------------------ provenance


def provenance_record(result: FusionResult, mri: Scan, us: Scan) -> dict[str, str]:
    """Complete provenance: the result's own record plus the names of both sources."""
    record = dict(result.provenance())
    record["mri-source"] = _source_label(mri)
    record["us-source"] = _source_label(us)
    return record


def _source_label(scan: Scan) -> str:
    uid = scan.info.sop_instance_uid if scan.dataset is not None else None
    label = scan.name if uid is None else f"{scan.name} (SOP Instance UID {uid})"
    if scan.info.frame_count > 1:
        label += f", frame {scan.info.frame_index} of {scan.info.frame_count}"
    return label


def derivation_description(record: dict[str, str]) -> str:
    """One-paragraph summary for DerivationDescription, at most 1024 characters (VR ST)."""
    text = (
        f"{record.get('software', 'EndoFuse')} fusion of MRI {record['mri-source']} and US "
        f"{record['us-source']}; method {record.get('method')}; seed {record.get('seed')}; "
        f"weights {record.get('weights')}; device {record.get('device')}; "
        f"parameters {record.get('parameters')}"
    )
    if record.get("notes"):
        text += f"; notes {record['notes']}"
    return _fit(text, ST_MAX)


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


# ---------------------------------------------------------------------- identity and dates


@dataclass(frozen=True)
class _Identity:
    """Patient and Study module values of the export."""

    patient_name: str | None
    patient_id: str | None
    patient_birth_date: str | None
    patient_sex: str | None
    study_instance_uid: str
    study_id: str | None
    study_date: str | None
    study_time: str | None
    study_description: str | None
    accession_number: str | None
    referring_physician_name: str | None


def _identity_source(mri: Scan, us: Scan) -> Scan | None:
    for scan in (us, mri):
        if scan.dataset is not None and scan.info.study_instance_uid:
            return scan
    return None


def _identity(mri: Scan, us: Scan) -> _Identity:
    from pydicom.uid import generate_uid

    source = _identity_source(mri, us)
    if source is None:
        return _Identity(None, None, None, None, generate_uid(), None, None, None, None, None, None)
    info = source.info
    return _Identity(
        patient_name=info.patient_name,
        patient_id=info.patient_id,
        patient_birth_date=_valid_date(info.patient_birth_date),
        patient_sex=info.patient_sex if info.patient_sex in ("M", "F", "O") else None,
        study_instance_uid=info.study_instance_uid,
        study_id=info.study_id,
        study_date=_valid_date(info.study_date),
        study_time=_valid_time(info.study_time),
        study_description=info.study_description,
        accession_number=info.accession_number,
        referring_physician_name=info.referring_physician_name,
    )


def _valid_date(value: str | None) -> str | None:
    """A DICOM date YYYYMMDD, or None for anything else (a malformed source value is dropped)."""
    if value is None or not re.fullmatch(r"\d{8}", value.strip()):
        return None
    try:
        dt.datetime.strptime(value.strip(), "%Y%m%d")
    except ValueError:
        return None
    return value.strip()


def _valid_time(value: str | None) -> str | None:
    """A DICOM time HH[MM[SS[.FFFFFF]]], or None."""
    if value is None:
        return None
    value = value.strip()
    pattern = r"([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?"
    return value if re.fullmatch(pattern, value) else None


def shift_date(value: str | None, days: int | None) -> str | None:
    """DICOM date (YYYYMMDD) moved by ``days``; None when ``days`` is None or unparsable."""
    if value is None or days is None:
        return None
    try:
        date = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return (date + dt.timedelta(days=days)).strftime("%Y%m%d")


def _anonymised(identity: _Identity, options: DicomExportOptions) -> _Identity:
    from pydicom.uid import generate_uid

    return _Identity(
        patient_name=options.anonymous_patient_name,
        patient_id=options.anonymous_patient_id,
        patient_birth_date=None,
        patient_sex=identity.patient_sex,
        study_instance_uid=generate_uid(
            entropy_srcs=["endofuse-anonymous-study", identity.study_instance_uid]
        ),
        study_id=None,
        study_date=shift_date(identity.study_date, options.date_shift_days),
        study_time=identity.study_time if options.date_shift_days is not None else None,
        study_description=None,
        accession_number=None,
        referring_physician_name=None,
    )


# ----------------------------------------------------------------------------------- build


def _source_item(scan: Scan):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = scan.info.sop_class_uid
    item.ReferencedSOPInstanceUID = scan.info.sop_instance_uid
    frames = int(scan.dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        item.ReferencedFrameNumber = scan.info.frame_index + 1
    purpose = Dataset()
    purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning = SOURCE_PURPOSE
    item.PurposeOfReferenceCodeSequence = [purpose]
    return item


def _referenced_sources(mri: Scan, us: Scan) -> list[Scan]:
    return [
        scan
        for scan in (mri, us)
        if scan.dataset is not None and scan.info.sop_class_uid and scan.info.sop_instance_uid
    ]


def _output_spacing(us: Scan, shape: tuple[int, int]) -> tuple[float, float] | None:
    """US pixel spacing, scaled when the fused grid differs from the US grid."""
    if us.info.pixel_spacing_mm is None:
        return None
    (rs, cs), (uh, uw) = us.info.pixel_spacing_mm, us.shape
    return rs * uh / shape[0], cs * uw / shape[1]


def _sc_image(q: _Quantised, identity: _Identity, options: DicomExportOptions, us: Scan):
    """highdicom's Secondary Capture with the pixels and the Patient/Study modules."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    return hd.sc.SCImage(
        pixel_array=q.stored,
        photometric_interpretation="MONOCHROME2",
        bits_allocated=16,
        coordinate_system="PATIENT",
        # highdicom needs an orientation for the PATIENT system; build_derived_dataset replaces
        # it by the US source's own (or empty, Type 2C): the fused plane has the US geometry.
        patient_orientation=("L", "F"),
        study_instance_uid=identity.study_instance_uid,
        series_instance_uid=generate_uid(),
        series_number=options.series_number,
        sop_instance_uid=generate_uid(),
        instance_number=options.instance_number,
        manufacturer=options.manufacturer,
        patient_id=identity.patient_id,
        patient_name=identity.patient_name,
        patient_birth_date=identity.patient_birth_date,
        patient_sex=identity.patient_sex,
        accession_number=identity.accession_number,
        study_id=identity.study_id,
        study_date=identity.study_date,
        study_time=identity.study_time,
        referring_physician_name=identity.referring_physician_name,
        pixel_spacing=_output_spacing(us, q.stored.shape),
        specific_character_set="ISO_IR 192",
    )


def build_derived_dataset(
    result: FusionResult, mri: Scan, us: Scan, options: DicomExportOptions | None = None
):
    """The Secondary Capture dataset of ``result.fused`` (see the module docstring)."""
    options = options or DicomExportOptions()
    q = quantise(result.fused)
    identity = _identity(mri, us)
    if options.anonymise:
        identity = _anonymised(identity, options)
    record = provenance_record(result, mri, us)
    now = dt.datetime.now()
    shift = options.date_shift_days if options.anonymise else 0

    try:
        with warnings.catch_warnings():
            # highdicom warns about single-component person names copied from the sources
            warnings.simplefilter("ignore", UserWarning)
            image = _sc_image(q, identity, options, us)
    except (ValueError, TypeError) as exc:
        raise DicomExportError(
            f"The DICOM image could not be built from the source identity ({exc}); export with "
            "anonymisation or as PNG/TIFF instead."
        ) from exc
    orientation = us.dataset.get("PatientOrientation") if us.dataset is not None else None
    image.PatientOrientation = list(orientation) if orientation and len(orientation) == 2 else ""
    laterality = us.dataset.get("Laterality") if us.dataset is not None else None
    image.Laterality = laterality if laterality in ("R", "L") else ""
    if identity.study_description:
        image.StudyDescription = identity.study_description
    image.SeriesDescription = options.series_description
    image.ImageType = ["DERIVED", "SECONDARY"]
    image.ConversionType = "WSD"
    image.BurnedInAnnotation = "NO"
    image.SoftwareVersions = record["software"]
    image.RescaleIntercept = _ds_text(q.intercept)
    image.RescaleSlope = _ds_text(q.slope)
    image.RescaleType = "US"
    centre, width = options.window or ((q.lo + q.hi) / 2, max(q.hi - q.lo, q.slope))
    image.WindowCenter = _ds_text(centre)
    image.WindowWidth = _ds_text(max(width, 1e-12))
    image.VOILUTFunction = "LINEAR_EXACT"
    image.WindowCenterWidthExplanation = (
        "full range of the fused image" if options.window is None else "chosen by the user"
    )
    image.DerivationDescription = derivation_description(record)
    image.ImageComments = _fit(json.dumps(record, sort_keys=True), LT_MAX)
    sources = _referenced_sources(mri, us)
    if sources and (not options.anonymise or options.keep_source_references):
        image.SourceImageSequence = [_source_item(scan) for scan in sources]
    _set_dates(image, now, shift)
    if options.anonymise:
        image.PatientIdentityRemoved = "YES"
        dates = (
            "dates removed"
            if options.date_shift_days is None
            else f"dates shifted {options.date_shift_days:+d} days"
        )
        image.DeidentificationMethod = f"EndoFuse: name, ID, study text replaced; {dates}"[:64]
        image.LongitudinalTemporalInformationModified = (
            "REMOVED" if options.date_shift_days is None else "MODIFIED"
        )
    return image


#: (date, time) attributes of the derived image's own creation; the first is Type 2C
CREATION_DATES = (
    ("ContentDate", "ContentTime"),
    ("SeriesDate", "SeriesTime"),
    ("InstanceCreationDate", "InstanceCreationTime"),
    ("DateOfSecondaryCapture", "TimeOfSecondaryCapture"),
)


def _set_dates(image, now: dt.datetime, shift: int | None) -> None:
    """Creation dates of the derived image: today, or today shifted by ``shift`` days.

    ``shift`` None (anonymisation without a shift) removes them: the Type 2C content date and
    time are emptied, the optional ones deleted.
    """
    date = shift_date(now.strftime("%Y%m%d"), shift)
    time = now.strftime("%H%M%S")
    for index, (date_keyword, time_keyword) in enumerate(CREATION_DATES):
        if date is not None:
            if index == 0 or date_keyword in image:
                setattr(image, date_keyword, date)
                setattr(image, time_keyword, time)
        elif index == 0:
            image.ContentDate, image.ContentTime = "", ""
        else:
            for keyword in (date_keyword, time_keyword):
                if keyword in image:
                    delattr(image, keyword)


def export_derived_dicom(
    result: FusionResult,
    mri: Scan,
    us: Scan,
    out_path: str | Path,
    options: DicomExportOptions | None = None,
) -> Path:
    """Write ``result.fused`` as a DICOM Secondary Capture derived image; return its path."""
    out_path = Path(out_path)
    dataset = build_derived_dataset(result, mri, us, options)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(out_path, enforce_file_format=True)
    except OSError as exc:
        raise DicomExportError(
            f"Cannot write {out_path} ({exc.strerror or exc}); choose a folder you can write to."
        ) from exc
    return out_path
