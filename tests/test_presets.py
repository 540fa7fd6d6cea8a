"""The presets of the fusion parameters: one table in the engine, applied by the CLI and the
viewer, and each one moves the fused images toward the modality it names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.commands.fuse import method_params
from engine.errors import ParameterError
from engine.fusion_params import DdfmEmParams, DdfmPalmParams, PalmMethodParams
from engine.presets import CUSTOM, PRESETS, find_preset, preset_of, presets_for


def test_every_preset_is_valid_and_recognised():
    assert [p.name for p in presets_for(PalmMethodParams)] == ["Balanced", "More MRI", "More US"]
    assert [p.name for p in presets_for(DdfmPalmParams)] == ["Balanced", "More MRI", "More US"]
    assert [p.name for p in presets_for(DdfmEmParams)] == ["Balanced"]
    assert preset_of(PalmMethodParams()) == "Balanced"
    for preset in presets_for(PalmMethodParams):
        params = preset.apply(PalmMethodParams())
        assert preset_of(params) == preset.name
        assert find_preset(PalmMethodParams, preset.key) is preset
        assert find_preset(PalmMethodParams, preset.name.upper()) is preset
    assert preset_of(dataclasses.replace(PalmMethodParams(), iterations=3)) == CUSTOM
    with pytest.raises(ParameterError, match="Unknown preset 'louder'"):
        find_preset(PalmMethodParams, "louder")
    with pytest.raises(ParameterError, match="does not apply"):
        PRESETS[1].apply(DdfmEmParams())


def test_cli_preset_goes_through_the_same_table():
    params = method_params("palm", {"iterations": "2"}, None, preset="more-us")
    expected = dataclasses.replace(find_preset(PalmMethodParams, "More US").apply(
        PalmMethodParams()), iterations=2)
    assert params == expected
    with pytest.raises(ParameterError, match="Unknown preset"):
        method_params("palm", {}, None, preset="nope")


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(x), np.ravel(y))[0, 1])


def test_more_mri_and_more_us_move_both_images_toward_their_modality():
    """On a small phantom, corr(image, MRI upsampled) rises and corr(image, US) falls from
    More US to Balanced to More MRI, for the MRI-contrast image and the US-appearance image."""
    from engine.methods import run
    from engine.phantom import make_phantom_pair
    from engine.resample import imresize_bicubic

    fi = make_phantom_pair(seed=0, size=120, d=6).fusion_input()
    mri_up = imresize_bicubic(fi.y_m, fi.d)
    scores = {}
    for name in ("More US", "Balanced", "More MRI"):
        params = find_preset(PalmMethodParams, name).apply(PalmMethodParams())
        result = run("palm", fi, params)
        scores[name] = {
            image: (_correlation(pixels, mri_up), _correlation(pixels, fi.y_u))
            for image, pixels in (("mri", result.mri_estimate), ("us", result.fused))
        }
    for image in ("mri", "us"):
        to_mri = [scores[n][image][0] for n in ("More US", "Balanced", "More MRI")]
        to_us = [scores[n][image][1] for n in ("More US", "Balanced", "More MRI")]
        assert to_mri[0] < to_mri[1] < to_mri[2], (image, scores)
        assert to_us[0] > to_us[1] > to_us[2], (image, scores)
