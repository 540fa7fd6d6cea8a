"""Soak: cancel latency per method, and the viewer's memory over many fusions.

**Cancel latency**: how long a running fusion takes to stop after Cancel.

Each method runs on the demo phantom pair (600x600 US, d = 6) on a worker thread, as in the
viewer; after ``delay`` seconds the cancel flag is set, and the latency is the time from setting
it to the run raising FusionCancelled. Delays cover the set-up phase (network load,
despeckling, link fit) and the iterations. One cancelled run per method comes first and is not
counted (it pays the imports of torch and the methods, which no cancel can interrupt). Prints one
row per (method, delay) with the phase the run was in (its last progress message), the latency
and the 1-minute load average of the machine, then the worst latency per method.

**Viewer memory** (``--viewer-fusions N``): the viewer (offscreen) opens the demo pair and runs
N palm fusions (``--viewer-iterations`` PALM iterations each) one after the other, as a user
pressing Fuse again and again; the resident set size (Linux ``/proc/self/statm``) is printed
after the 1st, the 10th and every 10th fusion, with the ratio RSS(N) / RSS(10).

    python bench/soak.py [--methods palm ddfm-em ddfm-palm] [--delays 0.3 1.5 4] [--size 600]
    python bench/soak.py --methods palm --after-phase "PALM iteration 1/" --delays 0.05 0.2
    python bench/soak.py --methods --viewer-fusions 100 [--viewer-iterations 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.errors import FusionCancelled  # noqa: E402
from engine.methods import method_names, run  # noqa: E402
from engine.phantom import make_phantom_pair  # noqa: E402
from engine.progress import CancelToken, ProgressEvent  # noqa: E402


@dataclass(frozen=True)
class CancelTrial:
    """One cancelled run: when Cancel came, what the run was doing, how long it took to stop."""

    method: str
    delay_s: float
    phase: str
    latency_s: float | None  # None: the run finished before the cancel


def cancel_trial(method: str, fusion_input, delay_s: float, device: str | None,
                 after_phase: str = "") -> CancelTrial:
    """Cancel ``delay_s`` after the start, or after the first progress message containing
    ``after_phase`` when one is given (a phase that starts at a different time on every
    machine, e.g. the PALM iterations after the despeckling)."""
    token = CancelToken()
    phase = ["starting"]
    ended: list[float] = []
    outcome: list[BaseException | None] = []
    reached = threading.Event()
    if not after_phase:
        reached.set()

    def on_progress(event: ProgressEvent) -> None:
        phase[0] = event.message or f"step {event.step}/{event.total}"
        if after_phase and after_phase in phase[0]:
            reached.set()

    def work() -> None:
        try:
            run(method, fusion_input, progress=on_progress, cancel=token, device=device)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)
        ended.append(time.perf_counter())

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while not reached.wait(0.01) and worker.is_alive():
        pass
    worker.join(delay_s)
    cancelled_at = time.perf_counter()
    token.cancel()
    worker.join()
    if outcome[0] is None:
        return CancelTrial(method, delay_s, "finished", None)
    if not isinstance(outcome[0], FusionCancelled):
        raise outcome[0]
    return CancelTrial(method, delay_s, phase[0], ended[0] - cancelled_at)


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def viewer_rss(fusions: int, iterations: int) -> list[tuple[int, float]]:
    """(fusion count, RSS MiB) after each of ``fusions`` palm fusions in one viewer session."""
    import gc
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])  # noqa: F841 - keeps Qt alive
    rows = []
    with tempfile.TemporaryDirectory(prefix="endofuse-soak-") as folder:
        settings = QSettings(str(Path(folder) / "viewer.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, restore_layout=False)
        window.open_demo()
        window.method_choice.setCurrentText("palm")
        window.param_panel.editors["iterations"].setValue(iterations)
        loop = QEventLoop()
        window.fusion_finished.connect(lambda record: loop.quit())
        deadline = QTimer(singleShot=True)  # one timer: never wait forever for a fusion
        deadline.timeout.connect(loop.quit)
        for count in range(1, fusions + 1):
            if not window.fuse("palm"):
                raise RuntimeError(window.last_error or "the fusion did not start")
            deadline.start(600_000)
            loop.exec()
            deadline.stop()
            gc.collect()
            rows.append((count, rss_mb()))
        window.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=method_names(), choices=method_names(),
                        help="methods whose cancel latency is measured (none: skip)")
    parser.add_argument("--delays", nargs="+", type=float, default=[0.3, 1.5, 4.0])
    parser.add_argument("--after-phase", default="", metavar="TEXT",
                        help="count the delays from the first progress message containing TEXT")
    parser.add_argument("--size", type=int, default=600)
    parser.add_argument("--device", default=None)
    parser.add_argument("--viewer-fusions", type=int, default=0, metavar="N",
                        help="also run N palm fusions in one viewer session and print its RSS")
    parser.add_argument("--viewer-iterations", type=int, default=1)
    args = parser.parse_args()
    if args.methods:
        cancel_table(args)
    if args.viewer_fusions:
        rows = viewer_rss(args.viewer_fusions, args.viewer_iterations)
        print(f"viewer RSS over {args.viewer_fusions} palm fusions "
              f"({args.viewer_iterations} iteration(s) each, demo pair)")
        for count, mb in rows:
            if count in (1, len(rows)) or count % 10 == 0:
                print(f"  after {count:4d} fusions: {mb:8.1f} MiB")
        if len(rows) >= 10:
            print(f"  RSS({len(rows)}) / RSS(10) = {rows[-1][1] / rows[9][1]:.2f}")


def cancel_table(args) -> None:
    """The cancel latency rows of every method and delay, then the worst per method."""
    fusion_input = make_phantom_pair(seed=0, size=args.size).fusion_input()
    start = f"after '{args.after_phase}'" if args.after_phase else "after the start"
    print(f"cancel latency, demo phantom {args.size}x{args.size}, d = {fusion_input.d}; "
          f"delays counted {start}")
    print(f"{'method':10s} {'cancel at':>9s}  {'latency':>8s}  {'load':>5s}  phase")
    worst: dict[str, float] = {}
    for method in args.methods:
        cancel_trial(method, fusion_input, 0.5, args.device)  # warm-up, not counted
        for delay in args.delays:
            trial = cancel_trial(method, fusion_input, delay, args.device, args.after_phase)
            latency = "finished" if trial.latency_s is None else f"{trial.latency_s:7.3f}s"
            load = os.getloadavg()[0]
            print(f"{method:10s} {delay:8.2f}s  {latency:>8s}  {load:5.1f}  {trial.phase}",
                  flush=True)
            if trial.latency_s is not None:
                worst[method] = max(worst.get(method, 0.0), trial.latency_s)
    print("worst latency: " + ", ".join(f"{m} {s:.3f} s" for m, s in worst.items()))


if __name__ == "__main__":
    main()
