"""``endofuse metrics``: quality metrics of a fused image against its two sources (and a truth).

Prints the standard set first, then the seed-compatible (legacy proxy) set, then the ground-truth
scores when ``--clean`` is given. ``--json`` prints one JSON object instead::

    {"inputs": {...}, "standard": {...}, "seed_compatible": {...}, "reference": {...}}

where a non-finite value is written as the string "inf", "-inf" or "nan" (strict JSON has no
such numbers); "reference" is present only with ``--clean``.

Every image is brought to the 0..255 scale by :func:`engine.metrics.to_uint8_scale` with the rule
``--range`` names (``auto``: 0..1 floats are multiplied by 255, 0..255 values kept, anything else
an error; ``minmax``; or ``LO:HI``, e.g. ``0:65535`` for 16-bit files).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import ParameterError

NAME = "metrics"
HELP = "Quality metrics of a fused image against its two source images (and a clean reference)."


def add_arguments(parser) -> None:
    parser.add_argument("--a", required=True, help="first source, the ultrasound (A)")
    parser.add_argument("--b", required=True, help="second source, the MRI on the same grid (B)")
    parser.add_argument("--fused", required=True, help="fused image (F)")
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


def compute(args) -> dict:
    """Load the images named in ``args`` and return the JSON-ready result object."""
    from ..io import load_scan
    from ..metrics import fusion_metrics, reference_scores, to_uint8_scale

    data_range = parse_range(args.range)
    paths = {"a": args.a, "b": args.b, "fused": args.fused}
    if args.clean is not None:
        paths["clean"] = args.clean
    pixels = {key: load_scan(path).pixels for key, path in paths.items()}
    result = fusion_metrics(pixels["a"], pixels["b"], pixels["fused"], data_range=data_range)
    out = {
        "inputs": {**paths, "range": args.range},
        "standard": result.standard,
        "seed_compatible": result.seed_compatible,
    }
    if "clean" in pixels:
        fused = to_uint8_scale(pixels["fused"], data_range, "fused image")
        clean = to_uint8_scale(pixels["clean"], data_range, "clean reference")
        out["reference"] = reference_scores(fused, clean)
    return out


def format_table(result: dict) -> str:
    """The result as aligned text: one block per set, key, label, value and reading direction."""
    from ..metrics import REFERENCE, SEED_COMPATIBLE, SET_TITLES, STANDARD

    names = {key: Path(path).name for key, path in result["inputs"].items() if key != "range"}
    blocks = [
        (
            f"{SET_TITLES['standard']} (A = {names['a']}, B = {names['b']}, F = {names['fused']})",
            STANDARD,
            result["standard"],
        ),
        (SET_TITLES["seed_compatible"], SEED_COMPATIBLE, result["seed_compatible"]),
    ]
    if "reference" in result:
        blocks.append(
            (f"{SET_TITLES['reference']} ({names['clean']})", REFERENCE, result["reference"])
        )
    lines = []
    for title, infos, values in blocks:
        lines.append(title)
        for info in infos:
            better = "higher is better" if info.higher_is_better else "lower is better"
            lines.append(
                f"  {info.key:<12} {info.label:<24} {_format_value(values[info.key]):>14}  {better}"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def _json_ready(value):
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return _format_value(value)
    return value


def run(args) -> int:
    result = compute(args)
    if args.json:
        print(json.dumps(_json_ready(result), indent=1, allow_nan=False))
    else:
        print(format_table(result), end="")
    return 0
