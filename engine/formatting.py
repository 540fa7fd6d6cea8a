"""How numbers are written for people: one rule for the viewer (window/level, pixel readouts,
measurements, the parameter dock, the metrics), its tables and the CLI.

:func:`format_number` keeps ``digits`` significant digits of a *scale* (the value itself unless
another is given) and drops trailing zeros: the value is rounded to
``decimals = max(0, digits - 1 - floor(log10 |scale|))`` places (``4``, ``0.001``, ``36.35``,
``1234``). When the larger of ``|value|`` and ``|scale|`` is in the ordinary range
``1e-3 <= x < 1e6`` the notation is plain decimal; only tiny or huge values (the original PALM's
``tau`` weights, ``1e-12``) are written in scientific notation, with ``digits`` significant digits
of their own and a bare exponent (``1e-12``, ``2.5e-7``, ``2e9``).

A scale other than the value is how related numbers share their decimals: a window's level and
the pixel values under the cursor are written to the precision of the window's width
(``W 0.998  L 1.596``, ``value 1.2``), so a value near zero reads ``0``, never ``-1e-5``, and a
region's mean is written to the precision of its SD (``0.5857 ± 0.0681``).
"""

from __future__ import annotations

import math

#: the range of ordinary values, written without an exponent
PLAIN_RANGE = (1e-3, 1e6)
SIGNIFICANT_DIGITS = 4


def _strip(text: str) -> str:
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_number(value: float, digits: int = SIGNIFICANT_DIGITS,
                  scale: float | None = None) -> str:
    """``value`` with the decimals of ``digits`` significant digits of ``scale`` (default the
    value itself); see the module docstring."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    reference = abs(value) if scale is None or not math.isfinite(scale) else abs(float(scale))
    if PLAIN_RANGE[0] <= max(abs(value), reference) < PLAIN_RANGE[1]:
        magnitude = math.floor(math.log10(reference)) if reference else 0
        return _strip(f"{value:.{max(0, digits - 1 - magnitude)}f}")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{_strip(mantissa)}e{int(exponent)}"
