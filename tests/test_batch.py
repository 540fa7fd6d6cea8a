"""Batch fusion: manifest and DICOM-tree pairing, a local:2 Dask run losing a worker, re-runs."""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import write_dicom_pair as write_source_pair

from engine.batch import (
    BatchSettings,
    OutputTree,
    PairTask,
    pair_tree,
    parse_formats,
    read_manifest,
    run_batch,
)
from engine.batch.execute import DaskCluster, make_engine, run_pair, submit_all
from engine.batch.plan import PairingError
from engine.batch.steps import check_pair
from engine.batch.store import fingerprint
from engine.cli import main as cli_main
from engine.dicom import SourcePatient, write_source_dicom
from engine.errors import ParameterError
from engine.phantom import make_phantom_pair
from engine.scan import Scan, ScanInfo

pydicom = pytest.importorskip("pydicom")

SIZE, D = 48, 4
SPACING = 0.5
#: every pair of the CI batch runs PALM briefly on the classical path (no network to load)
FAST = {"iterations": "2", "despeckle": "false"}


def _pair(seed: int):
    return make_phantom_pair(seed=seed, size=SIZE, d=D)


def write_dicom_pair(folder: Path, seed: int, patient: str, us_patient: str | None = None,
                     date: str = "20240102", mri_spacing: bool = True) -> tuple[Path, Path]:
    """An MR and a US DICOM file of one phantom in one study under ``folder/patient``, dated
    ``date``; ``us_patient`` moves the US to another patient (and study), ``mri_spacing=False``
    drops the MR's PixelSpacing."""
    mr, us = write_source_pair(folder / patient, patient, SIZE, seed, d=D, spacing_mm=SPACING)
    for path in (mr, us):
        ds = pydicom.dcmread(path)
        ds.StudyDate = date
        if path == us and us_patient is not None:
            ds.PatientID = us_patient
            ds.StudyInstanceUID = pydicom.uid.generate_uid()
        if path == mr and not mri_spacing:
            del ds.PixelSpacing
        ds.save_as(path)
    return mr, us


