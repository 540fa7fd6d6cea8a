"""Size and speed of candidate small-prior configurations (how SMALL_PRIOR_CONFIG was chosen).

Run from the repository root::

    .venv/bin/python bench/prior_width.py [--threads 1] [--repeats 2]

For each ADMUNet configuration: parameters, float32 checkpoint size (``torch.save`` of the state
dict) and the best-of-``repeats`` time of ONE network evaluation at 600x600 (reflect-padded to
the stride, as the methods do), with the ratio to the chosen configuration in the same run.
Random weights (the cost does not depend on them). Targets: <= 25 MB, <= 1 s on 2 cores.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def candidates() -> dict[str, dict]:
    from engine.training.prior import SMALL_PRIOR_CONFIG as chosen

    wide = chosen | {"num_channels": 32, "channel_mult": "1,1,2,2,4", "norm_groups": 32}
    return {
        "chosen: 16 ch/16 groups, x(1,2,2,4,8)": chosen,
        "x(1,2,4,4,8)": chosen | {"channel_mult": "1,2,4,4,8"},
        "32 ch/32 groups, x(1,1,2,2,4), attn mid": wide,
        "2 res blocks per level": chosen | {"num_res_blocks": 2},
        "attn also at 1/8": chosen | {"attention_resolutions": "8"},
    }


def best_time(model, x, t, repeats: int) -> float:
    """Fastest of ``repeats`` evaluations after one warm-up."""
    import torch

    times = []
    with torch.no_grad():
        model(x, t)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x, t)
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    from engine.diffusion.unet import ADMUNet

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}")
    header = (f"{'configuration':44s} | {'params':>9s} {'MB':>6s} | {'s @600':>7s} {'ratio':>6s}"
              f" | {'channels-last s':>15s}")
    print(header)
    print("-" * len(header))
    base = None
    for name, config in candidates().items():
        model = ADMUNet(**config).eval()
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        side = -(-600 // model.stride) * model.stride
        x, t = torch.randn(1, 3, side, side), torch.tensor([500])
        seconds = best_time(model, x, t, args.repeats)
        # the layout the diffusion methods use on the CPU (engine.methods.ddfm._load_model)
        last = best_time(model.to(memory_format=torch.channels_last), x, t, args.repeats)
        base = base or seconds
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:44s} | {params:9d} {len(buffer.getvalue()) / 1e6:6.2f} | "
              f"{seconds:7.2f} {seconds / base:6.2f} | {last:15.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
