"""Orientation markers from ImageOrientationPatient (Qt-free): axial, coronal, sagittal, oblique."""

from __future__ import annotations

import math

import pytest

from engine.orientation import OrientationMarkers, direction_letters, orientation_markers


@pytest.mark.parametrize(
    ("cosines", "expected"),
    [
        # axial, the patient seen from the feet: right on the screen's left, anterior on top
        ((1, 0, 0, 0, 1, 0), OrientationMarkers(left="R", right="L", top="A", bottom="P")),
        # coronal, seen from the front: head on top
        ((1, 0, 0, 0, 0, -1), OrientationMarkers(left="R", right="L", top="H", bottom="F")),
        # sagittal, seen from the patient's left: anterior on the left
        ((0, 1, 0, 0, 0, -1), OrientationMarkers(left="A", right="P", top="H", bottom="F")),
    ],
    ids=["axial", "coronal", "sagittal"],
)
def test_standard_planes(cosines, expected):
    assert orientation_markers(cosines) == expected


def test_oblique_plane_gets_two_letters_dominant_first():
    # an axial plane tilted 30 degrees about the AP axis: rows run mostly left, partly headwards
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    markers = orientation_markers((c, 0, s, 0, 1, 0))
    assert markers == OrientationMarkers(left="RF", right="LH", top="A", bottom="P")
    # 60 degrees: the head axis now dominates
    assert direction_letters((s, 0, c)) == "HL"
    # a tilt below the threshold (3 degrees) keeps one letter
    assert direction_letters((math.cos(0.05), 0, math.sin(0.05))) == "L"


@pytest.mark.parametrize(
    "cosines", [None, (), (1, 0, 0, 0, 1), (1, 0, 0, 0, 0, 0), (1, 0, float("nan"), 0, 1, 0),
                ("a", 0, 0, 0, 1, 0)]
)
def test_missing_or_broken_orientation_gives_no_markers(cosines):
    assert orientation_markers(cosines) is None
