"""Pairing by physical geometry: spacings, d, region of interest, transform, safety checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydicom.dataset import Dataset

from engine.errors import GeometryError, PairingSafetyError, RegistrationError
from engine.geometry import AffineTransform2D, Roi, parse_roi, read_transform, write_transform
from engine.geometry.checks import SafetyOptions
from engine.pairing import PairingOptions, pair_scans
from engine.phantom import make_phantom_pair
from engine.scan import Scan, ScanInfo


def ramp_scan(shape, spacing, modality, a=(2.0, 3.0), **info):
    """Pixels that are an affine function of the physical position: a_y * y + a_x * x + 100."""
    rows, cols = np.indices(shape, dtype=np.float64)
    pixels = a[0] * rows * spacing + a[1] * cols * spacing + 100.0
    return Scan(pixels, ScanInfo(modality=modality, pixel_spacing_mm=(spacing, spacing), **info))


def test_phantom_passes_through_exactly():
    pair = make_phantom_pair(0, 120, 6)
    fusion_input = pair.fusion_input()
    assert fusion_input.d == 6 and fusion_input.y_u.shape == (120, 120)
    np.testing.assert_array_equal(fusion_input.y_m, pair.mri.pixels / pair.mri.pixels.max())


def test_any_sizes_pair_on_a_grid_exactly_d_times_the_us_spacing():
    mri = ramp_scan((13, 17), 0.57, "MR")
    us = Scan(
        np.ones((61, 97)) + np.arange(97), ScanInfo(modality="US", pixel_spacing_mm=(0.1, 0.1))
    )
    fusion_input = pair_scans(mri, us)
    h, w = fusion_input.y_m.shape
    assert fusion_input.d == 6 and fusion_input.y_u.shape == (6 * h, 6 * w)
    assert fusion_input.us.info.pixel_spacing_mm == (0.1, 0.1)
    assert fusion_input.mri.info.pixel_spacing_mm == pytest.approx((0.6, 0.6))
    assert "d = 6" in fusion_input.pairing.provenance()["pairing"]


def test_mri_is_sampled_through_the_transform():
    """y_m[k, l] = MRI(T(p_kl)) with p_kl on every d-th US pixel: an affine ramp is exact."""
    mri = ramp_scan((40, 40), 0.5, "MR")
    us = Scan(np.ones((200, 200)), ScanInfo(modality="US", pixel_spacing_mm=(0.1, 0.1)))
    transform = AffineTransform2D.from_parameters(3.0, 1.05, (0.37, -0.21), (10.0, 10.0))
    fusion_input = pair_scans(mri, us, options=PairingOptions(transform=transform))
    report = fusion_input.pairing
    box, geometry = report.box, report.geometry
    k, l = np.indices(fusion_input.y_m.shape)
    p = np.stack([(box.x + 5 * l) * 0.1, (box.y + 5 * k) * 0.1], axis=-1)
    c, t = np.array(transform.center), np.array(transform.translation)
    q = (p - c) @ transform.A.T + c + t - geometry.mri_origin  # q = A (p - c) + c + t
    expected = 2.0 * q[..., 1] + 3.0 * q[..., 0] + 100.0
    got = fusion_input.y_m * (geometry.sample_mri(mri.pixels, box).max())
    inner = (slice(3, -3), slice(3, -3))  # the spline's edge condition is not exact for ramps
    np.testing.assert_allclose(got[inner], expected[inner], rtol=0, atol=0.02)


def test_missing_spacing_names_the_flag():
    mri = ramp_scan((20, 20), 0.6, "MR")
    us = Scan(np.ones((120, 120)) + np.eye(120), ScanInfo(modality="US"))
    with pytest.raises(GeometryError, match="give it in mm with --us-spacing"):
        pair_scans(mri, us)
    assert pair_scans(mri, us, options=PairingOptions(us_spacing=0.1)).d == 6


def us_with_regions(shape=(100, 160)):
    """A US screen with two image panes (dual mode) and a text strip, like a scanner export."""
    ds = Dataset()
    panes = []
    for x0, x1 in ((4, 79), (80, 155)):
        item = Dataset()
        item.RegionSpatialFormat, item.RegionDataType = 1, 1
        item.RegionLocationMinX0, item.RegionLocationMaxX1 = x0, x1
        item.RegionLocationMinY0, item.RegionLocationMaxY1 = 10, 89
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3
        item.PhysicalDeltaX = item.PhysicalDeltaY = 0.01 if x0 == 4 else 0.02
        panes.append(item)
    text = Dataset()
    text.RegionSpatialFormat, text.RegionDataType = 0, 13
    text.RegionLocationMinX0, text.RegionLocationMaxX1 = 0, 159
    text.RegionLocationMinY0, text.RegionLocationMaxY1 = 90, 99
    ds.SequenceOfUltrasoundRegions = [*panes, text]
    pixels = np.ones(shape)
    pixels[90:] = 255.0  # burned-in text
    return Scan(pixels, ScanInfo(modality="US"), dataset=ds)


def test_us_region_crops_text_and_panes_and_gives_the_spacing():
    us = us_with_regions()
    us = us.with_pixels(us.pixels + np.random.default_rng(0).random(us.shape))
    mri = ramp_scan((16, 15), 0.5, "MR")
    fusion_input = pair_scans(mri, us)
    report = fusion_input.pairing
    assert report.roi.roi == Roi(4, 10, 76, 80) and report.geometry.us_spacing == (0.1, 0.1)
    assert report.box.y + report.box.h <= 90  # no text row fused
    assert "largest of 2 image panes" in report.provenance()["pairing-notes"]
    chosen = pair_scans(mri, us, options=PairingOptions(roi=parse_roi("80,10,76,80")))
    assert chosen.pairing.geometry.us_spacing == (0.2, 0.2) and chosen.d == 2


def test_roi_outside_the_image_is_one_sentence():
    mri, us = ramp_scan((16, 15), 0.5, "MR"), us_with_regions()
    with pytest.raises(GeometryError, match="lies outside the 160 x 100 px ultrasound image"):
        pair_scans(mri, us, options=PairingOptions(roi=Roi(100, 10, 80, 50)))
    with pytest.raises(GeometryError, match="expects four whole numbers"):
        parse_roi("1,2,3")


def test_patient_mismatch_needs_confirmation_and_modalities_are_checked():
    mri = ramp_scan((20, 20), 0.6, "MR", patient_id="A1", patient_name="Doe^Jane")
    us = ramp_scan((120, 120), 0.1, "US", patient_id="B2", patient_name="Roe^Ann")
    with pytest.raises(PairingSafetyError, match="--allow-different-patients"):
        pair_scans(mri, us)
    confirmed = pair_scans(mri, us, options=PairingOptions(safety=SafetyOptions(True)))
    assert "ultrasound's patient identity (B2)" in confirmed.pairing.provenance()["pairing-notes"]
    with pytest.raises(PairingSafetyError, match="is an MRI; swap --us"):
        pair_scans(mri, mri)
    ct = ramp_scan((20, 20), 0.6, "CT")
    with pytest.raises(PairingSafetyError, match="is a CT image, not an MRI"):
        pair_scans(ct, ramp_scan((120, 120), 0.1, "US"))
    research = PairingOptions(safety=SafetyOptions(allow_any_modality=True))
    assert pair_scans(ct, ramp_scan((120, 120), 0.1, "US"), options=research).d == 6


def test_transform_file_round_trip_and_bad_files(tmp_path):
    transform = AffineTransform2D.from_parameters(4.0, (0.95, 1.05), (1.5, -2.0), (3.0, 4.0))
    path = write_transform(transform, tmp_path / "t.json")
    again = read_transform(path)
    points = np.array([[0.0, 0.0], [10.0, 5.0]])
    np.testing.assert_allclose(again.apply(points), transform.apply(points))
    np.testing.assert_allclose(
        transform.inverse().apply(transform.apply(points)), points, atol=1e-12
    )
    content = json.loads(path.read_text())
    content["matrix"] = [[1.0, 2.0], [0.5, 1.0]]
    path.write_text(json.dumps(content))
    with pytest.raises(RegistrationError, match="not invertible"):
        read_transform(path)
    path.write_text("{not json")
    with pytest.raises(RegistrationError, match="is not an EndoFuse transform file"):
        read_transform(path)


def test_overlap_too_small_is_one_sentence():
    mri, us = ramp_scan((20, 20), 0.6, "MR"), ramp_scan((120, 120), 0.1, "US")
    far = PairingOptions(transform=AffineTransform2D(translation=(11.0, 0.0)))
    with pytest.raises(GeometryError, match="overlap on only"):
        pair_scans(mri, us, options=far)


def test_a_finer_mri_is_anti_aliased_before_sampling():
    """Stripes of period 5 MRI pixels sampled every 6th pixel alias to full contrast without the
    Gaussian filter (sigma = (6 - 1) / 2 pixels attenuates them to exp(-2 pi^2 sigma^2 / 25))."""
    cols = np.arange(120)
    mri = Scan(
        10.0 + np.sin(2 * np.pi * cols / 5)[None, :] * np.ones((120, 1)),
        ScanInfo(modality="MR", pixel_spacing_mm=(0.1, 0.1)),
    )
    us = Scan(
        np.ones((120, 120)) + np.eye(120), ScanInfo(modality="US", pixel_spacing_mm=(0.1, 0.1))
    )
    fusion_input = pair_scans(mri, us, options=PairingOptions(d=6))
    y_m = fusion_input.y_m * 11.0
    assert fusion_input.d == 6 and np.std(y_m[3:-3, 3:-3]) < 0.05
    assert "smoothed and downsampled" in fusion_input.pairing.provenance()["pairing-notes"]
