"""Time one classifier-free-guided forward of the level U-Net (both branches in one batch).

Examples:
  python bench/unet.py                                  # CUDA if present: batch 1 and 16, fp32 and bf16, eager
  python bench/unet.py --compile --cuda-graph           # add torch.compile and CUDA-graph variants
  python bench/unet.py --device cpu                     # CPU: batch 1, fp32, few iterations
  python bench/unet.py --shape tiny --device cpu        # smoke test in a second

Prints one row per (variant, dtype, batch) as it is measured: median and min milliseconds per
forward, items/s, GFLOP per guided forward (counted on the meta device),
achieved TFLOP/s and peak CUDA memory. A variant that
fails prints its error in the table; the script still exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jbdiff.accel import autocast_call, compiled  # noqa: E402
from jbdiff.unet import TINY_UNET, LevelUNet, UNetShape  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Row:
    variant: str
    dtype: str
    batch: int
    median_ms: float | None = None
    min_ms: float | None = None
    tflops: float | None = None
    peak_gib: float | None = None
    first_s: float | None = None
    error: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument(
        "--shape", choices=["full", "tiny"], default="full", help="full = jbdiff-v1 level 2"
    )
    ap.add_argument("--batch", type=int, nargs="+", help="default: 1 16 on CUDA, 1 on CPU")
    ap.add_argument(
        "--dtype", choices=list(DTYPES), nargs="+", help="default: fp32 bf16 on CUDA, fp32 on CPU"
    )
    ap.add_argument("--tokens", type=int, help="latent frames (default 768 full, 32 tiny)")
    ap.add_argument("--context", type=int, help="context frames (default embedding_max_length)")
    ap.add_argument("--scale", type=float, default=4.0, help="CFG scale (seed level 2: 4.0)")
    ap.add_argument("--warmup", type=int, help="default 5 on CUDA, 1 on CPU")
    ap.add_argument("--iters", type=int, help="default 20 on CUDA, 3 on CPU")
    ap.add_argument("--no-eager", action="store_true", help="skip the eager variant")
    ap.add_argument("--compile", action="store_true", help="add a torch.compile variant")
    ap.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "max-autotune"],
        help="jbdiff.accel.compiled mode (inductor; what the pipeline runs)",
    )
    ap.add_argument(
        "--cuda-graph",
        action="store_true",
        help="add CUDA-graph variants (eager, and compiled with --compile)",
    )
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls for fp32")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick conv algorithms by timing")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    args = ap.parse_args(argv)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    cuda = args.device.startswith("cuda")
    args.batch = args.batch or ([1, 16] if cuda else [1])
    args.dtype = args.dtype or (["fp32", "bf16"] if cuda else ["fp32"])
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    args.iters = args.iters or (20 if cuda else 3)
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], object], device: torch.device, warmup: int, iters: int
) -> list[float]:
    """Milliseconds per call; CUDA timed with events around each call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def cuda_graph(fn: Callable[[], torch.Tensor], warmup: int) -> Callable[[], torch.Tensor]:
    """Capture fn (static inputs closed over) once; replaying it launches the whole forward."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(max(warmup, 2)):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()

    def replay() -> torch.Tensor:
        graph.replay()
        return out

    return replay


def count_flops(
    shape: UNetShape, batch: int, tokens: int, context: int, scale: float
) -> float | None:
    """FLOPs of one guided forward, counted on the meta device (SDPA as its math, like the issue)."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            model = LevelUNet.from_shape(shape).eval()
            x = torch.empty(batch, shape.in_channels, tokens)
            emb = torch.empty(batch, context, shape.embedding_features)
            sigmas = torch.empty(batch)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x, sigmas, embedding=emb, embedding_scale=scale)
        return float(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - FLOPs are a nicety; never fail the benchmark for them
        return None


def run(args: argparse.Namespace) -> list[Row]:
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    shape = UNetShape() if args.shape == "full" else TINY_UNET
    tokens = args.tokens or (768 if args.shape == "full" else 32)
    context = args.context or shape.embedding_max_length
    with torch.device(device):
        model = LevelUNet.from_shape(shape).eval()
    params = sum(p.numel() for p in model.parameters())
    print(
        f"# level U-Net {args.shape}: {params:,} parameters; {tokens} tokens, context {context}, "
        f"CFG scale {args.scale} (both branches batched); device {device}"
        + (
            f" ({torch.cuda.get_device_name(device)})"
            if device.type == "cuda"
            else f" ({torch.get_num_threads()} threads)"
        )
        + f"; torch {torch.__version__}"
    )
    variants = [] if args.no_eager else ["eager"]
    if args.compile:
        variants.append("compile")
    if args.cuda_graph and device.type == "cuda":
        variants.append("eager+graph")
        if args.compile:
            variants.append("compile+graph")
    rows: list[Row] = []
    print_header()
    g = torch.Generator(device="cpu").manual_seed(0)
    for dtype_name in args.dtype:
        autocast_dtype = DTYPES[dtype_name]
        for batch in args.batch:
            x = torch.randn(batch, shape.in_channels, tokens, generator=g).to(device)
            sigmas = torch.rand(batch, generator=g).to(device)
            emb = torch.randn(batch, context, shape.embedding_features, generator=g).to(device)
            flops = (
                None if args.no_flops else count_flops(shape, batch, tokens, context, args.scale)
            )
            compiled_fn = None  # one compile per (dtype, batch): each row times static shapes
            for variant in variants:
                row = Row(variant, dtype_name, batch)
                rows.append(row)
                try:
                    def guided(x: torch.Tensor, s: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
                        return model(x, s, embedding=e, embedding_scale=args.scale)

                    if variant.startswith("compile"):
                        if compiled_fn is None:
                            compiled_fn = compiled(autocast_call(guided, autocast_dtype), args.compile_mode)
                        net = compiled_fn
                    else:
                        net = autocast_call(guided, autocast_dtype)

                    def forward(net=net, x=x, sigmas=sigmas, emb=emb) -> torch.Tensor:
                        return net(x, sigmas, emb)

                    with torch.inference_mode():
                        if variant.startswith("compile") and row.first_s is None:
                            t0 = time.perf_counter()
                            forward()
                            sync(device)
                            row.first_s = time.perf_counter() - t0
                        if device.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(device)
                        fn = (
                            cuda_graph(forward, args.warmup)
                            if variant.endswith("+graph")
                            else forward
                        )
                        times = time_calls(fn, device, args.warmup, args.iters)
                    row.median_ms, row.min_ms = statistics.median(times), min(times)
                    if flops:
                        row.tflops = flops / (row.median_ms * 1e-3) / 1e12
                    if device.type == "cuda":
                        row.peak_gib = torch.cuda.max_memory_allocated(device) / 2**30
                except Exception as e:  # noqa: BLE001 - report and go on with the next variant
                    row.error = (
                        f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
                    )
                finally:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                print_row(row, flops)
    return rows


HEADER = (
    f"| {'variant':<14} | {'dtype':<5} | {'batch':>5} | {'median ms':>10} | {'min ms':>9} "
    f"| {'items/s':>9} | {'GFLOP':>8} | {'TFLOP/s':>8} | {'peak GiB':>8} | {'first s':>7} |"
)


def print_header() -> None:
    print(HEADER)
    print("|" + "|".join("-" * len(c) for c in HEADER.split("|")[1:-1]) + "|", flush=True)


def print_row(r: Row, flops: float | None) -> None:
    """One table row, printed as soon as it is measured (a slow compile still shows progress)."""
    if r.error:
        print(f"| {r.variant:<14} | {r.dtype:<5} | {r.batch:>5} | failed: {r.error}", flush=True)
        return
    items = r.batch / (r.median_ms * 1e-3)
    gflop = f"{flops / 1e9:8.3g}" if flops else f"{'-':>8}"
    tf = f"{r.tflops:8.3g}" if r.tflops is not None else f"{'-':>8}"
    mem = f"{r.peak_gib:8.2f}" if r.peak_gib is not None else f"{'-':>8}"
    first = f"{r.first_s:7.1f}" if r.first_s is not None else f"{'-':>7}"
    print(
        f"| {r.variant:<14} | {r.dtype:<5} | {r.batch:>5} | {r.median_ms:>10.2f} | {r.min_ms:>9.2f} "
        f"| {items:>9.1f} | {gflop} | {tf} | {mem} | {first} |",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
