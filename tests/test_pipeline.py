"""The pipeline from file to file: output checks before the fusion, atomic exports by suffix,
the image choice in the provenance, DICOM from DICOM sources (dciodvfy), and one measurement for
the command line and the record."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine import pipeline
from engine.cli import main
from engine.errors import OutputPathError
from engine.fusion import FusionResult
from engine.phantom import make_phantom_pair

D = 6
SIZE = 60


@pytest.fixture(scope="module")
def dicom_pair(tmp_path_factory, dicom_pair_writer):
    """An MR and a US DICOM file of one phantom plane (d = 6 from the spacings)."""
    return dicom_pair_writer(tmp_path_factory.mktemp("sources"), "PATIENT-1", SIZE, seed=1)


@pytest.fixture(scope="module")
def record():
    pair = make_phantom_pair(seed=2, size=SIZE, d=D)
    fusion_input = pair.fusion_input()
    rng = np.random.default_rng(0)
    result = FusionResult(
        fused=fusion_input.y_u + 0.01 * rng.standard_normal(fusion_input.y_u.shape),
        method="palm", params=None, elapsed_s=0.0,
        mri_estimate=np.kron(fusion_input.y_m, np.ones((D, D))),
    )
    return pipeline.record_of(result, fusion_input)


def _fuse_args(mri, us, out, *extra):
    return ["fuse", "--mri", str(mri), "--us", str(us), "--out", str(out), "--quiet",
            "--param", "iterations=2", "--param", "despeckle=false", *extra]


def dciodvfy_errors(path: Path) -> list[str]:
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    run = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


# ----- DICOM out of the command line ---------------------------------------------------------
def test_cli_writes_valid_dicom_referencing_both_sources(dicom_pair, tmp_path, capsys):
    import pydicom

    mri, us = dicom_pair
    out = tmp_path / "fused.dcm"
    assert main(_fuse_args(mri, us, out, "--method", "palm")) == 0, capsys.readouterr().err
    assert dciodvfy_errors(out) == []
    ds = pydicom.dcmread(out)
    sources = {pydicom.dcmread(p).SOPInstanceUID for p in (mri, us)}
    assert {item.ReferencedSOPInstanceUID for item in ds.SourceImageSequence} == sources
    assert ds.StudyInstanceUID == pydicom.dcmread(us).StudyInstanceUID
    assert "MRI-contrast estimate" in ds.ImageComments
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize(
    "name,message",
    [
        ("missing/fused.dcm", "does not exist"),
        ("fused.jpg", "Cannot write '.jpg' files"),
        ("blocker/fused.png", "does not exist"),
    ],
)
def test_bad_output_fails_before_any_fusion(dicom_pair, tmp_path, monkeypatch, capsys, name,
                                            message):
    import engine.methods

    def no_fusion(*args, **kwargs):
        raise AssertionError("the fusion must not start")

    monkeypatch.setattr(engine.methods, "run", no_fusion)
    (tmp_path / "blocker").write_text("a file where a folder is expected")
    mri, us = dicom_pair
    assert main(_fuse_args(mri, us, tmp_path / name)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_existing_output_and_input_files_are_protected(dicom_pair, tmp_path, capsys):
    mri, us = dicom_pair
    out = tmp_path / "fused.npy"
    out.write_bytes(b"old")
    assert main(_fuse_args(mri, us, out)) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(_fuse_args(mri, us, mri, "--overwrite")) == 2
    assert "input scans" in capsys.readouterr().err
    assert main(_fuse_args(mri, us, out, "--overwrite", "--image", "us")) == 0
    side = json.loads(pipeline.sidecar_path(out).read_text())
    assert side["image"].startswith("US-appearance") and side["image_choice"] == "us"
    assert side["sources"]["us"]["file"] == str(us)


def test_unwritable_folder_is_one_sentence(tmp_path, record, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pipeline.paths.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputPathError, match="cannot be written"):
        pipeline.check_output_path(tmp_path / "fused.png")


# ----- export: image choice, atomic writes ----------------------------------------------------
def test_export_writes_the_chosen_image_with_its_name(record, tmp_path):
    mri_file = pipeline.export(record, tmp_path / "mri.npy")
    us_file = pipeline.export(record, tmp_path / "us.npy", which="us")
    np.testing.assert_array_equal(np.load(mri_file), record.result.mri_estimate)
    np.testing.assert_array_equal(np.load(us_file), record.result.fused)
    assert "MRI-contrast" in json.loads(pipeline.sidecar_path(mri_file).read_text())["image"]
    from PIL import Image

    with Image.open(pipeline.export(record, tmp_path / "f.png", which="us")) as image:
        assert image.text["image"].startswith("US-appearance") and image.text["method"] == "palm"


def test_missing_mri_estimate_falls_back_to_fused_and_says_so(record):
    import dataclasses

    bare = dataclasses.replace(
        record, result=dataclasses.replace(record.result, mri_estimate=None)
    )
    np.testing.assert_array_equal(bare.pixels(), record.result.fused)
    assert "returned no MRI-contrast estimate" in bare.provenance()["image"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(record, tmp_path, monkeypatch):
    out = tmp_path / "fused.tiff"
    out.write_bytes(b"old")

    def broken(path, image, provenance=None):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("engine.io.save_image", broken)
    with pytest.raises(OutputPathError, match="No space left"):
        pipeline.export(record, out, overwrite=True)
    assert out.read_bytes() == b"old" and list(tmp_path.iterdir()) == [out]


# ----- one measurement --------------------------------------------------------------------------
def test_metrics_command_gives_the_record_numbers(dicom_pair, tmp_path, capsys):
    """Fuse to .npy, then ``endofuse metrics --record``: the numbers equal measure(record)."""
    mri, us = dicom_pair
    out = tmp_path / "fused.npy"
    fusion_input = pipeline.pair(pipeline.load(mri), pipeline.load(us))
    record = pipeline.fuse(fusion_input, "palm", _palm_params())
    pipeline.export(record, out)
    assert main(["metrics", "--record", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = pipeline.measure(record)
    assert printed["standard"] == pytest.approx(dict(expected.standard), rel=1e-12)
    assert printed["seed_compatible"] == pytest.approx(dict(expected.seed_compatible), rel=1e-12)
    assert printed["scaling"] == expected.scaling and "min-max" in expected.scaling
    assert record.metrics.standard == expected.standard


def test_measure_scales_each_image_by_its_own_min_max(record):
    """An affine change of the fused image's intensities changes no metric (min-max scaling)."""
    import dataclasses

    shifted = dataclasses.replace(
        record,
        result=dataclasses.replace(record.result, mri_estimate=3.0 * record.result.mri_estimate
                                   + 7.0),
    )
    assert pipeline.measure(shifted).standard == pytest.approx(
        dict(pipeline.measure(record).standard), rel=1e-9
    )


