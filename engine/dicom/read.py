"""Read one MR or US DICOM file into a :class:`~engine.scan.Scan`.

What the reader does, in order:

1. **Parse** the file with pydicom. A file without the 128-byte preamble and ``DICM`` prefix is
   re-read leniently and accepted only when it holds an image (Rows, Columns, pixel data).
2. **Check** that it is an image we can fuse: pixel data present, not a segmentation, at most
   :data:`~engine.scan.MAX_SIDE` pixels a side. Nothing is decoded before these checks, and
   values over :data:`DEFER_BYTES` are not even read, so a corrupt header or a huge file cannot
   make us allocate gigabytes.
3. **Decode one frame**: multi-frame files (US cine, dose grids) give the frame asked for, by
   default the middle one ``n // 2`` (0-based). Compressed transfer syntaxes (JPEG baseline,
   extended and lossless, JPEG-LS, JPEG 2000, RLE, deflate) go through pydicom's decoders and the
   pylibjpeg plug-ins.
4. **Colour to luminance**: ``YBR_FULL`` and ``YBR_FULL_422`` are converted to RGB by pydicom,
   ``PALETTE COLOR`` is expanded through its lookup tables, and RGB becomes BT.601 luminance
   ``Y = 0.299 R + 0.587 G + 0.114 B`` (:func:`engine.luminance.to_luminance`).
5. **Modality LUT** (grayscale only): ``x = slope * stored + intercept`` or the LUT sequence.
   ``MONOCHROME1`` (low values displayed white) is then mirrored, ``x' = lo + hi - x`` with the
   image's own minimum ``lo`` and maximum ``hi``, so that brighter always means larger; the window
   centre is mirrored the same way.
6. **Spacing** in millimetres (row spacing, column spacing), first found of: ``PixelSpacing``,
   the shared or first per-frame ``PixelMeasuresSequence`` (enhanced multi-frame),
   ``ImagerPixelSpacing``, and the ultrasound region calibration
   ``SequenceOfUltrasoundRegions`` (``PhysicalDeltaY``, ``PhysicalDeltaX`` in cm when the
   physical units code is 3, times 10; of several calibrated regions the largest one is used).

Series folders, and the choice between a file and a folder, are :mod:`engine.dicom.series`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ScanReadError
from ..file_safety import require_regular_file
from ..scan import MAX_SIDE, Scan, ScanInfo, size_text, validate_pixels

#: attributes that hold pixel values and are dropped from the header kept in ``Scan.dataset``
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: SOP class of a DICOMDIR; never an image
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
#: physical units code of the ultrasound region calibration meaning centimetres
US_UNITS_CM = 3
#: what a decoder failure must never be mistaken for. Everything else a codec raises on damaged
#: data becomes ScanReadError, including BaseException subclasses such as the PanicException of
#: the Rust-based RLE plug-in (found by tests/test_dicom_fuzz.py).
INTERRUPTIONS = (KeyboardInterrupt, SystemExit, GeneratorExit)
#: values longer than this stay on disk until used (pydicom ``defer_size``), so a file holding
#: gigabytes of pixel data is refused from its header without being read into memory
DEFER_BYTES = 4 * 2**20


# ----------------------------------------------------------------------------------- parsing


def parse_dataset(path: Path, stop_before_pixels: bool = False):
    """pydicom Dataset of ``path``; every parse failure becomes :class:`ScanReadError`."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels,
                                       defer_size=DEFER_BYTES)
            except InvalidDicomError:
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels,
                                     defer_size=DEFER_BYTES)
                if "Rows" not in ds or "Columns" not in ds:
                    raise
                return ds
    except InvalidDicomError as exc:
        raise ScanReadError(
            f"{path.name} is not a DICOM file (no DICOM header found); choose the image file "
            "itself or export it again as DICOM."
        ) from exc
    except MemoryError as exc:
        raise ScanReadError(f"{path.name} is a damaged DICOM file (impossible sizes).") from exc
    except BaseException as exc:  # noqa: BLE001 - pydicom raises many types on damaged files
        if isinstance(exc, INTERRUPTIONS):
            raise
        raise ScanReadError(
            f"{path.name} is a damaged or truncated DICOM file and cannot be read "
            f"({type(exc).__name__}: {_short(exc)})."
        ) from exc


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def header_value(ds, keyword: str, default: Any = None) -> Any:
    """An attribute's value, or ``default`` when it is absent, empty or cannot be parsed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ds.get(keyword, default)
    except Exception:  # a damaged value fails only when it is converted
        return default
    if value is None or (hasattr(value, "__len__") and len(value) == 0):
        return default
    return value


def header_text(ds, keyword: str) -> str | None:
    value = header_value(ds, keyword)
    if value is None:
        return None
    try:
        text = str(value).strip()
    except Exception:
        return None
    return text or None


def _number(value: Any) -> float | None:
    """First number of a (multi-)value, or None when absent or not finite."""
    if value is None:
        return None
    try:
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            value = value[0]
        number = float(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def header_int(ds, keyword: str, default: int | None = None) -> int | None:
    number = _number(header_value(ds, keyword))
    if number is None or number != int(number):
        return default
    return int(number)


# ----------------------------------------------------------------------------------- spacing


def _pair(value: Any) -> tuple[float, float] | None:
    """(row, column) spacing from a 2-valued DS, when both values are positive and finite."""
    try:
        if value is None or len(value) != 2:
            return None
        row, col = float(value[0]), float(value[1])
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(row) and math.isfinite(col)) or row <= 0 or col <= 0:
        return None
    return row, col


def _functional_group_spacing(ds) -> tuple[float, float] | None:
    for group_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = header_value(ds, group_keyword)
        if not groups:
            continue
        measures = header_value(groups[0], "PixelMeasuresSequence")
        if measures:
            spacing = _pair(header_value(measures[0], "PixelSpacing"))
            if spacing is not None:
                return spacing
    return None


def _ultrasound_region_spacing(ds) -> tuple[float, float] | None:
    """(PhysicalDeltaY, PhysicalDeltaX) * 10 mm of the largest region calibrated in cm."""
    best: tuple[float, tuple[float, float]] | None = None
    for region in header_value(ds, "SequenceOfUltrasoundRegions", []) or []:
        units = (header_int(region, "PhysicalUnitsXDirection"),
                 header_int(region, "PhysicalUnitsYDirection"))
        if units != (US_UNITS_CM, US_UNITS_CM):
            continue
        spacing = _pair(
            [_number(header_value(region, "PhysicalDeltaY")),
             _number(header_value(region, "PhysicalDeltaX"))]
        )
        if spacing is None:
            continue
        box = [header_int(region, k, 0) for k in ("RegionLocationMinX0", "RegionLocationMinY0",
                                            "RegionLocationMaxX1", "RegionLocationMaxY1")]
        area = float(max(box[2] - box[0], 0) * max(box[3] - box[1], 0))
        if best is None or area > best[0]:
            best = (area, (abs(spacing[0]) * 10.0, abs(spacing[1]) * 10.0))
    return None if best is None else best[1]


def pixel_spacing_mm(ds) -> tuple[tuple[float, float] | None, str | None]:
    """(row, column) spacing in mm and the attribute it came from (see module docstring)."""
    candidates = (
        ("PixelSpacing", lambda: _pair(header_value(ds, "PixelSpacing"))),
        ("PixelMeasuresSequence", lambda: _functional_group_spacing(ds)),
        ("ImagerPixelSpacing", lambda: _pair(header_value(ds, "ImagerPixelSpacing"))),
        ("SequenceOfUltrasoundRegions", lambda: _ultrasound_region_spacing(ds)),
    )
    for source, find in candidates:
        try:
            spacing = find()
        except Exception:  # a damaged nested item means "not known", never a crash
            spacing = None
        if spacing is not None:
            return spacing, source
    return None, None


# ---------------------------------------------------------------------------------- pixels


def _check_image_header(ds, name: str) -> int:
    """Refuse non-images and impossible sizes before decoding; return the number of frames."""
    modality = header_text(ds, "Modality")
    sop_class = header_text(ds, "SOPClassUID")
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        what = f" ({modality})" if modality else ""
        raise ScanReadError(
            f"{name} is a DICOM file without an image{what}; choose an MR or ultrasound image."
        )
    if modality == "SEG" or sop_class == "1.2.840.10008.5.1.4.1.1.66.4":
        raise ScanReadError(
            f"{name} is a DICOM segmentation, not an image; this is unsupported: open the MR or "
            "ultrasound image it was drawn on."
        )
    rows, cols = header_int(ds, "Rows"), header_int(ds, "Columns")
    if rows is None or cols is None or rows < 1 or cols < 1:
        raise ScanReadError(f"{name} is a damaged DICOM file: its image size is missing.")
    if rows > MAX_SIDE or cols > MAX_SIDE:
        raise ScanReadError(
            f"{name} holds a {size_text((rows, cols))} image, larger than the "
            f"{size_text((MAX_SIDE, MAX_SIDE))} this program handles; crop it to the region of "
            "interest."
        )
    frames = header_int(ds, "NumberOfFrames", 1)
    if frames is None or frames < 1:
        frames = 1
    return frames


def choose_frame(frames: int, frame: int | None, name: str, unit: str = "frame") -> int:
    index = frames // 2 if frame is None else int(frame)
    if not 0 <= index < frames:
        raise ScanReadError(
            f"{name} has {frames} {unit}{'s' if frames > 1 else ''} (0 to {frames - 1}); "
            f"{unit} {index} does not exist."
        )
    return index


def _decode_frame(ds, index: int, frames: int, name: str) -> np.ndarray:
    """One decoded frame; colour photometric interpretations come back as RGB."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            ds.pixel_array_options(index=index if frames > 1 else None)
            array = ds.pixel_array
    except NotImplementedError as exc:
        syntax = _transfer_syntax_name(ds)
        raise ScanReadError(
            f"The image in {name} uses a compression ({syntax}) that is unsupported here; "
            "export it uncompressed from the scanner or workstation."
        ) from exc
    except MemoryError as exc:
        raise ScanReadError(f"{name} is a damaged DICOM file (impossible image size).") from exc
    except BaseException as exc:  # noqa: BLE001 - see INTERRUPTIONS
        if isinstance(exc, INTERRUPTIONS):
            raise
        raise ScanReadError(
            f"The image in {name} cannot be decoded; the file is damaged or its compression is "
            f"unsupported ({type(exc).__name__}: {_short(exc)})."
        ) from exc
    return np.asarray(array)


