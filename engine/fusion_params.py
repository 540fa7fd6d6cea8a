"""Every fusion parameter, declared once, in small torch-free groups that the methods compose.

Each group is a frozen dataclass whose fields carry a :class:`~engine.params.ParamSpec` (default,
range, help). A method's parameter class inherits the groups it uses, so a parameter shared by
two methods (the despeckler, the diffusion seed, the joint-model weights) has one declaration,
one validation (:func:`~engine.params.validate_params`) and one help text for the CLI, the viewer
form and the provenance.

Groups: :class:`JointWeights` (the joint PALM model, :mod:`engine.joint_palm`),
:class:`LegacyPalmWeights` (the original PALM's tau weights, :mod:`engine.palm`),
:class:`DespeckleParams`, :class:`SamplingParams` (DDIM sampling of a diffusion prior),
:class:`EmParams` (the EM step of DDFM), :class:`PriorPullParams` (the DDFM-PALM data step).
"""

from __future__ import annotations

from dataclasses import dataclass

from .params import param

PRIORS = ("tv", "tikhonov")
PALM_VARIANTS = ("joint", "corrected", "reference")
DESPECKLER_CHOICES = ("learned", "classical")
PRECISIONS = ("float32", "bfloat16", "float16")
#: the MRI point-spread function of the simulators (Data2/3, phantoms): sigma 4 US pixels
PSF_SIGMA = 4.0


@dataclass(frozen=True)
class JointWeights:
    """The joint PALM model; weights relative to the noise levels the method estimates.

    Defaults chosen on tuning pairs only (phantom seeds 20 and 21 at d = 6 and 4, eight
    scikit-image scenes simulated like Data2/3 at d = 1, 2 and 4, light and heavy speckle:
    ``bench/quality.py --pairs tune``), never on the reported pairs.
    """

    prior: str = param("tv", "Prior of the MRI-contrast image: tv (edge-preserving) or "
                       "tikhonov (smooth, faster).", choices=PRIORS)
    mri_regularisation: float = param(0.25, "Strength of the MRI prior, relative to the MRI "
                                      "noise level (with the coupling: the best minimum MRI "
                                      "gain on the tuning pairs among the settings within "
                                      "0.1 dB of the best mean, grid 0.125..1 x 0.75..3).",
                                      1e-4, 1e4, log_scale=True)
    coupling: float = param(1.5, "Weight of the link between the two images, relative to the "
                            "ratio of the MRI and US noise levels (chosen with the MRI prior's "
                            "strength).", 1e-4, 1e4, log_scale=True)
    us_fidelity: float = param(10.0, "Weight of the despeckled US in the US-appearance image, "
                               "relative to the link.", 1e-3, 1e4, log_scale=True)
    psf_sigma: float = param(PSF_SIGMA, "Std of the MRI point-spread function, in US pixels.",
                             0.3, 32.0)
    step_factor: float = param(8.0, "MRI step as a multiple of the Lipschitz step (halved "
                               "automatically whenever the objective rises).", 1.0, 100.0)
    iterations: int = param(10, "Outer PALM iterations (10 keeps the 600x600 fusion within 2 s; "
                            "on the tuning pairs 15 add 0.2 dB of mean MRI gain for 1.5 times "
                            "the iteration time).", 1, 500)
    prior_iterations: int = param(2, "ADMM iterations of each TV MRI step.", 1, 500)


@dataclass(frozen=True)
class LegacyPalmWeights:
    """Weights of the original PALM (``variant`` reference or corrected; Demo.m defaults)."""

    tau1: float = param(1e-12, "Original PALM: weight of the US link in the MRI update.", 0.0,
                        1e3, log_scale=True)
    tau2: float = param(1e-15, "Original PALM: weight of the US speckle data term.", 0.0, 1e3,
                        log_scale=True)
    tau3: float = param(1e-4, "Original PALM: weight of the US smoothness term.", 0.0, 1e3,
                        log_scale=True)
    tau4: float = param(2e-4, "Original PALM: weight of the MRI link in the US update.", 0.0,
                        1e3, log_scale=True)
    step: float = param(0.2, "Original PALM: step of the US gradient descent.", 1e-6, 10.0)
    gamma: float = param(1e-3, "Original PALM: speckle shape constant.", 0.0, 10.0)
    link_fit: str = param("image", "Original PALM: image (signed link fitted on the images the "
                          "fusion uses) or reference (|c| of the original estimate_c).",
                          choices=("image", "reference"))


@dataclass(frozen=True)
class DespeckleParams:
    """How the US is despeckled before fusion."""

    despeckle: bool = param(True, "Despeckle the US before fusion (the data of the US term).")
    despeckler: str = param("learned", "Despeckler: the bundled learned network or the "
                            "classical TV filter.", choices=DESPECKLER_CHOICES)
    despeckler_weights: str = param("", "Optional DnCNN weights file (.pth) for despeckling; "
                                    "empty: the despeckler chosen above.")


@dataclass(frozen=True)
class SamplingParams:
    """DDIM sampling of the diffusion prior."""

    steps: int = param(25, "Diffusion (DDIM) steps, evenly respaced from 1000.", 2, 1000)
    respacing: str = param("", "Advanced: a respacing such as 'ddim100' or '25,10'; "
                           "overrides steps when set.")
    seed: int = param(3407, "Seed of the starting noise (same seed, same image).", 0, 2**31 - 1)
    precision: str = param("float32", "Network precision (reduced precision: GPU speed-up).",
                           choices=PRECISIONS)
    preview_every: int = param(10, "Keep an x0 preview every k steps (0: none).", 0, 1000)
    weights_file: str = param("", "Diffusion prior file with config and state_dict; empty: "
                              "the registry's prior.")


@dataclass(frozen=True)
class EmParams:
    """The EM correction of DDFM (reference: lambda 0.5, rho 0.001)."""

    lamb: float = param(0.5, "Weight lambda of the TV term of the EM step.", 0.0, 100.0)
    rho: float = param(0.001, "Penalty rho of the EM M-step.", 1e-6, 10.0, log_scale=True)


@dataclass(frozen=True)
class PriorPullParams:
    """The DDFM-PALM data step: the joint model's US step pulled toward the diffusion estimate."""

    prior_weight: float = param(0.01, "Pull toward the diffusion estimate: rho_t = "
                                "prior_weight (rho_floor + sigma_t^2) times the coupling "
                                "weight; 0 reduces the step to PALM.", 0.0, 1e6, log_scale=True)
    rho_floor: float = param(1.0, "Pull left at the end of sampling (sigma_t -> 0), relative to "
                             "prior_weight; 0 lets the last steps be pure PALM.", 0.0, 100.0)


@dataclass(frozen=True)
class PalmMethodParams(LegacyPalmWeights, JointWeights, DespeckleParams):
    """``palm``: the joint model by default; the original algorithm as variants."""

    variant: str = param("joint", "joint: MRI super-resolution and US restoration with a "
                         "refitted link and the defects of the original removed (returns both "
                         "images); corrected: the original algorithm with its Woodbury "
                         "constant and stop rule fixed; reference: exactly the original code.",
                         choices=PALM_VARIANTS)


@dataclass(frozen=True)
class DdfmEmParams(SamplingParams, EmParams):
    """``ddfm-em``: the reference DDFM (steps 25 with the bundled prior; see the README)."""


@dataclass(frozen=True)
class DdfmPalmParams(SamplingParams, PriorPullParams, JointWeights, DespeckleParams):
    """``ddfm-palm``: joint PALM solution, then diffusion sampling with joint PALM data steps."""
