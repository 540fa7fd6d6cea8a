"""``endofuse metrics``: quality metrics of a fused image against its two sources (and a truth).

Two ways to name the images:

* ``--record fused.npy``: an EndoFuse ``.npy`` export; its sources are re-read from the JSON
  provenance file beside it and the numbers are those of :func:`engine.pipeline.measure`, the
  same the viewer shows for that result (same images, same scaling);
* ``--a US --b MRI_ON_US_GRID --fused F [--clean TRUTH]``: any three (four) image files, each
  brought to the 0..255 scale by :func:`engine.metrics.to_uint8_scale` with the rule ``--range``
  names (``auto``: 0..1 floats are multiplied by 255, 0..255 values kept, anything else an error;
  ``minmax``; or ``LO:HI``, e.g. ``0:65535`` for 16-bit files).

Both go through :func:`engine.pipeline.measure_images`. The table lists, by the catalog's names
(:mod:`engine.metrics.catalog`), the ground-truth scores (only with a truth), the fusion metrics
(no-reference set) and the legacy proxy set, then the scaling used; ``--json``
prints one object ``{"inputs": {...}, "standard": {...}, "seed_compatible": {...},
"reference": {...}, "scaling": "..."}`` where a non-finite value is the string "inf", "-inf" or
"nan" (strict JSON has no such numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InvalidImageError, ParameterError

NAME = "metrics"
HELP = "Quality metrics of a fused image against its two source images (and a clean reference)."


def add_arguments(parser) -> None:
    parser.add_argument("--record", default=None,
                        help="an EndoFuse .npy export (sources read from its .json provenance)")
    parser.add_argument("--a", default=None, help="first source, the ultrasound (A)")
    parser.add_argument("--b", default=None, help="second source, the MRI on the same grid (B)")
    parser.add_argument("--fused", default=None, help="fused image (F)")
    parser.add_argument("--clean", default=None, help="ground-truth image, when one exists")
    parser.add_argument(
        "--range",
        default="auto",
        metavar="auto|minmax|LO:HI",
        help="how pixel values map to 0..255 (default auto: 0..1 floats x255, 0..255 kept)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def parse_range(text: str):
    """``auto`` -> None, ``minmax`` -> "minmax", ``LO:HI`` -> (LO, HI)."""
    text = text.strip()
    if text == "auto":
        return None
    if text == "minmax":
        return "minmax"
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        bounds = (float(low), float(high))
    except ValueError:
        raise ParameterError(
            f"--range expects auto, minmax or LO:HI such as 0:65535 (got {text!r})."
        ) from None
    if not bounds[1] > bounds[0]:
        raise ParameterError(f"--range {text}: the upper bound must exceed the lower one.")
    return bounds


def _range_text(text: str) -> str:
    rule = {
        "auto": "by dtype (0..1 floats x 255, 0..255 kept, uint16 / 257)",
        "minmax": "each by its own min-max, 255 (x - min) / (max - min)",
    }.get(text.strip(), f"255 (x - lo) / (hi - lo) with lo:hi = {text.strip()}")
    return f"A, B, F (and the clean reference) scaled to 0..255 {rule}."


def compute(args):
    """(inputs, Measurement) for the images named in ``args``."""
    from ..io import load_scan
    from ..metrics import to_uint8_scale
    from ..pipeline import measure, measure_images
    from ..pipeline.export import load_record

    if args.record is not None:
        record = load_record(args.record)
        return {"record": args.record}, measure(record)
    if None in (args.a, args.b, args.fused):
        raise ParameterError("Give --record FILE, or all of --a, --b and --fused.")
    data_range = parse_range(args.range)
    paths = {"a": args.a, "b": args.b, "fused": args.fused}
    if args.clean is not None:
        paths["clean"] = args.clean
    pixels = {key: load_scan(path).pixels for key, path in paths.items()}
    clean = estimate = None
    if "clean" in pixels:
        estimate = to_uint8_scale(pixels["fused"], data_range, "fused image")
        clean = to_uint8_scale(pixels["clean"], data_range, "clean reference")
    measurement = measure_images(
        pixels["a"], pixels["b"], pixels["fused"], scaling=data_range,
        scaling_text=_range_text(args.range), clean=clean, clean_estimate=estimate,
    )
    return {**paths, "range": args.range}, measurement


def format_table(inputs: dict, measurement) -> str:
    """Aligned text: one block per set (display name, value, reading direction, key), headed by
    the catalog's set title, then the image and the scaling."""
    from ..formatting import format_number
    from ..metrics import GROUND_TRUTH, SET_TITLES

    names = {key: Path(path).name for key, path in inputs.items() if key != "range"}
    if "record" in names:
        sources = f"record {names['record']}"
    else:
        sources = f"A = {names['a']}, B = {names['b']}, F = {names['fused']}"
    notes = {
        "reference": names.get("clean", "pair truth"),
        "standard": f"no reference; {sources}",
        "seed_compatible": "",
    }
    generic = {info.key: info for info in GROUND_TRUTH}
    blocks = []
    for key, rows in measurement.rows():
        if key == "reference" and "record" not in names:  # F of any file, not a record's image
            rows = [(generic.get(info.key, info), value) for info, value in rows]
        blocks.append((key, rows))
    width = max((len(info.label) for _, rows in blocks for info, _ in rows), default=0)
    lines = []
    for key, rows in blocks:
        lines.append(SET_TITLES[key] + (f" ({notes[key]})" if notes[key] else ""))
        for info, value in rows:
            better = "higher is better" if info.higher_is_better else "lower is better"
            lines.append(
                f"  {info.label:<{width}} {format_number(value, 6):>12}  {better}  [{info.key}]"
            )
        lines.append("")
    if measurement.image:
        lines.append(f"Image: {measurement.image}")
    lines.append(f"Scaling: {measurement.scaling}")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    inputs, measurement = compute(args)
    if measurement.error:
        raise InvalidImageError(measurement.error)
    if args.json:
        print(json.dumps({"inputs": inputs, **measurement.as_json()}, indent=1, allow_nan=False))
    else:
        print(format_table(inputs, measurement), end="")
    return 0
