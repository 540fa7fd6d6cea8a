"""Shared test fixtures: the path to ../shared (golden data) with the skip/fail policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path inside ../shared; skip when absent (a user's clone), fail when CI is set."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"golden data {path} is not available (../shared beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI requires it")
        pytest.skip(message)
    return path


@pytest.fixture
def shared():
    return shared_path
