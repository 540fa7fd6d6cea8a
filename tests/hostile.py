"""Hand-made hostile files: headers that declare huge images over small bodies, and the other
inputs a reader must refuse cheaply (used by test_hostile_files.py and test_fuzz.py)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import scipy.io

HUGE = 100_000



def tiff_declaring(path: Path, height: int, width: int, size: int = 10 * 2**20) -> Path:
    """A little-endian TIFF whose IFD declares ``height`` x ``width`` 8-bit pixels in one strip
    pointing into ``size`` bytes of zeros (so the file is 10 MB, the image 10 GB)."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1),
               (278, 4, 1, height), (279, 4, 1, height * width % 2**32)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + bytes(size))
    return path


def png_declaring(path: Path, height: int, width: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(1000))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def npy_declaring(path: Path, shape: tuple[int, ...], body: int = 1024) -> Path:
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(body))
    return path


def hostile_files(folder: Path) -> list[Path]:
    """One of each hostile input in ``folder``: bombs, empty, truncated, FIFO, device, folder."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        tiff_declaring(folder / "bomb.tiff", HUGE, HUGE),
        tiff_declaring(folder / "wide.tif", 10, 8193, size=100),
        png_declaring(folder / "bomb.png", HUGE, HUGE),
        png_declaring(folder / "wide.png", 16, 9000),
        npy_declaring(folder / "bomb.npy", (HUGE, HUGE)),
        npy_declaring(folder / "short.npy", (100, 100)),
    ]
    for suffix in (".mat", ".npy", ".png", ".tiff", ".dcm", ""):
        empty = folder / f"empty{suffix}"
        empty.write_bytes(b"")
        paths.append(empty)
    full = folder / "full.mat"
    scipy.io.savemat(full, {"us": np.random.default_rng(0).random((40, 30))}, do_compression=True)
    data = full.read_bytes()
    for cut in (10, 100, 129, 200, len(data) // 2, len(data) - 3):
        (folder / f"cut{cut}.mat").write_bytes(data[:cut])
        paths.append(folder / f"cut{cut}.mat")
    big = folder / "big.mat"
    scipy.io.savemat(big, {"us": np.zeros((9000, 5), dtype=np.uint8)})
    fifo = folder / "fifo.dcm"
    os.mkfifo(fifo)
    device = folder / "zero.npy"
    device.symlink_to("/dev/zero")
    (folder / "folder.png").mkdir()
    return paths + [big, fifo, device, folder / "folder.png"]
