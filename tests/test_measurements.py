"""Calipers: distances and regions in mm from the pixel spacing, statistics on every layer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import measurements as m
from engine.scan import Scan, ScanInfo


def test_distance_uses_row_and_column_spacing_separately():
    cal = m.Calibration(row_mm=0.5, col_mm=0.2)
    # 30 columns and 40 rows: sqrt((40 * 0.5)^2 + (30 * 0.2)^2) = sqrt(400 + 36)
    segment = m.Distance((10.0, 5.0), (40.0, 45.0))
    assert segment.length(cal).value == pytest.approx(math.sqrt(436.0), rel=1e-12)
    assert segment.length(cal).unit == "mm"
    # a purely horizontal and a purely vertical segment of 10 grid units
    assert m.Distance((0, 0), (10, 0)).length(cal).value == pytest.approx(2.0)
    assert m.Distance((0, 0), (0, 10)).length(cal).value == pytest.approx(5.0)
    assert segment.describe(cal).startswith("distance 20.9 mm")


def test_without_calibration_everything_is_in_pixels():
    segment = m.Distance((0.0, 0.0), (3.0, 4.0))
    assert segment.length(None).value == 5.0
    assert segment.length(None).unit == "px"
    assert "mm" not in segment.describe(None)
    ellipse = m.RoiShape("ellipse", (10, 10), (4, 2))
    assert ellipse.area(None).unit == "px²" and not ellipse.area(None).calibrated
    image = Scan(np.ones((8, 8)))
    assert m.scan_calibration(image) is None and m.grid_calibration(image, image, 2) is None


def test_calibration_from_the_scans_us_first_then_mri_over_d():
    us = Scan(np.ones((8, 8)), ScanInfo(pixel_spacing_mm=(0.3, 0.2),
                                        notes={"spacing-source": "SequenceOfUltrasoundRegions"}))
    mri = Scan(np.ones((4, 4)), ScanInfo(pixel_spacing_mm=(1.2, 0.8)))
    assert m.grid_calibration(us, mri, 2) == m.Calibration(0.3, 0.2, "SequenceOfUltrasoundRegions")
    assert m.grid_calibration(Scan(np.ones((8, 8))), mri, 4) == m.Calibration(0.3, 0.2)
    assert m.scan_calibration(mri, 2).row_mm == pytest.approx(0.6)


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0])
def test_ellipse_area_is_analytic_and_the_pixel_count_agrees(angle):
    cal = m.Calibration(row_mm=0.25, col_mm=0.1)
    ellipse = m.RoiShape("ellipse", (200.3, 150.7), (160.0, 90.0), angle)
    expected = math.pi * 80.0 * 45.0 * 0.25 * 0.1
    assert ellipse.area(cal).value == pytest.approx(expected, rel=1e-12)
    assert ellipse.area(cal).unit == "mm²"
    rows, _ = ellipse.pixels_inside((400, 400))
    assert rows.size * cal.pixel_area_mm2 == pytest.approx(expected, rel=0.01)
    rectangle = m.RoiShape("rectangle", (200.0, 150.0), (160.0, 90.0), angle)
    assert rectangle.area(cal).value == pytest.approx(160 * 90 * 0.025)
    assert rectangle.pixels_inside((400, 400))[0].size == pytest.approx(160 * 90, rel=0.01)


def test_rotation_turns_the_width_axis():
    # a 20 x 4 rectangle turned by 90 degrees stands upright: 4 wide, 20 tall
    upright = m.RoiShape("rectangle", (50.0, 50.0), (20.0, 4.0), 90.0)
    rows, cols = upright.pixels_inside((100, 100))
    assert np.ptp(rows) + 1 == 20 and np.ptp(cols) + 1 == 4
    assert upright.bounds() == pytest.approx((48, 40, 52, 60))


def test_mean_and_sd_match_numpy_on_the_mask_of_every_layer():
    rng = np.random.default_rng(3)
    fine = rng.normal(size=(60, 72))
    coarse = rng.normal(size=(10, 12))  # d = 6
    shape = m.RoiShape("ellipse", (30.0, 25.0), (33.0, 21.0), 20.0)
    yy, xx = np.mgrid[0:60, 0:72]
    mask = shape.inside(xx + 0.5, yy + 0.5)
    stats = m.roi_stats(shape, [m.Layer("US", fine), m.Layer("MRI", coarse, cell=6)], None)
    us, mri = stats.layers
    assert us.n == mask.sum() == mri.n
    assert us.mean == pytest.approx(fine[mask].mean(), rel=1e-12)
    assert us.sd == pytest.approx(fine[mask].std(ddof=1), rel=1e-12)
    on_grid = np.kron(coarse, np.ones((6, 6)))
    assert mri.mean == pytest.approx(on_grid[mask].mean(), rel=1e-12)
    assert mri.sd == pytest.approx(on_grid[mask].std(ddof=1), rel=1e-12)
    text = stats.describe()
    assert text.startswith("ellipse area") and "px²" in text and "US " in text


def test_a_region_outside_the_image_has_no_pixels():
    shape = m.RoiShape("rectangle", (-50.0, -50.0), (10.0, 10.0))
    stats = m.roi_stats(shape, [m.Layer("US", np.ones((20, 20)))], m.Calibration(1.0, 1.0))
    assert stats.layers[0].n == 0 and "no pixels" in stats.describe()
