"""``endofuse fuse``: fuse an MRI file and a US file into one image file."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..errors import ParameterError
from .progress_bar import TextProgressBar
from .register import add_pairing_arguments, load_pair, registered_options

NAME = "fuse"
HELP = "Fuse an MRI scan and an ultrasound scan of the same plane."


def add_arguments(parser) -> None:
    from ..methods import method_names

    parser.add_argument("--mri", required=True, help="MRI file (DICOM, PNG, TIFF, MAT, NPY)")
    parser.add_argument("--us", required=True, help="ultrasound file (same formats)")
    parser.add_argument("--method", default="palm", choices=method_names())
    parser.add_argument("--out", required=True, help="output image: .png, .tiff or .npy")
    add_pairing_arguments(parser)
    parser.add_argument("--register", default="none", metavar="auto|none|FILE",
                        help="align the MRI first: automatic, none, or a transform .json file")
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V",
        help="method parameter, repeatable (see the method's parameter list)",
    )
    parser.add_argument("--steps", type=int, default=None, help="diffusion steps (ddfm methods)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (ddfm methods)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--param expects KEY=VALUE, got {item!r}.")
        overrides[key.strip()] = value.strip()
    return overrides


def method_params(method: str, overrides: dict[str, str], steps: int | None, seed: int | None):
    """The method's default parameters with the command-line overrides applied."""
    from ..methods import get_method
    from ..params import params_with_overrides

    params = get_method(method).params_type()
    names = {f.name for f in dataclasses.fields(params)}
    for key, value in (("steps", steps), ("seed", seed)):
        if value is not None:
            if key not in names:
                raise ParameterError(f"--{key} does not apply to the {method} method.")
            overrides.setdefault(key, str(value))
    return params_with_overrides(params, overrides)


def run(args) -> int:
    from ..io import save_image
    from ..methods import run as run_method
    from ..pairing import pair_scans

    params = method_params(args.method, parse_overrides(args.param), args.steps, args.seed)
    pair = load_pair(args)
    options = registered_options(pair, args.register, args.quiet)
    fusion_input = pair_scans(pair.mri, pair.us, options=options)
    progress = None if args.quiet else TextProgressBar(args.method)
    result = run_method(args.method, fusion_input, params, progress=progress, device=args.device)
    provenance = {**result.provenance(), **fusion_input.pairing.provenance()}
    out = save_image(Path(args.out), result.fused, provenance)
    for note in result.notes:
        print(note, file=sys.stderr)
    print(f"{out} written ({result.method}, {result.elapsed_s:.1f} s)")
    return 0
