"""Command-line flags of a DICOM export, declared once for every command that writes ``.dcm``.

A command adds them with :func:`add_export_arguments` and turns the parsed namespace into
:class:`~engine.dicom.export.DicomExportOptions` with :func:`export_options`, which also checks
what can be checked before any fusion starts (the pseudonym file is readable).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ParameterError
from .deidentify import Pseudonyms
from .export import DicomExportOptions


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``--anonymise`` (every format), and for a ``.dcm`` output ``--pseudonym-file``,
    ``--date-shift-days``, ``--blank-outside-region``, ``--keep-source-references``."""
    group = parser.add_argument_group("anonymisation and DICOM export")
    group.add_argument("--anonymise", action="store_true",
                       help="leave the patient out: DICOM by the PS3.15 basic profile (pseudonym, "
                       "keyed UIDs, no names or times), other formats without source names")
    group.add_argument("--pseudonym-file", type=Path, default=None, metavar="FILE",
                       help="your local file of pseudonyms and UID key (created when missing); "
                       "without it every export gets a fresh pseudonym")
    group.add_argument("--date-shift-days", type=int, default=None, metavar="DAYS",
                       help="shift dates by DAYS instead of removing them")
    group.add_argument("--blank-outside-region", action="store_true",
                       help="blank every pixel outside the ultrasound image region")
    group.add_argument("--keep-source-references", action="store_true",
                       help="reference the source images (by remapped UIDs when anonymising)")


def export_options(args: argparse.Namespace) -> DicomExportOptions:
    """The options the flags ask for; a damaged pseudonym file is refused here, before work."""
    if not args.anonymise and (args.pseudonym_file or args.date_shift_days is not None):
        raise ParameterError("--pseudonym-file and --date-shift-days need --anonymise.")
    if args.pseudonym_file is not None:
        Pseudonyms.load(args.pseudonym_file)
    return DicomExportOptions(
        anonymise=args.anonymise,
        pseudonym_file=args.pseudonym_file,
        date_shift_days=args.date_shift_days,
        keep_source_references=args.keep_source_references,
        blank_outside_region=args.blank_outside_region,
    )