def write_cohort(folder: Path) -> tuple[Path, dict[str, str]]:
    """A manifest of 12 good pairs (8 DICOM, 4 NumPy) and 4 broken rows.

    Returns the manifest path and, for each broken row id, a fragment of its sentence.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(8):
        mr, us = write_dicom_pair(folder, seed, f"P{seed}")
        rows.append({"id": f"dicom-{seed}", "mri": f"P{seed}/mr.dcm", "us": f"P{seed}/us.dcm",
                     "d": ""})
    for seed in range(8, 12):
        pair = _pair(seed)
        np.save(folder / f"mr{seed}.npy", pair.mri.pixels)
        np.save(folder / f"us{seed}.npy", pair.us.pixels)
        rows.append({"id": f"npy-{seed}", "mri": f"mr{seed}.npy", "us": f"us{seed}.npy", "d": D})
    (folder / "broken.dcm").write_bytes(b"\0" * 64 + b"not an image at all")
    rows.append({"id": "unreadable", "mri": "broken.dcm", "us": "us8.npy", "d": D})
    write_dicom_pair(folder, 20, "PA", us_patient="PB")
    rows.append({"id": "two-patients", "mri": "PA/mr.dcm", "us": "PA/us.dcm", "d": ""})
    write_dicom_pair(folder, 21, "PS", mri_spacing=False)
    rows.append({"id": "no-spacing", "mri": "PS/mr.dcm", "us": "PS/us.dcm", "d": ""})
    rows.append({"id": "missing-file", "mri": "nowhere.dcm", "us": "PS/us.dcm", "d": ""})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "mri", "us", "d", *FAST])
        writer.writeheader()
        writer.writerows({**row, **FAST} for row in rows)
    broken = {
        "unreadable": "broken.dcm is not a DICOM file",
        "two-patients": "The MRI belongs to patient PA and the ultrasound to patient PB",
        "no-spacing": "has no pixel spacing, so the scale factor is unknown",
    }
    return manifest, broken


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"))


def read_results(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {row["key"]: row for row in csv.DictReader(handle)}


# ------------------------------------------------------------------------------ planning


def test_manifest_plan_lists_pairs_and_rows_it_cannot_use(cohort):
    manifest, _ = cohort
    plan = read_manifest(manifest, "palm")
    assert len(plan.tasks) == 15
    assert [u.what for u in plan.unpaired] == ["manifest row 16"]
    assert "nowhere.dcm does not exist" in plan.unpaired[0].reason
    npy = next(t for t in plan.tasks if t.key == "npy-8")
    assert npy.d == D and dict(npy.overrides) == FAST and npy.mri == manifest.parent / "mr8.npy"


def test_dry_run_lists_everything_and_runs_nothing(cohort, tmp_path, capsys):
    manifest, _ = cohort
    out = tmp_path / "out"
    assert cli_main(["batch", str(manifest), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "15 pair(s) to fuse" in text and "dicom-0:" in text and "no-spacing:" in text
    assert "1 input(s) not paired" in text and "manifest row 16" in text
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        ("mri,d\na.npy,4\n", "has no us column"),
        ("mri,us,id\na.npy,b.npy,x\nc.npy,d.npy,x\n", "uses the id 'x' twice"),
    ],
)
def test_bad_manifest_is_refused_with_exit_status_2(tmp_path, capsys, content, sentence):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    assert cli_main(["batch", str(manifest), "--out", str(tmp_path / "o"), "--dry-run"]) == 2
    assert sentence in capsys.readouterr().err


def test_dry_run_on_a_dicom_folder_lists_pairs_and_files_left_out(cohort, tmp_path, capsys):
    folder = cohort[0].parent
    assert cli_main(["batch", str(folder), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "9 pair(s) to fuse" in text and "(patient P0, study" in text
    assert "No MR image of patient PB" in text and "No ultrasound image of patient PA" in text
    assert "broken.dcm is not a DICOM file" in text


def test_parameters_are_checked_before_anything_runs(cohort, tmp_path, capsys):
    manifest, _ = cohort
    out = tmp_path / "out"
    status = cli_main(["batch", str(manifest), "--out", str(out), "--dry-run",
                       "--param", "coupling=0"])
    text = capsys.readouterr().out
    assert status == 0 and "0 pair(s) to fuse" in text
    assert "Parameter coupling must be at least" in text and not out.exists()


def test_manifest_row_problems_are_sentences(tmp_path):
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, np.eye(8))
    (tmp_path / "m.csv").write_text(
        "mri,us,d,method,transform,image\na.npy,b.npy,x,,,\na.npy,b.npy,2,nope,,\n"
        "a.npy,b.npy,2,,t.txt,\na.npy,b.npy,2,,,both\na.npy,b.npy,2,,,us\n"
    )
    plan = read_manifest(tmp_path / "m.csv", "palm")
    reasons = [u.reason for u in plan.unpaired]
    assert "whole number, not 'x'" in reasons[0]
    assert "Unknown method 'nope'" in reasons[1]
    assert "t.txt does not exist" in reasons[2]
    assert "mri or us, not 'both'" in reasons[3]
    assert [t.image for t in plan.tasks] == ["us"]


def test_dicom_tree_pairing_by_uids_and_dates(tmp_path):
    pixels_mr, pixels_us = np.arange(144.0).reshape(12, 12), np.arange(2304.0).reshape(48, 48)

    def write(name, modality, patient, study, date="20240102"):
        owner = SourcePatient(patient_id=patient, study_instance_uid=study, study_date=date)
        pixels, spacing = (pixels_mr, 2.0) if modality == "MR" else (pixels_us, 0.5)
        return write_source_dicom(pixels, tmp_path / name, modality, (spacing, spacing), owner)

    mr_a = write("a/mr.dcm", "MR", "A", "1.1")
    us_a1, us_a2 = write("a/us1.dcm", "US", "A", "1.1"), write("a/us2.dcm", "US", "A", "1.1")
    mr_b = write("b/mr.dcm", "MR", "B", "2.1", "20240101")
    us_b = write("b/later/us.dcm", "US", "B", "2.2", "20240111")  # own study, MR 10 days before
    write("c/us.dcm", "US", "C", "3.1", "20240101")
    write("c/mr.dcm", "MR", "C", "3.2", "20241001")  # 274 days apart: too far
    write("m/mr.dcm", "MR", "M1", "4.1")
    write("m/us.dcm", "US", "M2", "4.1")  # one study UID, two patients
    write("x/mr1.dcm", "MR", "X", "5.1")
    write("x/mr2.dcm", "MR", "X", "5.1")
    write("x/us.dcm", "US", "X", "5.1")
    (tmp_path / "junk.dcm").write_text("no header")

    plan = pair_tree(tmp_path, "palm")
    pairs = {(t.mri, t.us) for t in plan.tasks}
    assert pairs == {(mr_a, us_a1), (mr_a, us_a2), (mr_b, us_b)}
    sop = str(pydicom.dcmread(us_b).SOPInstanceUID)
    assert f"2.2/{sop}" in {t.key for t in plan.tasks}
    reasons = {Path(u.what).relative_to(tmp_path).as_posix(): u.reason for u in plan.unpaired}
    assert "within 90 days" in reasons["c/us.dcm"]
    assert "No ultrasound image of patient C" in reasons["c/mr.dcm"]
    assert "different patients (M1, M2)" in reasons["m/us.dcm"]
    assert "holds 2 MR images" in reasons["x/us.dcm"]
    assert "not a DICOM file" in reasons["junk.dcm"]
    assert len(pair_tree(tmp_path, "palm", max_days=300).tasks) == 4
    assert len(pair_tree(tmp_path, "palm", skip=tmp_path / "a").tasks) == 1


# ------------------------------------------------------------------------------ running


def _spawned_workers() -> list:
    """Worker processes (Dask or process pool) that this process started."""
    import psutil

    children = psutil.Process().children(recursive=True)
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.slow
def test_local2_batch_survives_a_killed_worker_and_reruns_only_what_is_missing(cohort, tmp_path):
    manifest, broken = cohort
    plan = read_manifest(manifest, "palm")
    out = tmp_path / "out"
    killed = []

    def kill_one_worker(outcome):
        if not killed:
            workers = _spawned_workers()
            assert workers, "no Dask worker process found"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(outcome.key)

    summary = run_batch(plan, BatchSettings(out=out, scheduler="local:2", progress=False),
                        on_outcome=kill_one_worker, say=lambda _: None)
    assert killed
    results = read_results(out / "results.csv")
    good = [t.key for t in plan.tasks if t.key not in broken]
    assert len(good) == 12
    assert set(results) == {t.key for t in plan.tasks} | {"manifest row 16"}
    for key in good:
        row = results[key]
        assert row["status"] == "fused", (key, row["error"])
        assert float(row["fuse_s"]) > 0 and np.isfinite(float(row["PSNR"]))
        assert all((out / f"pairs/{key}/fused.{s}").exists() for s in ("dcm", "png"))
    for key, sentence in broken.items():
        assert results[key]["status"] == "failed"
        assert sentence in results[key]["error"]
    assert results["manifest row 16"]["status"] == "unpaired"
    assert summary.counts() == {"fused": 12, "failed": 3, "unpaired": 1}
    report = (out / "report.md").read_text()
    assert "![metrics](metrics.png)" in report and "pairs/dicom-0/thumb.png" in report

    # a changed input and a lost output are redone, on the default process pool; nothing else
    np.save(manifest.parent / "us9.npy", _pair(30).us.pixels)
    (out / "pairs/dicom-3/record.json").unlink()
    again = run_batch(read_manifest(manifest, "palm"),
                      BatchSettings(out=out, workers=2, progress=False), say=lambda _: None)
    assert sorted(again.ran()) == ["dicom-3", "npy-9"]
    rerun = read_results(out / "results.csv")
    assert {k for k, row in rerun.items() if row["reused"] == "no"} == {
        "dicom-3", "npy-9", "manifest row 16"}
    assert rerun["npy-9"]["status"] == "fused" and rerun["unreadable"]["status"] == "failed"


@pytest.mark.slow
def test_local_pool_reruns_the_pairs_of_killed_workers(cohort, tmp_path):
    manifest, _ = cohort
    plan = read_manifest(manifest, "palm")
    plan = dataclasses.replace(plan, tasks=plan.tasks[8:12], unpaired=())
    killed = []

    def kill_every_worker(outcome):
        if not killed:
            killed.extend(p.pid for p in _spawned_workers())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    summary = run_batch(plan, BatchSettings(out=tmp_path, workers=2, progress=False),
                        on_outcome=kill_every_worker, say=lambda _: None)
    assert killed
    assert summary.counts() == {"fused": 4}


@pytest.fixture(scope="module")
def running_scheduler():
    """The address of a running Dask scheduler (one in-process worker thread, cheap to start)."""
    import torch
    from distributed import LocalCluster

    threads = torch.get_num_threads()
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                          dashboard_address=None) as cluster:
            yield cluster.scheduler_address
    finally:
        torch.set_num_threads(threads)


def test_batch_on_a_running_scheduler_by_its_address(cohort, running_scheduler, tmp_path, capsys):
    folder = cohort[0].parent
    manifest = tmp_path / "two.csv"
    lines = ["id,mri,us,d,iterations,despeckle"] + [
        f"npy-{i},{folder / f'mr{i}.npy'},{folder / f'us{i}.npy'},{D},2,false" for i in (10, 11)
    ]
    manifest.write_text("\n".join(lines) + "\n")
    status = cli_main(["batch", str(manifest), "--out", str(tmp_path / "out"),
                       "--scheduler", running_scheduler, "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert "2 fused" in capsys.readouterr().out
    assert read_results(tmp_path / "out/results.csv")["npy-10"]["status"] == "fused"


def test_interrupted_batch_lists_pending_pairs_and_resumes(cohort, running_scheduler, tmp_path):
    manifest, _ = cohort
    plan = read_manifest(manifest, "palm")
    plan = dataclasses.replace(plan, tasks=plan.tasks[8:11], unpaired=())
    settings = BatchSettings(out=tmp_path, scheduler=running_scheduler, progress=False)

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, settings, on_outcome=interrupt, say=lambda _: None)
    statuses = [row["status"] for row in read_results(tmp_path / "results.csv").values()]
    assert statuses.count("fused") == 1 and statuses.count("pending") == 2
    first = next(key for key, row in read_results(tmp_path / "results.csv").items()
                 if row["status"] == "fused")
    again = run_batch(plan, settings, say=lambda _: None)
    assert again.counts() == {"fused": 3} and first not in again.ran()


class FakeClient:
    """What :func:`submit_all` uses of a Dask client: the workers' resources and submit."""

    def __init__(self, resources: list[dict]):
        self.workers = {f"w{i}": {"resources": r} for i, r in enumerate(resources)}
        self.submitted: dict[str, dict] = {}

    def scheduler_info(self):
        return {"workers": self.workers}

    def submit(self, function, task, *args, **options):
        self.submitted[task.method] = options
        return object()


