"""The ``palm`` method: despeckle the US, then PALM (joint model by default).

``variant="joint"`` runs :mod:`engine.joint_palm` and returns both images: ``mri_estimate``
(MRI contrast at US resolution) and ``fused`` (the MRI-guided despeckled US). The original
algorithm (:mod:`engine.palm`) stays available as ``reference`` (the golden reproduction) and
``corrected``; both run through the same PALM loop the golden test checks (:func:`palm_fuse`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..device import pick_device
from ..fusion import FusionInput, FusionResult
from ..fusion_params import PalmMethodParams
from ..progress import ProgressReporter
from .base import FusionMethod

__all__ = ["PalmMethod", "PalmMethodParams", "legacy_palm_params"]


def legacy_palm_params(params: PalmMethodParams, d: int):
    """The :class:`engine.palm.PalmParams` of the original algorithm for these settings."""
    from ..palm import PalmParams

    return PalmParams(
        tau1=params.tau1, tau2=params.tau2, tau3=params.tau3, tau4=params.tau4, d=d,
        iterations=params.iterations, step=params.step, gamma=params.gamma,
        variant=params.variant,
    )


class PalmMethod(FusionMethod):
    name = "palm"
    title = "PALM (El Mansouri et al. 2020)"
    params_type = PalmMethodParams

    def run(
        self,
        fusion_input: FusionInput,
        params: PalmMethodParams,
        reporter: ProgressReporter,
        generator=None,
        device: str | None = None,
    ) -> FusionResult:
        from ..denoise import despeckle_stage

        t0 = time.perf_counter()
        stages: dict[str, float] = {}
        reporter.step(0, params.iterations, "Despeckling the ultrasound")
        weights_path = Path(params.despeckler_weights) if params.despeckler_weights else None
        despeckled = despeckle_stage(fusion_input.y_u, params.despeckle, weights_path,
                                     params.despeckler, cancel=reporter.check_cancel)
        weights = (despeckled.weights,) if despeckled.weights is not None else ()
        stages["despeckle"] = time.perf_counter() - t0
        reporter.check_cancel()
        torch_device = pick_device(device)
        t1 = time.perf_counter()
        if params.variant == "joint":
            x_mri, x_us, note = self._joint(fusion_input, despeckled.image, params, reporter,
                                            torch_device)
        else:
            x_mri, x_us, note = self._original(fusion_input, despeckled.image, params,
                                               reporter, torch_device)
        stages["palm"] = time.perf_counter() - t1
        return FusionResult(
            fused=x_us, method=self.name, params=params,
            elapsed_s=time.perf_counter() - t0, device=str(torch_device), weights=weights,
            mri_estimate=x_mri, notes=(despeckled.note, note), stage_seconds=stages,
        )

    @staticmethod
    def _joint(fusion_input, xu0, params, reporter, device):
        from ..joint_palm import joint_fuse

        result = joint_fuse(fusion_input.y_m, xu0, fusion_input.d, params,
                            y_u_raw=fusion_input.y_u, reporter=reporter, device=device)
        link = result.link
        note = (f"Joint PALM ({params.prior} prior, {result.iterations} iterations); link "
                f"f(x) = {link.a:.4g} + {link.b:.4g} x + {link.c:.4g} |grad x|.")
        return result.x_mri, result.x_us, note

    @staticmethod
    def _original(fusion_input, xu0, params, reporter, device):
        from ..palm import palm_fuse
        from ..palm_link import estimate_link, link_on_image_scale

        if params.link_fit == "reference":
            c = np.abs(estimate_link(fusion_input.y_m, fusion_input.y_u, fusion_input.d,
                                     reporter.check_cancel))
        else:
            c = link_on_image_scale(fusion_input.y_m, fusion_input.y_u, fusion_input.d,
                                    reporter.check_cancel)
        reporter.check_cancel()
        result = palm_fuse(fusion_input.y_m, xu0, c, legacy_palm_params(params, fusion_input.d),
                           reporter=reporter, device=device)
        return result.x_mri, result.x_us, f"Original PALM, {params.variant} variant."
