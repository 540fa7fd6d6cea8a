"""Window/level (display contrast) and its keyboard presets, without any Qt.

A window (centre c, width w) maps a pixel value v to the grey level
``g = clip((v - (c - w/2)) / w, 0, 1)``; the display levels handed to the image item are therefore
``(lo, hi) = (c - w/2, c + w/2)``.

Presets (keys ``1``-``5``):

1. the window stored in the file (DICOM WindowCenter/WindowWidth), else preset 2;
2. auto: the 0.5-99.5 % percentiles of the pixel values;
3. full range: min..max;
4. soft contrast: the 2-98 % percentiles;
5. high contrast: the 25-75 % percentiles (inter-quartile range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.formatting import format_number

#: significant digits of the window's width that W/L and pixel values are written with
DIGITS = 3


@dataclass(frozen=True)
class WindowLevel:
    """A display window: ``centre`` and ``width`` (width > 0) in pixel-value units."""

    centre: float
    width: float

    @classmethod
    def from_levels(cls, lo: float, hi: float) -> WindowLevel:
        if not hi > lo:
            hi = lo + max(abs(lo), 1.0) * 1e-6
        return cls(centre=0.5 * (lo + hi), width=hi - lo)

    @property
    def levels(self) -> tuple[float, float]:
        return (self.centre - 0.5 * self.width, self.centre + 0.5 * self.width)

    def dragged(self, dx: float, dy: float, value_per_pixel: float) -> WindowLevel:
        """Left-drag: right widens the window, down raises the level (darker image)."""
        width = max(self.width + dx * value_per_pixel, value_per_pixel * 1e-3)
        return WindowLevel(self.centre + dy * value_per_pixel, width)

    def describe(self) -> str:
        """``"W 1760  L 880"``, ``"W 0.998  L 1.596"``: :func:`engine.formatting.format_number`
        with :data:`DIGITS` significant digits of the width for both."""
        return f"W {self.text(self.width)}  L {self.text(self.centre)}"

    def text(self, value: float) -> str:
        """``value`` (a level, a pixel value under the cursor) to this window's precision."""
        return format_number(value, DIGITS, scale=self.width)


def percentile_window(pixels: np.ndarray, low_pct: float, high_pct: float) -> WindowLevel:
    lo, hi = np.percentile(pixels, [low_pct, high_pct])
    if hi <= lo:
        lo, hi = float(np.min(pixels)), float(np.max(pixels))
    return WindowLevel.from_levels(float(lo), float(hi))


PRESET_NAMES = (
    "File window (DICOM)",
    "Auto 0.5-99.5 %",
    "Full range",
    "Soft contrast 2-98 %",
    "High contrast 25-75 %",
)


def preset_window(
    number: int, pixels: np.ndarray, file_window: WindowLevel | None = None
) -> WindowLevel:
    """The window of preset ``number`` (1-5) for ``pixels``; see the module docstring."""
    if number == 1 and file_window is not None:
        return file_window
    if number in (1, 2):
        return percentile_window(pixels, 0.5, 99.5)
    if number == 3:
        return WindowLevel.from_levels(float(np.min(pixels)), float(np.max(pixels)))
    if number == 4:
        return percentile_window(pixels, 2.0, 98.0)
    if number == 5:
        return percentile_window(pixels, 25.0, 75.0)
    raise ValueError(f"window preset {number} does not exist (1-5)")
