"""End-to-end time of the default ``palm`` on the 600x600 demo pair, against earlier versions.

Runs ``engine.methods.run("palm", demo pair)`` (despeckling, joint PALM, everything the viewer
waits for) ``--repeat`` times after one warm-up run and prints the median and best seconds. With
``--against REV ...`` the same measurement runs, in the same session and alternating with this
tree, in a temporary ``git worktree`` of each earlier revision, and the ratios are printed: the
machine's load then weighs on every version alike.

    python bench/palm_speed.py [--repeat 5] [--against HEAD~5 f0028a6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: what one measurement runs (in this tree or an earlier one); prints the seconds as JSON
PROBE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from engine.methods import run
from engine.phantom import make_phantom_pair
fusion_input = make_phantom_pair(0).fusion_input()
run("palm", fusion_input)
seconds = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    run("palm", fusion_input)
    seconds.append(time.perf_counter() - t0)
print(json.dumps(seconds))
"""


def measure(tree: Path, repeat: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(tree), str(repeat)], cwd=tree,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the versions")
    parser.add_argument("--against", nargs="*", default=[], metavar="REV")
    args = parser.parse_args(argv)
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        for rev in args.against:
            path = Path(tmp) / rev.replace("/", "_").replace("~", "-")
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(path), rev],
                           cwd=ROOT, check=True)
            # the checkpoints are the same files; bundled weights may be ignored by git there
            trees[rev] = path
        try:
            times: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    times[name] += measure(tree, args.repeat)
        finally:
            for rev in args.against:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[rev])],
                               cwd=ROOT, check=False)
    base = statistics.median(times["this tree"])
    print(f"palm, demo pair 600x600 (d = 6), {args.rounds} x {args.repeat} runs per version")
    print(f"{'version':<16} {'median s':>9} {'best s':>8} {'median / this tree':>19}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<16} {median:9.2f} {min(values):8.2f} {median / base:19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