def _palm_params():
    from engine.methods import get_method

    return get_method("palm").params_type(iterations=2, despeckle=False)


# ----- parameters from their declaration ------------------------------------------------------
def test_every_declared_parameter_is_a_flag(dicom_pair, tmp_path, capsys):
    mri, us = dicom_pair
    out = tmp_path / "f.npy"
    args = ["fuse", "--mri", str(mri), "--us", str(us), "--out", str(out), "--quiet"]
    assert main([*args, "--iterations", "2", "--despeckle=false", "--tau4", "3e-4"]) == 0
    params = json.loads(json.loads(pipeline.sidecar_path(out).read_text())["parameters"])
    assert (params["iterations"], params["despeckle"], params["tau4"]) == (2, False, 3e-4)
    assert main([*args, "--overwrite", "--iterations=0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--prior-weight", "1"]) == 2
    err = capsys.readouterr().err
    assert "--prior-weight does not apply to the palm method" in err and "tau4" in err
    with pytest.raises(SystemExit) as stop:
        main(["metrics", "--record", str(out), "--iterations", "2"])
    assert stop.value.code == 2


def test_a_refused_output_imports_no_torch(dicom_pair, tmp_path):
    """The refusal comes before anything heavy is loaded (it takes a fraction of a second)."""
    import subprocess
    import sys

    mri, us = dicom_pair
    code = (
        "import sys\nfrom engine.cli import main\n"
        f"code = main(['fuse', '--mri', {str(mri)!r}, '--us', {str(us)!r}, '--out', "
        f"{str(tmp_path / 'missing' / 'f.dcm')!r}])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.split() == ["2", "False"], proc.stderr[-2000:]
    assert "does not exist" in proc.stderr


def test_anonymised_exports_leave_the_sources_out(dicom_pair, record, tmp_path):
    fusion_input = pipeline.pair(*(pipeline.load(p) for p in dicom_pair))
    identified = pipeline.record_of(record.result, fusion_input, with_metrics=False)
    plain = pipeline.export(identified, tmp_path / "plain.npy")
    anonymous = pipeline.export(identified, tmp_path / "anon.npy", anonymise=True)
    assert "PATIENT-1" in pipeline.sidecar_path(plain).read_text()
    text = pipeline.sidecar_path(anonymous).read_text()
    assert "PATIENT-1" not in text and "mr.dcm" not in text and "anonymised" in text
    from PIL import Image

    with Image.open(pipeline.export(identified, tmp_path / "a.png", anonymise=True)) as image:
        assert "PATIENT-1" not in json.dumps(image.text)
