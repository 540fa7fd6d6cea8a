"""A batch fed from a PACS: C-FIND the studies, C-GET their MR and US series, C-STORE the results.

1. **Query** (C-FIND, Study Root): studies matching the patient ID (wildcards ``*`` and ``?``
   allowed) and the study date range (DICOM range syntax ``YYYYMMDD-YYYYMMDD``; either end may be
   left open), then the series of each study whose modality is one of the query's (MR and US).
2. **Retrieve** (C-GET, Study Root, SERIES level): each series into
   ``CACHE/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``, this workstation
   taking the storage SCP role for the MR and US image classes on the same association. A series
   already in the cache with as many files as the PACS announced is not fetched again, so an
   interrupted batch resumes where it stopped. The cache is then an ordinary DICOM folder tree,
   paired by :func:`engine.batch.dicom_tree.pair_tree`.
3. **Store** (C-STORE): every fused DICOM image goes back with :func:`engine.dicom.send_files`;
   it carries the study of its US source and references both sources. Once the archive has
   accepted a pair's image, the line ``AET@HOST:PORT`` is added to ``pairs/<key>/stored.txt``, so
   a re-run stores only what that archive does not hold yet.

Every failure is a :class:`~engine.dicom.send.PacsError` with the sentence of what to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..dicom.send import DEFAULT_CALLING_AET, PacsAddress, PacsError, _association, send_files
from .store import PairOutcome

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
#: image classes taken in by C-GET: MR, enhanced MR, US, US multi-frame
IMAGE_CLASSES = {
    "MR": ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"),
    "US": ("1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1"),
}
STORED_LIST = "stored.txt"
DATE_RANGE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")
#: C-FIND/C-GET statuses: pending answers carry an identifier, success ends the exchange
PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class PacsQuery:
    """Which studies to fetch: patient ID (wildcards), date range, modalities of the series."""

    patient_id: str = "*"
    dates: str = ""
    modalities: tuple[str, ...] = ("MR", "US")

    def __post_init__(self) -> None:
        if not DATE_RANGE.match(self.dates):
            raise PacsError(
                f"'{self.dates}' is not a date range; write YYYYMMDD-YYYYMMDD, YYYYMMDD- or "
                "-YYYYMMDD."
            )
        unknown = [m for m in self.modalities if m not in IMAGE_CLASSES]
        if unknown:
            raise PacsError(f"Only MR and US series can be fused, not {', '.join(unknown)}.")


@dataclass(frozen=True)
class FoundSeries:
    """One series the PACS matched."""

    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    study_date: str
    images: int | None

    def folder(self, cache: Path) -> Path:
        return cache / self.study_uid / self.series_uid


def _contexts(uids) -> list:
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    return [(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]) for uid in uids]


def _answers(responses, address: PacsAddress, what: str):
    """Identifiers of the pending answers; :class:`PacsError` for a failure status."""
    for status, identifier in responses:
        code = int(status.Status) if status is not None and "Status" in status else None
        if code is None:
            raise PacsError(
                f"The PACS {address} gave no answer to the {what} (timed out or closed the "
                "connection); check that it allows this workstation's AE title to query and "
                "retrieve."
            )
        if code in PENDING:
            yield identifier
        elif code not in (0x0000, 0xB000):
            raise PacsError(
                f"The PACS {address} refused the {what} (status 0x{code:04X}); check that it "
                "allows queries and retrievals from this workstation's AE title."
            )


def _find(assoc, address: PacsAddress, level: str, **keys) -> list:
    from pydicom.dataset import Dataset

    query = Dataset()
    query.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    return list(_answers(assoc.send_c_find(query, STUDY_ROOT_FIND), address, "query (C-FIND)"))


def find_series(
    address: PacsAddress, query: PacsQuery, calling_aet: str = DEFAULT_CALLING_AET,
    timeout_s: float = 30.0,
) -> list[FoundSeries]:
    """The MR and US series of the studies that match ``query`` (step 1 of the module)."""
    assoc = _association(address, _contexts([STUDY_ROOT_FIND]), calling_aet, timeout_s)
    found = []
    try:
        studies = _find(assoc, address, "STUDY", PatientID=query.patient_id,
                        StudyDate=query.dates, StudyInstanceUID="")
        for study in studies:
            uid = str(study.get("StudyInstanceUID", ""))
            for series in _find(assoc, address, "SERIES", StudyInstanceUID=uid,
                                SeriesInstanceUID="", Modality="",
                                NumberOfSeriesRelatedInstances=""):
                modality = str(series.get("Modality", "")).upper()
                if modality not in query.modalities:
                    continue
                count = series.get("NumberOfSeriesRelatedInstances")
                found.append(FoundSeries(
                    patient_id=str(study.get("PatientID", "")), study_uid=uid,
                    series_uid=str(series.SeriesInstanceUID), modality=modality,
                    study_date=str(study.get("StudyDate", "")),
                    images=int(count) if count not in (None, "") else None,
                ))
    finally:
        if assoc.is_established:
            assoc.release()
    return found


def _cached(series: FoundSeries, cache: Path) -> bool:
    folder = series.folder(cache)
    have = len(list(folder.glob("*.dcm"))) if folder.is_dir() else 0
    return series.images is not None and have >= series.images > 0


def retrieve_series(
    address: PacsAddress, found: list[FoundSeries], cache: Path,
    calling_aet: str = DEFAULT_CALLING_AET, timeout_s: float = 30.0,
) -> int:
    """C-GET every series not yet cached (step 2 of the module); the number of files received."""
    from pynetdicom import build_role, evt

    wanted = [series for series in found if not _cached(series, cache)]
    if not wanted:
        return 0
    classes = [uid for modality in IMAGE_CLASSES.values() for uid in modality]
    received = []

    def store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        folder = cache / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        partial = path.with_suffix(".part")
        ds.save_as(partial, enforce_file_format=True)
        partial.replace(path)
        received.append(path)
        return 0x0000

    assoc = _association(
        address, _contexts([STUDY_ROOT_GET, *classes]), calling_aet, timeout_s,
        ext_neg=[build_role(uid, scp_role=True) for uid in classes],
        evt_handlers=[(evt.EVT_C_STORE, store)],
    )
    try:
        from pydicom.dataset import Dataset

        for series in wanted:
            request = Dataset()
            request.QueryRetrieveLevel = "SERIES"
            request.StudyInstanceUID = series.study_uid
            request.SeriesInstanceUID = series.series_uid
            responses = assoc.send_c_get(request, STUDY_ROOT_GET)
            list(_answers(responses, address, "retrieval (C-GET)"))
    finally:
        if assoc.is_established:
            assoc.release()
    return len(received)


def listing(found: list[FoundSeries]) -> str:
    """One line per matched series, for ``--dry-run``."""
    lines = [f"{len(found)} series matched on the PACS:"]
    lines += [
        f"  patient {s.patient_id} study {s.study_uid} ({s.study_date}) {s.modality} series "
        f"{s.series_uid}: {'?' if s.images is None else s.images} image(s)"
        for s in found
    ]
    return "\n".join(lines)


def store_results(
    outcomes: list[PairOutcome], root: Path, address: PacsAddress,
    calling_aet: str = DEFAULT_CALLING_AET, timeout_s: float = 30.0,
) -> int:
    """C-STORE the fused DICOM image of every fused pair that ``address`` does not hold yet
    (step 3 of the module); the number of images stored."""
    waiting = []
    for outcome in outcomes:
        listed = root / "pairs" / outcome.key / STORED_LIST
        if outcome.status != "fused" or (
            listed.exists() and str(address) in listed.read_text().split()
        ):
            continue
        waiting += [(listed, root / path) for path in outcome.outputs if path.endswith(".dcm")]
    if waiting:
        send_files([path for _, path in waiting], address, calling_aet, timeout_s)
    for listed, _ in waiting:
        with open(listed, "a") as handle:
            handle.write(f"{address}\n")
    return len(waiting)
