"""De-identification of a derived export (PS3.15 Annex E, Basic Application Level Confidentiality
Profile, optionally with the Retain Longitudinal Temporal Information Modified Dates Option).

What an anonymised export carries instead of the source identity:

* **Patient name and ID**: one pseudonym per patient (``EF-`` and ten random hexadecimal digits),
  the same for every export of that patient when the user keeps a *pseudonym file*: a local JSON
  file, written with owner-only permissions, that maps each original patient (ID and name) to its
  pseudonym, so that the user (and only the holder of the file) can re-identify a result and two
  patients never merge into one in a PACS. Without a file every export gets a fresh pseudonym.
* **UIDs**: every UID that would link to the originals (Study Instance UID, source SOP Instance
  UIDs when source references are kept) is replaced by

      uid' = "2.25." + int(HMAC-SHA256(secret, uid)[:16 bytes])

  with a 256-bit random ``secret`` kept in the pseudonym file (or drawn for this export only), so
  the anonymous UID cannot be recomputed from the original without the file, while two exports of
  one study with the same file stay in one anonymous study.
* **Source names in the provenance**: a DICOM source is named by its remapped SOP Instance UID,
  a non-DICOM source by ``hmac:`` and the first 16 hexadecimal digits of
  HMAC-SHA256(secret, file name); never by its file name or original UID.
* **De-identification Method Code Sequence** (CID 7050): 113100 Basic Application Confidentiality
  Profile, plus 113107 Retain Longitudinal Temporal Information Modified Dates Option when dates
  are shifted, plus 113101 Clean Pixel Data Option when everything outside the US image region was
  blanked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EndoFuseError
from ..scan import Scan

#: first line of every pseudonym file; a file without it is refused rather than overwritten
PSEUDONYM_FORMAT = "endofuse-pseudonyms/1"
PSEUDONYM_PREFIX = "EF-"
#: (code value, meaning) of CID 7050 "De-identification Method"
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXEL_DATA = ("113101", "Clean Pixel Data Option")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")


class PseudonymFileError(EndoFuseError):
    """The pseudonym file cannot be read or written."""


@dataclass(frozen=True)
class PseudonymEntry:
    """One original patient and the pseudonym that stands for it."""

    patient_id: str | None
    patient_name: str | None
    pseudonym: str


@dataclass
class Pseudonyms:
    """The secret key and the patient -> pseudonym map of one pseudonym file (or of one export)."""

    secret: bytes
    entries: list[PseudonymEntry] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def ephemeral(cls) -> Pseudonyms:
        """A fresh key and empty map, for an export without a pseudonym file."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def load(cls, path: str | Path) -> Pseudonyms:
        """The file's key and map; a new key and empty map when the file does not exist yet."""
        path = Path(path)
        if not path.exists():
            return cls(secrets.token_bytes(32), [], path)
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            if content.get("format") != PSEUDONYM_FORMAT:
                raise ValueError("not a pseudonym file")
            entries = [PseudonymEntry(e.get("patient_id"), e.get("patient_name"), e["pseudonym"])
                       for e in content["patients"]]
            return cls(bytes.fromhex(content["secret"]), entries, path)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError,
                AttributeError) as exc:
            raise PseudonymFileError(
                f"The pseudonym file {path.name} cannot be read ({type(exc).__name__}); choose "
                "the file this program wrote, or a new file name."
            ) from exc

    def pseudonym(self, patient_id: str | None, patient_name: str | None) -> str:
        """The patient's pseudonym, created (and kept in the map) at the first export."""
        if not patient_id and not patient_name:  # unknown patient: never merge with another
            return PSEUDONYM_PREFIX + secrets.token_hex(5).upper()
        for entry in self.entries:
            if (entry.patient_id, entry.patient_name) == (patient_id, patient_name):
                return entry.pseudonym
        taken = {entry.pseudonym for entry in self.entries}
        new = PSEUDONYM_PREFIX + secrets.token_hex(5).upper()
        while new in taken:
            new = PSEUDONYM_PREFIX + secrets.token_hex(5).upper()
        self.entries.append(PseudonymEntry(patient_id, patient_name, new))
        return new

    def uid(self, original: str) -> str:
        """uid' = 2.25.<first 128 bits of HMAC-SHA256(secret, uid)> (module docstring)."""
        digest = hmac.new(self.secret, original.encode("ascii", "replace"), hashlib.sha256)
        return "2.25." + str(int.from_bytes(digest.digest()[:16], "big"))

    def tag(self, text: str) -> str:
        """``hmac:`` and 16 hex digits of HMAC-SHA256(secret, text): names without revealing."""
        digest = hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:16]}"

    def save(self) -> None:
        """Write the map back (owner-only permissions, atomically); nothing without a path."""
        if self.path is None:
            return
        from ..file_safety import write_atomically

        content = {
            "format": PSEUDONYM_FORMAT,
            "secret": self.secret.hex(),
            "patients": [vars(entry) for entry in self.entries],
        }
        text = json.dumps(content, indent=1, ensure_ascii=False)

        def write(temporary: Path) -> None:
            temporary.write_text(text, encoding="utf-8")
            os.chmod(temporary, 0o600)

        try:
            write_atomically(self.path, write)
        except EndoFuseError as exc:
            raise PseudonymFileError(str(exc)) from exc


def anonymous_source_label(scan: Scan, pseudonyms: Pseudonyms) -> str:
    """How an anonymised provenance names a source: remapped UID or keyed hash of the name."""
    uid = scan.info.sop_instance_uid if scan.dataset is not None else None
    if uid:
        label = f"{scan.info.modality or 'DICOM'} image {pseudonyms.uid(uid)}"
    else:
        label = f"non-DICOM file {pseudonyms.tag(scan.name)}"
    variable = scan.info.notes.get("variable")
    if variable:
        label += f", variable {variable}"
    if scan.info.frame_count > 1:
        label += f", frame {scan.info.frame_index} of {scan.info.frame_count}"
    return label


def method_codes(dates_shifted: bool, pixels_cleaned: bool) -> list[tuple[str, str]]:
    """(code value, meaning) items of the De-identification Method Code Sequence."""
    codes = [BASIC_PROFILE]
    if pixels_cleaned:
        codes.append(CLEAN_PIXEL_DATA)
    if dates_shifted:
        codes.append(MODIFIED_DATES)
    return codes


def method_code_sequence(codes: list[tuple[str, str]]):
    """The (0012,0064) items, coding scheme DCM."""
    from pydicom.dataset import Dataset

    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    return items
