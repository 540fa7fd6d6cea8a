"""Automatic registration accuracy: known transforms applied to the MRI, recovered from the US.

For each case a random pose T (rotation up to ``--max-angle`` degrees about the centre of the field,
per-axis scale in [1 - s, 1 + s], translation up to ``--max-shift`` of the field per axis) moves the
MRI: the moved MRI is ``M'(q) = M(T^-1(q))`` (cubic spline; on the phantom the MRI is simulated on a
larger field and cropped, so no border is invented). On Data1 the whole 600 x 600 US and the
whole 100 x 100 MRI are registered (``--data1-side 64`` takes their central 64 x 64 MRI pixels
instead, moved from the MRI around them: nothing is invented, but the top of the lump is lost);
where ``T^-1 q`` falls off the MRI its edge pixels are repeated, and the registration is told
which pixels those are (``register(..., mri_mask=...)``, as for the padding of a reformatted MRI;
``--no-mri-mask`` leaves it out). The registration from the identity should return T; the error
is the RMS over the US field of ``|T_found(p) - T(p)|`` in US pixels. A case passes below 1 US
pixel.

On Data1 the registration of the unmoved pair, ``T_ref``, is not exactly the identity (the two
scans show the steak differently), so two errors are printed: against ``T`` (absolute) and
against ``T o T_ref`` (what the registration of the unmoved pair plus the known move gives: the
recovery of the known transform). On the phantom ``T_ref`` is the identity and both coincide.
The columns after the errors split the error against ``T o T_ref`` into where it moves the centre of
the field (US pixels), its rotation (degrees) and its two scales (per cent: the singular values of
``(T o T_ref)^-1 o T_found`` less 1); the last column names the stages that were kept (see
:mod:`engine.registration`).

    python bench/registration.py --data phantom data1 --cases 40
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.errors import RegistrationError  # noqa: E402
from engine.geometry.transform import AffineTransform2D  # noqa: E402
from engine.registration import RegistrationSettings, compose, register  # noqa: E402
from engine.scan import Scan, ScanInfo  # noqa: E402

DATA1 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "data1"
#: MRI pixels a side of the Data1 field registered (its central part; see :func:`data1_case`)
DATA1_SIDE = 64


@dataclass(frozen=True)
class Case:
    """One moved pair and the pose that moved it."""

    mri: Scan
    us: Scan
    truth: AffineTransform2D
    #: the moved MRI's pixels that come from the MRI (None: all of them)
    mri_mask: np.ndarray | None = None


def random_pose(
    rng,
    field_mm: float,
    max_angle: float,
    max_scale: float,
    max_shift: float,
    center: tuple[float, float],
) -> AffineTransform2D:
    return AffineTransform2D.from_parameters(
        angle_deg=rng.uniform(-max_angle, max_angle),
        scale=tuple(rng.uniform(1 - max_scale, 1 + max_scale, 2)),
        translation=tuple(rng.uniform(-max_shift, max_shift, 2) * field_mm),
        center=center,
        source="truth",
    )


def moved_mri(
    source: np.ndarray, margin: int, spacing: float, size: int, truth: AffineTransform2D
) -> tuple[np.ndarray, np.ndarray]:
    """``M'(q) = M(T^-1 q)`` on the ``size`` x ``size`` MRI grid at ``spacing`` mm, and where
    ``T^-1 q`` falls on ``source`` (elsewhere its edge pixels are repeated).

    ``source`` holds the MRI with ``margin`` extra pixels on each side.
    """
    from scipy import ndimage

    grid = np.arange(size) * spacing
    points = np.stack(np.meshgrid(grid, grid, indexing="xy"), axis=-1)
    back = truth.inverse().apply(points) / spacing + margin
    inside = np.all((back >= -0.5) & (back <= np.array(source.shape[::-1]) - 0.5), axis=-1)
    moved = ndimage.map_coordinates(source, [back[..., 1], back[..., 0]], order=3, mode="nearest")
    return moved, inside


def phantom_case(rng, seed: int, size: int, d: int, limits, matrix=None) -> Case:
    """A phantom pair moved by a random pose, or by the pose of ``matrix`` (2x2) if given."""
    from engine.phantom import make_phantom_pair

    margin = max(2, size // d // 5)
    big = make_phantom_pair(seed, size + 2 * margin * d, d)
    step = big.us.info.pixel_spacing_mm[0]
    field = size * step
    truth = random_pose(rng, field, *limits, center=(field / 2, field / 2))
    if matrix is not None:
        truth = AffineTransform2D(matrix, truth.translation, truth.center, "truth")
    mri, _ = moved_mri(big.mri.pixels, margin, d * step, size // d, truth)
    us = big.us.pixels[margin * d : margin * d + size, margin * d : margin * d + size]
    info = ScanInfo(modality="US", pixel_spacing_mm=(step, step))
    return Case(
        Scan(mri, ScanInfo(modality="MR", pixel_spacing_mm=(d * step, d * step))),
        Scan(us, info),
        truth,
    )


def data1_case(rng, limits, side: int = DATA1_SIDE) -> Case:
    """Data1's central ``side`` x ``side`` MRI pixels (``6 side`` US pixels) moved by a pose.

    The moved MRI is sampled from the whole 100 x 100 MRI around that field (``margin`` pixels a
    side), so with ``side`` 64 no pose within the default limits reads outside the MRI; the US is
    cropped to the same field. With ``side`` 100 the moved MRI repeats its edge pixels.
    """
    from engine.io import load_scan

    mri, us = load_scan(DATA1 / "irm.mat"), load_scan(DATA1 / "us.mat")
    d = us.shape[0] // mri.shape[0]  # neither file has a spacing: US pixel = 1 unit, MRI = d
    margin = (mri.shape[0] - side) // 2
    field = float(side * d)
    truth = random_pose(rng, field, *limits, center=(field / 2, field / 2))
    moved, inside = moved_mri(mri.pixels, margin, float(d), side, truth)
    field_us = us.pixels[margin * d : (margin + side) * d, margin * d : (margin + side) * d]
    return Case(mri.with_pixels(moved), us.with_pixels(field_us), truth, inside)


def rms_error_pixels(
    found: AffineTransform2D, truth: AffineTransform2D, us: Scan, spacing: tuple[float, float]
) -> float:
    """RMS over every 4th US pixel of ``|T_found(p) - T(p)|`` in US pixels."""
    rows, cols = (
        np.arange(0, us.shape[0], 4) * spacing[0],
        np.arange(0, us.shape[1], 4) * spacing[1],
    )
    points = np.stack(np.meshgrid(cols, rows, indexing="xy"), axis=-1)
    diff = (found.apply(points) - truth.apply(points)) / np.array([spacing[1], spacing[0]])
    return float(np.sqrt(np.mean(np.sum(diff**2, axis=-1))))


def decompose(
    found: AffineTransform2D, target: AffineTransform2D, us: Scan, spacing: tuple[float, float]
) -> str:
    """``D = target^-1 o found`` as the shift of the US field's centre (US pixels), the angle of
    its rotation (degrees, from the polar decomposition ``A_D = R S``) and the singular values of
    ``A_D`` less 1 (per cent)."""
    change = compose(target.inverse(), found)
    u, s, vt = np.linalg.svd(change.A)
    rotation = u @ vt
    centre = np.array([us.shape[1] * spacing[1], us.shape[0] * spacing[0]]) / 2
    shift = (change.apply(centre) - centre) / np.array([spacing[1], spacing[0]])
    angle = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return (
        f"{shift[0]:6.2f} {shift[1]:6.2f} {angle:6.2f} {100 * (s[0] - 1):6.2f} "
        f"{100 * (s[1] - 1):6.2f}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", nargs="+", default=["phantom", "data1"], choices=["phantom", "data1"]
    )
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--size", type=int, default=600, help="phantom US side (pixels)")
    parser.add_argument("--max-angle", type=float, default=10.0)
    parser.add_argument("--max-scale", type=float, default=0.1)
    parser.add_argument("--max-shift", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data1-side", type=int, default=100, help="Data1 MRI pixels a side registered (<= 100)"
    )
    parser.add_argument(
        "--no-mri-mask",
        action="store_true",
        help="do not tell the registration which moved MRI pixels repeat the MRI's edge",
    )
    args = parser.parse_args(argv)
    limits = (args.max_angle, args.max_scale, args.max_shift)
    settings = RegistrationSettings()
    print(
        f"{'data':8} {'case':>4} {'angle':>6} {'rms px':>8} {'abs px':>8} {'time s':>7} "
        f"{'dx px':>6} {'dy px':>6} {'d deg':>6} {'s1 %':>6} {'s2 %':>6}  result"
    )
    for data in args.data:
        rng = np.random.default_rng(args.seed)
        errors, times, absolute, invented = [], [], [], []
        reference = AffineTransform2D()
        if data == "data1":
            case = data1_case(np.random.default_rng(0), (0.0, 0.0, 0.0), args.data1_side)
            found = register(case.mri, case.us, settings=settings)
            reference = found.transform
            print(
                f"data1 unmoved pair ({found.stages}): T_ref = {reference.describe()}; RMS "
                f"{rms_error_pixels(reference, AffineTransform2D(), case.us, (1.0, 1.0)):.2f} px "
                "from the identity"
            )
        for index in range(args.cases):
            case = (
                phantom_case(rng, index, args.size, 6, limits)
                if data == "phantom"
                else data1_case(rng, limits, args.data1_side)
            )
            mask = None if args.no_mri_mask else case.mri_mask
            invented.append(0.0 if case.mri_mask is None else 1.0 - float(np.mean(case.mri_mask)))
            t0 = time.perf_counter()
            try:
                result = register(case.mri, case.us, settings=settings, mri_mask=mask)
                found, verdict = result.transform, result.stages
                spacing = case.us.info.pixel_spacing_mm or (1.0, 1.0)
                target = compose(case.truth, reference)
                error = rms_error_pixels(found, target, case.us, spacing)
                parts = decompose(found, target, case.us, spacing)
                absolute.append(rms_error_pixels(found, case.truth, case.us, spacing))
                verdict = ("ok " if error < 1 else "MISS ") + verdict
            except RegistrationError as exc:
                error, verdict = float("inf"), f"FAILED: {exc}"
                parts = " ".join(["     -"] * 5)
                absolute.append(error)
            times.append(time.perf_counter() - t0)
            errors.append(error)
            angle = np.degrees(np.arctan2(case.truth.matrix[1][0], case.truth.matrix[0][0]))
            print(
                f"{data:8} {index:4d} {angle:6.1f} {error:8.3f} {absolute[-1]:8.3f} "
                f"{times[-1]:7.2f} {parts}  {verdict}",
                flush=True,
            )
        errors_a, absolute_a = np.array(errors), np.array(absolute)
        print(
            f"{data}: {np.sum(errors_a < 1)}/{len(errors)} within 1 US pixel of T o T_ref "
            f"({np.sum(absolute_a < 1)} of T); median {np.median(errors_a):.3f} px "
            f"({np.median(absolute_a):.3f} px against T); 90th percentile "
            f"{np.percentile(errors_a, 90):.3f} px; time median {np.median(times):.2f} s, max "
            f"{np.max(times):.2f} s; moved MRI pixels repeated from its edge: up to "
            f"{100 * max(invented):.0f} %"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
