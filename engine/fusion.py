"""What goes into a fusion and what comes out of it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .scan import Scan


@dataclass(frozen=True)
class FusionInput:
    """A paired, normalised MRI/US problem.

    ``y_m`` is the low-resolution MRI (h, w) and ``y_u`` the US (h*d, w*d), both divided by their
    maximum (the reference normalisation). ``clean_us`` is the ground truth on the US grid when the
    pair has one (phantoms, synthetic data), used for reference scores only.
    """

    y_m: np.ndarray
    y_u: np.ndarray
    d: int
    mri: Scan | None = None
    us: Scan | None = None
    clean_us: np.ndarray | None = None
    #: the MRI ground truth on the US grid, divided by the maximum of the observed MRI
    clean_mri: np.ndarray | None = None
    #: how the pair was formed (engine.pairing.PairingReport): geometry, region, transform, notes
    pairing: Any | None = None

    @property
    def us_shape(self) -> tuple[int, int]:
        return self.y_u.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class WeightsIdentity:
    """Which network weights a result used: registry name, file name and sha256."""

    name: str
    file: str
    sha256: str


@dataclass
class FusionResult:
    """The fused image on the US grid and everything needed to say how it was made."""

    fused: np.ndarray
    method: str
    params: Any
    elapsed_s: float
    device: str = "cpu"
    seed: int | None = None
    weights: tuple[WeightsIdentity, ...] = ()
    mri_estimate: np.ndarray | None = None
    previews: list[np.ndarray] = field(default_factory=list)
    notes: tuple[str, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)
    software_version: str = __version__

    def provenance(self) -> dict[str, str]:
        """Flat text description for image metadata (PNG text, DICOM DerivationDescription)."""
        info = {
            "software": f"EndoFuse {self.software_version}",
            "method": self.method,
            "parameters": json.dumps(
                dataclasses.asdict(self.params) if dataclasses.is_dataclass(self.params) else {},
                sort_keys=True,
            ),
            "device": self.device,
            "seed": "none" if self.seed is None else str(self.seed),
            "weights": ";".join(f"{w.name}:{w.file}:sha256={w.sha256}" for w in self.weights)
            or "none",
        }
        if self.notes:
            info["notes"] = " ".join(self.notes)
        return info
