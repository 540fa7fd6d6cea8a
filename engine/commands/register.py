"""``endofuse register``: align the MRI on the ultrasound and write the transform as JSON.

The pairing options (``--roi``, ``--frame``, ``--d``, spacings, confirmations) are shared with
``endofuse fuse`` through :func:`add_pairing_arguments` and :func:`load_pair`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RegistrationError
from .progress_bar import TextProgressBar

if TYPE_CHECKING:
    from ..pairing import PairingOptions
    from ..scan import Scan

NAME = "register"
HELP = "Register an MRI scan onto an ultrasound scan (mutual information) and save the transform."


def add_pairing_arguments(parser, with_d: bool = True) -> None:
    """The options of pairing by geometry, common to ``fuse`` and ``register``."""
    if with_d:
        parser.add_argument(
            "--d", type=int, default=None, help="scale factor (default: from the pixel spacings)"
        )
    parser.add_argument(
        "--roi",
        default=None,
        metavar="X,Y,W,H",
        help="ultrasound region to fuse, pixels (default: the DICOM image region)",
    )
    parser.add_argument(
        "--frame",
        type=int,
        default=None,
        help="frame of a multi-frame ultrasound, 0-based (default: the middle one)",
    )
    parser.add_argument(
        "--us-spacing",
        type=float,
        default=None,
        metavar="MM",
        help="ultrasound pixel size in mm when the file does not give it",
    )
    parser.add_argument(
        "--mri-spacing",
        type=float,
        default=None,
        metavar="MM",
        help="MRI pixel size in mm when the file does not give it",
    )
    parser.add_argument(
        "--allow-different-patients",
        action="store_true",
        help="confirm that MRI and ultrasound of different patients are paired",
    )
    parser.add_argument(
        "--allow-any-modality",
        action="store_true",
        help="accept modalities other than MR and US (research images)",
    )


@dataclass(frozen=True)
class LoadedPair:
    """The two scans and the pairing options the command line asked for."""

    mri: Scan
    us: Scan
    options: PairingOptions


def load_pair(args) -> LoadedPair:
    """Read ``--mri``/``--us`` and build the :class:`~engine.pairing.PairingOptions`."""
    from ..geometry.checks import SafetyOptions
    from ..geometry.roi import parse_roi
    from ..io import load_scan
    from ..pairing import PairingOptions

    roi = parse_roi(args.roi) if args.roi else None  # bad text fails before any reading
    options = PairingOptions(
        d=getattr(args, "d", None),
        roi=roi,
        us_spacing=args.us_spacing,
        mri_spacing=args.mri_spacing,
        safety=SafetyOptions(args.allow_different_patients, args.allow_any_modality),
    )
    mri = load_scan(args.mri, variable=getattr(args, "mri_key", None))
    us = load_scan(args.us, variable=getattr(args, "us_key", None), frame=args.frame)
    return LoadedPair(mri, us, options)


def registered_options(pair: LoadedPair, how: str | None, quiet: bool):
    """The pairing options with the transform of ``how``: ``none``, ``auto`` or a JSON file."""
    from ..geometry.transform import read_transform
    from ..progress import ProgressReporter
    from ..registration import register

    if how in (None, "none"):
        return pair.options
    if how != "auto":
        return replace(pair.options, transform=read_transform(how))
    bar = None if quiet else TextProgressBar("registration")
    result = register(pair.mri, pair.us, pair.options, reporter=ProgressReporter(bar))
    print(("" if quiet else "\n") + result.describe(), file=sys.stderr)
    return replace(pair.options, transform=result.transform)


def add_arguments(parser) -> None:
    parser.add_argument("--mri", required=True, help="MRI file (DICOM, PNG, TIFF, MAT, NPY)")
    parser.add_argument("--us", required=True, help="ultrasound file (same formats)")
    parser.add_argument("--out", required=True, help="transform file to write (.json)")
    parser.add_argument(
        "--start",
        default=None,
        metavar="FILE",
        help="transform file to start from (default: fields centred)",
    )
    add_pairing_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..geometry.transform import write_transform

    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise RegistrationError(f"The transform file must end in .json, not {out.name}.")
    pair = load_pair(args)
    if args.start:
        pair = replace(pair, options=registered_options(pair, args.start, args.quiet))
    options = registered_options(pair, "auto", args.quiet)
    write_transform(options.transform, out)
    print(f"{out} written ({options.transform.describe()})")
    return 0
