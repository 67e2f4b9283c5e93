"""Training chunks plus the audio before them (context) from a folder of music, for `jbdiff train`.

Each file is decoded and resampled once (cached as a .npy memory map when `cache_dir` is
given), files are split into train/validation by file, never by chunk, and every random
choice of item i in epoch e comes from a generator seeded by (seed, e, i), so a resumed run
sees exactly the items an uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.utils.data

from jbdiff.errors import ConfigError
from training.data.audio_io import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    decode,
    fit_length,
    is_audio_path,
    resample,
    to_channels,
)
from training.data.errors import DataError

log = logging.getLogger(__name__)

SPLIT_CHOICES = ("train", "val", "all")
CACHE_DTYPES = ("int16", "float32")
_INT16_SCALE = 32767.0
_CACHE_VERSION = "1"


@dataclass
class _Source:
    """One usable file: where it is, its split key, its length, and where its decoded copy lives."""

    path: Path
    key: str
    frames: int
    cache_file: Path | None
    array: np.ndarray | None = None


def _split_key(path: Path, root: Path | None) -> str:
    """Name a file by its path below the root without extension (so a .wav and its .ogg copy match)."""
    if root is not None:
        return path.relative_to(root).with_suffix("").as_posix()
    return path.resolve().with_suffix("").as_posix()


def _hash_rank(seed: int, key: str) -> str:
    """Stable rank of a file for the validation split."""
    return hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest()


def split_files(keys: Sequence[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Deterministic split by file: round(val_fraction * n) files by hash rank go to validation."""
    n = len(keys)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    ranked = sorted(keys, key=lambda k: (_hash_rank(seed, k), k))
    val = set(ranked[:n_val])
    return {k: ("val" if k in val else "train") for k in keys}


def find_manifest(root: Path) -> Path | None:
    """The recipe manifest.json in root, or in its parent when root is the recipe's train/ or val/."""
    for folder in (root, root.parent):
        if (folder / "manifest.json").is_file():
            return folder / "manifest.json"
    return None


