"""The one thing every consumer of a finished fusion receives: a :class:`FusionRecord`.

A record ties the engine's :class:`~engine.fusion.FusionResult` to the exact
:class:`~engine.fusion.FusionInput` it was computed from; the source scans are the input's own
(``fusion_input.mri`` / ``fusion_input.us``), so exporting a record later always carries *its*
sources' identity and references, whatever the viewer has opened since.

Two images leave a fusion (``ImageChoice``):

* ``mri`` (the default): ``result.mri_estimate``, the MRI contrast at US resolution;
* ``us``: ``result.fused``, the US appearance.

A method that returns no ``mri_estimate`` falls back to ``fused`` and the record says so in
:meth:`FusionRecord.image_note` (shown by the viewer and written into the provenance).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..fusion import FusionInput, FusionResult
from ..scan import Scan

if TYPE_CHECKING:
    from .measure import Measurement

ImageChoice = Literal["mri", "us"]
IMAGE_CHOICES: tuple[str, ...] = ("mri", "us")
IMAGE_LABELS = {
    "mri": "MRI-contrast estimate (mri_estimate)",
    "us": "US-appearance image (fused)",
}


@dataclass(frozen=True, eq=False)
class FusionRecord:
    """One finished fusion: number in its session, result, the input it came from, metrics.

    ``image`` is the image shown and exported by default; ``measurement`` is filled by
    :func:`engine.pipeline.measure` (None until measured). ``images_released`` is True once
    :meth:`without_images` has let go of the pixel arrays (the session does so for older results
    beyond its memory budget): metrics, parameters and provenance stay, :meth:`pixels` refuses.
    """

    number: int
    result: FusionResult
    fusion_input: FusionInput
    image: ImageChoice = "mri"
    measurement: Measurement | None = None
    images_released: bool = False

    # ----- identity ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.result.method

    @property
    def name(self) -> str:
        return f"#{self.number} {self.result.method}"

    @property
    def mri(self) -> Scan | None:
        return self.fusion_input.mri

    @property
    def us(self) -> Scan | None:
        return self.fusion_input.us

    @property
    def metrics(self) -> Measurement:
        """The measurement (an empty one, with the reason, when none was taken)."""
        from .measure import Measurement

        return self.measurement or Measurement(error="not measured")

    # ----- the two images ------------------------------------------------------------------
    def resolved_image(self, which: ImageChoice | None = None) -> ImageChoice:
        """``which`` (default: the record's choice), or ``us`` when no MRI estimate exists."""
        which = self.image if which is None else which
        if which not in IMAGE_CHOICES:
            from ..errors import ParameterError

            raise ParameterError(f"The image must be 'mri' or 'us', not {which!r}.")
        if which == "mri" and self.result.mri_estimate is None:
            return "us"
        return which

    def pixels(self, which: ImageChoice | None = None) -> np.ndarray:
        """The chosen image on the US grid (float64); ImageReleasedError once released."""
        if self.images_released:
            from ..errors import ImageReleasedError

            raise ImageReleasedError(
                f"The image of result {self.name} was released to keep the viewer's memory "
                "within its budget; its metrics and provenance are kept: fuse again with the same "
                "parameters and seed to see it."
            )
        resolved = self.resolved_image(which)
        image = self.result.mri_estimate if resolved == "mri" else self.result.fused
        return np.asarray(image, dtype=np.float64)

    @property
    def image_bytes(self) -> int:
        """Memory held by the result's images: ``fused``, ``mri_estimate`` and the previews."""
        r = self.result
        arrays = [r.fused, r.mri_estimate, *r.previews]
        return sum(int(np.asarray(a).nbytes) for a in arrays if a is not None)

    def without_images(self) -> FusionRecord:
        """This record with its images let go (:attr:`images_released`); everything else, the
        choice between ``mri_estimate`` and ``fused`` included, is unchanged. The arrays are
        replaced by empty (0 x 0) placeholders so that the result stays well-typed."""
        r = self.result
        empty = np.empty((0, 0))
        result = dataclasses.replace(
            r,
            fused=empty,
            mri_estimate=None if r.mri_estimate is None else empty,
            previews=[],
        )
        return dataclasses.replace(self, result=result, images_released=True)

    def image_note(self, which: ImageChoice | None = None) -> str:
        """What the chosen image is, including the fallback when the method had no estimate."""
        wanted = self.image if which is None else which
        resolved = self.resolved_image(which)
        text = IMAGE_LABELS[resolved]
        if resolved != wanted:
            text += f"; {self.method} returned no MRI-contrast estimate"
        return text

    # ----- descriptions --------------------------------------------------------------------
    def params_dict(self) -> dict:
        params = self.result.params
        return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}

    @property
    def seed_text(self) -> str:
        """ "seed N", or "deterministic" for a method that draws no random numbers."""
        return "deterministic" if self.result.seed is None else f"seed {self.result.seed}"

    def summary(self) -> str:
        r = self.result
        return f"{self.name}   {r.elapsed_s:.1f} s   {self.seed_text}   {r.device}"

    def details(self) -> str:
        lines = [self.summary(), f"Sources: {self.sources_text()}", "Parameters:"]
        lines += [f"  {k} = {v}" for k, v in self.params_dict().items()]
        if self.result.weights:
            lines += [f"Weights: {w.file} (sha256 {w.sha256[:12]}...)" for w in self.result.weights]
        lines += [f"Note: {n}" for n in self.result.notes]
        return "\n".join(lines)

    def sources(self) -> dict[str, dict[str, str]]:
        """Role -> what identifies the source scan (file, patient, study, instance)."""
        out: dict[str, dict[str, str]] = {}
        for role, scan in (("mri", self.mri), ("us", self.us)):
            if scan is None:
                continue
            info = scan.info
            fields = {
                "file": str(scan.path) if scan.path is not None else "",
                "series_description": info.series_description or "",
                "patient_id": info.patient_id or "",
                "study_instance_uid": info.study_instance_uid or "",
                "sop_instance_uid": info.sop_instance_uid or "",
                "variable": info.notes.get("variable", ""),  # the .mat variable chosen
            }
            out[role] = {k: v for k, v in fields.items() if v}
        return out

    def sources_text(self) -> str:
        parts = []
        for role, scan in (("MRI", self.mri), ("US", self.us)):
            if scan is not None:
                label = scan.name if scan.path is not None else (scan.info.series_description or "")
                parts.append(f"{role} {label}".strip())
        return ", ".join(parts) or "unknown"

    def provenance(
        self, which: ImageChoice | None = None, anonymise: bool = False
    ) -> dict[str, str]:
        """Flat text provenance: the result's, plus the image written, d and the sources (left
        out when ``anonymise``: file names, patient and instance identifiers identify)."""
        info = dict(self.result.provenance())
        info["result"] = self.name
        info["image"] = self.image_note(which)
        info["scale factor d"] = str(self.fusion_input.d)
        sources = json.dumps(self.sources(), sort_keys=True)
        info["sources"] = "removed (anonymised export)" if anonymise else sources
        return info
