"""Linear beta schedule and timestep respacing, as the guided-diffusion reference defines them.

    betas_t      = linspace(1e-4 s, 0.02 s, T),   s = 1000 / T        (float64)
    abar_t       = prod_{u <= t} (1 - betas_u)
A respaced schedule keeps the sorted original timesteps t_0 < ... < t_{N-1} and rebuilds
    betas'_k     = 1 - abar_{t_k} / abar_{t_{k-1}}    (abar_{t_{-1}} := 1)
    abar'_k      = prod_{j <= k} (1 - betas'_j),      abar'_prev = [1, abar'_0, ..., abar'_{N-2}]
all in float64. The network is called with the ORIGINAL timestep ``t_k`` (``timestep_map[k]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

NUM_TRAIN_TIMESTEPS = 1000


def linear_betas(num_timesteps: int = NUM_TRAIN_TIMESTEPS) -> np.ndarray:
    """The reference "linear" schedule, scaled so that any T spans the same noise range."""
    scale = 1000 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def space_timesteps(num_timesteps: int, section_counts: str | int | list[int]) -> list[int]:
    """Original timesteps kept by a respacing, sorted.

    ``"ddimN"``: ``range(0, T, s)`` with the first integer stride s giving exactly N steps.
    ``N`` / ``"N"`` / ``"N1,N2,..."``: T is cut into equal sections (the first ``T % len`` one
    longer); section i keeps N_i steps at ``round(sum of (size - 1) / (N_i - 1))`` offsets, the
    running sum accumulated in float64 and rounded half-to-even (Python ``round``).
    """
    if isinstance(section_counts, str):
        text = section_counts.strip()
        if text.startswith("ddim"):
            try:
                desired = int(text[len("ddim"):])
            except ValueError as exc:
                raise ParameterError(f"Unknown respacing '{section_counts}'.") from exc
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return list(range(0, num_timesteps, stride))
            raise ParameterError(
                f"Cannot take exactly {desired} evenly strided steps out of {num_timesteps}."
            )
        try:
            counts = [int(part) for part in text.split(",")]
        except ValueError as exc:
            raise ParameterError(
                f"Unknown respacing '{section_counts}'; use a number of steps such as 100, "
                "'ddim100' or comma-separated section counts."
            ) from exc
    elif isinstance(section_counts, int):
        counts = [section_counts]
    else:
        counts = [int(c) for c in section_counts]
    size_per, extra = divmod(num_timesteps, len(counts))
    start, steps = 0, []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if count < 1 or size < count:
            raise ParameterError(
                f"Cannot take {count} steps out of a section of {size} diffusion timesteps."
            )
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.append(start + round(cur))
            cur += stride
        start += size
    return sorted(set(steps))


@dataclass(frozen=True)
class RespacedSchedule:
    """Everything the sampler needs for one respacing, precomputed once (float64 arrays, len N).

    ``sqrt_recip_alphas_cumprod`` = 1/sqrt(abar'), ``sqrt_recipm1_alphas_cumprod`` =
    sqrt(1/abar' - 1): x0 = c1 x_t - c2 eps and eps = (c1 x_t - x0) / c2.
    """

    timestep_map: np.ndarray
    betas: np.ndarray
    alphas_cumprod: np.ndarray
    alphas_cumprod_prev: np.ndarray
    sqrt_recip_alphas_cumprod: np.ndarray
    sqrt_recipm1_alphas_cumprod: np.ndarray

    @property
    def num_steps(self) -> int:
        return len(self.timestep_map)

    def noise_level(self, i: int) -> float:
        """sigma_i = sqrt((1 - abar'_i) / abar'_i): noise std of x_t / sqrt(abar'_i) around x0."""
        return float(self.sqrt_recipm1_alphas_cumprod[i])


def respaced_schedule(
    respacing: str | int | list[int] = "100", num_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> RespacedSchedule:
    """Build the respaced linear schedule (see module docstring)."""
    base_abar = np.cumprod(1.0 - linear_betas(num_timesteps))
    kept = space_timesteps(num_timesteps, respacing)
    betas, last = [], 1.0
    for t in kept:
        betas.append(1.0 - base_abar[t] / last)
        last = base_abar[t]
    betas_arr = np.array(betas, dtype=np.float64)
    abar = np.cumprod(1.0 - betas_arr)
    abar_prev = np.append(1.0, abar[:-1])
    return RespacedSchedule(
        timestep_map=np.array(kept, dtype=np.int64),
        betas=betas_arr,
        alphas_cumprod=abar,
        alphas_cumprod_prev=abar_prev,
        sqrt_recip_alphas_cumprod=np.sqrt(1.0 / abar),
        sqrt_recipm1_alphas_cumprod=np.sqrt(1.0 / abar - 1.0),
    )