def read_manifest_splits(path: Path) -> dict[str, tuple[str, int | None]]:
    """Splits (and nominal lengths) of a data-recipe manifest, keyed by clip path without extension."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        clips = manifest["clips"]
        return {
            Path(c["file"]).with_suffix("").as_posix(): (c["split"], c.get("samples"))
            for c in clips
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path} is not a data-recipe manifest (no usable 'clips' list): {exc}"
        ) from exc


def _find_audio(root: Path, cache_dir: Path | None) -> tuple[list[Path], int]:
    """Sorted audio files under root (cache folder excluded) and the count of other files seen."""
    files, others = [], 0
    cache = cache_dir.resolve() if cache_dir is not None else None
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        if cache is not None and cache in f.resolve().parents:
            continue
        if is_audio_path(f):
            files.append(f)
        else:
            others += 1
    return files, others


class AudioChunkDataset(torch.utils.data.Dataset):
    """Chunks of `chunk_samples` with `context_mult` chunks of preceding audio, from files split by file.

    Items are dicts: ``audio`` float32 [channels, chunk_samples], ``context`` float32
    [channels, context_mult * chunk_samples] (the audio right before the chunk, zero-padded
    where it would start before the song), ``file`` (index into ``self.files``), ``offset``
    (chunk start in samples) and ``index``.
    """

    def __init__(
        self,
        root_or_files: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        chunk_samples: int,
        context_mult: int,
        sample_rate: int = SAMPLE_RATE,
        channels: int = 2,
        aug_shift: bool = True,
        split: str = "train",
        val_fraction: float = 0.2,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        cache_dtype: str = "int16",
    ) -> None:
        _check_args(
            chunk_samples, context_mult, sample_rate, channels, split, val_fraction, cache_dtype
        )
        self.chunk_samples = int(chunk_samples)
        self.context_mult = int(context_mult)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.aug_shift = bool(aug_shift)
        self.split = split
        self.seed = int(seed)
        self.epoch = 0
        self.cache_dtype = cache_dtype
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

        root, files, where = self._list_files(root_or_files)
        manifest_path = find_manifest(root) if root is not None else None
        manifest = read_manifest_splits(manifest_path) if manifest_path else {}
        key_root = manifest_path.parent if manifest_path else root
        keys = [_split_key(f, key_root) for f in files]
        free = [k for k in keys if k not in manifest]
        splits = split_files(free, val_fraction, self.seed)
        splits.update({k: manifest[k][0] for k in keys if k in manifest})
        chosen = [
            (f, k) for f, k in zip(files, keys, strict=True) if split == "all" or splits[k] == split
        ]
        if not chosen:
            raise DataError(
                f"split '{split}' of {where} holds no file ({len(files)} audio files; "
                f"val_fraction={val_fraction}{', splits from manifest.json' if manifest else ''})"
            )
        self._sources = self._load_all(chosen, manifest, where)
        self.files = [s.path for s in self._sources]
        counts = np.array([s.frames // self.chunk_samples for s in self._sources], dtype=np.int64)
        self._cum = np.cumsum(counts)
        log.info(
            "%s split '%s': %d files, %.1f min, %d chunks of %d samples",
            where,
            split,
            len(self._sources),
            self.seconds / 60,
            len(self),
            self.chunk_samples,
        )

    # -- discovery and loading -------------------------------------------------------------

    def _list_files(self, root_or_files) -> tuple[Path | None, list[Path], str]:
        """Resolve the argument into (root or None, sorted audio files, a description for messages)."""
        if isinstance(root_or_files, str | os.PathLike):
            root = Path(root_or_files)
            if not root.exists():
                raise DataError(f"data folder {root} does not exist")
            if not root.is_dir():
                raise DataError(f"data path {root} is not a folder")
            files, others = _find_audio(root, self.cache_dir)
            if not files:
                raise DataError(
                    f"data folder {root} holds no audio files ({others} other files; looked for "
                    f"{', '.join(sorted(AUDIO_EXTENSIONS))})"
                )
            return root, files, f"data folder {root}"
        files = sorted(Path(f) for f in root_or_files)
        if not files:
            raise DataError("empty list of audio files given to AudioChunkDataset")
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise DataError(f"{len(missing)} audio files do not exist, e.g. {missing[0]}")
        return None, files, f"file list ({len(files)} files)"

    def _cache_file(self, path: Path, nominal: int | None) -> Path | None:
        """Cache name from path, mtime, size and decode settings: any change to the file re-decodes."""
        if self.cache_dir is None:
            return None
        st = path.stat()
        ident = "\0".join(
            str(x)
            for x in (
                path.resolve(),
                st.st_mtime_ns,
                st.st_size,
                self.sample_rate,
                nominal,
                self.cache_dtype,
                _CACHE_VERSION,
            )
        )
        return self.cache_dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.npy"

    def _decode(self, path: Path, nominal: int | None) -> np.ndarray:
        """Decode + resample once, crop/pad to the manifest's length, store as the cache dtype."""
        audio, rate = decode(path)
        audio = resample(audio, rate, self.sample_rate)
        if audio.shape[1] > 2:
            audio = to_channels(audio, 2)
        if nominal is not None:
            audio = fit_length(audio, int(nominal))
        if self.cache_dtype == "int16":
            return np.clip(np.rint(audio * _INT16_SCALE), -32768, 32767).astype(np.int16)
        return audio.astype(np.float32)

    def _load_one(self, path: Path, nominal: int | None) -> tuple[np.ndarray, Path | None]:
        """Array of one file from cache (memory-mapped) or by decoding (and filling the cache)."""
        cache_file = self._cache_file(path, nominal)
        if cache_file is not None and cache_file.is_file():
            return np.load(cache_file, mmap_mode="r"), cache_file
        arr = self._decode(path, nominal)
        if cache_file is None:
            return arr, None
        tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, cache_file)
        return np.load(cache_file, mmap_mode="r"), cache_file

    def _load_all(self, chosen, manifest, where) -> list[_Source]:
        """Load every chosen file; count and log unreadable and too-short ones, fail if none is left."""
        sources, failed, short = [], [], 0
        for path, key in chosen:
            nominal = manifest.get(key, (None, None))[1]
            try:
                arr, cache_file = self._load_one(path, nominal)
            except DataError as exc:
                log.warning("skipping unreadable file: %s", exc)
                failed.append(str(exc))
                continue
            if arr.shape[0] < self.chunk_samples:
                short += 1
                continue
            array = arr if cache_file is None else None
            sources.append(_Source(path, key, int(arr.shape[0]), cache_file, array))
        n = len(chosen)
        if failed:
            log.warning("%d of %d audio files could not be read", len(failed), n)
        if short:
            log.info(
                "skipped %d of %d files shorter than one chunk (%d samples = %.2f s)",
                short,
                n,
                self.chunk_samples,
                self.chunk_samples / self.sample_rate,
            )
        self.num_unreadable, self.num_short = len(failed), short
        if len(failed) == n:
            raise DataError(
                f"no readable audio in {where}: all {n} audio files of split '{self.split}' failed "
                f"to decode (first: {failed[0]})"
            )
        if not sources:
            raise DataError(
                f"all {n - len(failed)} readable files of split '{self.split}' in {where} are shorter "
                f"than one chunk: the minimum length is {self.chunk_samples / self.sample_rate:.3f} s "
                f"({self.chunk_samples} samples at {self.sample_rate} Hz)"
            )
        return sources

    def _array(self, s: _Source) -> np.ndarray:
        """The decoded samples of a source, opening its memory map lazily (once per worker)."""
        if s.array is None:
            s.array = np.load(s.cache_file, mmap_mode="r")
        return s.array

    def __getstate__(self) -> dict:
        """Pickle without memory maps (workers reopen them) so spawn-started workers copy no audio."""
        state = self.__dict__.copy()
        state["_sources"] = [
            _Source(s.path, s.key, s.frames, s.cache_file, None if s.cache_file else s.array)
            for s in self._sources
        ]
        return state

    # -- indexing --------------------------------------------------------------------------

    @property
    def seconds(self) -> float:
        """Total audio of the usable files, in seconds."""
        return sum(s.frames for s in self._sources) / self.sample_rate

    @property
    def split_keys(self) -> list[str]:
        """Split keys (path below root, no extension) of the usable files, in file order."""
        return [s.key for s in self._sources]

    def file_audio(self, number: int) -> np.ndarray:
        """The whole decoded file `number` (index into ``self.files``) as float32 [channels, frames].

        For trainers that keep the split's audio (or its latents) in device memory.
        """
        s = self._sources[number]
        return self._read(s, 0, s.frames)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shifts items use; call before each epoch (and on resume)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self._cum[-1]) if len(self._cum) else 0

    def locate(self, index: int) -> tuple[int, int]:
        """(file number, chunk start) of item `index` in the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range [0, {len(self)})")
        f = int(np.searchsorted(self._cum, index, side="right"))
        k = index - (int(self._cum[f - 1]) if f else 0)
        frames = self._sources[f].frames
        c = self.chunk_samples
        offset = k * c
        if self.aug_shift:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            offset += int(rng.integers(-(c // 2), c - c // 2))
        return f, int(min(max(offset, 0), frames - c))

    def _read(self, s: _Source, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of a source as float32 [channels, n]."""
        raw = self._array(s)[start:stop]
        x = (
            raw.astype(np.float32) / _INT16_SCALE
            if raw.dtype == np.int16
            else raw.astype(np.float32)
        )
        return np.ascontiguousarray(to_channels(x, self.channels).T)

    def __getitem__(self, index: int) -> dict:
        f, offset = self.locate(int(index))
        s = self._sources[f]
        c = self.chunk_samples
        audio = self._read(s, offset, offset + c)
        n_ctx = self.context_mult * c
        context = np.zeros((self.channels, n_ctx), dtype=np.float32)
        have = min(offset, n_ctx)
        if have > 0:
            context[:, n_ctx - have :] = self._read(s, offset - have, offset)
        return {
            "audio": audio,
            "context": context,
            "file": f,
            "offset": offset,
            "index": int(index),
        }


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffled order seeded by (seed, epoch) that can start mid-epoch, for exact resume."""

    def __init__(self, length: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.length = int(length)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch and how many of its items were already consumed (on resume)."""
        self.epoch, self.start = int(epoch), int(start)

    def order(self) -> np.ndarray:
        """The full item order of the current epoch."""
        if not self.shuffle:
            return np.arange(self.length)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.length)

    def __iter__(self) -> Iterator[int]:
        return iter(int(i) for i in self.order()[self.start :])

    def __len__(self) -> int:
        return max(self.length - self.start, 0)


def _check_args(
    chunk_samples, context_mult, sample_rate, channels, split, val_fraction, cache_dtype
):
    """Reject bad arguments with ConfigError naming the argument and its allowed range."""
    if not isinstance(chunk_samples, int | np.integer) or chunk_samples < 1:
        raise ConfigError(f"chunk_samples must be an integer >= 1, got {chunk_samples!r}")
    if not isinstance(context_mult, int | np.integer) or context_mult < 0:
        raise ConfigError(f"context_mult must be an integer >= 0, got {context_mult!r}")
    if sample_rate < 1000:
        raise ConfigError(f"sample_rate must be >= 1000 Hz, got {sample_rate}")
    if channels not in (1, 2):
        raise ConfigError(f"channels must be 1 or 2, got {channels}")
    if split not in SPLIT_CHOICES:
        raise ConfigError(f"split must be one of {SPLIT_CHOICES}, got {split!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if cache_dtype not in CACHE_DTYPES:
        raise ConfigError(f"cache_dtype must be one of {CACHE_DTYPES}, got {cache_dtype!r}")
