"""Shared test fixtures: the path to ../shared (golden data) with the skip/fail policy, DICOM
pairs, torch's thread count given back after every test; the viewer's windows and widgets come
from the plugin :mod:`viewer_fixtures`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

pytest_plugins = ["viewer_fixtures"]


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


@pytest.fixture(autouse=True)
def torch_threads_kept():
    """Every test gets back the torch thread count it started with. Code under test sets it for
    the whole process (a batch worker's function run here: 1; the viewer's fusion runner: all
    cores but one, 1 on a 2-core machine), and without this every later test would compute
    with that count instead of torch's own, as a command-line process does."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def write_dicom_pair(folder: Path, patient_id: str, size: int, seed: int, d: int = 6,
                     spacing_mm: float = 0.25) -> tuple[Path, Path]:
    """An MR and a US DICOM file of one phantom plane (d from the spacings) for ``patient_id``."""
    import pydicom

    from engine.dicom import SourcePatient, write_source_dicom
    from engine.phantom import make_phantom_pair

    pair = make_phantom_pair(seed=seed, size=size, d=d)
    patient = SourcePatient(patient_name=f"PATIENT^{patient_id}", patient_id=patient_id,
                            study_instance_uid=pydicom.uid.generate_uid())
    folder.mkdir(parents=True, exist_ok=True)
    mri = write_source_dicom(pair.mri.pixels, folder / "mr.dcm", "MR", (d * spacing_mm,) * 2,
                             patient)
    us = write_source_dicom(pair.us.pixels, folder / "us.dcm", "US", (spacing_mm,) * 2, patient,
                            series_number=2)
    return mri, us


@pytest.fixture(scope="session")
def dicom_pair_writer():
    """:func:`write_dicom_pair`, for tests that need DICOM sources."""
    return write_dicom_pair
