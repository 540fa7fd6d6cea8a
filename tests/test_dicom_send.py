"""Sending to a PACS: a real Orthanc on loopback receives a C-STORE and returns the instance."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main as cli_main
from engine.dicom import (
    PacsError,
    export_derived_dicom,
    parse_pacs_address,
    read_dicom,
    send_files,
    write_source_dicom,
)
from engine.dicom.send import PacsAddress, echo
from engine.fusion import FusionResult

pydicom = pytest.importorskip("pydicom")

LOOPBACK = "127.0.0.1"
ORTHANC_AET = "ORTHANCTEST"


# ---------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ORTHANC@127.0.0.1:4242", PacsAddress("ORTHANC", "127.0.0.1", 4242)),
        ("PACS@pacs.hospital.example:104", PacsAddress("PACS", "pacs.hospital.example", 104)),
        ("MY PACS@[::1]:11112", PacsAddress("MY PACS", "::1", 11112)),
        ("PACS@pacs.hospital.example", PacsAddress("PACS", "pacs.hospital.example", 104)),
        ("PACS@[::1]", PacsAddress("PACS", "::1", 104)),
    ],
)
def test_parse_pacs_address(text, expected):
    address = parse_pacs_address(text)
    assert address == expected
    assert parse_pacs_address(str(address)) == expected


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:4242", "ORTHANC@host:0", "ORTHANC@host:70000",
     "A_VERY_LONG_AE_TITLE@host:104", "BAD\\AET@host:104", "@host:104"],
)
def test_bad_pacs_addresses_are_refused_with_the_expected_form(text):
    with pytest.raises(PacsError):
        parse_pacs_address(text)


# ------------------------------------------------------------------------------- Orthanc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _orthanc_binary() -> str:
    binary = shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("Orthanc (Debian package orthanc) is required on CI")
        pytest.skip("Orthanc (Debian package orthanc) is not installed")
    return binary


class OrthancServer:
    """A private Orthanc: own configuration, storage and ports, REST on loopback only."""

    def __init__(self, root: Path, extra_config: dict | None = None) -> None:
        self.root = root
        self.http_port = _free_port()
        self.dicom_port = _free_port()
        config = {
            "Name": "EndoFuseTest",
            "StorageDirectory": str(root / "storage"),
            "IndexDirectory": str(root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ORTHANC_AET,
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "Plugins": [],
            "ConcurrentJobs": 1,
            "HttpThreadsCount": 4,
            "StableAge": 1,
            **(extra_config or {}),
        }
        self.config_path = root / "orthanc.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.log = open(root / "orthanc.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [_orthanc_binary(), str(self.config_path)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=root,
        )

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.http_port}{path}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url(path), timeout=10) as response:
            return response.read()

    def get_json(self, path: str):
        return json.loads(self.get(path))

    def wait_ready(self, limit_s: float = 60.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.root / 'orthanc.log').read_text()}")
            try:
                self.get_json("/system")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start within the time limit")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A fused image exported from two DICOM sources (MR 20x20 at 1.5 mm, US 60x60 at 0.5 mm)."""
    folder = tmp_path_factory.mktemp("send")
    v, u = np.mgrid[0:60, 0:60] / 60.0
    us_pixels = 2.0 + np.sin(5 * u) * np.cos(3 * v)
    mr_pixels = us_pixels.reshape(20, 3, 20, 3).mean(axis=(1, 3))
    mri = read_dicom(write_source_dicom(mr_pixels, folder / "mr.dcm", "MR", (1.5, 1.5)))
    us = read_dicom(write_source_dicom(us_pixels, folder / "us.dcm", "US", (0.5, 0.5)))
    fused = 0.5 * us_pixels / us_pixels.max() + 0.25
    result = FusionResult(fused, "palm", None, 0.0, seed=11)
    return export_derived_dicom(result, mri, us, folder / "fused.dcm"), fused


# ------------------------------------------------------------------------ store and fetch


