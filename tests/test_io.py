"""Loading scans from every supported format, pairing, and the typed errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import tifffile
from PIL import Image

from engine.errors import GeometryError, InvalidImageError, ScanReadError
from engine.io import load_scan, save_image
from engine.pairing import pair_scans
from engine.scan import Scan


def ramp(h=40, w=30):
    return np.add.outer(np.arange(h), np.arange(w)).astype(np.float64)


def test_png_8_bit_gray_and_colour(tmp_path):
    gray = (ramp() % 256).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_scan(tmp_path / "g.png").pixels, gray)
    rgb = np.stack([gray, gray // 2, gray // 3], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    expected = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(load_scan(tmp_path / "c.png").pixels, expected)


def test_png_16_bit_keeps_values(tmp_path):
    img = (ramp() * 500).astype(np.uint16)
    Image.fromarray(img).save(tmp_path / "w.png")
    np.testing.assert_array_equal(load_scan(tmp_path / "w.png").pixels, img)


def test_tiff_jpeg_npy_mat(tmp_path):
    img = ramp()
    tifffile.imwrite(tmp_path / "a.tiff", img.astype(np.float32))
    np.testing.assert_allclose(load_scan(tmp_path / "a.tiff").pixels, img)
    np.save(tmp_path / "a.npy", img)
    np.testing.assert_array_equal(load_scan(tmp_path / "a.npy").pixels, img)
    scipy.io.savemat(tmp_path / "a.mat", {"label": np.array([1.0]), "irm": img, "other": img * 2})
    with pytest.raises(ScanReadError, match=r"several 2-D images \(irm, other\)"):
        load_scan(tmp_path / "a.mat")
    np.testing.assert_array_equal(load_scan(tmp_path / "a.mat", variable="irm").pixels, img)
    scan = load_scan(tmp_path / "a.mat", variable="other")
    np.testing.assert_array_equal(scan.pixels, img * 2)
    assert scan.info.notes["variable"] == "other"
    scipy.io.savemat(tmp_path / "b.mat", {"label": np.array([1.0]), "irm": img})
    np.testing.assert_array_equal(load_scan(tmp_path / "b.mat").pixels, img)
    with pytest.raises(ScanReadError, match="no variable 'nope'"):
        load_scan(tmp_path / "a.mat", variable="nope")
    Image.fromarray(img.astype(np.uint8)).save(tmp_path / "a.jpg", quality=95)
    assert load_scan(tmp_path / "a.jpg").shape == img.shape


def test_reference_data_loads(shared):
    us = load_scan(shared("data", "data1", "us.mat"))
    assert us.shape == (600, 600)
    assert load_scan(shared("data", "data1", "irm.png")).shape == (100, 100)


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ScanReadError, match="not a readable image"):
        load_scan(tmp_path / "broken.png")
    with pytest.raises(ScanReadError, match="does not exist"):
        load_scan(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ScanReadError, match="unsupported file type"):
        load_scan(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    "array,match",
    [
        (np.full((20, 20), np.nan), "not numbers"),
        (np.where(np.eye(20) > 0, np.inf, 1.0), "not numbers"),
        (np.full((20, 20), 7.0), "blank"),
        (np.zeros((0, 5)), "empty or too small"),
        (np.zeros((3, 4, 5)), "dimensions"),
    ],
)
def test_bad_pixels_raise_invalid_image(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InvalidImageError, match=match):
        load_scan(tmp_path / "bad.npy")


def test_pairing_rules():
    mri, us = Scan(ramp(10, 12) + 1), Scan(ramp(60, 72) + 1)
    assert pair_scans(mri, us).d == 6
    with pytest.raises(GeometryError, match="larger than the ultrasound"):
        pair_scans(us, mri)
    with pytest.raises(GeometryError, match="--us-spacing and --mri-spacing"):
        pair_scans(mri, Scan(ramp(61, 72) + 1))
    fusion_input = pair_scans(mri, us)
    assert fusion_input.y_m.max() == 1 and fusion_input.y_u.max() == 1


def test_save_image_formats_keep_provenance(tmp_path):
    img = ramp() / 10
    save_image(tmp_path / "f.png", img, {"method": "palm"})
    with Image.open(tmp_path / "f.png") as png:
        assert png.text["method"] == "palm"
    save_image(tmp_path / "f.tiff", img, {"method": "palm"})
    assert "palm" in tifffile.TiffFile(tmp_path / "f.tiff").pages[0].description
    save_image(tmp_path / "f.npy", img)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), img)
    with pytest.raises(ScanReadError):
        save_image(tmp_path / "f.gif", img)
