"""Send DICOM files to a PACS: C-ECHO to check the connection, then C-STORE (pynetdicom).

A PACS is named ``AET@HOST:PORT`` (``ORTHANC@127.0.0.1:4242``; an IPv6 host in brackets,
``PACS@[::1]:104``; without ``:PORT`` the DICOM port 104). Every failure becomes a
:class:`PacsError` whose sentence says what to check:
the address (no connection, timeout), the AE titles (association rejected), or the archive's
answer (C-STORE status other than success or warning). Timeouts are checked first
(more than 0, at most :data:`MAX_TIMEOUT_S` seconds). Files exported only to be sent live in a
temporary folder that :func:`send_folder_and_remove` deletes after the send, failed or not.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EndoFuseError

#: AE titles: 1 to 16 characters of the default character repertoire, no backslash
AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
PACS_ADDRESS = re.compile(
    r"^(?P<aet>[^@]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[^:@\[\]]+)(?::(?P<port>\d+))?$"
)
#: the port registered for DICOM (PS3.8 Annex G), used when an address names none
DICOM_PORT = 104
DEFAULT_CALLING_AET = "ENDOFUSE"
#: C-STORE statuses that mean "stored" (success, and the warnings coercion/elements discarded)
STORED_STATUSES = {0x0000, 0xB000, 0xB006, 0xB007}
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
#: longest network timeout accepted, in seconds
MAX_TIMEOUT_S = 600.0


class PacsError(EndoFuseError):
    """Talking to the PACS failed: unreachable, association refused, or storage refused."""


@dataclass(frozen=True)
class PacsAddress:
    """Called AE title, host and port of a DICOM storage SCP."""

    ae_title: str
    host: str
    port: int = DICOM_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


def parse_pacs_address(text: str) -> PacsAddress:
    """``AET@HOST[:PORT]`` -> :class:`PacsAddress`, or :class:`PacsError` with the expected form."""
    match = PACS_ADDRESS.match(text.strip())
    if match is None:
        raise PacsError(
            f"'{text}' is not a PACS address; write it as AET@HOST:PORT, "
            "e.g. ORTHANC@127.0.0.1:4242 (port 104 when left out)."
        )
    aet, host = match["aet"], match["host"].strip("[]")
    port = DICOM_PORT if match["port"] is None else int(match["port"])
    _check_ae_title(aet)
    if not 1 <= port <= 65535:
        raise PacsError(f"The port {port} in '{text}' is not between 1 and 65535.")
    return PacsAddress(aet, host, port)


def _check_ae_title(aet: str) -> None:
    if not AE_TITLE.match(aet) or not aet.strip():
        raise PacsError(
            f"'{aet}' is not a valid AE title (1 to 16 plain characters, no backslash)."
        )


def check_timeout(timeout_s: float) -> float:
    """``timeout_s`` when it is a number of seconds in (0, MAX_TIMEOUT_S], else PacsError."""
    try:
        value = float(timeout_s)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise PacsError(
            f"The network timeout {timeout_s} s is not allowed; give more than 0 and at most "
            f"{MAX_TIMEOUT_S:g} seconds."
        )
    return value


@dataclass(frozen=True)
class StoreReport:
    """What the PACS answered for one file."""

    path: Path
    sop_instance_uid: str
    status: int


def _check_reachable(address: PacsAddress, timeout_s: float) -> None:
    """Open and close a TCP connection, so that a missing server gets its own sentence."""
    where = f"{address.host}:{address.port}"
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s):
            pass
    except socket.gaierror as exc:
        raise PacsError(
            f"The PACS host '{address.host}' is unknown; check the host name or use its IP address."
        ) from exc
    except TimeoutError as exc:
        raise PacsError(
            f"No answer from a PACS at {where} within {timeout_s:g} s; check the host name, the "
            "port and that no firewall blocks it."
        ) from exc
    except OSError as exc:
        raise PacsError(
            f"No answer from a PACS at {where}: nothing accepts connections there "
            f"({exc.strerror or exc}); check the port and that the archive is running."
        ) from exc


def _association(
    address: PacsAddress, contexts, calling_aet: str, timeout_s: float, ext_neg=None,
    evt_handlers=None,
):
    """An established association, or :class:`PacsError` saying why there is none.

    ``ext_neg`` and ``evt_handlers`` go to pynetdicom's ``AE.associate`` (SCP roles and the
    C-STORE handler of a C-GET)."""
    from pynetdicom import AE

    _check_ae_title(calling_aet)
    _check_reachable(address, timeout_s)
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = timeout_s
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, syntaxes)
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    started = time.monotonic()
    assoc = ae.associate(
        address.host, address.port, ae_title=address.ae_title, ext_neg=ext_neg,
        evt_handlers=evt_handlers,
    )
    waited = time.monotonic() - started
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PacsError(
            f"The PACS {address} refused the connection (association rejected); check that it "
            f"knows this workstation's AE title '{calling_aet}' and that '{address.ae_title}' is "
            "its own AE title."
        )
    if waited >= 0.9 * timeout_s:
        raise PacsError(
            f"No answer from a PACS at {address.host}:{address.port} within {timeout_s:g} s: "
            "something accepts connections there but does not speak DICOM; check the port."
        )
    if assoc.is_aborted:
        raise PacsError(
            f"The PACS {address} aborted the connection; check its AE titles and the DICOM "
            "transfer syntaxes it accepts."
        )
    raise PacsError(
        f"No answer from a PACS at {address.host}:{address.port} within {timeout_s:g} s; check "
        "the host name, the port and that the archive is running."
    )


def echo(address: PacsAddress, calling_aet: str = DEFAULT_CALLING_AET, timeout_s: float = 10.0):
    """C-ECHO: succeed silently when the PACS answers, else :class:`PacsError`."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    timeout_s = check_timeout(timeout_s)
    contexts = [(VERIFICATION_SOP_CLASS, [ImplicitVRLittleEndian, ExplicitVRLittleEndian])]
    assoc = _association(address, contexts, calling_aet, timeout_s)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = int(status.Status) if status is not None and "Status" in status else None
    if code != 0x0000:
        raise PacsError(
            f"The PACS {address} did not confirm the connection test (C-ECHO "
            f"{'timed out' if code is None else f'status 0x{code:04X}'})."
        )