def test_c_store_to_orthanc_and_fetch_back_through_rest(orthanc, exported):
    path, fused = exported
    address = PacsAddress(ORTHANC_AET, LOOPBACK, orthanc.dicom_port)
    reports = send_files([path], address, timeout_s=15)
    sent = pydicom.dcmread(path)
    assert [r.sop_instance_uid for r in reports] == [sent.SOPInstanceUID]
    assert reports[0].status == 0x0000

    found = [
        instance for instance in orthanc.get_json("/instances")
        if orthanc.get_json(f"/instances/{instance}/simplified-tags")["SOPInstanceUID"]
        == sent.SOPInstanceUID
    ]
    assert len(found) == 1
    returned = orthanc.root / "returned.dcm"
    returned.write_bytes(orthanc.get(f"/instances/{found[0]}/file"))
    ds = pydicom.dcmread(returned)
    np.testing.assert_array_equal(ds.pixel_array, sent.pixel_array)
    assert ds.DerivationDescription == sent.DerivationDescription
    assert ds.ImageComments == sent.ImageComments
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == (
        sent.SourceImageSequence[0].ReferencedSOPInstanceUID
    )
    back = read_dicom(returned)
    assert np.max(np.abs(back.pixels - fused)) <= 0.5 * float(ds.RescaleSlope) * (1 + 1e-6)
    assert "method palm" in ds.DerivationDescription and "seed 11" in ds.DerivationDescription


def test_cli_send(orthanc, exported, capsys):
    path, _ = exported
    status = cli_main(["send", str(path), "--pacs",
                       f"{ORTHANC_AET}@{LOOPBACK}:{orthanc.dicom_port}", "--timeout", "15"])
    assert status == 0
    assert "stored fused.dcm" in capsys.readouterr().out


def test_echo_succeeds(orthanc):
    echo(PacsAddress(ORTHANC_AET, LOOPBACK, orthanc.dicom_port), timeout_s=15)


# ---------------------------------------------------------------------------- failures


def test_wrong_called_ae_title_is_a_refused_association(orthanc, exported):
    path, _ = exported
    with pytest.raises(PacsError, match="refused the connection"):
        send_files([path], PacsAddress("NOTORTHANC", LOOPBACK, orthanc.dicom_port), timeout_s=15)


def test_nobody_listening_gives_a_clear_error(exported):
    path, _ = exported
    with pytest.raises(PacsError, match="No answer from a PACS"):
        send_files([path], PacsAddress("PACS", LOOPBACK, _free_port()), timeout_s=5)


def test_silent_server_times_out(exported):
    """A socket that accepts connections but never speaks DICOM: the timeout must end it."""
    path, _ = exported
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((LOOPBACK, 0))
        server.listen(1)
        port = server.getsockname()[1]
        with pytest.raises(PacsError, match="No answer|aborted"):
            send_files([path], PacsAddress("PACS", LOOPBACK, port), timeout_s=1)


def test_cli_reports_errors_with_exit_status_2(exported, capsys):
    path, _ = exported
    status = cli_main(["send", str(path), "--pacs", "not-an-address"])
    assert status == 2
    assert "AET@HOST:PORT" in capsys.readouterr().err


def test_non_dicom_file_is_refused_before_connecting(tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("not dicom")
    with pytest.raises(PacsError, match="not a DICOM file"):
        send_files([text], PacsAddress("PACS", LOOPBACK, 1), timeout_s=1)
    with pytest.raises(PacsError, match="does not exist"):
        send_files([tmp_path / "missing.dcm"], PacsAddress("PACS", LOOPBACK, 1), timeout_s=1)


# ------------------------------------------------------------- timeout and temporary files


@pytest.mark.parametrize("timeout", [0, -1, 600.5, float("nan"), float("inf")])
def test_timeout_outside_0_600_is_refused_first(tmp_path, timeout):
    with pytest.raises(PacsError, match="more than 0 and at most 600 seconds"):
        send_files([tmp_path / "missing.dcm"], PacsAddress("PACS", LOOPBACK, 1), timeout_s=timeout)


def test_cli_timeout_is_validated(exported, capsys):
    path, _ = exported
    status = cli_main(["send", str(path), "--pacs", "PACS@127.0.0.1:104", "--timeout", "0"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "at most 600 seconds" in err


def _temporary_copy(path: Path) -> Path:
    from engine.dicom.send import temporary_send_folder

    folder = temporary_send_folder()
    shutil.copy(path, folder / path.name)
    return folder


def test_temporary_folder_is_deleted_after_a_send(orthanc, exported):
    from engine.dicom.send import send_folder_and_remove

    folder = _temporary_copy(exported[0])
    address = PacsAddress(ORTHANC_AET, LOOPBACK, orthanc.dicom_port)
    assert len(send_folder_and_remove(folder, address, timeout_s=15)) == 1
    assert not folder.exists()


def test_temporary_folder_is_deleted_after_a_failed_send(exported):
    from engine.dicom.send import send_folder_and_remove

    folder = _temporary_copy(exported[0])
    with pytest.raises(PacsError, match="No answer from a PACS"):
        send_folder_and_remove(folder, PacsAddress("PACS", LOOPBACK, _free_port()), timeout_s=5)
    assert not folder.exists()
