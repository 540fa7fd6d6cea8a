"""Export a fused image as a DICOM derived image (Secondary Capture Image Storage).

Why single-frame Secondary Capture (SOP class 1.2.840.10008.5.1.4.1.1.7), built with highdicom:
the fused image is one 2-D plane without a patient coordinate system of its own (ultrasound has
none), every PACS and viewer displays this SOP class, and its Modality LUT module lets the 16-bit
stored values carry the float intensities. The multi-frame grayscale word SC class would add
nothing for one frame and is less widely supported.

Pixels: 16-bit stored values with the rescale that restores the float intensities within half
a step (:mod:`engine.dicom.quantise`).

What the file says about where it came from:

* new SOP Instance and Series Instance UIDs; Patient and Study modules copied from the US source
  when it is DICOM, else from the MRI source when that is DICOM, else created fresh (new Study
  Instance UID, empty patient name and ID);
* ImageType ``DERIVED\\SECONDARY``, ConversionType ``WSD`` (workstation), Burned In Annotation
  from the sources (:mod:`engine.dicom.burned_in`), Pixel Spacing of the US grid, Window
  Center/Width (by default the full intensity range);
* DerivationDescription (VR ST, at most 1024 characters): a one-paragraph summary of method,
  parameters, weights sha256, seed and software version. When the summary is longer it is cut and
  ends with ``[...] full provenance in ImageComments``; ImageComments (VR LT, at most 10240
  characters) always holds the complete provenance as JSON;
* SourceImageSequence: one item per DICOM source (MRI first, then US) with its SOP Class/Instance
  UIDs, the frame used when the source is multi-frame, and purpose of reference
  (121322, DCM, "Source image for image processing operation"). A non-DICOM source (PNG, NPY,
  ...) has no item; its file name (and the .mat variable used) is named in the
  DerivationDescription.

Anonymisation (``DicomExportOptions.anonymise``) follows the PS3.15 Basic Application Level
Confidentiality Profile (:mod:`engine.dicom.deidentify`): patient name and ID replaced by the
patient's pseudonym (kept in the user's pseudonym file), birth date, sex, accession number,
referring physician, study ID, study description and every time removed, every date shifted by
``date_shift_days`` (the Retain Longitudinal Temporal Information Modified Dates Option) or removed
when it is None, the Study Instance UID replaced by a keyed hash of the original, the Contribution
DateTime removed, the sources named in the provenance only by remapped UIDs or keyed hashes, the
source references left out unless ``keep_source_references`` is set (then with remapped UIDs), and
the De-identification Method (Code Sequence) recorded. PatientIdentityRemoved is ``YES`` only when
no burned-in text can remain: the sources say so, or ``blank_outside_region`` blanked everything
outside the US image region (or the user's ``region``); otherwise it is ``NO``.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EndoFuseError
from ..fusion import FusionResult
from ..scan import Scan
from .burned_in import Box, blank_outside, burned_in_annotation, us_region_boxes
from .deidentify import Pseudonyms, anonymous_source_label, method_code_sequence, method_codes
from .identity import Identity, anonymised_identity, shift_date, source_identity
from .quantise import Quantised, ds_text, quantise

#: maximal lengths of the value representations used for provenance (PS3.5 table 6.2-1)
ST_MAX = 1024
LT_MAX = 10240
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
    #: when anonymising: the user's local file of pseudonyms and UID key (None: fresh for this
    #: export, so two exports of one patient do not share a pseudonym)
    pseudonym_file: Path | None = None
    #: when anonymising: shift every date by this many days, or None to remove the dates
    date_shift_days: int | None = None
    #: when anonymising: still reference the source images (by their remapped UIDs)
    keep_source_references: bool = False
    #: blank every pixel outside the US image region (US regions of the source, or ``region``)
    blank_outside_region: bool = False
    #: the user's region of interest on the fused grid (row0, col0, row1, col1), ends exclusive
    region: Box | None = None
    series_description: str = "EndoFuse MRI/US fusion"
    series_number: int = 901
    instance_number: int = 1
    manufacturer: str = "EndoFuse"
    #: (centre, width) in the fused image's units; None uses the full range [lo, hi]
    window: tuple[float, float] | None = None


# ------------------------------------------------------------------------------ provenance


def provenance_record(
    result: FusionResult, mri: Scan, us: Scan, pseudonyms: Pseudonyms | None = None
) -> dict[str, str]:
    """Complete provenance: the result's own record plus the names of both sources.

    With ``pseudonyms`` (anonymised export) the sources are named only by remapped UIDs or
    keyed hashes (:func:`engine.dicom.deidentify.anonymous_source_label`).
    """
    record = dict(result.provenance())
    for key, scan in (("mri-source", mri), ("us-source", us)):
        record[key] = (_source_label(scan) if pseudonyms is None
                       else anonymous_source_label(scan, pseudonyms))
    return record


def _source_label(scan: Scan) -> str:
    uid = scan.info.sop_instance_uid if scan.dataset is not None else None
    label = scan.name if uid is None else f"{scan.name} (SOP Instance UID {uid})"
    if scan.info.notes.get("variable"):
        label += f", variable {scan.info.notes['variable']}"
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


# ----------------------------------------------------------------------------------- build


def _source_item(scan: Scan, pseudonyms: Pseudonyms | None):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = scan.info.sop_class_uid
    uid = scan.info.sop_instance_uid
    item.ReferencedSOPInstanceUID = uid if pseudonyms is None else pseudonyms.uid(uid)
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


def _sc_image(q: Quantised, identity: Identity, options: DicomExportOptions, us: Scan):
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


def check_export_options(options: DicomExportOptions, us: Scan) -> None:
    """Refuse, before any work, what the export could not do: blanking without a known region."""
    if options.blank_outside_region and not options.region and not us_region_boxes(us, us.shape):
        raise DicomExportError(
            "The ultrasound image region is not known (the US file has no ultrasound regions); "
            "draw a region of interest before exporting with everything outside it blanked."
        )


def _fused_pixels(
    result: FusionResult, us: Scan, options: DicomExportOptions
) -> tuple[np.ndarray, bool]:
    """The fused image, blanked outside the US image region when asked; whether it was."""
    if not options.blank_outside_region:
        return result.fused, False
    check_export_options(options, us)
    fused = np.asarray(result.fused)
    boxes = [options.region] if options.region else us_region_boxes(us, fused.shape[:2])
    return blank_outside(fused, boxes), True


def build_derived_dataset(
    result: FusionResult,
    mri: Scan,
    us: Scan,
    options: DicomExportOptions | None = None,
    pseudonyms: Pseudonyms | None = None,
):
    """The Secondary Capture dataset of ``result.fused`` (see the module docstring).

    ``pseudonyms`` (anonymised exports only) defaults to a fresh key and map for this export.
    """
    options = options or DicomExportOptions()
    fused, blanked = _fused_pixels(result, us, options)
    q = quantise(fused)
    identity = source_identity(mri, us)
    if options.anonymise:
        pseudonyms = pseudonyms or Pseudonyms.ephemeral()
        identity = anonymised_identity(identity, options.date_shift_days, pseudonyms)
    else:
        pseudonyms = None
    record = provenance_record(result, mri, us, pseudonyms)
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
    burned_in = "NO" if blanked else burned_in_annotation(mri, us)
    image.BurnedInAnnotation = burned_in
    image.SoftwareVersions = record["software"]
    image.RescaleIntercept = ds_text(q.intercept)
    image.RescaleSlope = ds_text(q.slope)
    image.RescaleType = "US"
    centre, width = options.window or ((q.lo + q.hi) / 2, max(q.hi - q.lo, q.slope))
    image.WindowCenter = ds_text(centre)
    image.WindowWidth = ds_text(max(width, 1e-12))
    image.VOILUTFunction = "LINEAR_EXACT"
    image.WindowCenterWidthExplanation = (
        "full range of the fused image" if options.window is None else "chosen by the user"
    )
    image.DerivationDescription = derivation_description(record)
    image.ImageComments = _fit(json.dumps(record, sort_keys=True), LT_MAX)
    sources = _referenced_sources(mri, us)
    if sources and (not options.anonymise or options.keep_source_references):
        image.SourceImageSequence = [_source_item(scan, pseudonyms) for scan in sources]
    _set_dates(image, now, shift, keep_times=not options.anonymise)
    if options.anonymise:
        _mark_deidentified(image, options, burned_in, blanked)
    return image


def _mark_deidentified(image, options: DicomExportOptions, burned_in: str, blanked: bool):
    """Patient Identity Removed (only when no burned-in text can remain) and the method used."""
    for item in image.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            del item.ContributionDateTime
    shifted = options.date_shift_days is not None
    image.PatientIdentityRemoved = "YES" if burned_in == "NO" else "NO"
    dates = "dates removed" if not shifted else "dates shifted"
    pixels = "outside US region blanked" if blanked else (
        "no burned-in text" if burned_in == "NO" else "burned-in text may remain")
    image.DeidentificationMethod = f"PS3.15 basic profile; {dates}; {pixels}"[:64]
    image.DeidentificationMethodCodeSequence = method_code_sequence(
        method_codes(dates_shifted=shifted, pixels_cleaned=blanked)
    )
    image.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"


#: (date, time) attributes of the derived image's own creation; the first is Type 2C
CREATION_DATES = (
    ("ContentDate", "ContentTime"),
    ("SeriesDate", "SeriesTime"),
    ("InstanceCreationDate", "InstanceCreationTime"),
    ("DateOfSecondaryCapture", "TimeOfSecondaryCapture"),
)


def _set_dates(image, now: dt.datetime, shift: int | None, keep_times: bool = True) -> None:
    """Creation dates of the derived image: today, or today shifted by ``shift`` days.

    ``shift`` None (anonymisation without a shift) removes them: the Type 2C content date is
    emptied, the optional ones deleted. Without ``keep_times`` the content time is emptied and
    the optional dates and times deleted (an anonymised export keeps only the shifted date).
    """
    date = shift_date(now.strftime("%Y%m%d"), shift)
    time = now.strftime("%H%M%S") if keep_times else ""
    for index, (date_keyword, time_keyword) in enumerate(CREATION_DATES):
        if index == 0:
            image.ContentDate, image.ContentTime = date or "", time if date else ""
        elif date is not None and keep_times and date_keyword in image:
            setattr(image, date_keyword, date)
            setattr(image, time_keyword, time)
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
    """Write ``result.fused`` as a DICOM Secondary Capture derived image; return its path.

    The file is written atomically and never over one of the source files; an anonymised export
    with a pseudonym file records a new patient's pseudonym in it before the image is written.
    """
    from ..errors import OutputPathError
    from ..file_safety import write_atomically

    options = options or DicomExportOptions()
    pseudonyms = None
    if options.anonymise:
        pseudonyms = (Pseudonyms.load(options.pseudonym_file) if options.pseudonym_file
                      else Pseudonyms.ephemeral())
    dataset = build_derived_dataset(result, mri, us, options, pseudonyms)
    if pseudonyms is not None:
        pseudonyms.save()
    try:
        return write_atomically(
            out_path, lambda temporary: dataset.save_as(temporary, enforce_file_format=True),
            inputs=(mri.path, us.path),
        )
    except OutputPathError as exc:
        raise DicomExportError(str(exc)) from exc
