"""What the viewer keeps of each finished fusion: the engine's result plus its metrics (no Qt).

Metrics follow the engine's conventions on 0..255 images: A = US, B = MRI brought to the US grid,
F = fused. Each image is scaled to 0..255 by its own min-max, ``255 (x - min x) / (max x - min x)``,
after the pairing's division by the maximum, so that every method is measured on the same scale.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.fusion import FusionInput, FusionResult

METRICS_SCALE_NOTE = (
    "Metrics are computed on 0..255 images: A = ultrasound, B = MRI upsampled (bicubic) to the\n"
    "ultrasound grid, F = fused; each is scaled by its own min-max, 255 (x - min) / (max - min).\n"
    "Ground-truth scores (demo phantom) compare F with the clean ultrasound in their own units."
)


def to_0_255(image: np.ndarray) -> np.ndarray:
    """``255 (x - min x) / (max x - min x)`` (zeros for a constant image)."""
    image = np.asarray(image, dtype=np.float64)
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros_like(image)
    return np.clip(255.0 * (image - lo) / (hi - lo), 0.0, 255.0)


def mri_on_us_grid(fusion_input: FusionInput) -> np.ndarray:
    """The MRI brought to the US grid with the engine's MATLAB-compatible bicubic upsampling."""
    from engine.resample import imresize_bicubic

    return imresize_bicubic(fusion_input.y_m, fusion_input.d)


@dataclass(frozen=True)
class ResultMetrics:
    """Metric name -> value, in three groups; ``reference`` only when the pair has ground truth."""

    standard: Mapping[str, float] = field(default_factory=dict)
    seed_compatible: Mapping[str, float] = field(default_factory=dict)
    reference: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    def groups(self) -> list[tuple[str, Mapping[str, float]]]:
        named = [
            ("Standard", self.standard),
            ("Legacy proxy set (seed-compatible)", self.seed_compatible),
            ("Against ground truth", self.reference),
        ]
        return [(title, values) for title, values in named if values]

    def all_values(self) -> dict[str, float]:
        merged: dict[str, float] = {}
        for title, values in self.groups():
            prefix = {
                "Standard": "",
                "Legacy proxy set (seed-compatible)": "seed ",
                "Against ground truth": "ref ",
            }
            for name, value in values.items():
                merged[prefix[title] + name] = float(value)
        return merged


SET_NAMES = {
    "Standard": "standard",
    "Legacy proxy set (seed-compatible)": "seed_compatible",
    "Against ground truth": "reference",
}


def metric_tooltip(group: str, key: str) -> str:
    """Label, definition and reading direction of a metric, from the engine's catalogue."""
    from engine.metrics import metric_info

    try:
        info = metric_info(SET_NAMES[group], key)
    except KeyError:
        return key
    better = "higher is better" if info.higher_is_better else "lower is better"
    text = f"{info.label}: {info.description} ({better})"
    if info.undefined_when:
        text += f"\nUndefined (NaN) when {info.undefined_when}."
    return text


def _floats(values: Mapping) -> dict[str, float]:
    out = {}
    for name, value in values.items():
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def compute_metrics(fusion_input: FusionInput, fused: np.ndarray) -> ResultMetrics:
    """Standard, seed-compatible and (when there is a clean reference) ground-truth metrics.

    The two source sets use the 0..255 images of the module docstring; ground-truth scores compare
    F with the clean US in their shared units (the pairing's normalisation), unscaled.
    """
    from engine import metrics

    a = to_0_255(fusion_input.y_u)
    b = to_0_255(mri_on_us_grid(fusion_input))
    f = to_0_255(fused)
    both = metrics.fusion_metrics(a, b, f, data_range=(0.0, 255.0))
    reference: dict[str, float] = {}
    if fusion_input.clean_us is not None:
        reference = _floats(metrics.reference_scores(fused, fusion_input.clean_us))
    return ResultMetrics(_floats(both.standard), _floats(both.seed_compatible), reference)


@dataclass(frozen=True)
class ResultRecord:
    """One entry of the results list: number, engine result, metrics."""

    number: int
    result: FusionResult
    metrics: ResultMetrics

    @property
    def method(self) -> str:
        return self.result.method

    @property
    def name(self) -> str:
        return f"#{self.number} {self.result.method}"

    def params_dict(self) -> dict:
        params = self.result.params
        return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}

    @property
    def seed_text(self) -> str:
        """ "seed N", or "deterministic" for a method that draws no random numbers."""
        return "deterministic" if self.result.seed is None else f"seed {self.result.seed}"

    def summary(self) -> str:
        return (
            f"{self.name}   {self.result.elapsed_s:.1f} s   {self.seed_text}   {self.result.device}"
        )

    def details(self) -> str:
        lines = [self.summary(), "Parameters:"]
        lines += [f"  {k} = {v}" for k, v in self.params_dict().items()]
        if self.result.weights:
            lines += [f"Weights: {w.file} (sha256 {w.sha256[:12]}...)" for w in self.result.weights]
        lines += [f"Note: {n}" for n in self.result.notes]
        return "\n".join(lines)

    def provenance(self) -> dict[str, str]:
        info = dict(self.result.provenance())
        info["result"] = self.name
        return info

    def provenance_text(self) -> str:
        return json.dumps(self.provenance(), sort_keys=True)
