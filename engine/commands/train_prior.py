"""``endofuse train-prior``: train the small ADM diffusion prior (epsilon prediction).

Writes ``OUT/training_state.pt`` (resumable with ``--resume``) every ``--save-every`` steps and
at the end, and ``OUT/prior.pt`` (``{"config", "state_dict"}``, EMA weights) at the end.
"""

from __future__ import annotations

from pathlib import Path

from .train_denoiser import add_common_arguments, train_and_export

NAME = "train-prior"
HELP = "Train the small diffusion prior (ADM UNet) on shippable images."


def add_arguments(parser) -> None:
    from ..training.prior import PriorTrainingConfig as C

    add_common_arguments(parser, C.steps, C.batch, C.patch, "out/prior")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                        help="autocast precision of the network (bfloat16: GPU speed-up)")
    parser.add_argument("--init", default=None,
                        help="start a new training from these prior weights (prior.pt)")


def run(args) -> int:
    import torch

    from ..training.data import training_pool
    from ..training.loop import resume_or_new
    from ..training.prior import PriorTrainer, PriorTrainingConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    config = PriorTrainingConfig(
        patch=args.patch, batch=args.batch, steps=args.steps, seed=args.seed,
        **({"lr": args.lr} if args.lr is not None else {}),
    )
    autocast = None if args.precision == "float32" else torch.bfloat16
    pool = training_pool()
    trainer = resume_or_new(
        lambda c: PriorTrainer(c, pool, args.device, autocast), PriorTrainer.kind, config,
        out / "training_state.pt", args.resume,
    )
    if args.init and not args.resume:
        trainer.load_weights(args.init)
    return train_and_export(trainer, args, NAME, out / "prior.pt")
