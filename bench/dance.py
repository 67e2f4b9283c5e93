"""Time Dance Diffusion forwards (jbdiff.dance.DanceUNet) per batch, dtype and execution mode.

GPU:  python bench/dance.py                       (full model, 65,536 samples, batch 1 and 8)
      python bench/dance.py --compile --cuda-graph --compare-groupnorm
CPU:  python bench/dance.py --device cpu --length 24576 --batch 1 --iters 2 --warmup 1

Modes: eager (always; GroupNorm "auto": flat reduction on GPU, torch's kernel on CPU);
eager-cl / graph-cl (--channels-last: the [B, C, 1, T] channels-last layout the fast path uses);
flat-gn / torch-gn (eager with one GroupNorm kernel forced, to see what the flat one saves);
compile (jbdiff.accel.compiled: inductor); graph (CUDA graph replay via
jbdiff.accel.graphed); compile+graph, and compile-cl+graph with --channels-last (what the
pipeline runs with PipelineOptions.compile); compile-cl-taps+graph with --taps (the same with the
cubic resampling as pointwise taps that inductor fuses), and compile-cl-taps-<stats>+graph per
--gn-stats formulation of the GroupNorm statistics (compile-cl-taps-fw-<stats>+graph with
--fast-weights; --gn-min-row sets where "chunks" starts splitting); compile-cl-taps-fw+graph with --fast-weights;
compile-cl-taps-fw+graph also runs batch-1 convs at levels <= 1,024 samples as tap GEMMs, as the
pipeline does; compile-cl-taps-fw-g<N>+graph per --small-gemm length moves that limit (0: cuDNN's
convs everywhere, the path before session 9).
--modes keeps only the named modes. Weights are random unless --weights points at a checkpoint
(timing does not depend on values). Prints one table row per (mode, dtype, batch), with the first
call's seconds (compile time) for compiled modes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jbdiff.dance.blocks as dance_blocks  # noqa: E402
from jbdiff.accel import GraphedCall, autocast_call, compiled, graphed  # noqa: E402
from jbdiff.dance import TINY_DANCE, DanceShape, DanceUNet  # noqa: E402
from jbdiff.dance.checkpoint import load_dance_weights  # noqa: E402
from jbdiff.pipeline import DD_GEMM_MAX_LEN  # noqa: E402

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--shape", choices=["full", "tiny"], default="full")
    p.add_argument("--length", type=int, default=65536, help="samples per window")
    p.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    p.add_argument(
        "--dtype", default="fp32,bf16", help="comma-separated: fp32, bf16, fp16 (autocast)"
    )
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--compile-mode", default="default", choices=["default", "max-autotune"],
                   help="jbdiff.accel.compiled mode")
    p.add_argument("--modes", default=None, help="comma-separated subset of the modes to run")
    p.add_argument("--cuda-graph", action="store_true", help="also time CUDA graph replay")
    p.add_argument("--channels-last", action="store_true",
                   help="also time the [B, C, 1, T] channels-last layout (eager-cl, graph-cl: the fast path)")
    p.add_argument(
        "--compare-groupnorm",
        action="store_true",
        help="also time eager with the flat GroupNorm and with torch's group_norm kernel forced",
    )
    p.add_argument("--weights", default=None, help="optional Dance Diffusion checkpoint")
    p.add_argument(
        "--profile", action="store_true", help="print top ops of one forward per eager or compiled mode and dtype (first batch)"
    )
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN pick conv algorithms by timing")
    p.add_argument("--gn-stats", default=None,
                   help="comma-separated GroupNorm statistics formulations (blocks.STATS_IMPLS): adds "
                        "compile-cl-taps-<impl>+graph modes")
    p.add_argument("--gn-min-row", type=int, default=None,
                   help="rows at least this long get chunked statistics with --gn-stats chunks "
                        "(blocks.CHUNKED_MIN_ROW)")
    p.add_argument("--fast-weights", action="store_true",
                   help="also time compile-cl-taps-fw+graph: compile-cl-taps+graph reading bf16 weight buffers "
                        "(DanceUNet.set_fast_weights) instead of casting the weights every call")
    p.add_argument("--small-gemm", default=None,
                   help="comma-separated lengths: compile-cl-taps-fw-g<N>+graph modes, whose batch-1 convs at levels "
                        "no longer than N run as one GEMM over the taps (DanceUNet.set_small_gemm)")
    p.add_argument("--variants", default="",
                   help="comma-separated variants of the pipeline's compiled call (compile-cl-taps-fw+graph), "
                        "each a '+'-joined list of changes applied in order: s9 (the path as session 9 shipped "
                        "it: none of the following), pdl / no-pdl (programmatic dependent launch), align / "
                        "no-align (odd channel counts zero-padded), fold / no-fold (the first block reads audio "
                        "and time features apart: DanceUNet.set_fold_embed), sums (GroupNorm statistics as sum "
                        "and sum of squares), any-batch (fold and align at every batch, not only batch 1), "
                        "thrN (inductor realize_opcount_threshold=N, 0 = inductor's default); adds modes "
                        "compile-cl-taps-fw-<variant>+graph and prints each one's largest difference from "
                        "compile-cl-taps-fw+graph")
    p.add_argument("--taps", action="store_true",
                   help="also time compile-cl-taps+graph: compiled channels-last with the cubic resampling as "
                        "pointwise taps (DanceUNet.set_resample_impl)")
    p.add_argument("--inductor", default="",
                   help="comma-separated torch._inductor.config settings for the compiled modes, "
                        "e.g. coordinate_descent_tuning=1")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    return p.parse_args()


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(
    fn: Callable[[], torch.Tensor], device: torch.device, iters: int, warmup: int
) -> float:
    """Median milliseconds per call."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def profile_forward(call: Callable[[], torch.Tensor], device: torch.device, title: str) -> None:
    """Print the ops that take the most device time in one forward (after the timed runs)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        call()
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(f"--- profile: {title} ---")
    print(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=90))
    if device.type == "cuda":
        print_kernel_groups(prof)


KERNEL_GROUPS = [  # (group, substrings of the kernel name), first match wins
    ("cast only", ("triton_poi_fused__to_copy_", "direct_copy", "elementwise_kernel")),
    ("attention", ("flash", "fmha", "attention", "cudnn_sdpa")),
    ("triton reduction", ("triton_red", "triton_per")),
    ("triton pointwise", ("triton_poi",)),
    ("conv", ("conv", "xmma", "implicit", "cudnn", "dgrad", "wgrad", "fprop")),
    ("gemm", ("gemm", "cutlass", "sm90", "sm80")),
]


def print_kernel_groups(prof) -> None:
    """Sum device time and count of the profiled kernels per kind: where batch 1's time goes."""
    from torch.autograd import DeviceType

    totals: dict[str, list[float]] = {}
    for evt in prof.key_averages():
        us = evt.self_device_time_total
        if evt.device_type != DeviceType.CUDA or us <= 0 or evt.count == 0:
            continue
        name = evt.key.lower()
        if name.startswith("triton_poi_fused__to_copy_") and not name.rstrip("0123456789").endswith("copy_"):
            name = "triton_poi_fused"  # a cast fused with other work is pointwise work, not a cast
        group = next((g for g, keys in KERNEL_GROUPS if any(k in name for k in keys)), "other")
        entry = totals.setdefault(group, [0.0, 0])
        entry[0] += us
        entry[1] += evt.count
    print(f"{'kernel group':<18}{'ms':>8}{'kernels':>9}{'us each':>9}")
    for group, (us, count) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        print(f"{group:<18}{us / 1e3:>8.3f}{count:>9}{us / count:>9.1f}")
    print(f"{'total':<18}{sum(v[0] for v in totals.values()) / 1e3:>8.3f}{sum(v[1] for v in totals.values()):>9}")


