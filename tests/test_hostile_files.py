"""Hostile input files are refused cheaply, before decoding, with one sentence; outputs are
written atomically."""

from __future__ import annotations

import errno
import json
import os
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hostile import HUGE, npy_declaring, png_declaring, tiff_declaring
from PIL import Image

from engine.cli import main
from engine.errors import OutputPathError, ScanReadError
from engine.file_safety import write_atomically
from engine.io import AmbiguousVariableError, load_scan, save_image

#: allocation allowed while refusing a file that declares gigabytes
REFUSAL_BYTES = 50 * 2**20


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and text.endswith("."), text
    return text


def refused(path: Path, match: str, **kwargs) -> str:
    """load_scan(path) raises ScanReadError matching ``match`` without allocating much."""
    tracemalloc.start()
    try:
        with pytest.raises(ScanReadError, match=match) as info:
            load_scan(path, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < REFUSAL_BYTES, f"{peak / 2**20:.0f} MiB allocated to refuse {path.name}"
    return one_sentence(info.value)


# ---------------------------------------------------------------------------- the cases


def test_tiff_declaring_100000_squared_is_refused_from_its_header(tmp_path):
    path = tiff_declaring(tmp_path / "bomb.tiff", HUGE, HUGE)
    assert path.stat().st_size > 10 * 10**6
    assert "declares a 100000x100000 image" in refused(path, "larger than the 8192 x 8192 px")


def test_tiff_just_over_the_side_limit_is_refused(tmp_path):
    refused(tiff_declaring(tmp_path / "wide.tif", 10, 8193, size=100), "10x8193")


def test_png_and_npy_declaring_huge_sizes(tmp_path):
    refused(png_declaring(tmp_path / "wide.png", 16, 9000), "declares a 16x9000")
    refused(png_declaring(tmp_path / "bomb.png", HUGE, HUGE), "not a readable image")
    refused(npy_declaring(tmp_path / "bomb.npy", (HUGE, HUGE)), "100000x100000")
    refused(npy_declaring(tmp_path / "short.npy", (100, 100)), "truncated")


@pytest.mark.parametrize("suffix", [".mat", ".npy", ".png", ".tiff", ".dcm"])
def test_empty_files(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    refused(path, r"is empty \(0 bytes\)")


def test_truncated_mat_files_give_one_sentence(tmp_path):
    full = tmp_path / "full.mat"
    scipy.io.savemat(full, {"us": np.random.default_rng(0).random((40, 30))},
                     do_compression=True)
    data = full.read_bytes()
    for cut in (10, 100, 129, 200, len(data) // 2, len(data) - 3):
        path = tmp_path / f"cut{cut}.mat"
        path.write_bytes(data[:cut])
        text = refused(path, "MATLAB|2-D numeric variable")
        assert "cut" in text


def test_mat_declaring_a_huge_variable_is_refused_before_loading(tmp_path):
    path = tmp_path / "big.mat"
    scipy.io.savemat(path, {"us": np.zeros((9000, 5), dtype=np.uint8)})
    refused(path, "declares a 9000x5")


def test_several_images_in_a_mat_file_need_a_choice(tmp_path):
    path = tmp_path / "pair.mat"
    img = np.add.outer(np.arange(20.0), np.arange(30.0))
    scipy.io.savemat(path, {"mri": img, "us": img * 2, "note": np.array([1.0])})
    with pytest.raises(AmbiguousVariableError) as info:
        load_scan(path)
    assert info.value.names == ["mri", "us"]
    one_sentence(info.value)
    assert load_scan(path, variable="us").info.notes == {"variable": "us"}


def test_fifo_device_and_folder_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "scan.png"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            load_scan(fifo)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader by opening the other end
        with open(fifo, "wb"):
            pass
        pytest.fail("load_scan blocked on a FIFO")
    assert isinstance(outcome[0], ScanReadError) and "not a regular file" in str(outcome[0])
    device = tmp_path / "zero.npy"
    device.symlink_to("/dev/zero")
    refused(device, "not a regular file")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    refused(folder, "is a folder")
    series = tmp_path / "T2_axial.001"  # a dotted folder name is still a series folder
    series.mkdir()
    refused(series, "contains no DICOM image")


def test_cli_refuses_a_fifo_in_one_line(tmp_path, capsys):
    fifo = tmp_path / "mri.mat"
    os.mkfifo(fifo)
    code = main(["fuse", "--mri", str(fifo), "--us", str(fifo), "--out", str(tmp_path / "f.png"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a regular file" in err


def test_cli_key_choice(tmp_path, capsys):
    mri = np.add.outer(np.arange(10.0), np.arange(12.0)) + 1
    us = np.kron(mri, np.ones((6, 6))) + 0.01 * np.random.default_rng(1).random((60, 72))
    scipy.io.savemat(tmp_path / "pair.mat", {"mri": mri, "us": us})
    out = tmp_path / "f.png"
    base = ["fuse", "--mri", str(tmp_path / "pair.mat"), "--us", str(tmp_path / "pair.mat"),
            "--out", str(out), "--quiet", "--param", "iterations=1"]
    assert main(base) == 2
    assert "several 2-D images (mri, us)" in capsys.readouterr().err
    assert main(base + ["--mri-key", "mri", "--us-key", "us"]) == 0
    with Image.open(out) as png:
        assert png.size == (72, 60)
        sources = json.loads(png.text["sources"])
    assert (sources["mri"]["variable"], sources["us"]["variable"]) == ("mri", "us")


# ------------------------------------------------------------------------------ outputs


def test_atomic_write_leaves_nothing_on_a_full_disk(tmp_path):
    target = tmp_path / "out.png"

    def fill_then_fail(temporary: Path) -> None:
        temporary.write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputPathError, match="No space left on device") as info:
        write_atomically(target, fill_then_fail)
    one_sentence(info.value)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"previous")
    with pytest.raises(OutputPathError):
        write_atomically(target, fill_then_fail)
    assert target.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [target]


def test_save_image_refuses_to_overwrite_an_input(tmp_path):
    source = tmp_path / "us.npy"
    np.save(source, np.ones((8, 8)))
    with pytest.raises(OutputPathError, match="one of the input scans"):
        save_image(source, np.zeros((8, 8)), inputs=(source,))
    assert np.load(source).max() == 1
    link = tmp_path / "link.npy"
    link.symlink_to(source)
    with pytest.raises(OutputPathError, match="one of the input scans"):
        save_image(link, np.zeros((8, 8)), inputs=(source,))


def test_unwritable_folder_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError) as info:
        save_image(blocker / "sub" / "f.png", np.eye(8))
    one_sentence(info.value)


def test_large_dicom_declaring_a_huge_image_is_not_read_into_memory(tmp_path):
    import pydicom

    from engine.dicom import write_source_dicom

    path = write_source_dicom(np.eye(8) + 1, tmp_path / "big.dcm", "MR", (1.0, 1.0))
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 60000
    ds.PixelData = bytes(40 * 2**20)
    ds.save_as(path)
    tracemalloc.start()
    try:
        with pytest.raises(ScanReadError, match="60000 x 60000 px") as info:
            load_scan(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_sentence(info.value)
    assert peak < 10 * 2**20, f"{peak / 2**20:.0f} MiB read to refuse a 40 MiB file"
