"""Load scans from PNG/TIFF/JPEG, MATLAB .mat, NumPy .npy and DICOM; write fused images.

Colour images become luminance with the ITU-R BT.601 weights Y = 0.299 R + 0.587 G + 0.114 B.
Integer images keep their stored values (8-bit 0..255, 16-bit 0..65535); no rescaling happens
on load. Everything returned has passed :func:`engine.scan.validate_pixels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ScanReadError
from .luminance import to_luminance
from .scan import Scan, ScanInfo, validate_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}
SUPPORTED = "DICOM, PNG, TIFF, JPEG, MATLAB .mat or NumPy .npy"

def _read_raster(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode in ("LA", "PA"):
                image = image.convert("L")
            elif image.mode == "CMYK":
                image = image.convert("RGB")
            return np.array(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ScanReadError(f"{path.name} is not a readable image file ({exc}).") from exc


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        array = tifffile.imread(path)
    except Exception as exc:  # tifffile raises assorted types for broken files
        raise ScanReadError(f"{path.name} is not a readable TIFF file ({exc}).") from exc
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        raise ScanReadError(
            f"{path.name} holds a stack of {array.shape[0]} images; "
            "save the slice to fuse on its own."
        )
    return array


def _read_mat(path: Path, variable: str | None) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ScanReadError(
            f"{path.name} is a MATLAB v7.3 file; save it with -v7 (save(..., '-v7')) and try again."
        ) from exc
    except (ValueError, OSError, TypeError) as exc:
        raise ScanReadError(f"{path.name} is not a readable MATLAB .mat file ({exc}).") from exc
    names = [k for k in content if not k.startswith("__")]
    if variable is not None:
        if variable not in content:
            raise ScanReadError(
                f"{path.name} has no variable '{variable}' (it has: {', '.join(names) or 'none'})."
            )
        return np.asarray(content[variable])
    for name in names:
        value = np.asarray(content[name])
        if value.dtype.kind in "biuf" and value.ndim == 2 and min(value.shape) > 1:
            return value
    raise ScanReadError(f"{path.name} contains no 2-D numeric variable to use as an image.")


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ScanReadError(f"{path.name} is not a readable NumPy .npy file ({exc}).") from exc


def load_scan(
    path: str | Path, *, variable: str | None = None, frame: int | None = None
) -> Scan:
    """Load one scan.

    ``variable`` picks a .mat variable; ``frame`` a frame of a multi-frame DICOM.
    """
    path = Path(path)
    if not path.exists():
        raise ScanReadError(f"The file {path} does not exist.")
    if path.is_dir():
        from .dicom import read_dicom

        return read_dicom(path, frame=frame)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        array = _read_raster(path)
    elif suffix in TIFF_SUFFIXES:
        array = _read_tiff(path)
    elif suffix == ".mat":
        array = _read_mat(path, variable)
    elif suffix == ".npy":
        array = _read_npy(path)
    elif suffix in DICOM_SUFFIXES or _looks_like_dicom(path):
        from .dicom import read_dicom

        return read_dicom(path, frame=frame)
    else:
        raise ScanReadError(f"{path.name}: unsupported file type '{suffix}'; use {SUPPORTED}.")
    pixels = validate_pixels(to_luminance(array), f"image in {path.name}")
    return Scan(pixels=pixels, info=ScanInfo(), path=path)


def _looks_like_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def save_image(
    path: str | Path, image: np.ndarray, provenance: dict[str, str] | None = None
) -> Path:
    """Write a fused image: PNG (8-bit, min-max scaled), TIFF (float32) or NPY (float64).

    PNG and TIFF carry ``provenance`` as text metadata (PNG tEXt chunks, TIFF ImageDescription).
    """
    import json

    path = Path(path)
    image = np.asarray(image, dtype=np.float64)
    suffix = path.suffix.lower()
    provenance = provenance or {}
    if suffix == ".png":
        from PIL import Image, PngImagePlugin

        lo, hi = float(image.min()), float(image.max())
        scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        meta = PngImagePlugin.PngInfo()
        for key, value in provenance.items():
            meta.add_text(key, str(value))
        meta.add_text("intensity-range", json.dumps([lo, hi]))
        Image.fromarray(np.round(scaled * 255).astype(np.uint8)).save(path, pnginfo=meta)
    elif suffix in TIFF_SUFFIXES:
        import tifffile

        tifffile.imwrite(path, image.astype(np.float32), description=json.dumps(provenance))
    elif suffix == ".npy":
        np.save(path, image)
    else:
        raise ScanReadError(f"Cannot write '{suffix}' files; use .png, .tiff or .npy.")
    return path