def main() -> int:
    args = parse_args()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    for setting in filter(None, (kv.strip() for kv in args.inductor.split(","))):
        import torch._inductor.config as inductor_config

        key, _, value = setting.partition("=")
        *parents, leaf = key.split(".")       # dotted keys reach sub-configs, e.g. triton.cooperative_reductions
        owner = functools.reduce(getattr, parents, inductor_config)
        old = getattr(owner, leaf)  # AttributeError names an unknown setting
        setattr(owner, leaf, type(old)(int(value)) if isinstance(old, bool) else type(old)(value))
        print(f"inductor config: {key} = {getattr(owner, leaf)!r}")
    if args.gn_min_row is not None:
        dance_blocks.CHUNKED_MIN_ROW = args.gn_min_row
    device = torch.device(args.device)
    shape = DanceShape() if args.shape == "full" else TINY_DANCE
    batches = [int(b) for b in args.batch.split(",")]
    dtypes = [d.strip() for d in args.dtype.split(",")]
    base = DanceUNet.from_shape(shape).eval().requires_grad_(False)
    if args.weights:
        load_dance_weights(base, args.weights)
    base.to(device)
    if base.valid_length(args.length) != args.length:
        print(f"length {args.length} not accepted; use {base.valid_length(args.length)}")
        return 2

    def copy_of_base() -> DanceUNet:
        """Another network with base's weights, for a mode that changes how it runs."""
        model = DanceUNet.from_shape(shape).eval().requires_grad_(False).to(device)
        model.load_state_dict(base.state_dict())
        return model

    modes: list[tuple[str, Callable]] = [("eager", lambda dt: (base, dt))]
    if args.compare_groupnorm:
        for impl in ("flat", "torch"):
            variant = copy_of_base().set_groupnorm_impl(impl)
            modes.append((f"{impl}-gn", lambda dt, m=variant: (m, dt)))
    def compile_of(model: DanceUNet, dt: torch.dtype | None, pdl: bool = False,
                   options: dict | None = None) -> Callable:
        return compiled(autocast_call(model, dt), args.compile_mode, pdl=pdl, options=options)

    if args.compile:
        modes.append(("compile", lambda dt: (compile_of(base, dt), None)))
    cl = None
    if args.channels_last:
        cl = copy_of_base().set_channels_last(True)
        modes.append(("eager-cl", lambda dt: (cl, dt)))
    if args.cuda_graph and device.type == "cuda":
        modes.append(("graph", lambda dt: (graphed(base, autocast_dtype=dt), None)))
        if cl is not None:
            modes.append(("graph-cl", lambda dt: (graphed(cl, autocast_dtype=dt), None)))
        if args.compile:
            modes.append(("compile+graph", lambda dt: (GraphedCall(compile_of(base, dt)), None)))
            if cl is not None:
                modes.append(("compile-cl+graph", lambda dt: (GraphedCall(compile_of(cl, dt)), None)))
            def taps_net() -> DanceUNet:
                return copy_of_base().set_channels_last(True).set_resample_impl("taps")

            def graphed_compile(model: DanceUNet, fast_weights: bool = False, pdl: bool = False,
                                options: dict | None = None, align: bool = False,
                                align_max_batch: int = 1) -> Callable:
                weighted = (lambda dt: model.set_fast_weights(dt, align, align_max_batch)) if fast_weights else None
                return lambda dt: (GraphedCall(compile_of(weighted(dt) if weighted else model, dt, pdl, options)),
                                   None)

            if cl is not None and args.taps:
                modes.append(("compile-cl-taps+graph", graphed_compile(taps_net())))
            def pipeline_net(feats: dict) -> Callable:
                """The pipeline's compiled stereo call (Pipeline.dance with compile on), changed by feats."""
                net = taps_net().set_small_gemm(DD_GEMM_MAX_LEN).set_fold_embed(feats["fold"], feats["max_batch"])
                if feats["sums"]:
                    net.set_groupnorm_stats("sums")
                opts = {"realize_opcount_threshold": feats["thr"]} if feats["thr"] else None
                return graphed_compile(net, fast_weights=True, pdl=feats["pdl"], options=opts, align=feats["align"],
                                       align_max_batch=feats["max_batch"])

            # The pipeline launches early only when every stereo call of a request has batch 1.
            shipped = {"pdl": batches == [1], "align": True, "fold": True, "sums": False, "thr": 0, "max_batch": 1}
            if cl is not None and args.fast_weights:  # what the compiled pipeline runs
                modes.append(("compile-cl-taps-fw+graph", pipeline_net(shipped)))
            for variant in ([] if cl is None else [v.strip() for v in args.variants.split(",") if v.strip()]):
                feats = dict(shipped)
                for f in variant.split("+"):
                    if f == "s9":      # the path as session 9 shipped it
                        feats.update(pdl=False, align=False, fold=False, thr=0)
                    elif f in ("pdl", "align", "fold", "sums"):
                        feats[f] = True
                    elif f.startswith("no-") and f[3:] in ("pdl", "align", "fold"):
                        feats[f[3:]] = False
                    elif f == "any-batch":   # fold and align at every batch size, not only batch 1
                        feats["max_batch"] = 1 << 30
                    elif f.startswith("thr") and f[3:].isdigit():
                        feats["thr"] = int(f[3:])
                    else:
                        raise SystemExit(f"--variants: unknown feature {f!r} in {variant!r}")
                modes.append((f"compile-cl-taps-fw-{variant}+graph", pipeline_net(feats)))
            for n in ([] if cl is None or not args.small_gemm else [int(v) for v in args.small_gemm.split(",")]):
                modes.append((f"compile-cl-taps-fw-g{n}+graph",
                              graphed_compile(taps_net().set_small_gemm(n), fast_weights=True)))
            for stats in ([] if cl is None or not args.gn_stats else args.gn_stats.split(",")):
                fw = "-fw" if args.fast_weights else ""
                modes.append((f"compile-cl-taps{fw}-{stats.strip()}+graph",
                              graphed_compile(taps_net().set_groupnorm_stats(stats.strip()), bool(fw))))
    if args.modes:
        keep = {m.strip() for m in args.modes.split(",")}
        modes = [m for m in modes if m[0] in keep]

    params = sum(p.numel() for p in base.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"Dance Diffusion forward, {args.shape} shape ({params:,} params), {args.length} samples, "
        f"stereo, on {name}; torch {torch.__version__}; "
        f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}; cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )
    profiles: list[tuple[Callable[[], torch.Tensor], str]] = []
    outputs: dict[tuple[str, str, int], torch.Tensor] = {}  # for the --variants differences
    print(
        f"{'mode':<28}{'dtype':<6}{'batch':>6}{'ms/forward':>12}{'ms/window':>11}{'windows/s':>11}"
        f"{'first s':>9}{'peak GiB':>10}"
    )
    for mode, make in modes:
        for dname in dtypes:
            dtype = DTYPES[dname]
            for batch in batches:
                # A fresh compiled function and graph per batch: each row times its own static shapes.
                model, outer_dtype = make(dtype)
                gen = torch.Generator(device=device).manual_seed(0)
                x = torch.randn(batch, shape.io_channels, args.length, generator=gen, device=device)
                t = torch.rand(batch, generator=gen, device=device)

                def call(model=model, x=x, t=t, outer_dtype=outer_dtype) -> torch.Tensor:
                    with torch.inference_mode(), autocast(device, outer_dtype):
                        return model(x, t)

                try:
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    start = time.perf_counter()
                    call()
                    sync(device)
                    first = time.perf_counter() - start
                    ms = time_forward(call, device, args.iters, args.warmup)
                    if args.variants and mode.startswith("compile-cl-taps-fw"):
                        outputs[(mode, dname, batch)] = call().float().clone()
                except Exception as e:  # noqa: BLE001 - report and go on with the next mode
                    print(f"{mode:<28}{dname:<6}{batch:>6}  failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                    continue
                peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
                print(
                    f"{mode:<28}{dname:<6}{batch:>6}{ms:>12.2f}{ms / batch:>11.2f}"
                    f"{1e3 * batch / ms:>11.1f}{first:>9.1f}{peak:>10.2f}", flush=True
                )
                if args.profile and (mode.startswith("eager") or mode.startswith("compile")) and batch == batches[0]:
                    profiles.append((call, f"{mode} {dname} batch {batch}"))
    for (mode, dname, batch), out in outputs.items():
        ref = outputs.get(("compile-cl-taps-fw+graph", dname, batch))
        if mode != "compile-cl-taps-fw+graph" and ref is not None:
            print(f"difference {mode} {dname} batch {batch}: max |d| {(out - ref).abs().max().item():.3g} "
                  f"(output max |x| {ref.abs().max().item():.3g})")
    for call, title in profiles:
        profile_forward(call, device, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
