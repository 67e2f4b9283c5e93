"""End-to-end generation benchmark: wall time, real-time factor per stage, peak GPU memory.

Runs the full published architecture with random weights (timing does not depend on the weight
values) through levels 2, 1, 0 and Dance Diffusion at the seed's default steps, in three modes:

  plain   fp32, eager (the debugging path)
  graphs  fp32 + CUDA-graph replay (the "cheap fixes" baseline)
  fast    bf16 + CUDA-graph replay + channels-last stereo stage (the default on CUDA)
  fast-compile / fast-max   fast + torch.compile (inductor; max-autotune kernels) + fused resampling taps
  fast-ncl / fast-compile-ncl   the same with the stereo stage in the default [B, C, T] layout
  fast-compile-conv   fast-compile with cuDNN's depthwise resampling instead of the fused taps
  fast-compile-fw     fast-compile with the stereo stage's bf16 weight buffers asked for explicitly (the
                      compiled default since session 6; before, fast-compile cast the weights every call)
  fast-compile-cast   fast-compile with the weights cast on every call instead (the default before session 6)

and reports how far each mode's audio is from the plain path's for the same seeds.

  python bench/generate.py                       # 30 s, all modes, CUDA
  python bench/generate.py --tiny --device cpu --seconds 2 --modes plain   # smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jbdiff.config import load_config  # noqa: E402
from jbdiff.models import random_models, tiny_models  # noqa: E402
from jbdiff.pipeline import Pipeline, PipelineOptions  # noqa: E402
from jbdiff.request import GenerationRequest  # noqa: E402

MODES = {
    "plain": dict(bf16=False, cuda_graphs=False),
    "graphs": dict(bf16=False, cuda_graphs=True),
    "fast": dict(bf16=True, cuda_graphs=True, channels_last=True),
    "fast-ncl": dict(bf16=True, cuda_graphs=True, channels_last=False),   # the fast path before channels-last
    "fast-compile": dict(bf16=True, cuda_graphs=True, channels_last=True, compile="default"),
    "fast-compile-fw": dict(bf16=True, cuda_graphs=True, channels_last=True, compile="default", dd_fast_weights=True),
    "fast-compile-cast": dict(bf16=True, cuda_graphs=True, channels_last=True, compile="default", dd_fast_weights=False),
    "fast-compile-conv": dict(bf16=True, cuda_graphs=True, channels_last=True, compile="default", dd_resample="conv"),
    "fast-max": dict(bf16=True, cuda_graphs=True, channels_last=True, compile="max-autotune"),
    "fast-compile-ncl": dict(bf16=True, cuda_graphs=True, channels_last=False, compile="default"),
}


def snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    """Signal-to-difference ratio of ``x`` against ``ref`` (inf when identical)."""
    err = float(np.sum((ref - x) ** 2))
    sig = float(np.sum(ref**2))
    return float("inf") if err == 0 else 10 * np.log10(max(sig, 1e-30) / err)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--levels", default="012")
    ap.add_argument("--modes", default="plain,graphs,fast")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny random models (smoke test)")
    ap.add_argument("--model", help="a named model instead (demo, jbdiff-v1, a bundle ...); default: random-v1")
    ap.add_argument("--level-batch", type=int, default=32, help="windows per level U-Net call")
    ap.add_argument("--dd-batch", type=int, default=8)
    ap.add_argument("--steps", default=None, help="override steps, e.g. 2:25,1:7,0:2,dd:15 (default: config)")
    ap.add_argument("--repeat-fast", action="store_true", help="run each fast mode twice (warm graphs)")
    ap.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    if args.model:
        from jbdiff.model_registry import load_pipeline

        models = load_pipeline(args.model, device="cpu").models
    elif args.tiny:
        models = tiny_models(0)
    else:
        cfg = load_config("jbdiff-sample-v1")
        models = random_models(cfg.model, cfg.sampling, seed=0)
    steps = {}
    if args.steps:
        for part in args.steps.split(","):
            k, v = part.split(":")
            steps[k if k == "dd" else int(k)] = int(v)
    req = GenerationRequest(seconds_length=args.seconds, levels=args.levels, noise_seed=1, dd_noise_seed=2,
                            num_steps=steps)
    print(f"device {device} {torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}", flush=True)
    print(f"{args.seconds:.1f} s, levels {args.levels}, steps {steps or 'config defaults'}", flush=True)
    rows = []
    results = {}
    runs = [m for m in args.modes.split(",") if m]
    if args.repeat_fast:  # each fast mode again, warm (graphs captured, networks compiled)
        runs += [m for m in runs if m.startswith("fast")]
    pipe = None
    for mode in runs:
        opts = PipelineOptions(level_batch=args.level_batch, dd_batch=args.dd_batch, **MODES[mode])
        if pipe is None:
            pipe = Pipeline(models, device, opts)
        else:
            pipe.options = opts
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        res = pipe.generate(req)
        wall = time.perf_counter() - t0
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        label = mode if mode not in results else f"{mode} (warm)"
        results[label] = res
        row = {"mode": label, "wall_s": wall, "rtf": wall / args.seconds, "peak_gib": peak,
               **{f"{k}_s": v for k, v in res.timings.items()}}
        rows.append(row)
        stages = " ".join(f"{k}={v:.2f}s(rtf {v / args.seconds:.2f})" for k, v in res.timings.items()
                          if k not in ("total", "load"))
        print(f"{label:<14} wall {wall:8.2f} s  rtf {wall / args.seconds:6.3f}  peak {peak:6.2f} GiB  {stages}",
              flush=True)
    if "plain" in results:
        ref = results["plain"]
        for label, res in results.items():
            if label == "plain":
                continue
            per_level = {lv: snr_db(ref.level_audio[lv], res.level_audio[lv]) for lv in ref.level_audio}
            final = snr_db(ref.audio, res.audio)
            print(f"equivalence {label:<12} vs plain: final SNR {final:.1f} dB; per level "
                  + ", ".join(f"{lv}: {v:.1f} dB" for lv, v in per_level.items()), flush=True)
            for row in rows:
                if row["mode"] == label:
                    row["snr_final_db"] = final
                    row["snr_levels_db"] = per_level
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
