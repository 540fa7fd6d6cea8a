"""Load scans from PNG/TIFF/JPEG, MATLAB .mat, NumPy .npy and DICOM; write fused images.

Colour images become luminance with the ITU-R BT.601 weights Y = 0.299 R + 0.587 G + 0.114 B.
Integer images keep their stored values (8-bit 0..255, 16-bit 0..65535); no rescaling happens
on load. Everything returned has passed :func:`engine.scan.validate_pixels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ScanReadError
from .file_safety import check_declared_shape, require_regular_file, write_atomically
from .luminance import to_luminance
from .scan import Scan, ScanInfo, validate_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
TIFF_SUFFIXES = {".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima", ""}
SUPPORTED = "DICOM, PNG, TIFF, JPEG, MATLAB .mat or NumPy .npy"


def _read_raster(path: Path) -> np.ndarray:
    """PNG/JPEG/BMP through Pillow; the size comes from the header before any decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            check_declared_shape((height, width, len(image.getbands())), path.name)
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode in ("LA", "PA"):
                image = image.convert("L")
            elif image.mode == "CMYK":
                image = image.convert("RGB")
            return np.array(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError, EOFError) as exc:
        raise ScanReadError(f"{path.name} is not a readable image file ({_short(exc)}).") from exc


def _read_tiff(path: Path) -> np.ndarray:
    """The first series of a TIFF; its shape is checked from the IFDs before decoding."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            check_declared_shape(series.shape, path.name)
            array = series.asarray()
    except ScanReadError:
        raise
    except Exception as exc:  # tifffile raises assorted types for broken files
        raise ScanReadError(f"{path.name} is not a readable TIFF file ({_short(exc)}).") from exc
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        raise ScanReadError(
            f"{path.name} holds a stack of {array.shape[0]} images; "
            "save the slice to fuse on its own."
        )
    return array


#: MATLAB classes of a numeric image variable (scipy.io.whosmat)
MAT_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32",
               "int64", "uint64", "logical"}


class AmbiguousVariableError(ScanReadError):
    """A .mat file holds several 2-D images and none was chosen; ``names`` lists them."""

    def __init__(self, message: str, names: list[str]) -> None:
        super().__init__(message)
        self.names = names


def mat_image_variables(path: Path) -> list[str]:
    """Names of the 2-D numeric variables of a .mat file, read from its headers only."""
    return [name for name, shape, kind in _mat_directory(path)
            if kind in MAT_NUMERIC and len(shape) == 2 and min(shape) > 1]


def _mat_directory(path: Path) -> list[tuple[str, tuple[int, ...], str]]:
    import scipy.io

    try:
        return scipy.io.whosmat(path)
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ScanReadError(
            f"{path.name} is a MATLAB v7.3 file; save it with -v7 (save(..., '-v7')) and try again."
        ) from exc
    except Exception as exc:  # scipy raises assorted types for damaged files
        raise ScanReadError(
            f"{path.name} is not a readable MATLAB .mat file (damaged or truncated: "
            f"{_short(exc)})."
        ) from exc


def _read_mat(path: Path, variable: str | None) -> tuple[np.ndarray, str]:
    """The chosen (or the only) 2-D variable and its name; sizes checked before loading."""
    import scipy.io

    directory = {name: shape for name, shape, _ in _mat_directory(path)}
    images = mat_image_variables(path)
    if variable is None:
        if len(images) > 1:
            raise AmbiguousVariableError(
                f"{path.name} holds several 2-D images ({', '.join(images)}); choose the "
                "variable to use.", images)
        if not images:
            raise ScanReadError(f"{path.name} contains no 2-D numeric variable to use as an image.")
        variable = images[0]
    if variable not in directory:
        raise ScanReadError(
            f"{path.name} has no variable '{variable}' (it has: "
            f"{', '.join(directory) or 'none'})."
        )
    check_declared_shape(directory[variable], path.name)
    try:
        content = scipy.io.loadmat(path, variable_names=[variable])
        return np.asarray(content[variable]), variable
    except Exception as exc:  # scipy raises assorted types for damaged files
        raise ScanReadError(
            f"{path.name} is not a readable MATLAB .mat file (damaged or truncated: "
            f"{_short(exc)})."
        ) from exc


def _read_npy(path: Path, size: int) -> np.ndarray:
    """A .npy array; shape, dtype and length are checked from the header before loading."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise ScanReadError(f"{path.name} is not a readable NumPy .npy file ({_short(exc)}).") \
            from exc
    if dtype.hasobject:
        raise ScanReadError(f"{path.name} holds Python objects, not pixel values.")
    check_declared_shape(shape, path.name)
    if offset + int(np.prod(shape)) * dtype.itemsize > size:
        raise ScanReadError(f"{path.name} is truncated: it is shorter than its header declares.")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ScanReadError(f"{path.name} is not a readable NumPy .npy file ({_short(exc)}).") \
            from exc


def _short(exc: BaseException, limit: int = 160) -> str:
    """A library's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_scan(
    path: str | Path, *, variable: str | None = None, frame: int | None = None
) -> Scan:
    """Load one scan.

    ``variable`` picks a .mat variable (required when the file holds several 2-D images; the
    choice is kept in ``scan.info.notes["variable"]``); ``frame`` a frame of a multi-frame DICOM.
    A folder is read as a DICOM series (unless its name ends like an image file); anything else
    that is not a regular, non-empty file is refused before it is opened.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and suffix not in IMAGE_SUFFIXES | TIFF_SUFFIXES | {".mat", ".npy"}:
        from .dicom import read_dicom

        return read_dicom(path, frame=frame)
    size = require_regular_file(path)
    notes: dict[str, str] = {}
    if suffix in IMAGE_SUFFIXES:
        array = _read_raster(path)
    elif suffix in TIFF_SUFFIXES:
        array = _read_tiff(path)
    elif suffix == ".mat":
        array, notes["variable"] = _read_mat(path, variable)
    elif suffix == ".npy":
        array = _read_npy(path, size)
    elif suffix in DICOM_SUFFIXES or _looks_like_dicom(path):
        from .dicom import read_dicom

        return read_dicom(path, frame=frame)
    else:
        raise ScanReadError(f"{path.name}: unsupported file type '{suffix}'; use {SUPPORTED}.")
    pixels = validate_pixels(to_luminance(array), f"image in {path.name}")
    return Scan(pixels=pixels, info=ScanInfo(notes=notes), path=path)


def _looks_like_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def save_image(
    path: str | Path,
    image: np.ndarray,
    provenance: dict[str, str] | None = None,
    inputs: tuple[Path | None, ...] = (),
) -> Path:
    """Write a fused image: PNG (8-bit, min-max scaled), TIFF (float32) or NPY (float64).

    PNG and TIFF carry ``provenance`` as text metadata (PNG tEXt chunks, TIFF ImageDescription).
    The file is written atomically and never over one of ``inputs``
    (:func:`engine.file_safety.write_atomically`).
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
        png = Image.fromarray(np.round(scaled * 255).astype(np.uint8))

        def write(temporary: Path) -> None:
            png.save(temporary, format="PNG", pnginfo=meta)
    elif suffix in TIFF_SUFFIXES:
        import tifffile

        def write(temporary: Path) -> None:
            tifffile.imwrite(temporary, image.astype(np.float32),
                             description=json.dumps(provenance))
    elif suffix == ".npy":
        def write(temporary: Path) -> None:
            with open(temporary, "wb") as handle:
                np.save(handle, image)
    else:
        raise ScanReadError(f"Cannot write '{suffix}' files; use .png, .tiff or .npy.")
    return write_atomically(path, write, inputs)
