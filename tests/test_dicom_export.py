"""DICOM derived-image export: round trip from two DICOM sources, dciodvfy, anonymisation."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.dicom import (
    DicomExportOptions,
    SourcePatient,
    export_derived_dicom,
    read_dicom,
    write_source_dicom,
)
from engine.dicom.export import LT_MAX, ST_MAX, TRUNCATION_MARK, provenance_record
from engine.dicom.quantise import STORED_MAX, quantise
from engine.errors import InvalidImageError
from engine.fusion import FusionResult, WeightsIdentity
from engine.io import load_scan
from engine.pairing import pair_scans

pydicom = pytest.importorskip("pydicom")

US_SPACING_MM = 0.25
D = 6
SIZE = 120
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


# ----------------------------------------------------------------------------- validator


def dciodvfy_errors(path: Path) -> list[str]:
    """Error lines of dciodvfy for ``path`` (skips without dciodvfy, fails on CI)."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("dciodvfy (Debian package dicom3tools) is required on CI")
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


# ------------------------------------------------------------------------------ the case


@dataclass(frozen=True)
class RoundTripCase:
    mri_path: Path
    us_path: Path
    mri: object
    us: object
    result: FusionResult


def _synthetic_images(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Phantom pair (engine.phantom) when available, else a smooth deterministic pair."""
    if importlib.util.find_spec("engine.phantom") is not None:
        from engine.phantom import make_phantom_pair

        pair = make_phantom_pair(seed=seed, size=SIZE, d=D)
        return pair.mri.pixels, pair.us.pixels
    v, u = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    us = 1.0 + np.sin(6 * u) * np.cos(4 * v) + 0.5 * u
    return us.reshape(SIZE // D, D, SIZE // D, D).mean(axis=(1, 3)), us


def _fuse(mri, us) -> FusionResult:
    """PALM (engine.methods 'palm') on the pair; a fixed blend when PALM is not available."""
    fusion_input = pair_scans(mri, us)
    assert fusion_input.d == D  # from the spacings d * s and s (issue point 2)
    if importlib.util.find_spec("engine.methods.palm_method") is not None:
        from engine.methods import run
        from engine.methods.palm_method import PalmMethodParams

        params = PalmMethodParams(iterations=2, despeckle=False)
        result = run("palm", fusion_input, params, device="cpu")
        result.seed = 0
        return result
    upsampled = np.kron(fusion_input.y_m, np.ones((D, D)))
    return FusionResult(0.5 * (upsampled + fusion_input.y_u), "blend", None, 0.0, seed=0)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> RoundTripCase:
    folder = tmp_path_factory.mktemp("dicom-sources")
    mri_pixels, us_pixels = _synthetic_images(seed=0)
    patient = SourcePatient(study_instance_uid=pydicom.uid.generate_uid())
    mri_path = write_source_dicom(mri_pixels, folder / "mr.dcm", "MR",
                                  (D * US_SPACING_MM,) * 2, patient, series_number=1)
    us_path = write_source_dicom(us_pixels, folder / "us.dcm", "US",
                                 (US_SPACING_MM,) * 2, patient, series_number=2)
    mri, us = load_scan(mri_path), load_scan(us_path)
    return RoundTripCase(mri_path, us_path, mri, us, _fuse(mri, us))


# ------------------------------------------------------------------------ the round trip


def test_round_trip_pixels_references_uids_spacing_provenance(case, tmp_path):
    out = export_derived_dicom(case.result, case.mri, case.us, tmp_path / "fused.dcm")
    ds = pydicom.dcmread(out)
    back = read_dicom(out)
    fused = case.result.fused

    # pixels equal within the 16-bit quantisation (half a step of the rescale slope)
    slope = float(ds.RescaleSlope)
    assert slope == pytest.approx((fused.max() - fused.min()) / STORED_MAX, rel=1e-9)
    assert np.max(np.abs(back.pixels - fused)) <= 0.5 * slope * (1 + 1e-6)
    assert back.shape == case.us.shape

    # identity: new SOP and series, patient and study of the US source
    us_ds, mr_ds = pydicom.dcmread(case.us_path), pydicom.dcmread(case.mri_path)
    assert ds.SOPClassUID == SC_IMAGE_STORAGE
    assert ds.SOPInstanceUID not in (us_ds.SOPInstanceUID, mr_ds.SOPInstanceUID)
    assert ds.SeriesInstanceUID not in (us_ds.SeriesInstanceUID, mr_ds.SeriesInstanceUID)
    assert ds.StudyInstanceUID == us_ds.StudyInstanceUID
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        assert ds[keyword].value == us_ds[keyword].value, keyword

    # what the file says about itself
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
    assert ds.ConversionType == "WSD"
    assert ds.BurnedInAnnotation == "NO"
    assert [float(v) for v in ds.PixelSpacing] == [US_SPACING_MM, US_SPACING_MM]
    assert back.info.pixel_spacing_mm == (US_SPACING_MM, US_SPACING_MM)
    assert float(ds.WindowCenter) == pytest.approx((fused.max() + fused.min()) / 2, rel=1e-9)
    assert float(ds.WindowWidth) == pytest.approx(fused.max() - fused.min(), rel=1e-9)

    # references to both sources with their purpose
    items = ds.SourceImageSequence
    assert [i.ReferencedSOPInstanceUID for i in items] == [mr_ds.SOPInstanceUID,
                                                           us_ds.SOPInstanceUID]
    assert [i.ReferencedSOPClassUID for i in items] == [mr_ds.SOPClassUID, us_ds.SOPClassUID]
    for item in items:
        code = item.PurposeOfReferenceCodeSequence[0]
        assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == SOURCE_PURPOSE
        assert "ReferencedFrameNumber" not in item

    # provenance: summary and full record
    record = case.result.provenance()
    description = ds.DerivationDescription
    assert len(description) <= ST_MAX
    for value in (record["method"], record["seed"], record["software"], record["weights"]):
        assert value in description
    assert f"seed {case.result.seed}" in description
    full = json.loads(ds.ImageComments)
    assert full == provenance_record(case.result, case.mri, case.us)
    assert full["parameters"] == record["parameters"]


def test_export_is_valid_for_dciodvfy(case, tmp_path):
    out = export_derived_dicom(case.result, case.mri, case.us, tmp_path / "fused.dcm")
    assert dciodvfy_errors(out) == []


def test_pairing_resamples_a_non_integer_spacing_ratio(case, tmp_path):
    odd = write_source_dicom(case.mri.pixels, tmp_path / "mr.dcm", "MR",
                             (2.5 * US_SPACING_MM,) * 2)
    resampled = pair_scans(read_dicom(odd), case.us)  # the MRI goes onto a grid d x US spacing
    assert resampled.mri.info.pixel_spacing_mm == pytest.approx((2 * US_SPACING_MM,) * 2)
    close = write_source_dicom(case.mri.pixels, tmp_path / "mr2.dcm", "MR",
                               (1.04 * D * US_SPACING_MM,) * 2)
    assert pair_scans(read_dicom(close), case.us).d == D  # within the 5 % tolerance


def test_weights_hash_and_long_parameters(case, tmp_path):
    @dataclass(frozen=True)
    class LongParams:
        schedule: str = "x" * 3000

    weights = (WeightsIdentity("prior", "prior.pt", "ab" * 32),)
    result = FusionResult(case.result.fused, "ddfm-em", LongParams(), 1.0, seed=7,
                          weights=weights)
    out = export_derived_dicom(result, case.mri, case.us, tmp_path / "long.dcm")
    ds = pydicom.dcmread(out)
    assert len(ds.DerivationDescription) == ST_MAX
    assert ds.DerivationDescription.endswith(TRUNCATION_MARK)
    assert "sha256=" + "ab" * 32 in ds.DerivationDescription
    full = json.loads(ds.ImageComments)
    assert len(ds.ImageComments) <= LT_MAX
    assert json.loads(full["parameters"]) == {"schedule": "x" * 3000}
    assert dciodvfy_errors(out) == []


# ------------------------------------------------------------------------- anonymisation


@pytest.mark.parametrize("options", [
    DicomExportOptions(anonymise=True, date_shift_days=-400),
    DicomExportOptions(anonymise=True, keep_source_references=True, blank_outside_region=True),
])
def test_anonymised_exports_are_valid_for_dciodvfy(case, tmp_path, options):
    """What anonymisation removes is tested in test_anonymise.py; here: still a valid file."""
    out = export_derived_dicom(case.result, case.mri, case.us, tmp_path / "anon.dcm", options)
    assert dciodvfy_errors(out) == []


def test_malformed_source_dates_are_dropped_not_copied(case, tmp_path):
    ds = pydicom.dcmread(case.us_path)
    with pytest.warns(UserWarning, match="Invalid value"):
        ds.StudyDate, ds.StudyTime, ds.PatientBirthDate = "2024", "25:00", "19801340"
    ds.save_as(tmp_path / "us.dcm")
    out = export_derived_dicom(case.result, case.mri, read_dicom(tmp_path / "us.dcm"),
                               tmp_path / "fused.dcm")
    exported = pydicom.dcmread(out)
    assert not exported.StudyDate and not exported.StudyTime and not exported.PatientBirthDate
    assert exported.PatientID == ds.PatientID
    assert dciodvfy_errors(out) == []


# ---------------------------------------------------------------------- non-DICOM sources


def test_png_and_npy_sources_get_a_fresh_study(case, tmp_path):
    from PIL import Image

    png = tmp_path / "us.png"
    us8 = np.round(255 * (case.us.pixels - case.us.pixels.min()) / np.ptp(case.us.pixels))
    Image.fromarray(us8.astype(np.uint8)).save(png)
    npy = tmp_path / "mr.npy"
    np.save(npy, case.mri.pixels)
    mri, us = load_scan(npy), load_scan(png)
    out = export_derived_dicom(case.result, mri, us, tmp_path / "fused.dcm")
    ds = pydicom.dcmread(out)
    assert "SourceImageSequence" not in ds
    assert "PixelSpacing" not in ds
    assert ds.StudyInstanceUID != case.us.info.study_instance_uid
    pydicom.uid.UID(ds.StudyInstanceUID).is_valid  # noqa: B018
    assert "us.png" in ds.DerivationDescription and "mr.npy" in ds.DerivationDescription
    assert dciodvfy_errors(out) == []


def test_mixed_sources_reference_only_the_dicom_one(case, tmp_path):
    npy = tmp_path / "mr.npy"
    np.save(npy, case.mri.pixels)
    out = export_derived_dicom(case.result, load_scan(npy), case.us, tmp_path / "fused.dcm")
    ds = pydicom.dcmread(out)
    assert [i.ReferencedSOPInstanceUID for i in ds.SourceImageSequence] == [
        case.us.info.sop_instance_uid
    ]
    assert ds.StudyInstanceUID == case.us.info.study_instance_uid


def test_cine_source_references_the_frame_used(tmp_path):
    cine = Path(pydicom.__file__).parent / "data" / "test_files" / "examples_ybr_color.dcm"
    us = read_dicom(cine, frame=4)
    mri_path = tmp_path / "mr.npy"
    np.save(mri_path, us.pixels.reshape(60, 4, 80, 4).mean(axis=(1, 3)))
    mri = load_scan(mri_path)
    result = FusionResult(us.pixels / us.pixels.max(), "blend", None, 0.0, seed=1)
    out = export_derived_dicom(result, mri, us, tmp_path / "fused.dcm")
    ds = pydicom.dcmread(out)
    (item,) = ds.SourceImageSequence
    assert item.ReferencedFrameNumber == 5  # 1-based frame number of frame index 4
    assert ds.PatientID == pydicom.dcmread(cine).PatientID
    assert float(ds.PixelSpacing[0]) == pytest.approx(us.info.pixel_spacing_mm[0], rel=1e-9)
    assert dciodvfy_errors(out) == []


# ----------------------------------------------------------------------- quantisation


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 9)),
           elements=st.floats(-1e6, 1e6, allow_nan=False))
    | arrays(np.float64, (3, 4), elements=st.floats(1e6, 1e6 + 1e-3)),
)
def test_quantisation_error_is_at_most_half_a_step(image):
    """Slope and intercept as a reader parses them back restore every pixel within half a step,
    also for a narrow range far from zero (where rounding the intercept alone would not do)."""
    q = quantise(image)
    restored = q.slope * q.stored.astype(np.float64) + q.intercept
    if q.hi > q.lo:
        float_slack = 1e-12 * max(abs(q.lo), abs(q.hi))
        assert np.max(np.abs(restored - image)) <= 0.5 * q.slope + float_slack
    else:  # constant image: only the decimal-string rounding of the intercept remains
        np.testing.assert_allclose(restored, image, rtol=1e-8)
    assert q.stored.dtype == np.uint16


def test_non_finite_fused_image_is_refused(case, tmp_path):
    bad = case.result.fused.copy()
    bad[0, 0] = np.nan
    result = FusionResult(bad, "palm", None, 0.0)
    with pytest.raises(InvalidImageError, match="not numbers"):
        export_derived_dicom(result, case.mri, case.us, tmp_path / "bad.dcm")
