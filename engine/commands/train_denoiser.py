"""``endofuse train-denoiser``: train the small DnCNN despeckler on simulated speckle.

Writes ``OUT/training_state.pt`` (resumable with ``--resume``) every ``--save-every`` steps and
at the end, and ``OUT/despeckler.pt`` (the weights, DnCNN state dict) at the end.
"""

from __future__ import annotations

from pathlib import Path

from .progress_bar import TextProgressBar

NAME = "train-denoiser"
HELP = "Train the US despeckler (small DnCNN) on simulated log-Rayleigh speckle."


def add_common_arguments(parser, steps: int, batch: int, patch: int, out: str) -> None:
    """Options shared by the two training commands."""
    parser.add_argument("--steps", type=int, default=steps, help="total optimiser steps")
    parser.add_argument("--out", default=out, help="output folder (state and weights)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/training_state.pt")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, noise and init")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch", type=int, default=batch, help="patches per step")
    parser.add_argument("--patch", type=int, default=patch, help="patch side in pixels")
    parser.add_argument("--lr", type=float, default=None, help="learning rate")
    parser.add_argument("--save-every", type=int, default=200, help="steps between saves")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (and save) after this much wall time")


def add_arguments(parser) -> None:
    from ..training.denoiser import DespecklerTrainingConfig as C

    add_common_arguments(parser, C.steps, C.batch, C.patch, "out/despeckler")
    parser.add_argument("--depth", type=int, default=C.depth, help="convolution layers")
    parser.add_argument("--features", type=int, default=C.features, help="channels per layer")
    parser.add_argument("--dilations", default=None,
                        help="comma-separated dilation of each layer, e.g. 1,2,3,4,3,2,1 "
                             "(default: all 1, plain DnCNN)")
    parser.add_argument("--noise-std", type=float, default=None,
                        help="train on speckle normalised to this std (default: blind)")
    parser.add_argument("--with-textures", action="store_true",
                        help="train on the whole image pool, stationary textures included")


def train_and_export(trainer, args, name: str, weights_path: Path) -> int:
    """The common end of both training commands: run with a progress bar (unless ``--quiet``),
    saving ``OUT/training_state.pt``; export the weights; print one summary line."""
    progress = None if args.quiet else TextProgressBar(name)
    trainer.run(args.steps, progress, Path(args.out) / "training_state.pt", args.save_every,
                None if args.max_minutes is None else 60.0 * args.max_minutes)
    path = trainer.export(weights_path)
    print(f"{name}: {trainer.step} steps, last-100 mean loss {trainer.recent_loss():.5g}; "
          f"weights in {path}")
    return 0


def parse_dilations(text: str | None) -> tuple[int, ...] | None:
    """``"1,2,3"`` -> (1, 2, 3); None or empty -> None (all 1)."""
    if not text:
        return None
    return tuple(int(part) for part in text.split(","))


def run(args) -> int:
    import torch

    from ..training.denoiser import (
        DespecklerTrainer,
        DespecklerTrainingConfig,
        despeckler_pool,
    )
    from ..training.loop import resume_or_new

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    config = DespecklerTrainingConfig(
        depth=args.depth, features=args.features, patch=args.patch,
        dilations=parse_dilations(args.dilations), noise_std=args.noise_std,
        with_textures=args.with_textures, batch=args.batch,
        steps=args.steps, seed=args.seed,
        **({"lr": args.lr} if args.lr is not None else {}),
    )
    trainer = resume_or_new(
        lambda c: DespecklerTrainer(c, despeckler_pool(c), args.device),
        DespecklerTrainer.kind, config, out / "training_state.pt", args.resume,
    )
    return train_and_export(trainer, args, NAME, out / "despeckler.pt")
