"""Write a generation to disk: one folder, created atomically, with WAVs, spectrograms and JSON."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from jbdiff.atomic import atomic_open, write_json_atomic
from jbdiff.audio import save_wav

logger = logging.getLogger(__name__)


def output_dir_name(save_dir: Path, project_name: str, noise_seed: int, dd_seed: int) -> Path:
    """``<project>_<seed>_<ddseed>``, with ``_NNNN`` appended when that folder already exists."""
    base = f"{project_name}_{noise_seed:08d}_{dd_seed:08d}"
    candidate = save_dir / base
    if not candidate.exists():
        return candidate
    n = len(list(save_dir.glob(f"{base}_*")))
    while (save_dir / f"{base}_{n:04d}").exists():
        n += 1
    return save_dir / f"{base}_{n:04d}"


def spectrogram_db(audio: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Magnitude STFT in dB of the channel mean ([freq, frames]); pure numpy, for the PNGs."""
    x = audio.mean(axis=0) if audio.ndim == 2 else audio
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(n_fft), axis=1)).T
    return 20.0 * np.log10(np.maximum(spec, 1e-8))


def save_spectrogram_png(path: Path, audio: np.ndarray, sr: int, title: str) -> Path:
    """A log-frequency spectrogram image, written atomically like the WAVs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db = spectrogram_db(audio)
    freqs = np.fft.rfftfreq(2048, 1 / sr)
    times = np.arange(db.shape[1]) * 512 / sr
    fig, ax = plt.subplots(figsize=(10, 4), dpi=80)
    vmax = float(db.max())
    mesh = ax.pcolormesh(times, freqs[1:], db[1:], shading="auto", cmap="magma", vmin=vmax - 90, vmax=vmax)
    ax.set_yscale("log")
    ax.set_ylim(30, sr / 2)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title)
    fig.colorbar(mesh, ax=ax, format="%+2.0f dB")
    fig.tight_layout()
    try:
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format="png")
    finally:
        plt.close(fig)
    return path


def write_outputs(result: Any, save_dir: str | os.PathLike, project_name: str | None = None,
                  *, spectrograms: bool = True) -> Path:
    """The CLI's output folder: final_audio.wav, level_<n>.wav, PNGs and generation.json.

    Everything is written into a hidden temporary folder that is renamed into place at the
    end, so an interrupted write never leaves a folder that looks complete.
    """
    req = result.request
    save = Path(save_dir)
    save.mkdir(parents=True, exist_ok=True)
    final = output_dir_name(save, project_name or req.project_name, req.noise_seed, req.dd_noise_seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=save))
    try:
        files = {"final_audio": "final_audio.wav"}
        save_wav(tmp / "final_audio.wav", result.audio, result.sample_rate)
        for level, audio in sorted(result.level_audio.items(), reverse=True):
            save_wav(tmp / f"level_{level}.wav", audio, result.sample_rate)
            files[f"level_{level}"] = f"level_{level}.wav"
        if spectrograms:
            save_spectrogram_png(tmp / "final_audio.png", result.audio, result.sample_rate, "final audio")
            files["final_audio_png"] = "final_audio.png"
            for level, audio in sorted(result.level_audio.items(), reverse=True):
                save_spectrogram_png(tmp / f"level_{level}.png", audio, result.sample_rate, f"level {level}")
                files[f"level_{level}_png"] = f"level_{level}.png"
        meta = dict(result.metadata)
        meta["files"] = files
        write_json_atomic(tmp / "generation.json", meta, default=str)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %s", final)
    return final
