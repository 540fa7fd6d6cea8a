"""Pair the MR and US images of a folder tree of DICOM files, from their headers alone.

Rules, applied in this order (every file left out is listed with its sentence):

1. Every file under the folder (hidden ones skipped) is read header-only; a file that is not
   readable DICOM, not an image, not MR or US, or without PatientID/StudyInstanceUID is left out.
2. A study (StudyInstanceUID) whose images name more than one PatientID is left out whole: the
   UIDs contradict each other and fusing across patients must never happen.
3. Each US image is paired with the MR image of its own study; when its study has no MR, with the
   MR image of the same patient whose study date is closest, at most ``max_days`` away. The chosen
   study must hold exactly one MR image: with several, the pairing cannot choose and the user
   lists the pairs in a manifest.
4. MR images that no US image chose are left out ("no ultrasound pairs with it").

The key of a pair in the output tree is ``STUDY-UID/US-SOP-INSTANCE-UID`` (of the US image).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..errors import ScanReadError
from .plan import BatchPlan, PairTask, Unpaired, safe_key

#: default largest distance in days between an US study and the MR study it borrows
MAX_DAYS = 90


@dataclass(frozen=True)
class DicomImage:
    """What pairing needs from one DICOM image header."""

    path: Path
    modality: str
    patient_id: str
    study_uid: str
    study_date: dt.date | None
    sop_uid: str


def _date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text.strip(), "%Y%m%d").date()
    except ValueError:
        return None


def read_header(path: Path) -> DicomImage:
    """The header fields of one file, or :class:`ScanReadError` saying why it cannot be used."""
    from ..dicom.read import parse_dataset

    ds = parse_dataset(path, stop_before_pixels=True)
    modality = str(ds.get("Modality", "")).upper()
    if "Rows" not in ds:
        raise ScanReadError(f"{path.name} is a DICOM file without an image.")
    if modality not in ("MR", "US"):
        raise ScanReadError(f"{path.name} is a {modality or 'unknown'} image, neither MR nor US.")
    fields = {k: str(ds.get(k, "")).strip() for k in ("PatientID", "StudyInstanceUID")}
    absent = [k for k, v in fields.items() if not v]
    if absent:
        raise ScanReadError(f"{path.name} has no {' and no '.join(absent)}; it cannot be paired.")
    return DicomImage(
        path=path,
        modality=modality,
        patient_id=fields["PatientID"],
        study_uid=fields["StudyInstanceUID"],
        study_date=_date(str(ds.get("StudyDate", ""))),
        sop_uid=str(ds.get("SOPInstanceUID", path.stem)),
    )


def scan_tree(root: Path, skip: Path | None = None) -> tuple[list[DicomImage], list[Unpaired]]:
    """Headers of every usable file under ``root`` (not under ``skip``, e.g. the batch's own
    output folder) and the files left out (rule 1)."""
    images, left_out = [], []
    skip = skip.resolve() if skip is not None else None
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        try:
            images.append(read_header(path))
        except ScanReadError as exc:
            left_out.append(Unpaired(str(path), str(exc)))
    return images, left_out


def _split_mixed_studies(images: list[DicomImage]) -> tuple[list[DicomImage], list[Unpaired]]:
    """Rule 2: drop every study whose images name more than one patient."""
    patients: dict[str, set[str]] = defaultdict(set)
    for image in images:
        patients[image.study_uid].add(image.patient_id)
    kept, left_out = [], []
    for image in images:
        ids = patients[image.study_uid]
        if len(ids) > 1:
            left_out.append(Unpaired(str(image.path), (
                f"Its study {image.study_uid} holds images of different patients "
                f"({', '.join(sorted(ids))}); check the export before fusing them."
            )))
        else:
            kept.append(image)
    return kept, left_out


def _choose_mri(us: DicomImage, mris: list[DicomImage], max_days: int) -> DicomImage:
    """Rule 3: the one MR image of the US's study, or of the patient's closest MR study."""
    same_study = [m for m in mris if m.study_uid == us.study_uid]
    if not same_study:
        dated = [
            (abs((m.study_date - us.study_date).days), m)
            for m in mris
            if m.patient_id == us.patient_id and m.study_date and us.study_date
        ]
        dated = [(days, m) for days, m in dated if days <= max_days]
        if not dated:
            raise ScanReadError(
                f"No MR image of patient {us.patient_id} in its study or within {max_days} days; "
                "add the MR series to the folder or list the pair in a manifest."
            )
        closest = min(days for days, _ in dated)
        study = next(m.study_uid for days, m in dated if days == closest)
        same_study = [m for m in mris if m.study_uid == study]
    if len(same_study) > 1:
        raise ScanReadError(
            f"Study {same_study[0].study_uid} holds {len(same_study)} MR images and the pairing "
            "cannot choose one; list the pairs in a manifest (CSV with the columns mri,us)."
        )
    return same_study[0]


def pair_tree(
    root: str | Path, method: str, max_days: int = MAX_DAYS, skip: Path | None = None,
    image: str = "mri",
) -> BatchPlan:
    """A :class:`BatchPlan` for the DICOM files under ``root`` but not under ``skip`` (rules in
    the module docstring); every pair writes ``image`` (``mri`` or ``us``)."""
    root = Path(root)
    if not root.is_dir():
        raise ScanReadError(f"The folder {root} does not exist.")
    images, left_out = scan_tree(root, skip)
    images, mixed = _split_mixed_studies(images)
    left_out += mixed
    mris = [image for image in images if image.modality == "MR"]
    tasks, used = [], set()
    for us in (image for image in images if image.modality == "US"):
        try:
            mri = _choose_mri(us, mris, max_days)
        except ScanReadError as exc:
            left_out.append(Unpaired(str(us.path), str(exc)))
            continue
        used.add(mri.path)
        tasks.append(PairTask(
            key=safe_key(us.study_uid, us.sop_uid),
            mri=mri.path,
            us=us.path,
            method=method,
            image=image,
            origin=f"(patient {us.patient_id}, study {us.study_uid})",
        ))
    left_out += [
        Unpaired(str(m.path), f"No ultrasound image of patient {m.patient_id} pairs with it.")
        for m in mris
        if m.path not in used
    ]
    return BatchPlan(tuple(tasks), tuple(left_out), source=str(root))
