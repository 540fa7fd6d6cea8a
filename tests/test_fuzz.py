"""Bounded fuzz run of the readers in a separate process: every file shipped with pydicom, six
truncations of each, and the hand-made hostile files of ``hostile.py``.

Pass: no traceback (only the engine's typed one-line errors), no hang, peak resident memory of
the reading process at most :data:`PEAK_RSS_MB`. The time limits are hang guards, not timings:
an input still being read after :data:`PER_INPUT_S` seconds is stopped and recorded as a hang,
and the whole run is stopped after :data:`RUN_LIMIT_S` seconds. The pydicom files are taken from the
installed package's own folder: ``pydicom.data.get_testdata_files`` would also download the
online part of pydicom's test data, and nothing here may touch the network.

Run alone with ``python tests/test_fuzz.py FOLDER`` (prints one JSON line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_INPUT_S = 20
RUN_LIMIT_S = 120
PEAK_RSS_MB = 1536
#: where each pydicom file is cut: just after the preamble and DICM prefix, inside the header,
#: and at fractions of the pixel data, up to the last byte missing
TRUNCATIONS = (lambda n: 132, lambda n: 400, lambda n: n // 4, lambda n: n // 2,
               lambda n: 3 * n // 4, lambda n: n - 1)


class Hang(Exception):
    """An input took longer than PER_INPUT_S."""


def pydicom_files() -> list[Path]:
    import pydicom

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".py")


def corpus(folder: Path) -> list[tuple[str, Path]]:
    """(label, path) of every input; truncated copies are written under ``folder``."""
    from hostile import hostile_files

    inputs = [(f"pydicom/{p.name}", p) for p in pydicom_files()]
    cuts = folder / "truncated"
    cuts.mkdir(parents=True, exist_ok=True)
    for index, (_, path) in enumerate(list(inputs)):
        data = path.read_bytes()
        for where in {cut(len(data)) for cut in TRUNCATIONS}:
            if 0 < where < len(data):
                target = cuts / f"{index:03d}_{where}.dcm"
                target.write_bytes(data[:where])
                inputs.append((f"cut/{path.name}@{where}", target))
    inputs += [(f"hostile/{p.name}", p) for p in hostile_files(folder / "hostile")]
    return inputs


def run_worker(folder: Path) -> dict:
    """Read every input; one record per input, and the peak RSS of this process."""
    import signal
    import time
    import traceback

    from engine.dicom import read_dicom
    from engine.errors import EndoFuseError
    from engine.io import load_scan

    def on_alarm(signum, frame):
        raise Hang

    signal.signal(signal.SIGALRM, on_alarm)
    records = []
    for label, path in corpus(folder):
        reader = read_dicom if label.startswith("pydicom/") else load_scan
        print(label, file=sys.stderr, flush=True)  # names the culprit if the run is killed
        started = time.perf_counter()
        signal.alarm(PER_INPUT_S)
        try:
            reader(path)
            outcome, detail = "read", ""
        except EndoFuseError as exc:
            outcome, detail = "refused", str(exc)
            if not detail.strip() or "\n" in detail:
                outcome = "bad message"
        except Hang:
            outcome, detail = "hang", ""
        except BaseException:  # noqa: BLE001 - every escape is what this run looks for
            outcome, detail = "traceback", traceback.format_exc(limit=4)
        finally:
            signal.alarm(0)
        records.append({"input": label, "outcome": outcome, "detail": detail,
                        "seconds": time.perf_counter() - started})
    return {"records": records, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """High-water resident set of this process since it started (VmHWM).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's peak across fork and exec into it,
    so a worker started from a large test process would report the parent's memory.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def test_fuzz_readers_in_a_bounded_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=RUN_LIMIT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    records = summary["records"]
    assert len(records) > 1000
    escaped = [r for r in records if r["outcome"] not in ("read", "refused")]
    assert escaped == [], escaped[:5]
    assert summary["peak_rss_mb"] <= PEAK_RSS_MB
    assert {r["outcome"] for r in records} == {"read", "refused"}


if __name__ == "__main__":
    print(json.dumps(run_worker(Path(sys.argv[1]))))
