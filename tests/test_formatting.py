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
