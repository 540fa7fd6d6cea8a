"""``endofuse fuse``: fuse an MRI file and a US file into one image file.

The pipeline in order: the output path is checked first (suffix, folder, permission, an existing
file without ``--overwrite``: one sentence and exit 2 before anything is loaded), then
load -> pair -> fuse -> export (:mod:`engine.pipeline`). ``--image mri`` (default) writes the
MRI-contrast estimate, ``--image us`` the US-appearance image; the provenance says which.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..errors import ParameterError
from .progress_bar import TextProgressBar

NAME = "fuse"
HELP = "Fuse an MRI scan and an ultrasound scan of the same plane."


def add_arguments(parser) -> None:
    from ..methods import method_names

    parser.add_argument("--mri", required=True, help="MRI file (DICOM, PNG, TIFF, MAT, NPY)")
    parser.add_argument("--us", required=True, help="ultrasound file (same formats)")
    parser.add_argument("--method", default="palm", choices=method_names())
    parser.add_argument(
        "--out", required=True,
        help="output: .dcm (DICOM derived image), .png, .tiff or .npy (+ .npy.json provenance)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--image", default="mri", choices=("mri", "us"),
        help="mri: the MRI-contrast estimate (default); us: the US-appearance image",
    )
    parser.add_argument(
        "--anonymise", action="store_true",
        help="DICOM output: replace the patient identity (and leave out the source references)",
    )
    parser.add_argument("--d", type=int, default=None, help="scale factor (default: from sizes)")
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
    from .. import pipeline

    pipeline.check_output_path(args.out, overwrite=args.overwrite, inputs=(args.mri, args.us))
    params = method_params(args.method, parse_overrides(args.param), args.steps, args.seed)
    fusion_input = pipeline.pair(pipeline.load(args.mri), pipeline.load(args.us), d=args.d)
    progress = None if args.quiet else TextProgressBar(args.method)
    record = pipeline.fuse(
        fusion_input, args.method, params, image=args.image, progress=progress,
        device=args.device, with_metrics=False,
    )
    out = pipeline.export(
        record, Path(args.out), overwrite=args.overwrite, anonymise=args.anonymise
    )
    for note in record.result.notes:
        print(note, file=sys.stderr)
    seconds = record.result.elapsed_s
    print(f"{out} written ({record.method}, {record.image_note()}, {seconds:.1f} s)")
    return 0
