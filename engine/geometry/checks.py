"""Safety checks before two scans are paired: same patient, right modality in each slot.

* **Patient**: ``PatientID`` and ``PatientName`` are compared when both files carry them. A
  difference stops the pairing with :class:`~engine.errors.PairingSafetyError` unless the user
  confirms it (``--allow-different-patients``, the viewer's *Pair anyway* button); the fused
  image then carries the ultrasound's identity (the export takes it from the US first), which the
  note says.
* **Study, frame of reference**: ``StudyInstanceUID`` and ``FrameOfReferenceUID`` only inform (MRI
  and US are usually separate examinations); the note says whether they match.
* **Modality**: the MRI slot takes MR, the US slot US; files without a modality (PNG, MAT, NPY) and
  secondary captures (OT, SC) are accepted. An MR given as the US (or the reverse) and any other
  modality (CT, CR, RTDOSE, ...) are refused unless overridden (``--allow-any-modality``) for
  research images.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PairingSafetyError
from ..scan import Scan

#: modalities accepted in either slot without a word (secondary captures and unknown)
NEUTRAL_MODALITIES = {None, "OT", "SC"}


@dataclass(frozen=True)
class SafetyOptions:
    """The user's explicit confirmations."""

    allow_different_patients: bool = False
    allow_any_modality: bool = False


def _frame_of_reference(scan: Scan) -> str | None:
    try:
        value = scan.dataset.get("FrameOfReferenceUID") if scan.dataset is not None else None
    except Exception:
        return None
    return str(value).strip() or None if value else None


def _normalised_name(name: str | None) -> str | None:
    if not name:
        return None
    return "^".join(part.strip().upper() for part in name.split("^")).rstrip("^") or None


def _check_modality(scan: Scan, slot: str, expected: str, other_flag: str) -> str | None:
    modality = scan.info.modality
    if modality == expected or modality in NEUTRAL_MODALITIES:
        return None
    names = {"MR": "an MRI", "US": "an ultrasound image"}
    if modality in names:
        return (
            f"The file given as the {slot} ({scan.name}) is {names[modality]}; swap {other_flag} "
            "and the other file, or give --allow-any-modality for research images."
        )
    return (
        f"The file given as the {slot} ({scan.name}) is a {modality} image, not "
        f"{names[expected]}; choose the {slot} image, or give --allow-any-modality for research "
        "images."
    )


def _who(scan: Scan) -> str:
    return " ".join(v for v in (scan.info.patient_id, scan.info.patient_name) if v) or "unknown"


def check_pair(mri: Scan, us: Scan, options: SafetyOptions = SafetyOptions()) -> list[str]:
    """Raise :class:`PairingSafetyError` on an unconfirmed risk; return notes for the provenance."""
    notes: list[str] = []
    for problem in (
        _check_modality(mri, "MRI", "MR", "--mri"),
        _check_modality(us, "US", "US", "--us"),
    ):
        if problem is None:
            continue
        if not options.allow_any_modality:
            raise PairingSafetyError(problem)
        notes.append(f"modality check overridden: {mri.info.modality} + {us.info.modality}")
    ids = (mri.info.patient_id, us.info.patient_id)
    names = (_normalised_name(mri.info.patient_name), _normalised_name(us.info.patient_name))
    differs = [label for label, (a, b) in (("ID", ids), ("name", names)) if a and b and a != b]
    if differs:
        if not options.allow_different_patients:
            raise PairingSafetyError(
                f"The MRI and the ultrasound belong to different patients (patient "
                f"{' and '.join(differs)} {'differ' if len(differs) > 1 else 'differs'}: MRI "
                f"{_who(mri)}, ultrasound {_who(us)}); if this is intended, confirm with "
                "--allow-different-patients (in the viewer: Pair anyway, in the Pairing dock)."
            )
        notes.append(
            "different patients confirmed by the user; the fused image carries the ultrasound's "
            f"patient identity ({us.info.patient_id or us.info.patient_name})"
        )
    for label, a, b in (
        ("study", mri.info.study_instance_uid, us.info.study_instance_uid),
        ("frame of reference", _frame_of_reference(mri), _frame_of_reference(us)),
    ):
        if a and b:
            notes.append(f"same {label}" if a == b else f"different {label}s")
    return notes