@pytest.mark.parametrize("gpu_worker", [True, False])
def test_gpu_workers_get_the_diffusion_pairs_first(gpu_worker):
    client = FakeClient([{"GPU": 1}, {}] if gpu_worker else [{}, {}])
    tasks = [PairTask(m, Path("m"), Path("u"), m) for m in ("palm", "ddfm-palm", "ddfm-em")]
    assert len(submit_all(client, tasks, "out", ("png",))) == 3
    assert client.submitted["palm"]["resources"] is None
    assert client.submitted["palm"]["priority"] < client.submitted["ddfm-em"]["priority"]
    for method in ("ddfm-palm", "ddfm-em"):
        expected = {"GPU": 1} if gpu_worker else None
        assert client.submitted[method]["resources"] == expected


# ----------------------------------------------------------------------- idempotence rules


def test_fingerprint_follows_inputs_and_parameters(tmp_path):
    for name in ("m.npy", "u.npy"):
        np.save(tmp_path / name, np.eye(8))
    task = PairTask("k", tmp_path / "m.npy", tmp_path / "u.npy", "palm", d=2)
    first = fingerprint(task, ("png",))
    assert fingerprint(task, ("png",)) == first
    np.save(tmp_path / "u.npy", 2 * np.eye(8))
    assert fingerprint(task, ("png",))["us"] != first["us"]
    tuned = PairTask("k", task.mri, task.us, "palm", d=2, overrides=(("iterations", "3"),))
    assert fingerprint(tuned, ("png",))["overrides"] != first["overrides"]
    assert OutputTree(tmp_path / "out").finished(task, ("png",)) is None


