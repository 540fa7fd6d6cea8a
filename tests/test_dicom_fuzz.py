"""Fuzzing the DICOM reader: mutated bytes of valid files give a Scan or a typed error.

Bounded and reproducible (``derandomize``); the per-example deadline is only a hang guard,
generous enough that no healthy read comes near it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.dicom import read_dicom, write_source_dicom
from engine.errors import EndoFuseError

pydicom = pytest.importorskip("pydicom")
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

#: valid seeds: uncompressed MR, RLE, JPEG-LS, JPEG 2000, colour JPEG baseline, big endian
SEED_NAMES = (
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "MR_small_bigendian.dcm",
)


def _seeds() -> list[bytes]:
    v, u = np.mgrid[0:16, 0:16]
    with tempfile.TemporaryDirectory(prefix="endofuse-fuzz-") as name:
        folder = Path(name)
        small = [
            write_source_dicom((u + 2 * v).astype(float), folder / "us.dcm", "US", (0.3, 0.3)),
            write_source_dicom((u * v).astype(float), folder / "mr.dcm", "MR", (0.9, 0.9)),
        ]
        paths = small + [TEST_FILES / name for name in SEED_NAMES]
        return [path.read_bytes() for path in paths]


SEEDS = _seeds()


@st.composite
def mutated_file(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    # header-heavy: most structure (lengths, VRs, sizes) sits in the first kilobytes
    header = min(len(data), 2048)
    for _ in range(draw(st.integers(0, 12))):
        where = draw(st.integers(0, header - 1) | st.integers(0, len(data) - 1))
        data[where] = draw(st.integers(0, 255))
    for _ in range(draw(st.integers(0, 2))):
        where = draw(st.integers(0, header - 4))
        data[where:where + 4] = draw(st.sampled_from(
            [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\x00\x00", b"\x00\x00\x01\x00"]
        ))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    if draw(st.integers(0, 4)) == 0:
        where = draw(st.integers(0, len(data)))
        data[where:where] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@settings(
    max_examples=1000,
    deadline=dt.timedelta(seconds=30),  # hang guard only
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_file())
def test_mutated_files_give_a_scan_or_a_typed_error(tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / "fuzz.dcm"
    path.write_bytes(content)
    try:
        scan = read_dicom(path)
    except EndoFuseError as exc:
        assert str(exc).strip()
        return
    assert scan.pixels.ndim == 2 and scan.pixels.dtype == np.float64
    assert np.all(np.isfinite(scan.pixels))


def test_every_seed_reads(tmp_path):
    for index, content in enumerate(SEEDS):
        path = tmp_path / f"seed{index}.dcm"
        path.write_bytes(content)
        assert read_dicom(path).pixels.size > 0


def test_rle_decoder_panic_is_a_scan_read_error(tmp_path):
    """One byte of an RLE segment changed makes the Rust RLE decoder panic (a BaseException);
    the reader must turn it into ScanReadError like any other damaged file."""
    from engine.errors import ScanReadError

    data = bytearray((TEST_FILES / "MR_small_RLE.dcm").read_bytes())
    assert data[2065] == 254  # the shipped file is the one this regression was found on
    data[2065] = 220
    path = tmp_path / "rle_panic.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(ScanReadError, match="cannot be decoded"):
        read_dicom(path)
