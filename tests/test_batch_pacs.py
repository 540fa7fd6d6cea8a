"""Batch against a real Orthanc on loopback: C-FIND, C-GET into a cache, fuse, C-STORE back."""

from __future__ import annotations

import io

import pytest
from test_batch import write_dicom_pair
from test_dicom_send import LOOPBACK, ORTHANC_AET, OrthancServer

from engine.batch.pacs import PacsQuery
from engine.cli import main as cli_main
from engine.dicom import PacsError, send_files
from engine.dicom.send import PacsAddress

pydicom = pytest.importorskip("pydicom")

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
#: the query below matches patients Q1..Q3 in January 2024; Z9 and the 2023 study stay out
MATCHED = ("Q1", "Q2", "Q3")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Orthanc that knows this workstation, holding 5 MR/US studies (3 of them to fuse)."""
    root = tmp_path_factory.mktemp("pacs")
    (root / "orthanc").mkdir()
    server = OrthancServer(root / "orthanc", extra_config={
        "DicomModalities": {"endofuse": ["ENDOFUSE", LOOPBACK, 11112]},
    })
    try:
        server.wait_ready()
        sources = {}
        for seed, patient in enumerate((*MATCHED, "Z9")):
            sources[patient] = write_dicom_pair(root / "in", seed, patient)
        old = write_dicom_pair(root / "in", 9, "Q4", date="20230101")
        files = [path for pair in (*sources.values(), old) for path in pair]
        send_files(files, PacsAddress(ORTHANC_AET, LOOPBACK, server.dicom_port), timeout_s=15)
        yield server, sources
    finally:
        server.stop()


def derived_images(server) -> list:
    found = []
    for instance in server.get_json("/instances"):
        tags = server.get_json(f"/instances/{instance}/simplified-tags")
        if tags.get("SOPClassUID") == SECONDARY_CAPTURE:
            found.append(pydicom.dcmread(io.BytesIO(server.get(f"/instances/{instance}/file"))))
    return found


@pytest.mark.slow
def test_pacs_batch_round_trip(archive, tmp_path, capsys):
    server, sources = archive
    pacs = f"{ORTHANC_AET}@{LOOPBACK}:{server.dicom_port}"
    out = tmp_path / "out"
    command = ["batch", "--pacs", pacs, "--patient", "Q*", "--dates", "20240101-20240131",
               "--out", str(out), "--workers", "1", "--format", "dcm", "--quiet",
               "--param", "iterations=2", "--param", "despeckle=false", "--timeout", "20"]

    assert cli_main([*command, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "6 series matched" in listing and "patient Z9" not in listing
    assert not (out / "cache").exists()

    assert cli_main(command) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "6 file(s) retrieved" in text and "3 fused image(s) stored" in text

    derived = derived_images(server)
    assert sorted(str(ds.PatientID) for ds in derived) == sorted(MATCHED)
    for ds in derived:
        mr, us = (pydicom.dcmread(path) for path in sources[str(ds.PatientID)])
        referenced = [item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence]
        assert referenced == [mr.SOPInstanceUID, us.SOPInstanceUID]
        assert ds.StudyInstanceUID == us.StudyInstanceUID

    assert cli_main(command) == 0
    text = capsys.readouterr().out
    assert "0 file(s) retrieved" in text and "3 already done" in text
    assert "0 fused image(s) stored" in text
    assert len(derived_images(server)) == len(MATCHED)

    # a pair fused but never stored (the run stopped before C-STORE) is stored by the next run
    next(out.glob("pairs/*/*/stored.txt")).unlink()
    assert cli_main(command) == 0
    assert "1 fused image(s) stored" in capsys.readouterr().out
    assert len(derived_images(server)) == len(MATCHED)


def test_bad_query_and_refused_workstation_are_sentences(archive, tmp_path, capsys):
    server, _ = archive
    with pytest.raises(PacsError, match="not a date range"):
        PacsQuery(dates="2024-01-01")
    pacs = f"{ORTHANC_AET}@{LOOPBACK}:{server.dicom_port}"
    status = cli_main(["batch", "--pacs", pacs, "--calling-aet", "STRANGER", "--out",
                       str(tmp_path / "o"), "--dry-run", "--timeout", "10"])
    assert status == 2
    assert "allows this workstation's AE title" in capsys.readouterr().err
