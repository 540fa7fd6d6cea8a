"""``endofuse batch INPUT --out DIR``: fuse every pair of a manifest, a DICOM folder or a PACS.

INPUT is a manifest CSV (columns ``mri,us`` and optionally ``d,method,id,transform`` and method
parameters) or a folder tree of DICOM files, which is paired from the headers. With
``--pacs AET@HOST:PORT`` the studies matching ``--patient`` and ``--dates`` are fetched into a
cache folder first and the fused DICOM images are stored back. ``--dry-run`` lists the pairs and
the inputs left out, and stops. Exit status: 0 when every pair was fused, 1 when some were not
(``results.csv`` says which and why), 2 for an error that stopped the batch.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import ParameterError

NAME = "batch"
HELP = "Fuse many MRI/US pairs: from a manifest CSV, a DICOM folder or a PACS, locally or on Dask."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..batch.dicom_tree import MAX_DAYS
    from ..batch.run import DEFAULT_FORMATS
    from ..methods import method_names

    parser.add_argument("input", nargs="?", metavar="INPUT",
                        help="manifest CSV or folder of DICOM files (not needed with --pacs)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumable)")
    parser.add_argument("--method", default="palm", choices=method_names(),
                        help="method of the pairs whose row names none (default palm)")
    parser.add_argument("--image", default="mri", choices=("mri", "us"),
                        help="mri: write the MRI-contrast estimate (default); us: the "
                        "US-appearance image (a manifest's image column wins)")
    parser.add_argument("--scheduler", default=None, metavar="local:N|tcp://HOST:PORT",
                        help="run on Dask: local:N starts N worker processes here, tcp://... "
                        "uses a running scheduler (default: a local process pool)")
    parser.add_argument("--workers", type=int, default=None,
                        help="size of the local process pool (default: one per core)")
    parser.add_argument("--format", default=",".join(DEFAULT_FORMATS),
                        help="output formats, comma-separated: dcm, png, tiff, npy")
    parser.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="method parameter for every pair (a manifest column wins)")
    parser.add_argument("--retries", type=int, default=2,
                        help="reruns of a pair whose worker died (default 2)")
    parser.add_argument("--max-days", type=int, default=MAX_DAYS,
                        help=f"DICOM pairing: largest MR-US study distance (default {MAX_DAYS})")
    parser.add_argument("--dry-run", action="store_true", help="list the pairs, run nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    pacs = parser.add_argument_group("PACS")
    pacs.add_argument("--pacs", metavar="AET@HOST:PORT", help="query, retrieve and store back")
    pacs.add_argument("--patient", default="*", help="patient ID to query (wildcards * ?)")
    pacs.add_argument("--dates", default="", metavar="YYYYMMDD-YYYYMMDD",
                      help="study date range to query (either end may be open)")
    pacs.add_argument("--calling-aet", default="ENDOFUSE", help="this workstation's AE title")
    pacs.add_argument("--cache", type=Path, default=None,
                      help="folder for retrieved series (default OUT/cache)")
    pacs.add_argument("--no-store", action="store_true", help="do not C-STORE the results")
    pacs.add_argument("--timeout", type=float, default=30.0, help="network timeout (s)")


def with_overrides(plan, overrides: dict[str, str]):
    """Every task gets the command-line parameters, except those its manifest row sets."""
    tasks = [
        dataclasses.replace(task, overrides=tuple({**overrides, **dict(task.overrides)}.items()))
        for task in plan.tasks
    ]
    return dataclasses.replace(plan, tasks=tuple(tasks))


def _settings(args):
    from ..batch.execute import make_engine
    from ..batch.run import BatchSettings, parse_formats

    if args.retries < 0 or (args.workers is not None and args.workers < 1):
        raise ParameterError("--retries must be at least 0 and --workers at least 1.")
    make_engine(args.scheduler, args.workers)  # refuses a malformed --scheduler now
    return BatchSettings(
        out=args.out, formats=parse_formats(args.format), scheduler=args.scheduler,
        workers=args.workers, retries=args.retries, progress=not args.quiet,
    )


def _plan_from_pacs(args, address):
    from ..batch.dicom_tree import pair_tree
    from ..batch.pacs import PacsQuery, find_series, listing, retrieve_series

    query = PacsQuery(patient_id=args.patient, dates=args.dates)
    found = find_series(address, query, args.calling_aet, args.timeout)
    print(listing(found))
    if args.dry_run:
        return None
    cache = args.cache or args.out / "cache"
    received = retrieve_series(address, found, cache, args.calling_aet, args.timeout)
    print(f"{received} file(s) retrieved into {cache}")
    return pair_tree(cache, args.method, args.max_days, image=args.image)


def run(args: argparse.Namespace) -> int:
    from ..batch import pair_tree, read_manifest, run_batch
    from ..batch.plan import check_parameters
    from ..dicom.send import parse_pacs_address
    from .fuse import parse_overrides

    settings = _settings(args)
    overrides = parse_overrides(args.param)
    address = parse_pacs_address(args.pacs) if args.pacs else None
    if address is not None and args.input is not None:
        raise ParameterError("Give either INPUT or --pacs, not both.")
    if address is not None:
        plan = _plan_from_pacs(args, address)
        if plan is None:
            return 0
    elif args.input is None:
        raise ParameterError("Give a manifest CSV or a DICOM folder, or a PACS with --pacs.")
    elif Path(args.input).is_dir():
        plan = pair_tree(args.input, args.method, args.max_days, skip=args.out, image=args.image)
    else:
        plan = read_manifest(args.input, args.method, args.image)
    plan = check_parameters(with_overrides(plan, overrides))
    print(plan.listing())
    if args.dry_run:
        return 0
    summary = run_batch(plan, settings)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts().items()))
    print(f"{counts}; results in {summary.results_csv}, report in {summary.report}")
    if address is not None and not args.no_store:
        from ..batch.pacs import store_results

        root = summary.results_csv.parent
        stored = store_results(list(summary.outcomes), root, address, args.calling_aet,
                               args.timeout)
        print(f"{stored} fused image(s) stored in {address}")
    return 0 if all(o.status == "fused" for o in summary.outcomes) else 1
