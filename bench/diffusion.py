"""UNet forward time and peak memory: tiny and full ADM configuration, 256x256 and 600x600.

Random weights (built in place, no checkpoint needed). Each case runs in its own subprocess so
that the CPU peak (max resident set size) belongs to that case alone; on CUDA the peak is
``torch.cuda.max_memory_allocated``. 600x600 is reflect-padded to the stride (608 for the full
model), as the methods do. Prints a table; ratios are relative to the tiny model at 256 in the
same run. ``--quick`` skips the full model at 600x600 (several minutes on a laptop CPU).

    python bench/diffusion.py [--quick] [--device cpu|cuda] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

TINY = dict(
    image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,1,2",
    attention_resolutions="16,8", num_heads=4, num_head_channels=16,
)
FULL = dict(
    image_size=256, num_channels=256, num_res_blocks=2, channel_mult="",
    attention_resolutions="32,16,8", num_heads=4, num_head_channels=64,
)
CONFIGS = {"tiny": TINY, "full": FULL}
#: rough bytes needed by the full model at 600x600 in float32 on the CPU (weights + activations)
FULL_600_BYTES = 12e9


def run_case(config: str, size: int, device: str, repeats: int, precision: str) -> dict:
    import resource
    import time

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from engine.diffusion.unet import ADMUNet

    torch.manual_seed(0)
    model = ADMUNet(**CONFIGS[config]).eval().to(device)
    padded = -(-size // model.stride) * model.stride
    x = torch.randn(1, 3, padded, padded, device=device)
    t = torch.tensor([500], device=device)
    autocast = None if precision == "float32" else getattr(torch, precision)

    def forward():
        with torch.no_grad():
            if autocast is None:
                return model(x, t)
            with torch.autocast(torch.device(device).type, dtype=autocast):
                return model(x, t)

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    forward()  # warm-up (allocator, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = forward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    assert torch.isfinite(out).all()
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "config": config, "size": size, "padded": padded, "device": device,
        "precision": precision, "params": sum(p.numel() for p in model.parameters()),
        "seconds": min(times), "peak_bytes": peak,
    }


def available_memory(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.get_device_properties(0).total_memory)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the full model at 600x600")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16",
                                                                    "float16"))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.case:
        config, size = args.case.split(":")
        print(json.dumps(run_case(config, int(size), args.device, args.repeats,
                                  args.precision)))
        return 0
    cases = [("tiny", 256), ("tiny", 600), ("full", 256), ("full", 600)]
    rows = []
    for config, size in cases:
        if config == "full" and size == 600:
            if args.quick:
                rows.append((config, size, "skipped (--quick)"))
                continue
            if available_memory(args.device) < FULL_600_BYTES:
                rows.append((config, size, "skipped (not enough memory)"))
                continue
        command = [sys.executable, __file__, "--case", f"{config}:{size}", "--device",
                   args.device, "--repeats", str(args.repeats), "--precision", args.precision]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            rows.append((config, size, "failed: " + done.stderr.strip().splitlines()[-1]))
        else:
            rows.append((config, size, json.loads(done.stdout.strip().splitlines()[-1])))
    base = next((r[2]["seconds"] for r in rows if isinstance(r[2], dict)), None)
    print(f"ADM UNet forward, batch 1, device {args.device}, {args.precision}, "
          f"best of {args.repeats}")
    print(f"{'config':<6} {'size':>5} {'padded':>6} {'params':>12} {'seconds':>9} "
          f"{'x tiny256':>9} {'peak MiB':>9}")
    for config, size, result in rows:
        if isinstance(result, str):
            print(f"{config:<6} {size:>5}  {result}")
            continue
        print(f"{config:<6} {size:>5} {result['padded']:>6} {result['params']:>12,} "
              f"{result['seconds']:>9.3f} {result['seconds'] / base:>9.1f} "
              f"{result['peak_bytes'] / 2**20:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
