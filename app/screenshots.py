"""Render the README screenshots: the main window after a demo fusion, and the compare view.

``python -m app.screenshots [--out resources/screenshots]`` runs the viewer's automation twice
(offscreen unless a display is set) and stores palette PNGs (< 300 KB each).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOTS = {
    "main_window.png": ["--demo", "--fuse", "palm"],
    "compare_view.png": ["--demo", "--fuse", "palm", "--compare"],
}
MAX_BYTES = 300_000


def shrink(path: Path) -> None:
    """Re-save as a 256-colour palette PNG (the viewer is mostly grey), halving if still big."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
    while True:
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES or image.width < 600:
            return
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    for name, extra in SHOTS.items():
        path = args.out / name
        command = [sys.executable, "-m", "app.main", *extra, "--screenshot", str(path), "--quit"]
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        if code != 0:
            print(f"screenshot {name} failed (exit {code})", file=sys.stderr)
            return code
        shrink(path)
        print(f"{path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
