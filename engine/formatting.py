"""How numbers are written for people: one rule for the viewer's forms, tables and the CLI.

:func:`format_number` writes an ordinary value (``1e-3 <= |x| < 1e6``, or zero) in plain decimal
notation with at most ``digits`` significant digits and no trailing zeros (``4``, ``0.001``,
``36.35``, ``1234``); only tiny or huge values (the original PALM's ``tau`` weights, ``1e-12``)
are written in scientific notation, with the same digits and a bare exponent (``1e-12``,
``2.5e-7``, ``2e9``).
"""

from __future__ import annotations

import math

#: the range of ordinary values, written without an exponent
PLAIN_RANGE = (1e-3, 1e6)
SIGNIFICANT_DIGITS = 4


def format_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` with at most ``digits`` significant digits (see the module docstring)."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if PLAIN_RANGE[0] <= magnitude < PLAIN_RANGE[1]:
        decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
