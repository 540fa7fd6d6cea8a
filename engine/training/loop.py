"""The training loop shared by the prior and the despeckler: step, log, save, resume.

A :class:`Trainer` owns the model, the optimiser (Adam), an optional exponential moving average
(EMA) of the weights, the data RNG (``numpy.random.Generator``) and the noise RNG
(``torch.Generator``). ``train_step`` is one optimiser step on one fresh batch; ``run`` is the
thin loop around it that reports progress and writes the resumable state
(:mod:`.checkpointing`). Restoring a state and continuing gives the same iterates as an
uninterrupted run: every random draw comes from the two generators saved in it.

EMA: theta_ema <- d theta_ema + (1 - d) theta after every step (d = ``ema_decay``).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..progress import ProgressEvent
from .checkpointing import load_training_state, restore_rng, rng_state_text, save_training_state


def seeded_init_(model: nn.Module, generator: torch.Generator, zero=lambda name: False) -> None:
    """Initialise every parameter from ``generator`` (no global RNG).

    Weights of rank >= 2: U(-b, b), b = 1 / sqrt(fan_in) (PyTorch's default for Conv/Linear);
    biases U(-b, b) with the fan-in of their layer; normalisation weights 1, their biases 0;
    parameters whose name satisfies ``zero`` are set to 0 (the reference ADM zero-initialises
    each residual branch's last convolution and the output convolution).
    """
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, param in model.named_parameters():
            owner_name, _, leaf = name.rpartition(".")
            owner = modules[owner_name]
            if zero(name):
                param.zero_()
            elif isinstance(owner, nn.GroupNorm | nn.BatchNorm2d | nn.LayerNorm):
                param.fill_(1.0 if leaf == "weight" else 0.0)
            else:
                weight = owner.weight
                fan_in = weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                noise = torch.rand(param.shape, generator=generator, dtype=torch.float32)
                param.copy_((2.0 * noise - 1.0) * bound)


class Trainer(ABC):
    """Base class; subclasses set ``kind`` and implement ``train_step`` and ``learning_rate``."""

    kind: str = ""

    def __init__(self, config, model: nn.Module, device: str = "cpu",
                 ema_decay: float | None = None) -> None:
        self.config = config
        self.device = torch.device(device)
        self.model = model.to(self.device).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate(0))
        self.ema_decay = ema_decay
        self.ema = (
            {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if ema_decay else None
        )
        self.data_rng = np.random.default_rng(config.seed)
        # the noise generator lives on the CPU: draws are identical on every device
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.losses: list[float] = []

    @abstractmethod
    def learning_rate(self, step: int) -> float: ...

    @abstractmethod
    def train_step(self) -> float:
        """One optimiser step on one fresh batch; return the batch loss."""

    def apply_step(self, loss: torch.Tensor, clip: float | None = None) -> float:
        """Backward, optional gradient-norm clipping, Adam step at this step's rate, EMA."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        if self.ema is not None:
            with torch.no_grad():
                for key, value in self.model.state_dict().items():
                    if value.is_floating_point():
                        self.ema[key].lerp_(value, 1.0 - self.ema_decay)
                    else:
                        self.ema[key].copy_(value)
        self.step += 1
        value = float(loss.detach())
        self.losses.append(value)
        return value

    def recent_loss(self, count: int = 100) -> float:
        """Mean of the last ``count`` batch losses (0 before the first step)."""
        recent = self.losses[-count:]
        return sum(recent) / max(1, len(recent))

    # ---------------------------------------------------------------- state

    def state(self) -> dict[str, Any]:
        cpu = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return {
            "kind": self.kind, "step": self.step, "config": asdict(self.config),
            "model": cpu, "optimizer": self.optimizer.state_dict(),
            "ema": None if self.ema is None else {k: v.cpu() for k, v in self.ema.items()},
            "data_rng": rng_state_text(self.data_rng), "torch_rng": self.generator.get_state(),
            "losses": list(self.losses),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema = {k: v.to(self.device) for k, v in state["ema"].items()}
        restore_rng(self.data_rng, state["data_rng"])
        self.generator.set_state(state["torch_rng"])
        self.step = int(state["step"])
        self.losses = [float(x) for x in state["losses"]]

    def save(self, path: str | Path) -> None:
        save_training_state(path, self.state())

    def run(
        self,
        until_step: int,
        progress: Callable[[ProgressEvent], None] | None = None,
        state_path: str | Path | None = None,
        save_every: int = 0,
        max_seconds: float | None = None,
    ) -> list[float]:
        """Train until ``step == until_step`` (or ``max_seconds`` of wall time have passed);
        save every ``save_every`` steps and at the end."""
        t0 = time.perf_counter()
        start = self.step
        while self.step < until_step:
            if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                break
            loss = self.train_step()
            if progress is not None:
                recent = float(np.mean(self.losses[-50:]))
                progress(ProgressEvent(
                    self.step - start, until_step - start,
                    f"step {self.step} loss {loss:.4g} (mean of last 50: {recent:.4g})",
                    time.perf_counter() - t0,
                ))
            if state_path is not None and save_every and self.step % save_every == 0:
                self.save(state_path)
        if state_path is not None:
            self.save(state_path)
        return self.losses[start:]


def resume_or_new(make_trainer: Callable[[Any], Trainer], kind: str, config,
                  state_path: Path | None, resume: bool) -> Trainer:
    """A new trainer, or one restored from ``state_path`` (its stored configuration wins,
    except the total number of steps, taken from ``config``)."""
    if not resume:
        return make_trainer(config)
    state = load_training_state(state_path, kind)
    stored = replace(type(config)(**state["config"]), steps=config.steps)
    trainer = make_trainer(stored)
    trainer.load_state(state)
    return trainer
