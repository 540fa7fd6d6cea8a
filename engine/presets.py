"""Named presets of the fusion parameters: what the viewer offers first, ``endofuse fuse --preset``.

A :class:`Preset` is a set of overrides of the parameters declared in
:mod:`engine.fusion_params` (the declarations, ranges and help stay there). It applies to every
method whose parameter class has all of its fields, so the joint-model presets serve ``palm``
and ``ddfm-palm``; a method without such fields (``ddfm-em``) gets the balanced preset only.

The joint model (:mod:`engine.joint_palm`) weighs the two modalities through

* ``coupling`` (w): how strongly the MRI-contrast image x1 is pulled toward the US through the
  link f(x1); lower keeps x1 closer to the MRI, higher lets it take the US detail;
* ``us_fidelity`` (eta): how strongly the US-appearance image x2 keeps the despeckled US against
  the link of the MRI estimate; lower lets the MRI through, higher keeps the US;
* ``mri_regularisation`` (lam): the MRI prior; higher gives a smoother, more MRI-like x1.

"More MRI" and "More US" move all three one way (a factor of ten on the first two, three on the
prior). On the demo phantom this moves both images toward the named source: the correlation
with the upsampled MRI rises and the one with the US falls for "More MRI", and the reverse for
"More US" (``tests/test_presets.py`` checks it on a small phantom).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError
from .fusion_params import JointWeights
from .params import validate_params

#: what the viewer shows when the parameters match no preset
CUSTOM = "Custom"


@dataclass(frozen=True)
class Preset:
    """``overrides`` (field name, value) applied to a method's defaults."""

    name: str
    description: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """The command-line spelling: ``More MRI`` -> ``more-mri``."""
        return self.name.lower().replace(" ", "-")

    def applies_to(self, params_type: type) -> bool:
        names = {f.name for f in dataclasses.fields(params_type)}
        return all(name in names for name, _ in self.overrides)

    def apply(self, params: Any) -> Any:
        """A copy of ``params`` with this preset's values (validated)."""
        if not self.applies_to(type(params)):
            raise ParameterError(f"The preset {self.name} does not apply to this method.")
        updated = dataclasses.replace(params, **dict(self.overrides))
        validate_params(updated)
        return updated


#: the joint model's defaults, which "More MRI" and "More US" scale
_JOINT = JointWeights()

BALANCED = Preset("Balanced", "The method's defaults: both modalities weighed as tuned.")
PRESETS: tuple[Preset, ...] = (
    BALANCED,
    Preset(
        "More MRI",
        "Closer to the MRI: weaker pull toward the US detail (coupling / 10), the MRI let "
        "through into the US-appearance image (US fidelity / 10), a smoother MRI prior (x 3).",
        (("mri_regularisation", 3 * _JOINT.mri_regularisation), ("coupling", _JOINT.coupling / 10),
         ("us_fidelity", _JOINT.us_fidelity / 10)),
    ),
    Preset(
        "More US",
        "Closer to the ultrasound: stronger pull toward the US detail (coupling x 10), the "
        "despeckled US kept in the US-appearance image (US fidelity x 10), a lighter MRI prior "
        "(/ 3).",
        (("mri_regularisation", _JOINT.mri_regularisation / 3), ("coupling", 10 * _JOINT.coupling),
         ("us_fidelity", 10 * _JOINT.us_fidelity)),
    ),
)


def presets_for(params_type: type) -> tuple[Preset, ...]:
    """The presets that apply to ``params_type``, Balanced first."""
    return tuple(p for p in PRESETS if p.applies_to(params_type))


def find_preset(params_type: type, name: str) -> Preset:
    """The preset called ``name`` (display name or key, any case) for ``params_type``."""
    wanted = name.strip().lower().replace(" ", "-").replace("_", "-")
    available = presets_for(params_type)
    for preset in available:
        if preset.key == wanted:
            return preset
    raise ParameterError(
        f"Unknown preset '{name}' for this method; choose one of "
        f"{', '.join(p.key for p in available)}."
    )


def preset_of(params: Any) -> str:
    """The name of the preset ``params`` equal exactly, else :data:`CUSTOM`."""
    defaults = type(params)()
    for preset in presets_for(type(params)):
        if preset.apply(defaults) == params:
            return preset.name
    return CUSTOM