def test_a_pair_is_finished_only_with_its_record_outputs_and_inputs(cohort, tmp_path):
    manifest, _ = cohort
    task = next(t for t in read_manifest(manifest, "palm").tasks if t.key == "npy-10")
    tree = OutputTree(tmp_path)
    outcome = run_pair(task, str(tmp_path), ("npy",))
    assert outcome.status == "fused" and outcome.outputs == ["pairs/npy-10/fused.npy",
                                                            "pairs/npy-10/thumb.png"]
    assert tree.finished(task, ("npy",)).reused
    assert tree.finished(task, ("png",)) is None
    assert tree.finished(dataclasses.replace(task, image="us"), ("npy",)) is None
    (tmp_path / "pairs/npy-10/fused.npy").unlink()
    assert tree.finished(task, ("npy",)) is None


def test_batch_checks_patients_and_spacing_before_fusing():
    def scan(patient, spacing):
        return Scan(np.eye(8), ScanInfo(patient_id=patient, pixel_spacing_mm=spacing))

    task = PairTask("k", Path("m"), Path("u"), "palm")
    check_pair(scan("A", (2.0, 2.0)), scan("A", (0.5, 0.5)), task)
    with pytest.raises(PairingError, match="patient A and the ultrasound to patient B"):
        check_pair(scan("A", (2.0, 2.0)), scan("B", (0.5, 0.5)), task)
    with pytest.raises(PairingError, match="The ultrasound file .* has no pixel spacing"):
        check_pair(scan("A", (2.0, 2.0)), scan(None, None), task)
    check_pair(scan(None, None), scan(None, None), dataclasses.replace(task, d=4))


