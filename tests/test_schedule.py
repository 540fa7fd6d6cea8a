"""Linear schedule and respacing against the reference values (exact float64)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.diffusion.schedule import linear_betas, respaced_schedule, space_timesteps
from engine.errors import ParameterError


def test_base_schedule_matches_reference(shared):
    ref = json.loads(shared("fixtures", "schedule.json").read_text())
    betas = linear_betas(ref["steps"])
    assert betas[:5].tolist() == ref["base_betas_first5"]
    assert betas[-5:].tolist() == ref["base_betas_last5"]


def test_every_respacing_matches_reference_exactly(shared):
    ref = json.loads(shared("fixtures", "schedule.json").read_text())
    assert len(ref["respacings"]) == 8
    for key, expected in ref["respacings"].items():
        arg = int(key.split(":")[1]) if key.startswith("int:") else key
        sched = respaced_schedule(arg)
        assert sched.num_steps == expected["num_steps"], key
        assert sched.timestep_map.tolist() == expected["use_timesteps"], key
        assert sched.betas[:5].tolist() == expected["betas_first5"], key
        assert sched.betas[-5:].tolist() == expected["betas_last5"], key
        assert sched.alphas_cumprod[:5].tolist() == expected["alphas_cumprod_first5"], key
        assert sched.alphas_cumprod[-5:].tolist() == expected["alphas_cumprod_last5"], key
        if "betas" in expected:
            assert sched.betas.tolist() == expected["betas"], key


def test_respaced_arrays_are_consistent():
    sched = respaced_schedule("25,10")
    assert sched.alphas_cumprod_prev[0] == 1.0
    np.testing.assert_array_equal(sched.alphas_cumprod_prev[1:], sched.alphas_cumprod[:-1])
    assert np.all(np.diff(sched.alphas_cumprod) < 0)
    np.testing.assert_allclose(sched.sqrt_recip_alphas_cumprod ** 2 * sched.alphas_cumprod, 1.0)
    assert sched.noise_level(0) == pytest.approx(np.sqrt(1 / sched.alphas_cumprod[0] - 1))


def test_ddim_respacing_and_errors():
    steps = space_timesteps(1000, "ddim100")
    assert steps[:3] == [0, 10, 20] and steps[-1] == 990 and len(steps) == 100
    assert space_timesteps(1000, 100) == space_timesteps(1000, "100")
    for bad in ("abc", "ddimx", "2000", "ddim999", "0"):
        with pytest.raises(ParameterError):
            space_timesteps(1000, bad)
