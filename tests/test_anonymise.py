"""Anonymised DICOM export: no identifying string or source UID anywhere in the file, burned-in
annotation from the sources, blanking outside the US region, PS3.15 Basic Profile details."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.dicom import DicomExportOptions, SourcePatient, export_derived_dicom, write_source_dicom
from engine.dicom.deidentify import PseudonymFileError, Pseudonyms
from engine.dicom.export import DicomExportError
from engine.dicom.identity import shift_date
from engine.fusion import FusionResult
from engine.io import load_scan

pydicom = pytest.importorskip("pydicom")

SIZE, D = 60, 6
#: what the sources say about the patient: none of it may appear in an anonymised export
PATIENT = SourcePatient(
    patient_name="ZYXWOOD^QUENTINA", patient_id="MRN-8675309", patient_birth_date="19710203",
    patient_sex="F", study_id="STU-4242", study_date="20240517", study_time="134512",
    accession_number="ACCX-991177", referring_physician_name="VONHARTZ^EGBERT",
)
EXTRA = {
    "InstitutionName": "SAINT-QWERTY INFIRMARY",
    "InstitutionAddress": "17 PLOVERLANE, GRIMSBURG",
    "PerformingPhysicianName": "MCTAVISHLY^ODILE",
    "OperatorsName": "BRUNDLEFLY^SETH",
    "StationName": "USROOM-KRAKLOW",
    "StudyDescription": "PELVIS FOR ZYXWOOD",
}
FILE_STEM = "ZYXWOOD_QUENTINA_MRN-8675309"
SECRETS = ["ZYXWOOD", "QUENTINA", "8675309", "19710203", "STU-4242", "134512", "ACCX-991177",
           "VONHARTZ", "EGBERT", "SAINT-QWERTY", "PLOVERLANE", "MCTAVISHLY", "BRUNDLEFLY",
           "KRAKLOW", FILE_STEM, "20240517"]
UID_KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")


@dataclass(frozen=True)
class Pair:
    mri: object
    us: object
    uids: list[str]
    result: FusionResult


def _images() -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    us = 1.0 + np.sin(6 * u) * np.cos(4 * v) + 0.5 * u
    return us.reshape(SIZE // D, D, SIZE // D, D).mean(axis=(1, 3)), us


def _source(folder: Path, pixels, modality: str, spacing: float, **changes) -> Path:
    path = write_source_dicom(pixels, folder / f"{FILE_STEM}_{modality}.dcm", modality,
                              (spacing, spacing), PATIENT)
    ds = pydicom.dcmread(path)
    for keyword, value in {**EXTRA, **changes}.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)
    return path


def make_pair(folder: Path, **us_changes) -> Pair:
    """A DICOM MR/US pair of one distinctive patient; ``us_changes`` edits the US header."""
    folder.mkdir(parents=True, exist_ok=True)
    mri_pixels, us_pixels = _images()
    mri_path = _source(folder, mri_pixels, "MR", 0.25 * D)
    us_path = _source(folder, us_pixels, "US", 0.25, **us_changes)
    uids = [str(pydicom.dcmread(p).get(k)) for p in (mri_path, us_path) for k in UID_KEYWORDS
            if k in pydicom.dcmread(p)]
    mri, us = load_scan(mri_path), load_scan(us_path)
    result = FusionResult(us.pixels / us.pixels.max(), "blend", None, 0.0, seed=0)
    return Pair(mri, us, uids, result)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Pair:
    return make_pair(tmp_path_factory.mktemp("sources"))


def _region(x0, y0, x1, y1):
    region = pydicom.Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x0, y0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x1, y1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.025
    return region


def leaks(path: Path, secrets: list[str]) -> list[str]:
    raw = path.read_bytes().upper()
    return [s for s in secrets if s.upper().encode() in raw]


# ------------------------------------------------------------------------------ acceptance


@pytest.mark.parametrize("date_shift_days", [None, -321])
@pytest.mark.parametrize("keep_source_references", [False, True])
def test_anonymised_export_contains_no_identity_anywhere(
    pair, tmp_path, date_shift_days, keep_source_references
):
    options = DicomExportOptions(
        anonymise=True, pseudonym_file=tmp_path / "pseudonyms.json",
        date_shift_days=date_shift_days, keep_source_references=keep_source_references,
    )
    out = export_derived_dicom(pair.result, pair.mri, pair.us, tmp_path / "fused.dcm", options)
    assert leaks(out, SECRETS) == []
    assert leaks(out, pair.uids) == []
    ds = pydicom.dcmread(out)
    assert str(ds.PatientName) == ds.PatientID + "^" and ds.PatientID.startswith("EF-")
    assert "MR image 2.25." in ds.DerivationDescription
    assert "mri-source" in json.loads(ds.ImageComments)
    if keep_source_references:
        assert len(ds.SourceImageSequence) == 2
    else:
        assert "SourceImageSequence" not in ds


def test_non_dicom_source_is_named_by_a_keyed_hash(pair, tmp_path):
    npy = tmp_path / f"{FILE_STEM}_mr.npy"
    np.save(npy, pair.mri.pixels)
    options = DicomExportOptions(anonymise=True)
    out = export_derived_dicom(pair.result, load_scan(npy), pair.us, tmp_path / "f.dcm", options)
    assert leaks(out, SECRETS + pair.uids) == []
    assert "non-DICOM file hmac:" in pydicom.dcmread(out).DerivationDescription


def test_identified_export_still_names_its_sources(pair, tmp_path):
    """The guard of the acceptance test bites: without anonymisation the identity is there."""
    out = export_derived_dicom(pair.result, pair.mri, pair.us, tmp_path / "f.dcm")
    assert {"ZYXWOOD", "8675309", FILE_STEM} <= set(leaks(out, SECRETS))
    assert leaks(out, pair.uids)


# ---------------------------------------------------------------------- PS3.15 details


def test_basic_profile_attributes(pair, tmp_path):
    options = DicomExportOptions(anonymise=True, date_shift_days=-10)
    ds = pydicom.dcmread(
        export_derived_dicom(pair.result, pair.mri, pair.us, tmp_path / "f.dcm", options)
    )
    assert not ds.PatientSex and not ds.PatientBirthDate and not ds.StudyTime
    assert not ds.ContentTime and "InstanceCreationTime" not in ds
    assert ds.StudyDate == shift_date(PATIENT.study_date, -10)
    for item in ds.ContributingEquipmentSequence:
        assert "ContributionDateTime" not in item
    codes = [(c.CodeValue, c.CodingSchemeDesignator) for c in
             ds.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113107", "DCM")]
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    removed = pydicom.dcmread(export_derived_dicom(
        pair.result, pair.mri, pair.us, tmp_path / "g.dcm", DicomExportOptions(anonymise=True)))
    assert not removed.StudyDate and not removed.ContentDate
    assert [c.CodeValue for c in removed.DeidentificationMethodCodeSequence] == ["113100"]
    assert removed.LongitudinalTemporalInformationModified == "REMOVED"


def test_pseudonym_per_patient_kept_in_the_users_file(pair, tmp_path):
    mapping = tmp_path / "pseudonyms.json"
    options = DicomExportOptions(anonymise=True, pseudonym_file=mapping)
    other = make_pair(tmp_path / "other", PatientID="MRN-0000001", PatientName="OTHER^PERSON")

    def export(p: Pair, name: str):
        return pydicom.dcmread(export_derived_dicom(p.result, p.mri, p.us, tmp_path / name,
                                                    options))

    first, again, second = export(pair, "a.dcm"), export(pair, "b.dcm"), export(other, "c.dcm")
    assert first.PatientID == again.PatientID != second.PatientID
    assert first.StudyInstanceUID == again.StudyInstanceUID != second.StudyInstanceUID
    content = json.loads(mapping.read_text())
    assert {(e["patient_id"], e["pseudonym"]) for e in content["patients"]} == {
        ("MRN-8675309", first.PatientID), ("MRN-0000001", second.PatientID)}
    assert stat.S_IMODE(os.stat(mapping).st_mode) == 0o600
    # without the file the mapping is fresh: another pseudonym and another study UID
    fresh = pydicom.dcmread(export_derived_dicom(
        pair.result, pair.mri, pair.us, tmp_path / "d.dcm", DicomExportOptions(anonymise=True)))
    assert fresh.PatientID != first.PatientID
    assert fresh.StudyInstanceUID != first.StudyInstanceUID


def test_study_uid_needs_the_secret(pair):
    """uid' is a keyed hash: another key, another UID; the key's owner gets the same one."""
    original = pair.us.info.study_instance_uid
    key = Pseudonyms(b"k" * 32)
    assert key.uid(original) == Pseudonyms(b"k" * 32).uid(original)
    assert key.uid(original) != Pseudonyms(b"j" * 32).uid(original)
    assert key.uid(original).startswith("2.25.") and len(key.uid(original)) <= 64
    assert pydicom.uid.UID(key.uid(original)).is_valid


def test_damaged_pseudonym_file_is_refused_not_overwritten(pair, tmp_path):
    mapping = tmp_path / "pseudonyms.json"
    mapping.write_text("{not json")
    options = DicomExportOptions(anonymise=True, pseudonym_file=mapping)
    with pytest.raises(PseudonymFileError, match="cannot be read"):
        export_derived_dicom(pair.result, pair.mri, pair.us, tmp_path / "f.dcm", options)
    assert mapping.read_text() == "{not json"


# ------------------------------------------------------------------------ burned-in text


@pytest.mark.parametrize("us_says,mri_says,expected", [
    ("NO", "NO", "NO"), ("YES", "NO", "YES"), (None, "NO", "YES"), ("NO", "YES", "YES"),
])
def test_burned_in_annotation_from_the_sources(tmp_path, us_says, mri_says, expected):
    pair = make_pair(tmp_path / "src", BurnedInAnnotation=us_says)
    mri_ds = pair.mri.dataset
    mri_ds.BurnedInAnnotation = mri_says
    options = DicomExportOptions(anonymise=True)
    ds = pydicom.dcmread(export_derived_dicom(pair.result, pair.mri, pair.us,
                                              tmp_path / "f.dcm", options))
    assert ds.BurnedInAnnotation == expected
    assert ds.PatientIdentityRemoved == ("YES" if expected == "NO" else "NO")


def test_png_ultrasound_may_carry_burned_in_text(pair, tmp_path):
    from PIL import Image

    png = tmp_path / "us.png"
    Image.fromarray(np.round(pair.us.pixels * 100).astype(np.uint8)).save(png)
    out = export_derived_dicom(pair.result, pair.mri, load_scan(png), tmp_path / "f.dcm",
                               DicomExportOptions(anonymise=True))
    ds = pydicom.dcmread(out)
    assert ds.BurnedInAnnotation == "YES" and ds.PatientIdentityRemoved == "NO"


def test_blank_outside_the_ultrasound_region(tmp_path):
    # region columns 10..49, rows 5..54 (inclusive); "text" burned in the top-left corner
    pair = make_pair(tmp_path / "src", BurnedInAnnotation="YES",
                     SequenceOfUltrasoundRegions=[_region(10, 5, 49, 54)])
    fused = pair.result.fused.copy()
    fused[0:4, 0:8] = 5.0  # bright text outside the region
    result = FusionResult(fused, "blend", None, 0.0, seed=0)
    options = DicomExportOptions(anonymise=True, blank_outside_region=True)
    out = export_derived_dicom(result, pair.mri, pair.us, tmp_path / "f.dcm", options)
    ds = pydicom.dcmread(out)
    stored = ds.pixel_array
    inside = np.zeros(fused.shape, dtype=bool)
    inside[5:55, 10:50] = True
    assert np.all(stored[~inside] == 0)
    assert stored[inside].min() > 0 or fused[inside].min() == fused[inside].min()
    np.testing.assert_allclose(stored[inside] * float(ds.RescaleSlope)
                               + float(ds.RescaleIntercept), fused[inside],
                               atol=float(ds.RescaleSlope))
    assert ds.BurnedInAnnotation == "NO" and ds.PatientIdentityRemoved == "YES"
    assert "113101" in [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]


def test_blank_outside_the_users_region_and_no_region_known(pair, tmp_path):
    from PIL import Image

    options = DicomExportOptions(anonymise=True, blank_outside_region=True, region=(2, 3, 40, 50))
    ds = pydicom.dcmread(export_derived_dicom(pair.result, pair.mri, pair.us,
                                              tmp_path / "f.dcm", options))
    assert np.all(ds.pixel_array[:2] == 0) and np.all(ds.pixel_array[:, 50:] == 0)
    assert ds.pixel_array[2:40, 3:50].max() > 0
    png = tmp_path / "us.png"
    Image.fromarray(np.round(pair.us.pixels * 100).astype(np.uint8)).save(png)
    with pytest.raises(DicomExportError, match="region is not known"):
        export_derived_dicom(pair.result, pair.mri, load_scan(png), tmp_path / "g.dcm",
                             DicomExportOptions(anonymise=True, blank_outside_region=True))
    assert not (tmp_path / "g.dcm").exists()


# ------------------------------------------------------------------------- safe writing


def test_export_never_overwrites_a_source(pair, tmp_path):
    before = pair.us.path.read_bytes()
    with pytest.raises(DicomExportError, match="one of the input scans"):
        export_derived_dicom(pair.result, pair.mri, pair.us, pair.us.path)
    assert pair.us.path.read_bytes() == before


# -------------------------------------------------------------------- command-line flags


def test_export_flags_give_the_options_and_check_before_work(pair, tmp_path):
    import argparse

    from engine.dicom.export import check_export_options
    from engine.dicom.export_arguments import add_export_arguments, export_options
    from engine.errors import ParameterError

    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    mapping = tmp_path / "p.json"
    options = export_options(parser.parse_args(
        ["--anonymise", "--pseudonym-file", str(mapping), "--date-shift-days", "-7",
         "--blank-outside-region"]))
    assert options == DicomExportOptions(anonymise=True, pseudonym_file=mapping,
                                         date_shift_days=-7, blank_outside_region=True)
    assert export_options(parser.parse_args([])) == DicomExportOptions()
    with pytest.raises(ParameterError, match="need --anonymise"):
        export_options(parser.parse_args(["--date-shift-days", "3"]))
    mapping.write_text("[]")
    with pytest.raises(PseudonymFileError):
        export_options(parser.parse_args(["--anonymise", "--pseudonym-file", str(mapping)]))
    check_export_options(options, pair.us)  # the synthetic US has a region
    png = tmp_path / "us.png"
    from PIL import Image

    Image.fromarray(np.round(pair.us.pixels * 100).astype(np.uint8)).save(png)
    with pytest.raises(DicomExportError, match="region is not known"):
        check_export_options(options, load_scan(png))


def test_date_shift_out_of_the_calendar_removes_the_date():
    assert shift_date("20240517", -3) == "20240514"
    assert shift_date("20240517", 10**7) is None


def test_cli_anonymised_dicom_with_pseudonym_file_and_blanking(pair, tmp_path, capsys):
    from engine.cli import main

    mapping, out = tmp_path / "pseudonyms.json", tmp_path / "fused.dcm"
    args = ["fuse", "--mri", str(pair.mri.path), "--us", str(pair.us.path), "--out", str(out),
            "--quiet", "--iterations", "1", "--anonymise", "--pseudonym-file", str(mapping),
            "--date-shift-days", "-30", "--blank-outside-region"]
    assert main(args) == 0, capsys.readouterr().err
    assert leaks(out, SECRETS + pair.uids) == []
    ds = pydicom.dcmread(out)
    entry = json.loads(mapping.read_text())["patients"][0]
    assert entry["patient_id"] == PATIENT.patient_id and ds.PatientID == entry["pseudonym"]
    assert ds.StudyDate == shift_date(PATIENT.study_date, -30)
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == [
        "113100", "113101", "113107"]
    assert ds.BurnedInAnnotation == "NO" and ds.PatientIdentityRemoved == "YES"


def test_cli_refuses_blanking_without_a_region_before_fusing(pair, tmp_path, capsys,
                                                             monkeypatch):
    from PIL import Image

    import engine.pipeline
    from engine.cli import main

    def no_fusion(*args, **kwargs):
        raise AssertionError("the fusion ran before the export options were checked")

    monkeypatch.setattr(engine.pipeline, "fuse", no_fusion)

    png = tmp_path / "us.png"
    Image.fromarray(np.round(pair.us.pixels * 100).astype(np.uint8)).save(png)
    out = tmp_path / "fused.dcm"
    code = main(["fuse", "--mri", str(pair.mri.path), "--us", str(png), "--out", str(out),
                 "--quiet", "--anonymise", "--blank-outside-region"])
    err = capsys.readouterr().err
    assert code == 2 and "region is not known" in err and err.count("\n") == 1
    assert not out.exists()
