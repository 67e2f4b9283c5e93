"""Listening-free quality measures of generations against real music, noise and random weights.

Measures (each computed on mono 44.1 kHz audio, 10 s excerpts):

  flatness   median spectral flatness of 2048-point frames, 50 Hz .. 16 kHz (white noise ~0.56,
             tonal music much lower)
  ltas_db    mean absolute difference, in dB, between the excerpt's long-term average spectrum
             and the held-out real music's, in 1/3-octave bands 50 Hz .. 16 kHz, after matching
             overall level (0 = the same spectral balance as the real music)
  chroma_h   normalised entropy of the pitch-class profile, 80 Hz .. 5 kHz (1 = no pitch
             centre, like noise; music in a key is lower)
  tonal      fraction of frame energy in spectral peaks 10 dB above their local median
             (harmonic partials; noise has almost none)

  python bench/quality.py --real data/wesnoth_carry/val --model demo --seconds 10 --count 3

Two more columns compare the audio's level-2 latents (encoded by the first --model's VQ-VAE) with the
held-out music's; lower is closer:

  fd         Frechet distance between Gaussians fitted to the latent frames (64-dim)
  fd4        the same on stacks of 4 consecutive frames (short-time structure)

With --level2 it judges level 2 alone, the stage that decides structure: each model generates level 2
only (no refinement, no stereo stage), beside the held-out music through level 2 (the best level 2
can sound). --level2-steps and --level2-guidance override level 2's sampling in either mode.

  python bench/quality.py --real data/wesnoth_carry/val --model demo --level2 --count 6 \
      --level2-steps 60 --level2-guidance 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jbdiff.audio import SAMPLE_RATE, load_audio  # noqa: E402

N_FFT = 2048
HOP = 1024


def frames_power(x: np.ndarray) -> np.ndarray:
    """[frames, bins] power spectrum with a Hann window."""
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    n = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None] + HOP * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT), axis=1)) ** 2 + 1e-12


FREQS = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)


def flatness(p: np.ndarray) -> float:
    band = (FREQS >= 50) & (FREQS <= 16000)
    q = p[:, band]
    return float(np.median(np.exp(np.mean(np.log(q), axis=1)) / np.mean(q, axis=1)))


def third_octave_ltas(p: np.ndarray) -> np.ndarray:
    """Long-term average spectrum in dB per 1/3-octave band, level-normalised (mean 0)."""
    centres = 50 * 2 ** (np.arange(0, 29) / 3)
    mean = p.mean(axis=0)
    out = []
    for c in centres:
        sel = (FREQS >= c * 2 ** (-1 / 6)) & (FREQS < c * 2 ** (1 / 6))
        out.append(10 * np.log10(mean[sel].mean() if sel.any() else 1e-12))
    out = np.array(out)
    return out - out.mean()


def chroma_entropy(p: np.ndarray) -> float:
    band = (FREQS >= 80) & (FREQS <= 5000)
    midi = 69 + 12 * np.log2(FREQS[band] / 440.0)
    pc = np.mod(np.round(midi), 12).astype(int)
    prof = np.bincount(pc, weights=p[:, band].mean(axis=0), minlength=12)
    prof = prof / prof.sum()
    return float(-(prof * np.log(prof + 1e-12)).sum() / np.log(12))


def tonal_fraction(p: np.ndarray) -> float:
    from numpy.lib.stride_tricks import sliding_window_view

    db = 10 * np.log10(p)
    k = 31
    padded = np.pad(db, ((0, 0), (k // 2, k // 2)), mode="edge")
    med = np.median(sliding_window_view(padded, k, axis=1), axis=2)
    left = np.pad(db, ((0, 0), (1, 0)), mode="edge")[:, :-1]
    right = np.pad(db, ((0, 0), (0, 1)), mode="edge")[:, 1:]
    peak = (db > med + 10) & (db >= left) & (db >= right)
    return float((p * peak).sum() / p.sum())


def measures(x: np.ndarray, ref_ltas: np.ndarray | None) -> dict[str, float]:
    p = frames_power(x)
    out = {"flatness": flatness(p), "chroma_h": chroma_entropy(p), "tonal": tonal_fraction(p)}
    if ref_ltas is not None:
        out["ltas_db"] = float(np.mean(np.abs(third_octave_ltas(p) - ref_ltas)))
    return out


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of a and b ([n, d] each)."""
    mu = a.mean(axis=0) - b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(mu @ mu + np.trace(s1) + np.trace(s2) - 2 * cross)


