"""GPU check: CPU/GPU agreement and timings of the engine, printed as one table.

One short script for a machine with a CUDA GPU (under 8 minutes on one modern GPU):

1. agreement (relative L2 error ||a - b|| / ||b||, the CPU float64/float32 result as b):
   PALM, 10 reference-variant iterations on Data1 (600x600, d = 6) in float64, goal <= 1e-6;
   the full 256x256 ADM (random weights, seed 0) in float32 with TF32 off, goal <= 1e-5, and
   under bf16/fp16 autocast, goal <= 1e-3; and the engine test files run on this machine, where
   the methods pick CUDA by themselves (``--skip-tests`` leaves them out);
2. timings: PALM 10 iterations (float64, float32), the bundled prior per evaluation at 608x608
   and the full ADM per evaluation at 256x256 (float32, TF32, bf16, fp16, channels-last, CUDA
   graph replay), ``ddfm-em`` 100 steps at 256x256 and ``ddfm-palm`` end to end at 600x600 (40
   steps) with the bundled prior and with a randomly initialised full-size ADM;
3. one table: case, value, goal, verdict.

``--dry-run`` runs every stage but the tests on the CPU at toy sizes (tiny ADM, 48x48 phantom,
2 steps) in seconds, so that CI keeps the script working: every case once, compared and timed on
that one call (no warm-up, no repeat); its numbers mean nothing.

    python bench/gpu_check.py [--device cuda] [--skip-tests] [--dry-run]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.diffusion import FULL as FULL_ADM  # noqa: E402
from bench.diffusion import TINY as TINY_ADM  # noqa: E402
from engine.diffusion.unet import ADMUNet  # noqa: E402
from engine.methods import run as run_method  # noqa: E402
from engine.methods.ddfm import DdfmEmParams, DdfmPalmParams  # noqa: E402
from engine.palm import PalmParams, palm_fuse  # noqa: E402
from engine.phantom import make_phantom_pair  # noqa: E402

DATA1 = ROOT.parent / "shared" / "fixtures" / "palm" / "data1_reference.npz"
#: engine test files run on the GPU machine (the methods choose CUDA when it is present)
ENGINE_TESTS = ("tests/test_palm.py", "tests/test_unet.py", "tests/test_ddfm.py",
                "tests/test_em.py", "tests/test_operators.py")


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run (the real check, or the toy sizes of ``--dry-run``)."""

    adm: dict
    adm_side: int  # side of the full-ADM evaluations and of the ddfm-em run
    us_side: int  # side of the ddfm-palm end-to-end pair (and of PALM without Data1)
    d: int
    palm_steps: int  # diffusion steps of ddfm-palm
    em_steps: int  # diffusion steps of ddfm-em
    repeats: int  # timed calls of each case (the best one is reported)
    #: True: each case is compared on a call of its own and timed after an untimed warm-up call;
    #: False (dry run): one call per case, compared and timed
    warmup: bool


FULL = Sizes(FULL_ADM, 256, 600, 6, 40, 100, 5, warmup=True)
DRY = Sizes(TINY_ADM, 32, 48, 4, 2, 2, 1, warmup=False)


@dataclass(frozen=True)
class Row:
    """One line of the table; ``goal`` is an upper bound (None: informative only)."""

    case: str
    value: float
    unit: str
    goal: float | None = None

    def verdict(self) -> str:
        if self.goal is None:
            return ""
        return "ok" if self.value <= self.goal else "MISSED"


