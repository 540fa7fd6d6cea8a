"""DICOM reading: the offline pydicom test files, colour, cine, compression, spacing, series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.dicom import read_dicom, write_source_dicom
from engine.dicom.read import pixel_spacing_mm
from engine.errors import EndoFuseError, InvalidImageError, ScanReadError
from engine.io import load_scan

pydicom = pytest.importorskip("pydicom")
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def pydicom_file(name: str) -> Path:
    """A file shipped inside pydicom (never the download-only ones)."""
    path = TEST_FILES / name
    assert path.exists(), f"{name} is not shipped with this pydicom"
    return path


def mr_small_reference() -> np.ndarray:
    """MR_small decoded by pydicom directly (it has no rescale: stored values are the values)."""
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    assert "RescaleSlope" not in ds
    return ds.pixel_array.astype(np.float64)


# ------------------------------------------------------------------ files of the issue


def test_mr_small_values_spacing_identity_and_header():
    scan = read_dicom(pydicom_file("MR_small.dcm"))
    np.testing.assert_array_equal(scan.pixels, mr_small_reference())
    assert scan.info.modality == "MR"
    assert scan.info.pixel_spacing_mm == (0.3125, 0.3125)
    assert scan.info.patient_id == "4MR1"
    assert scan.info.patient_name == "CompressedSamples^MR1"
    assert scan.info.window_center == 600.0
    assert scan.info.study_instance_uid and scan.info.sop_instance_uid
    assert scan.dataset is not None and "PixelData" not in scan.dataset
    assert scan.dataset.PatientID == "4MR1"


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_padded.dcm",
    ],
)
def test_lossless_syntaxes_give_the_same_pixels(name):
    scan = read_dicom(pydicom_file(name))
    np.testing.assert_array_equal(scan.pixels, mr_small_reference())


def test_overlay_mr_loads_with_spacing():
    scan = read_dicom(pydicom_file("examples_overlay.dcm"))
    assert scan.shape == (300, 484)
    assert scan.info.pixel_spacing_mm == pytest.approx((0.72314049586777,) * 2)


def test_ultrasound_cine_middle_frame_and_choice():
    path = pydicom_file("examples_ybr_color.dcm")
    middle = read_dicom(path)
    assert middle.shape == (240, 320)
    assert (middle.info.frame_count, middle.info.frame_index) == (30, 15)
    first, last = read_dicom(path, frame=0), read_dicom(path, frame=29)
    assert first.info.frame_index == 0 and last.info.frame_index == 29
    assert not np.array_equal(first.pixels, last.pixels)
    # spacing from the US region calibration: PhysicalDeltaX/Y are in cm
    delta_cm = 0.05104970559477806
    assert middle.info.pixel_spacing_mm == pytest.approx((delta_cm * 10, delta_cm * 10))
    assert middle.info.notes["spacing-source"] == "SequenceOfUltrasoundRegions"
    with pytest.raises(ScanReadError, match="30 frames.*frame 30 does not exist"):
        read_dicom(path, frame=30)


def test_cine_frame_matches_full_decode():
    """The single decoded frame equals the same frame of a full pydicom decode (as luminance)."""
    path = pydicom_file("examples_ybr_color.dcm")
    rgb = pydicom.dcmread(path).pixel_array[7].astype(np.float64)
    expected = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(read_dicom(path, frame=7).pixels, expected)


def test_ybr_full_luminance_is_the_y_component():
    """YBR_FULL -> RGB -> BT.601 luminance gives back Y, up to the rounding of R, G, B to
    integers and their clipping to [0, 255] for saturated colours."""
    path = pydicom_file("SC_ybr_full_422_uncompressed.dcm")
    ds = pydicom.dcmread(path)
    ds.pixel_array_options(raw=True)
    y = ds.pixel_array[..., 0].astype(np.float64)
    scan = read_dicom(path)
    assert scan.info.notes["photometric"].startswith("YBR_FULL_422")
    error = np.abs(scan.pixels - y)
    assert np.mean(error) < 0.5 and np.max(error) <= 2.0


def test_rgb_and_ybr_jpeg_of_one_picture_agree():
    rgb = read_dicom(pydicom_file("SC_rgb_dcmtk_+eb+cr.dcm")).pixels
    ybr = read_dicom(pydicom_file("SC_rgb_dcmtk_+eb+cy+n1.dcm")).pixels
    ybr422 = read_dicom(pydicom_file("SC_rgb_dcmtk_+eb+cy+s2.dcm")).pixels
    assert np.mean(np.abs(rgb - ybr)) < 2.0
    assert np.mean(np.abs(rgb - ybr422)) < 4.0


def test_palette_colour_becomes_luminance_with_region_spacing():
    from pydicom.pixels import apply_color_lut

    path = pydicom_file("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds).astype(np.float64) @ [0.299, 0.587, 0.114]
    scan = read_dicom(path)
    np.testing.assert_allclose(scan.pixels, expected)
    assert scan.info.notes["photometric"] == "palette colour -> luminance"
    assert scan.info.pixel_spacing_mm is not None
    assert scan.info.modality == "US"


def test_jpeg2000_colour_ultrasound():
    scan = read_dicom(pydicom_file("examples_jpeg2k.dcm"))
    assert scan.shape == (480, 640) and scan.info.modality == "US"
    assert 0 <= scan.pixels.min() < scan.pixels.max() <= 255


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_jpeg_gdcm.dcm", "SC_rgb_jls_lossy_line.dcm", "JPGExtended.dcm", "SC_rgb_rle.dcm"],
)
def test_other_compressions_decode(name):
    scan = read_dicom(pydicom_file(name))
    assert np.all(np.isfinite(scan.pixels)) and scan.pixels.max() > scan.pixels.min()


def test_load_scan_dispatches_to_the_dicom_reader():
    scan = load_scan(pydicom_file("MR_small.dcm"))
    assert scan.info.modality == "MR" and scan.dataset is not None


# ---------------------------------------------------------------------- clear refusals


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("MR_truncated.dcm", "damaged"),
        ("badVR.dcm", "damaged"),
        ("meta_missing_tsyntax.dcm", "damaged"),
        ("no_meta.dcm", "not a DICOM file"),
        ("rtplan.dcm", "without an image"),
        ("test-SR.dcm", "without an image"),
        ("waveform_ecg.dcm", "without an image"),
        ("liver_1frame.dcm", "unsupported"),
        ("JPEG-lossy.dcm", "cannot be decoded"),
    ],
)
def test_broken_or_unsupported_files_give_one_clear_sentence(name, words):
    with pytest.raises(ScanReadError) as caught:
        read_dicom(pydicom_file(name))
    message = str(caught.value)
    assert words in message and name in message
    assert message.endswith((".", ")")) and "\n" not in message


def test_tiny_image_is_an_invalid_image():
    with pytest.raises(InvalidImageError, match="too small"):
        read_dicom(pydicom_file("SC_rgb_small_odd.dcm"))


def test_missing_and_non_dicom_files(tmp_path):
    with pytest.raises(ScanReadError, match="does not exist"):
        read_dicom(tmp_path / "nothing.dcm")
    fake = tmp_path / "notes.dcm"
    fake.write_text("this is a text file, not DICOM\n" * 20)
    with pytest.raises(ScanReadError, match="not a DICOM file"):
        read_dicom(fake)


def test_every_offline_pydicom_file_loads_or_raises_a_typed_error():
    loaded = 0
    for path in sorted(TEST_FILES.glob("*.dcm")):
        try:
            scan = read_dicom(path)
        except EndoFuseError as exc:
            assert str(exc)
            continue
        assert scan.pixels.ndim == 2 and np.all(np.isfinite(scan.pixels))
        loaded += 1
    assert loaded >= 40


# ------------------------------------------------------------------ modality LUT, spacing


def test_modality_lut_rescale_is_applied(tmp_path):
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.RescaleSlope, ds.RescaleIntercept = "2.5", "-100"
    ds.save_as(tmp_path / "rescaled.dcm")
    scan = read_dicom(tmp_path / "rescaled.dcm")
    np.testing.assert_allclose(scan.pixels, 2.5 * mr_small_reference() - 100)


def test_monochrome1_is_mirrored_so_bright_means_large(tmp_path):
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "mono1.dcm")
    scan = read_dicom(tmp_path / "mono1.dcm")
    reference = mr_small_reference()
    np.testing.assert_array_equal(scan.pixels, reference.min() + reference.max() - reference)
    assert scan.info.window_center == reference.min() + reference.max() - 600.0


def test_spacing_precedence_and_imager_spacing():
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.ImagerPixelSpacing = ["0.2", "0.3"]
    assert pixel_spacing_mm(ds) == ((0.2, 0.3), "ImagerPixelSpacing")
    ds.PixelSpacing = ["0.5", "0.6"]
    assert pixel_spacing_mm(ds) == ((0.5, 0.6), "PixelSpacing")
    ds.PixelSpacing = ["0", "-1"]  # nonsense values are ignored, the next source is used
    assert pixel_spacing_mm(ds) == ((0.2, 0.3), "ImagerPixelSpacing")


def test_ultrasound_regions_largest_calibrated_region_wins():
    from pydicom.dataset import Dataset

    def region(delta_x, delta_y, units, box):
        item = Dataset()
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = units
        item.PhysicalDeltaX, item.PhysicalDeltaY = delta_x, delta_y
        (item.RegionLocationMinX0, item.RegionLocationMinY0,
         item.RegionLocationMaxX1, item.RegionLocationMaxY1) = box
        return item

    ds = Dataset()
    ds.SequenceOfUltrasoundRegions = [
        region(0.01, 0.02, 3, (0, 0, 10, 10)),  # small calibrated region
        region(0.03, 0.04, 3, (0, 0, 300, 200)),  # the image region
        region(0.5, 0.5, 4, (0, 0, 400, 400)),  # seconds (Doppler), not a distance
    ]
    spacing, source = pixel_spacing_mm(ds)
    assert source == "SequenceOfUltrasoundRegions"
    assert spacing == pytest.approx((0.4, 0.3))  # (row = delta Y, column = delta X) in mm


def test_written_sources_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.uniform(10, 50, size=(24, 30))
    mr = read_dicom(write_source_dicom(image, tmp_path / "mr.dcm", "MR", (1.5, 1.5)))
    us = read_dicom(write_source_dicom(image, tmp_path / "us.dcm", "US", (0.5, 0.25)))
    assert mr.info.pixel_spacing_mm == (1.5, 1.5) and mr.info.modality == "MR"
    assert us.info.pixel_spacing_mm == pytest.approx((0.5, 0.25)) and us.info.modality == "US"
    step = (image.max() - image.min()) / 4095
    assert np.max(np.abs(mr.pixels - image)) <= step / 2 + 1e-9
    assert mr.info.patient_id == us.info.patient_id == "PHANTOM-0001"


# ------------------------------------------------------------------------- series folders


def _write_series(folder: Path, count: int, prefix: str = "IM") -> list[float]:
    """Slices of one MR series, written in an order that differs from their positions."""
    from pydicom.uid import generate_uid

    series_uid = generate_uid()
    reference = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array
    positions = []
    for k, z in enumerate(np.random.default_rng(0).permutation(count)):
        ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, float(z) * 3.0]
        ds.InstanceNumber = count - int(z)  # reversed numbering: position must win
        ds.PixelData = (reference + int(z) * 10).astype(reference.dtype).tobytes()
        ds.save_as(folder / f"{prefix}{k:04d}")
        positions.append(float(z) * 3.0)
    return sorted(positions)


def test_series_folder_middle_slice_by_position(tmp_path):
    _write_series(tmp_path, 5)
    (tmp_path / "README.txt").write_text("not an image")
    middle = load_scan(tmp_path)
    assert (middle.info.frame_count, middle.info.frame_index) == (5, 2)
    np.testing.assert_array_equal(middle.pixels, mr_small_reference() + 20)
    first = read_dicom(tmp_path, frame=0)
    np.testing.assert_array_equal(first.pixels, mr_small_reference())
    with pytest.raises(ScanReadError, match="5 slices"):
        read_dicom(tmp_path, frame=5)


def test_folder_with_two_series_or_no_image_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_series(tmp_path / "a", 2, "ONE")
    _write_series(tmp_path / "a", 2, "TWO")
    with pytest.raises(ScanReadError, match="holds 2 series"):
        read_dicom(tmp_path / "a")
    (tmp_path / "b" / "x.txt").write_text("nothing")
    with pytest.raises(ScanReadError, match="contains no DICOM image"):
        read_dicom(tmp_path / "b")


def test_folder_with_one_cine_file_reads_its_frame(tmp_path):
    import shutil

    shutil.copy(pydicom_file("examples_ybr_color.dcm"), tmp_path / "cine.dcm")
    scan = read_dicom(tmp_path, frame=3)
    assert (scan.info.frame_count, scan.info.frame_index) == (30, 3)
