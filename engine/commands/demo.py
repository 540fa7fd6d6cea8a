"""``endofuse demo``: fuse the built-in phantom pair, measure and export it with the pipeline.

Writes ``mri.png``, ``us.png``, ``clean_us.png`` and the result as ``fused_METHOD.png`` and
``fused_METHOD.npy`` (+ provenance) into the output folder, and prints the measurement of
:func:`engine.pipeline.measure` (ground-truth scores first, then the scaling used), beside the
ground-truth scores of the observed US for comparison.
"""

from __future__ import annotations

from pathlib import Path

from .progress_bar import TextProgressBar

NAME = "demo"
HELP = "Fuse the built-in demo phantom and print its scores vs the ground truth (PSNR, SSIM)."


def add_arguments(parser) -> None:
    from ..methods import method_names

    parser.add_argument("--method", default="palm", choices=method_names())
    parser.add_argument("--out", default="endofuse-demo", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    parser.add_argument("--device", default=None, help="cpu or cuda")
    parser.add_argument("--image", default="mri", choices=("mri", "us"),
                        help="image to export: mri (MRI-contrast estimate, default) or us")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from .. import pipeline
    from ..formatting import format_number
    from ..io import save_image
    from ..metrics import GROUND_TRUTH, STANDARD, reference_scores
    from ..phantom import make_phantom_pair

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fused_files = [out / f"fused_{args.method}{suffix}" for suffix in (".png", ".npy")]
    for path in fused_files:
        pipeline.check_output_path(path, overwrite=True)
    pair = make_phantom_pair(seed=args.seed)
    fusion_input = pair.fusion_input()
    progress = None if args.quiet else TextProgressBar(args.method)
    record = pipeline.fuse(
        fusion_input, args.method, image=args.image, progress=progress, device=args.device
    )
    for name, image in (("mri.png", pair.mri.pixels), ("us.png", pair.us.pixels),
                        ("clean_us.png", fusion_input.clean_us)):
        save_image(out / name, image)
    for path in fused_files:
        pipeline.export(record, path, overwrite=True)
    print(f"{args.method}: {record.result.elapsed_s:.1f} s; files in {out}")
    observed = reference_scores(fusion_input.y_u, fusion_input.clean_us)
    measured = record.metrics
    psnr, ssim = GROUND_TRUTH[0], GROUND_TRUTH[1]
    for label, scores in (("US (observed)", observed), ("US-appearance", measured.reference)):
        print(f"  {label:14s} {psnr.label} {format_number(scores['PSNR'])}   "
              f"{ssim.label} {format_number(scores['SSIM'])}")
    shown = ", ".join(f"{info.label} {format_number(measured.standard[info.key])}"
                      for info in STANDARD if info.key in ("EN", "MI", "Qabf"))
    print(f"  {record.image_note()}: {shown}")
    print(f"  Scaling: {measured.scaling}")
    return 0