def rel_error(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """||a - b|| / ||b|| in float64 on the CPU."""
    a64 = torch.as_tensor(a).detach().cpu().double()
    b64 = torch.as_tensor(b).detach().cpu().double()
    return float(torch.linalg.vector_norm(a64 - b64) / torch.linalg.vector_norm(b64))


def timed(fn: Callable[[], object], device: torch.device, repeats: int,
          warmup: bool = True) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls, after one untimed warm-up call when ``warmup``,
    synchronising CUDA; and the last call's output."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if warmup:
        fn()
        sync()
    best, output = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        output = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, output


def measure(fn: Callable[[], object], device: torch.device, sizes: Sizes,
            compare: Callable[[object], float] | None = None) -> tuple[float, float | None]:
    """(best seconds of ``fn``, ``compare`` of its output or None without ``compare``).

    With ``sizes.warmup`` (the full check) ``compare`` takes a call of its own, made first, and
    the time is the best of ``sizes.repeats`` calls after a warm-up call; without (the dry run)
    the ``sizes.repeats`` timed calls are all there is and ``compare`` takes the last one.
    """
    if sizes.warmup:
        error = None if compare is None else compare(fn())
        return timed(fn, device, sizes.repeats)[0], error
    seconds, output = timed(fn, device, sizes.repeats, warmup=False)
    return seconds, None if compare is None else compare(output)


def palm_problem(sizes: Sizes, dry: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(ym, xu0, c, d): Data1 when the golden data is present, else a phantom with a fixed link."""
    if not dry and DATA1.exists():
        z = np.load(DATA1)
        return z["ym"], z["xu0"], z["c_octave"], 6
    from engine.palm_link import link_on_image_scale

    fusion_input = make_phantom_pair(0, sizes.us_side, sizes.d).fusion_input()
    c = np.abs(link_on_image_scale(fusion_input.y_m, fusion_input.y_u, sizes.d))
    return fusion_input.y_m, fusion_input.y_u, c, sizes.d


def check_palm(device: torch.device, sizes: Sizes, dry: bool) -> list[Row]:
    """PALM agreement in float64 and the 10-iteration time in float64 and float32."""
    ym, xu0, c, d = palm_problem(sizes, dry)
    params = PalmParams(d=d, iterations=10)
    reference = palm_fuse(ym, xu0, c, params, device="cpu")
    rows = []
    for dtype, goal in ((torch.float64, 1e-6), (torch.float32, None)):
        name = str(dtype).removeprefix("torch.")
        seconds, error = measure(
            lambda dtype=dtype: palm_fuse(ym, xu0, c, params, device=device, dtype=dtype),
            device, sizes, lambda result: max(rel_error(result.x_us, reference.x_us),
                                              rel_error(result.x_mri, reference.x_mri)))
        rows.append(Row(f"PALM {name} vs CPU float64, rel. error", error, "", goal))
        rows.append(Row(f"PALM 10 iterations {xu0.shape[0]}x{xu0.shape[1]}, {name}",
                        1e3 * seconds, "ms", 50.0 if dtype == torch.float32 else None))
    return rows


@dataclass(frozen=True)
class Variant:
    """One way of evaluating the network: autocast dtype, memory format, TF32, CUDA graph."""

    name: str
    autocast: torch.dtype | None = None
    channels_last: bool = False
    tf32: bool = False
    graph: bool = False


VARIANTS = (
    Variant("float32"),
    Variant("float32 TF32", tf32=True),
    Variant("bf16", torch.bfloat16),
    Variant("fp16", torch.float16),
    Variant("bf16 channels-last", torch.bfloat16, channels_last=True),
    Variant("bf16 channels-last CUDA graph", torch.bfloat16, channels_last=True, graph=True),
)


def set_tf32(enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def evaluator(model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, variant: Variant):
    """A no-argument callable returning the network output for ``x``, ``t`` under ``variant``."""
    fmt = torch.channels_last if variant.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)

    def forward() -> torch.Tensor:
        # no autocast weight cache under graph capture (cached casts would escape the graph)
        with torch.no_grad(), torch.autocast(x.device.type, dtype=variant.autocast,
                                             enabled=variant.autocast is not None,
                                             cache_enabled=not variant.graph):
            return model(x, t).float()

    if not variant.graph:
        return forward
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            forward()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = forward()
    return lambda: (graph.replay(), out)[1]


def variants_for(device: torch.device) -> tuple[Variant, ...]:
    if device.type == "cuda":
        return VARIANTS
    return tuple(v for v in VARIANTS if not v.graph and not v.tf32 and v.autocast != torch.float16)


def check_network(label: str, model: ADMUNet, side: int, device: torch.device, sizes: Sizes,
                  agreement: bool) -> list[Row]:
    """Per-evaluation time of each variant; with ``agreement`` also the error to CPU float32."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, side, side, generator=generator)
    t = torch.tensor([500])
    rows = []
    expected = evaluator(model.cpu(), x, t, Variant("float32"))() if agreement else None
    model = model.to(device)
    x, t = x.to(device), t.to(device)
    for variant in variants_for(device):
        set_tf32(variant.tf32)
        try:
            forward = evaluator(model, x, t, variant)
            compare = expected is not None and not variant.tf32
            seconds, error = measure(forward, device, sizes,
                                     (lambda out: rel_error(out, expected)) if compare else None)
            if error is not None:
                goal = 1e-5 if variant.autocast is None else 1e-3
                rows.append(Row(f"{label} {variant.name} vs CPU float32, rel. error",
                                error, "", goal))
            rows.append(Row(f"{label} {side}x{side} per evaluation, {variant.name}",
                            1e3 * seconds, "ms"))
        finally:
            set_tf32(False)
    return rows


def full_adm(sizes: Sizes) -> ADMUNet:
    torch.manual_seed(0)
    return ADMUNet(**sizes.adm).eval()


def bundled_prior() -> ADMUNet:
    from engine.checkpoints import load_diffusion_prior

    return load_diffusion_prior("ddfm-palm")[0]


def check_prior(device: torch.device, sizes: Sizes) -> list[Row]:
    """The bundled prior at the us_side pair padded to its stride (608 for 600), as ddfm-palm."""
    model = bundled_prior()
    side = -(-sizes.us_side // model.stride) * model.stride
    return check_network("bundled prior", model, side, device, sizes, agreement=False)


def end_to_end(device: torch.device, sizes: Sizes, weights_file: str) -> list[Row]:
    """ddfm-em (adm_side, em_steps) and ddfm-palm (us_side, palm_steps), float32 and bf16.

    Wall time of ``engine.methods.run`` (weights loading, despeckling, sampling); with
    ``sizes.warmup`` after one untimed 2-step run of the same case, so that one-off kernel
    selection is not counted (the dry run's cases have 2 steps: that run is its timed one).
    """
    rows = []
    label = "random full ADM" if weights_file else "bundled prior"
    em_input = make_phantom_pair(1, sizes.adm_side, sizes.d).fusion_input()
    palm_input = make_phantom_pair(2, sizes.us_side, sizes.d).fusion_input()
    for precision in ("float32", "bfloat16"):
        if weights_file:
            params = DdfmEmParams(steps=sizes.em_steps, precision=precision,
                                  weights_file=weights_file)
            if sizes.warmup:
                run_method("ddfm-em", em_input, replace(params, steps=2), device=str(device))
            start = time.perf_counter()
            run_method("ddfm-em", em_input, params, device=str(device))
            goal = 5.0 if precision == "bfloat16" and sizes is FULL else None
            rows.append(Row(f"ddfm-em {sizes.em_steps} steps {sizes.adm_side}x{sizes.adm_side}, "
                            f"{label}, {precision}", time.perf_counter() - start, "s", goal))
        params = DdfmPalmParams(steps=sizes.palm_steps, precision=precision,
                                weights_file=weights_file)
        if sizes.warmup:
            run_method("ddfm-palm", palm_input, replace(params, steps=2), device=str(device))
        start = time.perf_counter()
        run_method("ddfm-palm", palm_input, params, device=str(device))
        goal = 3.0 if not weights_file and sizes is FULL else None
        rows.append(Row(f"ddfm-palm {sizes.palm_steps} steps {sizes.us_side}x{sizes.us_side}, "
                        f"{label}, {precision}", time.perf_counter() - start, "s", goal))
    return rows


def save_prior(model: ADMUNet, folder: Path) -> str:
    """A self-describing prior file (config + half-precision state dict, half the bytes)."""
    path = folder / "random_full_adm.pt"
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"config": model.config, "state_dict": state}, path)
    return str(path)


def engine_tests() -> list[Row]:
    """Run the engine test files here (the methods pick CUDA); one row: failed + errored count."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *ENGINE_TESTS],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    print(done.stdout[-2000:], flush=True)
    return [Row("engine tests on this machine, exit status", float(done.returncode), "", 0.0)]


def print_table(rows: list[Row], device: torch.device) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"\nEndoFuse GPU check on {name}, torch {torch.__version__}")
    print(f"| {'case':70s} | {'value':>12s} | {'goal':>10s} | verdict |")
    print(f"|{'-' * 72}|{'-' * 14}|{'-' * 12}|---------|")
    for row in rows:
        value = f"{row.value:.3g} {row.unit}".strip()
        goal = "" if row.goal is None else f"{row.goal:g} {row.unit}".strip()
        print(f"| {row.case:70s} | {value:>12s} | {goal:>10s} | {row.verdict():7s} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true",
                        help="toy sizes on the CPU (CI); the numbers mean nothing")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the engine tests")
    args = parser.parse_args(argv)
    dry = args.dry_run
    device = torch.device("cpu" if dry else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("No CUDA GPU is available here; run with --dry-run to check the script on the CPU.")
        return 2
    sizes = DRY if dry else FULL
    if dry:
        torch.set_num_threads(1)  # toy sizes: a second thread only adds contention in CI
    stages: list[tuple[str, Callable[[], list[Row]]]] = [
        ("PALM", lambda: check_palm(device, sizes, dry)),
        ("bundled prior", lambda: check_prior(device, sizes)),
        ("full ADM", lambda: check_network("full ADM", full_adm(sizes), sizes.adm_side, device,
                                           sizes, agreement=True)),
        ("bundled prior end to end", lambda: end_to_end(device, sizes, "")),
    ]
    rows: list[Row] = []
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        stages.append(("random full ADM end to end",
                       lambda: end_to_end(device, sizes, save_prior(full_adm(sizes),
                                                                    Path(folder)))))
        if not (dry or args.skip_tests):
            stages.append(("engine tests", engine_tests))
        for name, stage in stages:
            start = time.perf_counter()
            try:
                rows += stage()
            except Exception as exc:  # one broken stage must not hide the others' numbers
                failures += 1
                print(f"{name}: FAILED ({type(exc).__name__}: {exc})", flush=True)
            print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    print_table(rows, device)
    missed = sum(row.verdict() == "MISSED" for row in rows)
    print(f"{len(rows)} rows, {missed} goals missed, {failures} stages failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
