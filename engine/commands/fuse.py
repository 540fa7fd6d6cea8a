"""``endofuse fuse``: fuse an MRI file and a US file into one image file.

The pipeline in order: the output path is checked first (suffix, folder, permission, an existing
file without ``--overwrite``: one sentence and exit 2 before anything is loaded), then
load -> pair -> fuse -> export (:mod:`engine.pipeline`). ``--image mri`` (default) writes the
MRI-contrast estimate, ``--image us`` the US-appearance image; the provenance says which.

Method parameters are not declared here: every field of the chosen method's parameter dataclass
(:mod:`engine.params` declarations) is accepted as ``--NAME VALUE`` (``--palm-iterations 3``,
``--steps 50 --seed 1``) or ``--param NAME=VALUE``, parsed by the field's type and validated
against its declared range once, by :func:`engine.params.params_with_overrides`; ``--preset
more-mri`` (:mod:`engine.presets`) sets the starting values those apply to.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..errors import ParameterError
from .progress_bar import TextProgressBar
from .register import add_pairing_arguments, load_pair, registered_options

NAME = "fuse"
HELP = "Fuse an MRI scan and an ultrasound scan of the same plane."
#: the command line hands the options it does not know to :func:`run` as method parameters
PARAMETER_FLAGS = True


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
    add_pairing_arguments(parser)
    parser.add_argument("--register", default="none", metavar="auto|none|FILE",
                        help="align the MRI first: automatic, none, or a transform .json file")
    parser.add_argument(
        "--preset", default=None, metavar="NAME",
        help="start from a named preset of the method's parameters (balanced, more-mri, "
        "more-us; engine/presets.py), then apply --param / --NAME values",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="K=V",
        help="method parameter, repeatable; or --NAME VALUE for any parameter of the method "
        "(e.g. --steps 50 --seed 1)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--mri-key", default=None, metavar="NAME",
                        help="variable of a .mat MRI file holding several images")
    parser.add_argument("--us-key", default=None, metavar="NAME",
                        help="variable of a .mat US file holding several images")
    from ..dicom.export_arguments import add_export_arguments

    add_export_arguments(parser)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["K=V", ...]`` (``--param``) -> ``{K: V}``."""
    overrides = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--param expects KEY=VALUE, got {item!r}.")
        overrides[key.strip()] = value.strip()
    return overrides


def parse_flags(extra: list[str]) -> dict[str, str]:
    """``["--name", "V", "--other=W"]`` -> ``{"name": "V", "other": "W"}`` (dashes to _)."""
    flags: dict[str, str] = {}
    items = iter(extra)
    for item in items:
        if not item.startswith("--") or len(item) < 3:
            raise ParameterError(f"Unexpected argument {item!r}; parameters are --NAME VALUE.")
        name, sep, value = item[2:].partition("=")
        if not sep:
            value = next(items, None)
            if value is None:
                raise ParameterError(f"--{name} needs a value.")
        flags[name.replace("-", "_")] = value
    return flags


def method_params(method: str, overrides: dict[str, str], flags: dict[str, str] | None = None,
                  preset: str | None = None):
    """The method's default parameters, with the named ``preset`` (:mod:`engine.presets`), then
    the ``--param`` overrides and ``--NAME`` flags applied."""
    from ..methods import get_method
    from ..params import params_with_overrides
    from ..presets import find_preset

    params = get_method(method).params_type()
    if preset is not None:
        params = find_preset(type(params), preset).apply(params)
    names = [f.name for f in dataclasses.fields(params)]
    for name in flags or {}:
        if name not in names:
            raise ParameterError(
                f"--{name.replace('_', '-')} does not apply to the {method} method; its "
                f"parameters are {', '.join(n.replace('_', '-') for n in names)}."
            )
    return params_with_overrides(params, {**overrides, **(flags or {})})


def run(args) -> int:
    from .. import pipeline
    from ..dicom.export import check_export_options
    from ..dicom.export_arguments import export_options
    from ..pipeline.export import DICOM_SUFFIXES

    pipeline.check_output_path(args.out, overwrite=args.overwrite, inputs=(args.mri, args.us))
    options = export_options(args)
    params = method_params(
        args.method, parse_overrides(args.param), parse_flags(getattr(args, "extra", [])),
        preset=args.preset,
    )
    pair = load_pair(args)
    if Path(args.out).suffix.lower() in DICOM_SUFFIXES:
        check_export_options(options, pair.us)
    pairing = registered_options(pair, args.register, args.quiet)
    fusion_input = pipeline.pair(pair.mri, pair.us, options=pairing)
    progress = None if args.quiet else TextProgressBar(args.method)
    record = pipeline.fuse(
        fusion_input, args.method, params, image=args.image, progress=progress,
        device=args.device, with_metrics=False,
    )
    out = pipeline.export(record, Path(args.out), overwrite=args.overwrite, dicom_options=options)
    for note in record.result.notes:
        print(note, file=sys.stderr)
    seconds = record.result.elapsed_s
    print(f"{out} written ({record.method}, {record.image_note()}, {seconds:.1f} s)")
    return 0
