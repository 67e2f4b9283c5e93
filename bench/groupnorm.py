"""Time compiled one-group GroupNorm + GELU formulations at Dance Diffusion's activation shapes.

The compiled stereo stage spent about 40 % of its GPU time in inductor's var_mean kernels over
the [B, C, 1, T] channels-last activations (`bash bench/gpu_suite.sh dance-taps`). This script
compiles each formulation of the statistics on its own and prints ms per call and the effective
bandwidth (bytes of one read + one write of the activation), so the choice rests on numbers:

  dims      var_mean over dims (1, 2, 3) of the 4-D tensor (jbdiff's flat_group_norm1 before)
  flat      var_mean over one contiguous row per sample (a free view of channels-last memory)
  sums      sum and sum of squares in fp32 over that row (one pass; var = E[x^2] - E[x]^2)
  twopass   mean, then the mean of squared deviations (two reads, no cancellation)

  python bench/groupnorm.py                          # CUDA, bf16, batch 21 and 1
  python bench/groupnorm.py --device cpu --batch 2 --scale 64 --iters 3   # smoke test
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dance import time_forward  # noqa: E402  (bench/dance.py, next to this script)

from jbdiff.dance.blocks import STATS_IMPLS, group_norm1_stats, to_fast_layout  # noqa: E402

# (channels, samples) of the outer Dance Diffusion levels at a 65,536-sample window.
SHAPES = [(128, 65536), (128, 32768), (256, 16384), (256, 8192), (512, 4096), (512, 1024)]


def make_fn(impl: str) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    def fn(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        mean, rstd = group_norm1_stats(x, 1e-5, impl)
        bcast = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)
        scale = weight.float()[None, :] * rstd[:, None]
        shift = bias.float()[None, :] - mean[:, None] * scale
        return F.gelu(torch.addcmul(shift.to(x.dtype).view(bcast), x, scale.to(x.dtype).view(bcast)))
    return fn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", default="21,1")
    ap.add_argument("--impls", default=",".join(STATS_IMPLS))
    ap.add_argument("--scale", type=int, default=1, help="divide every length by this (smoke tests)")
    ap.add_argument("--iters", type=int, default=50)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    impls = [i.strip() for i in args.impls.split(",")]
    print(f"one-group GroupNorm + GELU, compiled, {dtype}, channels-last [B, C, 1, T], on "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}")
    print(f"{'batch':>5} {'C':>4} {'T':>6}" + "".join(f"{i + ' ms':>12}{'GB/s':>7}" for i in impls)
          + "   max |err| vs fp64 per impl")
    for batch in (int(b) for b in args.batch.split(",")):
        for channels, length in SHAPES:
            length //= args.scale
            gen = torch.Generator(device=device).manual_seed(0)
            x = to_fast_layout(torch.randn(batch, channels, length, generator=gen, device=device) * 2 + 0.5).to(dtype)
            w = torch.rand(channels, generator=gen, device=device) + 0.5
            b = torch.randn(channels, generator=gen, device=device)
            ref = make_fn("twopass")(x.double(), w.double(), b.double())
            row = f"{batch:>5} {channels:>4} {length:>6}"
            errs = []
            for impl in impls:
                torch._dynamo.reset()
                fn = torch.compile(make_fn(impl), dynamic=False)
                with torch.inference_mode():
                    ms = time_forward(lambda fn=fn, x=x, w=w, b=b: fn(x, w, b), device, args.iters, warmup=3)
                    errs.append(float((fn(x, w, b).double() - ref).abs().max()))
                gbs = 2 * x.numel() * x.element_size() / ms / 1e6
                row += f"{ms:>12.3f}{gbs:>7.0f}"
            print(row + "   " + " ".join(f"{e:.1e}" for e in errs), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
