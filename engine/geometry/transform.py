"""A 2-D affine transform from the ultrasound frame to the MRI frame, and its JSON file.

A point ``p = (x, y)`` of the US frame (mm) maps to the MRI frame as

    q = A (p - c) + c + t,

with the 2x2 matrix ``A``, the centre of rotation ``c`` and the translation ``t`` (ITK's
convention for ``AffineTransform``/``Euler2DTransform``: the transform maps fixed-image points to
moving-image points). The identity is the default placement (MRI field centred on the US region).

The file written by :func:`write_transform` is JSON::

    {"format": "endofuse-transform-2d", "version": 1, "maps": "us-mm -> mri-mm",
     "matrix": [[a, b], [c, d]], "translation": [tx, ty], "center": [cx, cy], "source": "..."}

A transform is refused when ``A`` is not finite or not safely invertible: ``|det A|`` outside
[:data:`MIN_DET`, :data:`MAX_DET`] or a condition number above :data:`MAX_CONDITION`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RegistrationError

FORMAT = "endofuse-transform-2d"
#: smallest and largest |det A| (area ratio) accepted: beyond these the MRI would be squashed
MIN_DET, MAX_DET = 0.04, 25.0
#: largest condition number of A (ratio of the two scale factors) accepted
MAX_CONDITION = 20.0


@dataclass(frozen=True)
class AffineTransform2D:
    """``q = A (p - c) + c + t`` in millimetres (see module docstring)."""

    matrix: tuple[tuple[float, float], tuple[float, float]] = ((1.0, 0.0), (0.0, 1.0))
    translation: tuple[float, float] = (0.0, 0.0)
    center: tuple[float, float] = (0.0, 0.0)
    source: str = "identity"

    @classmethod
    def from_parameters(
        cls,
        angle_deg: float = 0.0,
        scale: float | tuple[float, float] = 1.0,
        translation: tuple[float, float] = (0.0, 0.0),
        center: tuple[float, float] = (0.0, 0.0),
        source: str = "manual",
    ) -> AffineTransform2D:
        """``A = R(angle) diag(sx, sy)``: the manual pose of the viewer and of the benchmarks."""
        sx, sy = (scale, scale) if np.isscalar(scale) else scale
        cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
        matrix = ((cos * sx, -sin * sy), (sin * sx, cos * sy))
        return cls(matrix, tuple(map(float, translation)), tuple(map(float, center)), source)

    @property
    def A(self) -> np.ndarray:  # noqa: N802 - the symbol of the docstring
        return np.array(self.matrix, dtype=np.float64)

    @property
    def offset(self) -> np.ndarray:
        """``o`` in ``q = A p + o``: ``o = c + t - A c``."""
        c = np.array(self.center)
        return c + np.array(self.translation) - self.A @ c

    @property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.A, np.eye(2)) and np.allclose(self.translation, 0))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) points (x, y) of the US frame to the MRI frame."""
        return np.asarray(points, dtype=np.float64) @ self.A.T + self.offset

    def inverse(self) -> AffineTransform2D:
        """``p = A^-1 (q - c - t) + c``, the same centre."""
        check_invertible(self)
        inv = np.linalg.inv(self.A)
        c = np.array(self.center)
        translation = -inv @ np.array(self.translation)
        return AffineTransform2D(
            _pair2(inv), tuple(translation), tuple(c), f"inverse of {self.source}"
        )

    def with_source(self, source: str) -> AffineTransform2D:
        return AffineTransform2D(self.matrix, self.translation, self.center, source)

    def describe(self) -> str:
        """One line for provenance: matrix, translation (mm), centre (mm) and where it came from."""
        (a, b), (c, d) = self.matrix
        return (
            f"{self.source}: A=[[{a:.6g},{b:.6g}],[{c:.6g},{d:.6g}]] "
            f"t=[{self.translation[0]:.6g},{self.translation[1]:.6g}]mm "
            f"c=[{self.center[0]:.6g},{self.center[1]:.6g}]mm (US mm -> MRI mm)"
        )

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": 1,
            "maps": "us-mm -> mri-mm",
            "matrix": [list(row) for row in self.matrix],
            "translation": list(self.translation),
            "center": list(self.center),
            "source": self.source,
        }


def _pair2(matrix: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    return (float(matrix[0, 0]), float(matrix[0, 1])), (float(matrix[1, 0]), float(matrix[1, 1]))


def check_invertible(transform: AffineTransform2D, what: str = "The transform") -> None:
    """Raise :class:`RegistrationError` unless A is finite, well conditioned and not degenerate."""
    A = transform.A  # noqa: N806
    values = np.concatenate([A.ravel(), transform.translation, transform.center])
    if not np.all(np.isfinite(values)):
        raise RegistrationError(f"{what} contains values that are not numbers; it cannot be used.")
    det = abs(float(np.linalg.det(A)))
    singular = np.linalg.svd(A, compute_uv=False)
    if not MIN_DET <= det <= MAX_DET or singular[1] * MAX_CONDITION < singular[0]:
        raise RegistrationError(
            f"{what} is not invertible or squashes the image (determinant {det:.3g}); "
            "set the pose again or register without it."
        )


def write_transform(transform: AffineTransform2D, path: str | Path) -> Path:
    path = Path(path)
    check_invertible(transform)
    path.write_text(json.dumps(transform.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_transform(path: str | Path) -> AffineTransform2D:
    """Read a transform file; every problem is one :class:`RegistrationError` sentence."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if content.get("format") != FORMAT:
            raise ValueError("not an EndoFuse transform")
        matrix = np.array(content["matrix"], dtype=np.float64)
        translation = np.array(content["translation"], dtype=np.float64)
        center = np.array(content.get("center", [0.0, 0.0]), dtype=np.float64)
        if matrix.shape != (2, 2) or translation.shape != (2,) or center.shape != (2,):
            raise ValueError("wrong shapes")
    except FileNotFoundError as exc:
        raise RegistrationError(f"The transform file {path} does not exist.") from exc
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RegistrationError(
            f"{path.name} is not an EndoFuse transform file; write one with `endofuse register`."
        ) from exc
    transform = AffineTransform2D(
        _pair2(matrix),
        (float(translation[0]), float(translation[1])),
        (float(center[0]), float(center[1])),
        f"file {path.name}",
    )
    check_invertible(transform, f"The transform in {path.name}")
    return transform
