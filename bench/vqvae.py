"""Jukebox VQ-VAE encode/decode throughput (seconds of audio per second), full preset.

usage: python bench/vqvae.py [--device cuda|cpu] [--seconds 30] [--dtype float32|float16|bfloat16]
                             [--levels 0 1 2] [--repeats 3] [--window-seconds S] [--weights PATH]

Encode = encoder + quantiser (audio -> codes); decode = codebook lookup + decoder (codes ->
audio). Random weights unless --weights is given (speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jbdiff.vqvae import VQVAE, load_vqvae_weights  # noqa: E402

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    fn()  # warm-up: kernel selection, allocator
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"],
                   default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    p.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--window-seconds", type=float, default=None,
                   help="use encode_windowed/decode_windowed with this window")
    p.add_argument("--weights", default=None, help="OpenAI/Lightning/plain VQ-VAE checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda requested but CUDA is not available")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]

    torch.manual_seed(0)
    model = VQVAE.from_preset("jukebox")
    if args.weights:
        load_vqvae_weights(model, args.weights)
    else:  # random but spread codebooks so the quantiser does real work
        with torch.no_grad():
            for block in model.bottleneck.level_blocks:
                block.k.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    model = model.eval().to(device=device, dtype=dtype)

    n = int(args.seconds * model.shape.sr)
    g = torch.Generator().manual_seed(2)
    audio = (0.1 * torch.randn(args.batch, 2, n, generator=g)).to(device=device, dtype=dtype)
    audio_seconds = args.batch * args.seconds

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"cpu x{torch.get_num_threads()} threads"
    mode = f"windowed {args.window_seconds} s" if args.window_seconds else "one-shot"
    print(f"# Jukebox VQ-VAE (full preset), {args.batch} x {args.seconds} s, {args.dtype}, "
          f"{name}, {mode}, median of {args.repeats}")
    print(f"{'level':>5} {'hop':>4} {'op':>7} {'median s':>9} {'audio s/s':>10} {'peak MiB':>9}")

    with torch.inference_mode():
        for level in args.levels:
            hop = model.hop_lengths[level]

            def encode(level: int = level) -> torch.Tensor:
                if args.window_seconds:
                    lat = model.encode_windowed(level, audio, args.window_seconds)
                else:
                    (lat,) = model.encode(audio, [level])
                return model.latents_to_codes(level, lat)

            codes = encode()

            def decode(level: int = level, codes: torch.Tensor = codes) -> torch.Tensor:
                q = model.codes_to_latents(level, codes)
                if args.window_seconds:
                    return model.decode_windowed(level, q, args.window_seconds)
                return model.decode(level, q)

            for op, fn in (("encode", encode), ("decode", decode)):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                med = statistics.median(_time(fn, device, args.repeats))
                peak = (f"{torch.cuda.max_memory_allocated(device) / 2**20:9.0f}"
                        if device.type == "cuda" else f"{'-':>9}")
                print(f"{level:>5} {hop:>4} {op:>7} {med:9.3f} {audio_seconds / med:10.1f} {peak}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
