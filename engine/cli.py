"""``endofuse`` command line: one sub-command per module in :mod:`engine.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``;
one that sets ``PARAMETER_FLAGS = True`` receives the options it does not declare in
``args.extra`` (the method parameters of ``endofuse fuse``, generated from their declaration).
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
COMMAND_MODULES = [
    "fuse", "register", "demo", "metrics", "train_prior", "train_denoiser", "send", "batch",
]


def _load_commands():
    modules = []
    for name in COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(f"engine.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.commands.{name}":
                raise
    return modules


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser, or, when ``argv`` names a command, one in which only that command has
    its options (another command's options may import torch; a refusal must come in seconds)."""
    wanted = next((a for a in (argv or []) if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(
        prog="endofuse", description="MRI/ultrasound fusion (PALM, DDFM-EM, DDFM-PALM)."
    )
    parser.add_argument("--version", action="version", version=f"EndoFuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = _load_commands()
    if wanted not in {module.NAME for module in modules}:
        wanted = None
    for module in modules:
        flags = getattr(module, "PARAMETER_FLAGS", False)
        command = sub.add_parser(
            module.NAME, help=module.HELP, description=module.HELP, allow_abbrev=not flags
        )
        if wanted in (None, module.NAME):
            module.add_arguments(command)
        command.set_defaults(handler=module.run, parameter_flags=flags)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    if extra and not args.parameter_flags:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
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
