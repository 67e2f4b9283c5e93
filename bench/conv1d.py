"""Kernel-5 conv1d layouts at Dance Diffusion's shapes: which formulation is fastest on this GPU.

  python bench/conv1d.py                 # bf16, batch 1 and 8, the full model's widths and lengths
  python bench/conv1d.py --device cpu --batch 1 --scale 16 --iters 3   # smoke test

Formulations (same maths, weights [out, in, 5], "same" padding):
  ncl      F.conv1d on [B, C, T] (what the model runs today)
  nhwc     F.conv2d on a channels-last [B, C, 1, T] view (cuDNN's NHWC kernels)
  im2col   [B, T, C] -> [B*T, 5C] copy, one GEMM with a [5C, out] weight
  shifted  [B, T+4, C] padded once, five GEMMs on shifted views accumulated (no im2col copy)
Layout conversions are not timed: the question is what a network kept in that layout would pay.
Also checks every formulation against ncl (max relative error) before timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

# (c_in, c_out, length) of the full model's kernel-5 convs, largest first (down path; the up
# path's first conv sees twice the width from the skip concatenation).
SHAPES = [(18, 128, 65536), (128, 128, 65536), (256, 128, 65536), (128, 256, 32768), (256, 256, 16384),
          (512, 256, 16384), (256, 512, 8192), (512, 512, 4096), (1024, 512, 4096), (512, 512, 1024)]


def timed(fn: Callable[[], torch.Tensor], device: torch.device, iters: int) -> float:
    """Median milliseconds per call."""
    for _ in range(3):
        fn()
    out = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(1e3 * (time.perf_counter() - t0))
    return sorted(out)[len(out) // 2]


def formulations(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """Callables computing conv1d(x, w, b, padding=2), each from its own layout of x; outputs in [B, C, T]."""
    k = w.shape[-1]
    pad = k // 2
    x4 = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    w4 = w.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    x_nlc_pad = F.pad(x, (pad, pad)).transpose(1, 2).contiguous()          # [B, T+4, C]
    bsz, t = x.shape[0], x.shape[-1]
    w_cat = w.permute(2, 1, 0).reshape(k * w.shape[1], w.shape[0]).contiguous()   # [5C, out]
    w_taps = w.permute(2, 1, 0).contiguous()                               # [5, C, out]

    def ncl() -> torch.Tensor:
        return F.conv1d(x, w, b, padding=pad)

    def nhwc() -> torch.Tensor:
        return F.conv2d(x4, w4, b, padding=(0, pad))

    def im2col() -> torch.Tensor:
        cols = x_nlc_pad.unfold(1, k, 1)                                   # [B, T, C, 5]
        cols = cols.transpose(2, 3).reshape(bsz * t, -1)                   # [B*T, 5C]
        return torch.addmm(b, cols, w_cat)

    def shifted() -> torch.Tensor:
        y = torch.matmul(x_nlc_pad[:, 0:t], w_taps[0])
        for j in range(1, k):
            y.add_(torch.matmul(x_nlc_pad[:, j:j + t], w_taps[j]))
        return y.add_(b)

    def as_ncl(name: str, y: torch.Tensor) -> torch.Tensor:
        if name == "nhwc":
            return y.squeeze(2)
        if name in ("im2col", "shifted"):
            return y.reshape(bsz, t, -1).transpose(1, 2)
        return y

    fns = {"ncl": ncl, "nhwc": nhwc, "im2col": im2col, "shifted": shifted}
    return {name: (fn, lambda y, n=name: as_ncl(n, y)) for name, fn in fns.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16", choices=("bf16", "fp32"))
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--scale", type=int, default=1, help="divide lengths by this (smoke tests)")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--cudnn-benchmark", action="store_true")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(f"kernel-5 conv1d on {name}, {args.dtype}, cudnn.benchmark={args.cudnn_benchmark}, torch {torch.__version__}")
    print(f"{'batch':>5} {'c_in':>5} {'c_out':>5} {'length':>7} {'GFLOP':>7}   "
          + "  ".join(f"{n + ' ms':>10}" for n in ("ncl", "nhwc", "im2col", "shifted")) + "   best TFLOP/s  max rel err")
    totals: dict[str, float] = {}
    g = torch.Generator(device=device).manual_seed(0)
    for batch in (int(v) for v in args.batch.split(",")):
        for c_in, c_out, length in SHAPES:
            length //= args.scale
            x = torch.randn(batch, c_in, length, device=device, generator=g).to(dtype)
            w = (torch.randn(c_out, c_in, 5, device=device, generator=g) / (5 * c_in) ** 0.5).to(dtype)
            b = torch.randn(c_out, device=device, generator=g).to(dtype)
            forms = formulations(x, w, b)
            ref = forms["ncl"][0]().float()
            err = max(((conv(fn()).float() - ref).norm() / ref.norm()).item() for fn, conv in forms.values())
            ms = {n: timed(fn, device, args.iters) for n, (fn, _) in forms.items()}
            for n, v in ms.items():
                totals[f"{batch}:{n}"] = totals.get(f"{batch}:{n}", 0.0) + v
            gflop = 2 * batch * c_in * c_out * 5 * length / 1e9
            best = min(ms.values())
            print(f"{batch:>5} {c_in:>5} {c_out:>5} {length:>7} {gflop:>7.2f}   "
                  + "  ".join(f"{ms[n]:>10.3f}" for n in ("ncl", "nhwc", "im2col", "shifted"))
                  + f"   {gflop / best:>12.1f}  {err:.1e}", flush=True)
        print(f"batch {batch} sum: " + ", ".join(f"{n} {totals[f'{batch}:{n}']:.2f} ms"
                                                for n in ("ncl", "nhwc", "im2col", "shifted")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
