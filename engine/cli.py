"""``endofuse`` command line: one sub-command per module in :mod:`engine.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
Errors of the engine (:class:`~engine.errors.EndoFuseError`) end the program with one sentence on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import EndoFuseError, FusionCancelled

#: command modules, in the order ``endofuse --help`` lists them
COMMAND_MODULES = ["fuse", "register", "demo", "metrics", "train_prior", "train_denoiser", "send"]


def _load_commands():
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"engine.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="endofuse", description="MRI/ultrasound fusion (PALM, DDFM-EM, DDFM-PALM)."
    )
    parser.add_argument("--version", action="version", version=f"EndoFuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _load_commands():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FusionCancelled as exc:
        print(f"endofuse: {exc}", file=sys.stderr)
        return 130
    except EndoFuseError as exc:
        print(f"endofuse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("endofuse: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
