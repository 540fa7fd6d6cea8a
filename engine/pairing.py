"""Pair an MRI scan with a US scan by physical geometry into the normalised fusion input.

Steps (each in :mod:`engine.geometry`):

1. **Safety**: patient and modality checks (:func:`engine.geometry.checks.check_pair`).
2. **Region of interest** of the US: the user's box, else the DICOM image region, else the frame.
3. **Spacings**: the user's, else the files'; a missing one is asked for by name. When *neither*
   file knows its spacing and the US region is a whole multiple k of the MRI, both are taken to
   cover the same field (US spacing 1, MRI spacing k, in pixel units) and the note says so.
4. **Scale factor** d from the spacings (or the user's), the common field cut to multiples of d,
   and the MRI sampled through the transform onto the grid exactly d times the US spacing.
5. **Normalisation**: each image divided by its maximum (the reference normalisation).

Nothing is refused because sizes are not multiples; the :class:`PairingReport` records every
choice for the result's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import GeometryError
from .fusion import FusionInput
from .geometry.checks import SafetyOptions, check_pair
from .geometry.grid import PairGeometry, choose_scale_factor, resolve_spacing
from .geometry.roi import Roi, RoiChoice, us_image_roi
from .geometry.transform import AffineTransform2D, check_invertible
from .scan import Scan, size_text


@dataclass(frozen=True)
class PairingOptions:
    """What the user may set: d, the US box, spacings (mm), the transform and confirmations."""

    d: int | None = None
    roi: Roi | None = None
    us_spacing: float | None = None
    mri_spacing: float | None = None
    transform: AffineTransform2D = AffineTransform2D()
    safety: SafetyOptions = SafetyOptions()


@dataclass(frozen=True)
class PairingReport:
    """How a pair was formed: the geometry, the US pixels fused and the notes for the user."""

    geometry: PairGeometry
    box: Roi
    roi: RoiChoice
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: whether the geometry's spacings are millimetres (False: neither file gave a pixel size and
    #: they are in pixel units, see :func:`_same_field_spacings`)
    spacing_in_mm: bool = True

    @property
    def us_spacing_mm(self) -> tuple[float, float] | None:
        """(row, col) mm of one pixel of the fused (US) grid; None when not known in mm."""
        return self.geometry.us_spacing if self.spacing_in_mm else None

    def provenance(self) -> dict[str, str]:
        return {
            "pairing": f"{self.geometry.describe()}; US pixels {self.box.text()} (x,y,w,h)",
            "registration": self.geometry.transform.describe(),
            "pairing-notes": "; ".join((self.roi.note, *self.notes)),
        }


def normalise_by_max(image: np.ndarray, what: str) -> np.ndarray:
    peak = float(np.max(image))
    if peak <= 0:
        raise GeometryError(f"The {what} has no positive pixel values; it cannot be normalised.")
    return image / peak


def _frame_note(us: Scan) -> list[str]:
    n, i = us.info.frame_count, us.info.frame_index
    if n <= 1:
        return []
    default = " (the middle one, by default; choose another with --frame)" if i == n // 2 else ""
    return [f"ultrasound frame {i} of {n} (0-based) used{default}"]


def _same_field_spacings(
    mri: Scan, roi: Roi
) -> tuple[tuple[float, float], tuple[float, float], str]:
    """Spacings when neither file knows them: same field assumed when sizes are a multiple."""
    (h, w), (H, W) = mri.shape, (roi.h, roi.w)  # noqa: N806
    if h > H or w > W:
        raise GeometryError(
            f"The MRI ({size_text((h, w))}) is larger than the ultrasound ({size_text((H, W))}) "
            "and neither file says its "
            "pixel size; check that the two files were not swapped, or give --us-spacing and "
            "--mri-spacing in mm."
        )
    if H % h or W % w or H // h != W // w:
        raise GeometryError(
            f"Neither file says its pixel size and the ultrasound ({size_text((H, W))}) is not a "
            f"whole multiple of the MRI ({size_text((h, w))}); give both in mm with --us-spacing "
            "and --mri-spacing."
        )
    k = float(H // h)
    note = (
        f"neither file gives a pixel size: both taken to cover the same field (MRI pixels "
        f"{k:g} times the US pixels); give --us-spacing and --mri-spacing to set them"
    )
    return (1.0, 1.0), (k, k), note


def plan_pair(mri: Scan, us: Scan, options: PairingOptions = PairingOptions()) -> PairingReport:
    """Checks, region, spacings, d and the common box: everything but the pixel work."""
    notes = check_pair(mri, us, options.safety) + _frame_note(us)
    check_invertible(options.transform)
    roi = us_image_roi(us, options.roi)
    if (
        roi.spacing_mm is None
        and mri.info.pixel_spacing_mm is None
        and (options.us_spacing is None and options.mri_spacing is None)
    ):
        us_spacing, mri_spacing, note = _same_field_spacings(mri, roi.anchor)
        notes.append(note)
        in_mm = False
    else:
        in_mm = True
        us_spacing = resolve_spacing(
            roi.spacing_mm, options.us_spacing, "ultrasound", "--us-spacing"
        )
        mri_spacing = resolve_spacing(
            mri.info.pixel_spacing_mm, options.mri_spacing, "MRI", "--mri-spacing"
        )
    d = options.d if options.d is not None else choose_scale_factor(mri_spacing, us_spacing)
    if d < 1:
        raise GeometryError(f"The scale factor d must be a whole number >= 1, not {d}.")
    if mri_spacing[0] < us_spacing[0] * d * 0.95:
        notes.append(f"the MRI is finer than {d} US pixels; it is smoothed and downsampled")
    geometry = PairGeometry(
        us_spacing, mri_spacing, mri.shape, roi.roi, d, options.transform, roi.anchor
    )
    return PairingReport(geometry, geometry.common_box(), roi, tuple(notes), in_mm)


def pair_scans(
    mri: Scan,
    us: Scan,
    d: int | None = None,
    clean_us: np.ndarray | None = None,
    options: PairingOptions | None = None,
) -> FusionInput:
    """The :class:`FusionInput` of an MRI/US pair (see the module docstring for every step)."""
    options = options or PairingOptions()
    if d is not None:
        options = replace(options, d=d)
    report = plan_pair(mri, us, options)
    box, geometry = report.box, report.geometry
    y_m = geometry.sample_mri(mri.pixels, box)
    y_u = us.pixels[box.rows, box.cols]
    us_mm = report.us_spacing_mm
    mri_mm = None if us_mm is None else (geometry.d * us_mm[0], geometry.d * us_mm[1])
    clean = None if clean_us is None else np.asarray(clean_us)[box.rows, box.cols]
    return FusionInput(
        y_m=normalise_by_max(y_m, "MRI"),
        y_u=normalise_by_max(y_u, "ultrasound"),
        d=geometry.d,
        mri=_on_grid(mri, y_m, mri_mm),
        us=_on_grid(us, y_u, us_mm),
        clean_us=clean,
        pairing=report,
    )


def _on_grid(scan: Scan, pixels: np.ndarray, spacing: tuple[float, float] | None) -> Scan:
    """The scan with the pixels fused (the scan itself when nothing changes) and the grid's
    spacing in mm when the pairing knows it (also when it came from the US regions or the user
    rather than the file's PixelSpacing), so that every consumer finds it on the scan."""
    same_pixels = pixels.shape == scan.shape and np.array_equal(pixels, scan.pixels)
    if spacing is None or tuple(spacing) == scan.info.pixel_spacing_mm:
        return scan if same_pixels else scan.with_pixels(pixels)
    info = replace(scan.info, pixel_spacing_mm=(float(spacing[0]), float(spacing[1])))
    return replace(scan, pixels=scan.pixels if same_pixels else pixels, info=info)


def annotate_result(result, fusion_input: FusionInput) -> None:
    """Add how the pair was formed (grid, US pixels, transform) to ``result.notes``, which the
    PNG/TIFF text and the DICOM derivation description carry."""
    report = fusion_input.pairing
    if report is None or any(note.startswith("registration ") for note in result.notes):
        return
    record = report.provenance()
    result.notes = (
        *result.notes,
        f"pairing {record['pairing']}",
        f"registration {record['registration']}",
    )