def _transfer_syntax_name(ds) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = header_value(meta, "TransferSyntaxUID") if meta is not None else None
    if uid is None:
        return "unknown transfer syntax"
    return getattr(uid, "name", str(uid))


def _to_luminance(ds, array: np.ndarray, name: str) -> tuple[np.ndarray, str]:
    """Grayscale values after the modality LUT, or colour as BT.601 luminance."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    from ..luminance import to_luminance

    photometric = (header_text(ds, "PhotometricInterpretation") or "MONOCHROME2").upper()
    samples = header_int(ds, "SamplesPerPixel", 1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            if photometric == "PALETTE COLOR":
                rgb = apply_color_lut(array, ds)
                return to_luminance(np.asarray(rgb)), "palette colour -> luminance"
            if samples == 3 or (array.ndim == 3 and array.shape[-1] == 3):
                return to_luminance(array), f"{photometric} colour -> luminance"
            values = np.asarray(apply_modality_lut(array, ds), dtype=np.float64)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, INTERRUPTIONS):
                raise
            raise ScanReadError(
                f"The image in {name} has damaged colour or intensity tables "
                f"({type(exc).__name__}: {_short(exc)})."
            ) from exc
    if photometric == "MONOCHROME1" and values.size and np.all(np.isfinite(values)):
        lo, hi = float(values.min()), float(values.max())
        return lo + hi - values, "MONOCHROME1 mirrored"
    return values, photometric


# -------------------------------------------------------------------------------- one file


def read_dicom_file(path: str | Path, frame: int | None = None) -> Scan:
    """Read one DICOM image file (see the module docstring for every step)."""
    path = Path(path)
    require_regular_file(path)
    ds = parse_dataset(path)
    frames = _check_image_header(ds, path.name)
    index = choose_frame(frames, frame, path.name)
    array = _decode_frame(ds, index, frames, path.name)
    if array.ndim == 4:  # a decoder that returned every colour frame despite the index
        array = array[index]
    pixels, conversion = _to_luminance(ds, array, path.name)
    pixels = validate_pixels(pixels, f"image in {path.name}")
    info = _scan_info(ds, frames, index, conversion)
    if conversion == "MONOCHROME1 mirrored" and info.window_center is not None:
        lo, hi = float(pixels.min()), float(pixels.max())
        info = replace(info, window_center=lo + hi - info.window_center)
    return Scan(pixels=pixels, info=info, path=path, dataset=_header(ds))


def _header(ds):
    """The dataset without pixel values (what ``Scan.dataset`` keeps for the export)."""
    for keyword in PIXEL_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def _scan_info(ds, frames: int, index: int, conversion: str) -> ScanInfo:
    spacing, spacing_source = pixel_spacing_mm(ds)
    notes = {"photometric": conversion}
    if spacing_source is not None:
        notes["spacing-source"] = spacing_source
    syntax = _transfer_syntax_name(ds)
    notes["transfer-syntax"] = syntax
    return ScanInfo(
        modality=header_text(ds, "Modality"),
        pixel_spacing_mm=spacing,
        patient_name=header_text(ds, "PatientName"),
        patient_id=header_text(ds, "PatientID"),
        patient_birth_date=header_text(ds, "PatientBirthDate"),
        patient_sex=header_text(ds, "PatientSex"),
        study_instance_uid=header_text(ds, "StudyInstanceUID"),
        study_id=header_text(ds, "StudyID"),
        study_date=header_text(ds, "StudyDate"),
        study_time=header_text(ds, "StudyTime"),
        study_description=header_text(ds, "StudyDescription"),
        accession_number=header_text(ds, "AccessionNumber"),
        referring_physician_name=header_text(ds, "ReferringPhysicianName"),
        series_instance_uid=header_text(ds, "SeriesInstanceUID"),
        series_description=header_text(ds, "SeriesDescription"),
        sop_class_uid=header_text(ds, "SOPClassUID"),
        sop_instance_uid=header_text(ds, "SOPInstanceUID"),
        window_center=_number(header_value(ds, "WindowCenter")),
        window_width=_number(header_value(ds, "WindowWidth")),
        frame_count=frames,
        frame_index=index,
        notes=notes,
    )