def frame_stacks(latents: np.ndarray, k: int) -> np.ndarray:
    """[C, T] latents -> [T // k, C * k] rows of k consecutive frames."""
    c, t = latents.shape
    t = t // k * k
    return latents[:, :t].reshape(c, t // k, k).transpose(1, 0, 2).reshape(t // k, c * k)


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def excerpts_from_files(files: list[Path], seconds: float, count: int) -> list[np.ndarray]:
    n = int(seconds * SAMPLE_RATE)
    out = []
    for f in files[:count]:
        x = load_audio(f, channels=1)[0]
        out.append(x[:n])
    return out


def generate(model: str, seconds: float, count: int, **req_kw) -> list[np.ndarray]:
    from jbdiff.model_registry import load_pipeline
    from jbdiff.request import GenerationRequest

    pipe = load_pipeline(model, device="auto")
    out = []
    for i in range(count):
        res = pipe.generate(GenerationRequest(seconds_length=seconds, noise_seed=100 + i, dd_noise_seed=200 + i,
                                              **req_kw))
        out.append(res.audio.mean(axis=0))
    return out


class LatentJudge:
    """Level-2 latents of audio (through one model's VQ-VAE) and their distances to the held-out music's."""

    def __init__(self, model: str, real: list[np.ndarray]) -> None:
        from jbdiff.model_registry import load_pipeline

        self.pipe = load_pipeline(model, device="cpu")
        self.real = real
        self.real_latents = [self.latents(x) for x in real]
        self.frames = np.concatenate([lat.T for lat in self.real_latents])
        self.stacks = np.concatenate([frame_stacks(lat, 4) for lat in self.real_latents])

    def latents(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            audio = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
            return self.pipe.models.encode(2, audio)[0].float().numpy()

    def through_level2(self) -> list[np.ndarray]:
        """The held-out music decoded from its own level-2 latents: the best level 2 can sound."""
        import torch

        with torch.no_grad():
            return [self.pipe.models.decode(2, torch.from_numpy(lat)[None])[0].float().numpy()[: x.size]
                    for lat, x in zip(self.real_latents, self.real, strict=True)]

    def distances(self, audio: list[np.ndarray]) -> dict[str, float]:
        lats = [self.latents(x) for x in audio]
        return {"fd": frechet(np.concatenate([lat.T for lat in lats]), self.frames),
                "fd4": frechet(np.concatenate([frame_stacks(lat, 4) for lat in lats]), self.stacks)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, required=True, help="folder of held-out real music")
    ap.add_argument("--model", action="append", default=[], help="models to evaluate (repeatable)")
    ap.add_argument("--no-dd", action="store_true", help="also evaluate each model without the stereo stage")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the table as JSON")
    ap.add_argument("--level2", action="store_true", help="judge level 2 alone (see above)")
    ap.add_argument("--level2-steps", type=int, help="level-2 steps (default: the model's sampling config)")
    ap.add_argument("--level2-guidance", type=float, help="level-2 guidance (default: the model's)")
    args = ap.parse_args(argv)
    if args.level2 and not args.model:
        ap.error("--level2 needs at least one --model")
    files = sorted(p for p in args.real.rglob("*") if p.suffix.lower() in (".wav", ".ogg", ".flac"))
    real = excerpts_from_files(files[:: max(1, len(files) // (args.count * 2))], args.seconds, args.count * 2)
    ref = np.mean([third_octave_ltas(frames_power(x)) for x in real], axis=0)
    rng = np.random.default_rng(0)
    n = int(args.seconds * SAMPLE_RATE)
    noise = [rng.standard_normal(n).astype(np.float32) * 0.1 for _ in range(args.count)]
    table = {
        "real (held-out)": summarise([measures(x, ref) for x in real[: args.count]]),
        "white noise": summarise([measures(x, ref) for x in noise]),
    }
    overrides: dict[str, dict] = {}
    if args.level2_steps is not None:
        overrides["num_steps"] = {2: args.level2_steps}
    if args.level2_guidance is not None:
        overrides["embedding_strength"] = {2: args.level2_guidance}
    judge = LatentJudge(args.model[0], real) if args.model else None

    def row(audio: list[np.ndarray]) -> dict[str, float]:
        return {**summarise([measures(x, ref) for x in audio]), **(judge.distances(audio) if judge else {})}

    if judge:
        table["white noise"].update(judge.distances(noise))
    if args.level2:
        table["real through level 2"] = row(judge.through_level2())
    for model in args.model:
        if args.level2:
            table[f"{model} (level 2)"] = row(generate(model, args.seconds, args.count, levels=(2,), use_dd=False,
                                                       **overrides))
            continue
        table[model] = row(generate(model, args.seconds, args.count, **overrides))
        if args.no_dd:
            table[f"{model} (no dd)"] = row(generate(model, args.seconds, args.count, use_dd=False, **overrides))
    keys = list(dict.fromkeys(k for row in table.values() for k in row))
    width = max(22, *(len(name) + 2 for name in table))
    print(f"{'source':<{width}}" + "".join(f"{k:>11}" for k in keys))
    for name, values in table.items():
        print(f"{name:<{width}}" + "".join(f"{values[k]:>11.3f}" if k in values else f"{'-':>11}" for k in keys))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
