"""``endofuse send FILE... --pacs AET@HOST:PORT``: C-ECHO, then C-STORE the files to a PACS."""

from __future__ import annotations

import argparse

NAME = "send"
HELP = "Send DICOM files (e.g. an exported fused image) to a PACS with C-STORE."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="DICOM file(s) to send")
    parser.add_argument(
        "--pacs", required=True, metavar="AET@HOST:PORT",
        help="the archive's AE title, host and DICOM port, e.g. ORTHANC@127.0.0.1:4242",
    )
    parser.add_argument(
        "--calling-aet", default="ENDOFUSE", metavar="AET",
        help="this workstation's AE title, as configured in the PACS (default ENDOFUSE)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS",
        help="network timeout for connecting and each answer, more than 0 and at most 600 s "
        "(default 10 s)",
    )


def run(args: argparse.Namespace) -> int:
    from ..dicom.send import check_timeout, parse_pacs_address, send_files

    check_timeout(args.timeout)
    address = parse_pacs_address(args.pacs)
    reports = send_files(args.files, address, args.calling_aet, args.timeout)
    for report in reports:
        note = "" if report.status == 0 else f" (warning status 0x{report.status:04X})"
        print(f"stored {report.path.name} in {address}{note}")
    return 0
