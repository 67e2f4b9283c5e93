"""Draft against standard quality for the same seeds: speed and multi-resolution STFT distance.

The distance is the mean over FFT sizes 2048/1024/512 of spectral convergence plus log-magnitude
L1 (the usual multi-resolution STFT loss). For scale it also reports the distance between two
standard generations with different seeds (what "a different piece" looks like).

  python bench/draft.py --model demo --device cpu --seconds 5 --count 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jbdiff.model_registry import load_pipeline  # noqa: E402
from jbdiff.request import GenerationRequest  # noqa: E402


def stft_mag(x: np.ndarray, n_fft: int) -> np.ndarray:
    hop = n_fft // 4
    n = 1 + max(0, x.size - n_fft) // hop
    idx = np.arange(n_fft)[None] + hop * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(np.pad(x, (0, max(0, n_fft - x.size)))[idx] * np.hanning(n_fft), axis=1)) + 1e-7


def mr_stft_distance(a: np.ndarray, b: np.ndarray) -> float:
    out = []
    for n_fft in (2048, 1024, 512):
        ma, mb = stft_mag(a, n_fft), stft_mag(b, n_fft)
        sc = np.linalg.norm(ma - mb) / np.linalg.norm(ma)
        mag = np.mean(np.abs(np.log(ma) - np.log(mb)))
        out.append(sc + mag)
    return float(np.mean(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="demo")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--count", type=int, default=3)
    args = ap.parse_args(argv)
    pipe = load_pipeline(args.model, device=args.device)
    times = {"standard": [], "draft": []}
    dist, between = [], []
    prev = None
    for i in range(args.count):
        out = {}
        for quality in ("standard", "draft"):
            t0 = time.perf_counter()
            res = pipe.generate(GenerationRequest(seconds_length=args.seconds, noise_seed=10 + i, dd_noise_seed=20 + i,
                                                  quality=quality))
            times[quality].append(time.perf_counter() - t0)
            out[quality] = res.audio.mean(axis=0)
        dist.append(mr_stft_distance(out["standard"], out["draft"]))
        if prev is not None:
            between.append(mr_stft_distance(prev, out["standard"]))
        prev = out["standard"]
    std, dr = np.mean(times["standard"]), np.mean(times["draft"])
    print(f"model {args.model}, {args.seconds:.1f} s, {args.count} seeds, device {pipe.device}")
    print(f"standard {std:7.2f} s   draft {dr:7.2f} s   speed-up {std / dr:5.2f}x")
    print(f"MR-STFT distance draft vs standard (same seeds): {np.mean(dist):.3f}")
    if between:
        print(f"MR-STFT distance standard vs standard (different seeds): {np.mean(between):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