def test_scheduler_and_formats_are_checked_before_any_work():
    assert parse_formats("DCM, png,.npy") == ("dcm", "png", "npy")
    with pytest.raises(ParameterError, match="Unknown output format jpg"):
        parse_formats("png,jpg")
    assert isinstance(make_engine("local:3", None), DaskCluster)
    assert cli_main(["batch", "x.csv", "--out", "o", "--scheduler", "local:0"]) == 2
    for bad in ("local:0", "local:x", "http://host:8786"):
        with pytest.raises(ParameterError, match="--scheduler"):
            make_engine(bad, None)


def test_a_manifest_transform_is_applied_to_the_mri_and_part_of_the_fingerprint(cohort, tmp_path):
    from engine.geometry.transform import AffineTransform2D, write_transform

    manifest, _ = cohort
    task = next(t for t in read_manifest(manifest, "palm").tasks if t.key == "npy-10")
    moved = write_transform(AffineTransform2D.from_parameters(translation=(0.8, -0.5)),
                            tmp_path / "moved.json")
    rows = [f"{key},{task.mri},{task.us},{task.d or ''},{transform},2"
            for key, transform in (("p", ""), ("t", "moved.json"))]
    (tmp_path / "m.csv").write_text("id,mri,us,d,transform,iterations\n" + "\n".join(rows))
    plain, shifted = read_manifest(tmp_path / "m.csv", "palm").tasks
    assert plain.transform is None and shifted.transform == moved
    assert fingerprint(shifted, ("npy",))["transform"] != fingerprint(plain, ("npy",))["transform"]
    for pair_task in (plain, shifted):
        assert run_pair(pair_task, str(tmp_path / "out"), ("npy",)).status == "fused"
    first = np.load(tmp_path / "out/pairs/p/fused.npy")
    second = np.load(tmp_path / "out/pairs/t/fused.npy")
    # the moved MRI gives another common field or another image
    assert first.shape != second.shape or np.abs(first - second).mean() > 1e-3
