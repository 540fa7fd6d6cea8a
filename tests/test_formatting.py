"""One number format for people (forms, tables, the command line)."""

import pytest

from engine.formatting import format_number


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (4.0, "4"), (8, "8"), (0.001, "0.001"), (36.3512, "36.35"), (0.2, "0.2"),
     (10000.0, "10000"), (-0.5, "-0.5"), (1e-12, "1e-12"), (2e-4, "2e-4"), (2.5e-7, "2.5e-7"),
     (2**31 - 1, "2.147e9"), (float("nan"), "nan"), (float("-inf"), "-inf")],
)
def test_plain_for_ordinary_values_scientific_only_for_tiny_or_huge(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [(1.59604, 0.998, "1.596"), (880.2, 1760.4, "880"), (0.5, 1.0, "0.5"), (-1e-5, 1.0, "0"),
     (0.0123456, 0.5, "0.0123"), (123456.7, 0.5, "123456.7"), (3e-6, 2e-6, "3e-6"),
     (0.0, 1e-9, "0"), (0.58571234, 1e-6, "0.58571234"), (0.5857, 0.06808, "0.5857")],
)
def test_a_scale_gives_related_numbers_its_decimals(value, scale, text):
    """A level or a pixel value written to the precision of the window's width."""
    assert format_number(value, scale=scale) == text