def send_files(
    paths: list[str | Path],
    address: PacsAddress | str,
    calling_aet: str = DEFAULT_CALLING_AET,
    timeout_s: float = 10.0,
) -> list[StoreReport]:
    """C-ECHO, then C-STORE every file on one association; stop at the first refusal."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    timeout_s = check_timeout(timeout_s)
    if isinstance(address, str):
        address = parse_pacs_address(address)
    datasets = []
    for path in map(Path, paths):
        if not path.is_file():
            raise PacsError(f"The file {path} does not exist.")
        try:
            ds = pydicom.dcmread(path)
            sop_class, sop_instance = str(ds.SOPClassUID), str(ds.SOPInstanceUID)
            syntax = ds.file_meta.TransferSyntaxUID
        except Exception as exc:  # pydicom raises many types on damaged files
            raise PacsError(f"{path.name} is not a DICOM file that can be sent ({exc}).") from exc
        datasets.append((path, ds, sop_class, sop_instance, syntax))
    if not datasets:
        raise PacsError("No file to send.")
    echo(address, calling_aet, timeout_s)

    contexts: dict[str, list] = {}
    for _, _, sop_class, _, syntax in datasets:
        syntaxes = contexts.setdefault(sop_class, [])
        for uid in (syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if uid not in syntaxes:
                syntaxes.append(uid)
    assoc = _association(address, list(contexts.items()), calling_aet, timeout_s)
    reports = []
    try:
        for path, ds, _, sop_instance, _ in datasets:
            try:
                status = assoc.send_c_store(ds)
            except ValueError as exc:  # no accepted presentation context for this SOP class
                raise PacsError(
                    f"The PACS {address} does not accept this kind of image ({path.name}: {exc})."
                ) from exc
            code = int(status.Status) if status is not None and "Status" in status else None
            if code is None:
                raise PacsError(
                    f"The PACS {address} did not answer while storing {path.name} within "
                    f"{timeout_s:g} s; check the archive and try again."
                )
            if code not in STORED_STATUSES:
                raise PacsError(
                    f"The PACS {address} refused to store {path.name} (status 0x{code:04X}"
                    f"{_status_text(code)}); ask the PACS administrator to check its log."
                )
            reports.append(StoreReport(path, sop_instance, code))
    finally:
        if assoc.is_established:
            assoc.release()
    return reports


def _status_text(code: int) -> str:
    from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS

    entry = STORAGE_SERVICE_CLASS_STATUS.get(code)
    return f": {entry[1]}" if entry else ""


def temporary_send_folder() -> Path:
    """A new private folder for files exported only to be sent (:func:`send_folder_and_remove`)."""
    return Path(tempfile.mkdtemp(prefix="endofuse-send-"))


def send_folder_and_remove(
    folder: str | Path,
    address: PacsAddress | str,
    calling_aet: str = DEFAULT_CALLING_AET,
    timeout_s: float = 10.0,
) -> list[StoreReport]:
    """C-STORE every file of a temporary export ``folder``, then delete it, failed or not."""
    folder = Path(folder)
    try:
        files = sorted(path for path in folder.iterdir() if path.is_file())
        return send_files(files, address, calling_aet, timeout_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
