"""Export: one :func:`export` for every consumer; the format follows the suffix.

==========  ===========================================================================
suffix      written
==========  ===========================================================================
``.dcm``    a DICOM Secondary Capture derived image (:mod:`engine.dicom.export`): identity
            and source references taken from the record's own scans, provenance in
            DerivationDescription / ImageComments
``.png``    8-bit, min-max scaled, provenance as PNG text chunks (:func:`engine.io.save_image`)
``.tiff``   float32, provenance as JSON in ImageDescription
``.npy``    float64, plus ``name.npy.json`` with the provenance (sources as nested JSON)
==========  ===========================================================================

``measurements`` (one line each, as :mod:`engine.measurements` describes them; the viewer's
distances and regions on this result's grid) are part of the provenance of every format: the
``measurements`` text entry (PNG, TIFF, NPY side file) or notes of the DICOM image.

The record's image is written (``which``: ``mri`` the MRI-contrast estimate, ``us`` the
US-appearance image; default the record's choice), and the provenance says which. ``anonymise``
applies to every format: the DICOM exporter's de-identification, and for the other formats the
sources (file names, patient and instance identifiers) left out of the provenance. The path is
checked by :func:`~engine.pipeline.paths.check_output_path` first (the command line calls it
before the fusion too) and every file is written atomically.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..scan import Scan
from .paths import atomic_write, check_output_path, sidecar_path
from .record import FusionRecord, ImageChoice

DICOM_SUFFIXES = (".dcm", ".dicom")


def record_inputs(record: FusionRecord) -> list[Path | None]:
    """The files the record came from (an export never replaces one of them)."""
    return [scan.path for scan in (record.mri, record.us) if scan is not None]


def _write_dicom(record: FusionRecord, path: Path, which, options, measurements) -> None:
    from ..dicom import export_derived_dicom

    fi = record.fusion_input
    result = dataclasses.replace(
        record.result,
        fused=record.pixels(which),
        notes=(
            *record.result.notes,
            f"Image: {record.image_note(which)}.",
            *(f"Measurement {line}." for line in measurements),
        ),
    )
    mri = record.mri if record.mri is not None else Scan(fi.y_m)
    us = record.us if record.us is not None else Scan(fi.y_u)
    export_derived_dicom(result, mri, us, path, options=options)


def export(
    record: FusionRecord,
    path: str | Path,
    *,
    which: ImageChoice | None = None,
    overwrite: bool = False,
    anonymise: bool = False,
    dicom_options=None,
    measurements: tuple[str, ...] = (),
) -> Path:
    """Write ``record``'s image to ``path`` (format by suffix); return the path written.

    ``dicom_options`` (:class:`engine.dicom.DicomExportOptions`: pseudonym file, date shift,
    blanking outside the US region) refines a DICOM export; its ``anonymise`` is used when given.
    """
    from ..dicom import DicomExportOptions
    from ..io import save_image

    options = dicom_options or DicomExportOptions(anonymise=anonymise)
    anonymise = options.anonymise
    path = check_output_path(path, overwrite=overwrite, inputs=record_inputs(record))
    if path.suffix.lower() in DICOM_SUFFIXES:
        return atomic_write(
            path, lambda tmp: _write_dicom(record, tmp, which, options, measurements)
        )
    provenance = record.provenance(which, anonymise)
    if measurements:
        provenance["measurements"] = "\n".join(measurements)
    pixels = record.pixels(which)
    if path.suffix.lower() == ".npy":
        sources = provenance["sources"] if anonymise else record.sources()
        sidecar = dict(provenance, sources=sources, image_choice=record.resolved_image(which))
        text = json.dumps(sidecar, indent=2, sort_keys=True)
        atomic_write(sidecar_path(path), lambda tmp: tmp.write_text(text))
    return atomic_write(path, lambda tmp: save_image(tmp, pixels, provenance))


def load_record(path: str | Path) -> FusionRecord:
    """Rebuild the record of a ``.npy`` export from its sidecar: the image, the method and the
    source scans (re-read and re-paired with the recorded d), so that :func:`measure` gives the
    numbers the viewer showed."""
    import numpy as np

    from ..errors import ScanReadError
    from ..fusion import FusionResult
    from .steps import load, pair

    path = Path(path)
    side = sidecar_path(path)
    if path.suffix.lower() != ".npy" or not side.is_file():
        raise ScanReadError(
            f"{path.name} is not an EndoFuse .npy export with its {side.name} provenance file."
        )
    try:
        info = json.loads(side.read_text())
        sources = {role: info["sources"][role] for role in ("mri", "us")}
        files = {role: source["file"] for role, source in sources.items()}
        d = int(info["scale factor d"])
        which = info.get("image_choice", "us")
    except (ValueError, KeyError, TypeError):
        raise ScanReadError(
            f"{side.name} does not name both source files and the scale factor d."
        ) from None
    image = np.load(path, allow_pickle=False)
    mri, us = (load(files[role], variable=sources[role].get("variable")) for role in ("mri", "us"))
    fusion_input = pair(mri, us, d=d)
    result = FusionResult(
        fused=image, method=str(info.get("method", "unknown")), params=None, elapsed_s=0.0,
        mri_estimate=image if which == "mri" else None,
    )
    return FusionRecord(0, result, fusion_input, which)
