"""Patient and Study identity of a derived export: copied from a DICOM source, or replaced by the
PS3.15 Basic Profile identity when anonymising (:mod:`engine.dicom.deidentify`).

Source dates and times are copied only when they are valid DICOM values (a malformed value is
dropped, never copied); an anonymised identity keeps no birth date, sex, time, study ID or text,
and its dates are shifted by ``date_shift_days`` days, or removed when that is None.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ..scan import Scan
from .deidentify import Pseudonyms


@dataclass(frozen=True)
class Identity:
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


def source_identity(mri: Scan, us: Scan) -> Identity:
    """The US source's identity when it is DICOM, else the MRI's, else a fresh empty study."""
    from pydicom.uid import generate_uid

    source = _identity_source(mri, us)
    if source is None:
        return Identity(None, None, None, None, generate_uid(), None, None, None, None, None, None)
    info = source.info
    return Identity(
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
        return (date + dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):  # unparsable, or shifted outside years 1 to 9999
        return None


def anonymised_identity(
    identity: Identity, date_shift_days: int | None, pseudonyms: Pseudonyms
) -> Identity:
    """The Basic Profile's replacement identity (module docstring)."""
    from pydicom.uid import generate_uid

    pseudonym = pseudonyms.pseudonym(identity.patient_id, identity.patient_name)
    study_uid = identity.study_instance_uid
    return Identity(
        patient_name=f"{pseudonym}^",  # family name only (the non-retired PN form)
        patient_id=pseudonym,
        patient_birth_date=None,
        patient_sex=None,
        study_instance_uid=pseudonyms.uid(study_uid) if study_uid else generate_uid(),
        study_id=None,
        study_date=shift_date(identity.study_date, date_shift_days),
        study_time=None,
        study_description=None,
        accession_number=None,
        referring_physician_name=None,
    )
