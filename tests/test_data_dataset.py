"""AudioChunkDataset: chunk/context shapes and content, split by file, skips, errors, exact resume."""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from jbdiff.errors import ConfigError, JbdiffError
from training.data import dataset as dataset_mod
from training.data.dataset import AudioChunkDataset, EpochSampler, split_files
from training.data.errors import DataError
from training.data.synth import synth_track

CHUNK = 4410  # 0.1 s
# relative path -> (seconds, rate, channels, format)
FILES = {
    "a.wav": (3.0, 44100, 2, "WAV"),
    "b.flac": (2.5, 22050, 1, "FLAC"),
    "c.ogg": (2.0, 48000, 2, "OGG"),
    "d.wav": (0.05, 44100, 2, "WAV"),  # shorter than one chunk
    "e.wav": (1.5, 44100, 2, "WAV"),
    "sub/f.wav": (2.0, 44100, 1, "WAV"),
    "sub/g.wav": (1.0, 44100, 2, "WAV"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("music")
    (root / "sub").mkdir()
    for i, (name, (sec, rate, ch, fmt)) in enumerate(FILES.items()):
        sf.write(root / name, synth_track(sec, rate, seed=i, channels=ch), rate, format=fmt)
    (root / "notes.txt").write_text("not audio")
    return root


def make(root, **kw) -> AudioChunkDataset:
    kw.setdefault("chunk_samples", CHUNK)
    kw.setdefault("context_mult", 2)
    return AudioChunkDataset(root, **kw)


def _file_audio(path: Path) -> np.ndarray:
    """[channels, frames] float32 of a 44.1 kHz stereo file, read independently of the dataset."""
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == 44100
    return x.T


def test_shapes_and_dtypes(folder, tmp_path):
    ds = make(folder, split="all", cache_dir=tmp_path)
    item = ds[0]
    assert item["audio"].shape == (2, CHUNK) and item["audio"].dtype == np.float32
    assert item["context"].shape == (2, 2 * CHUNK) and item["context"].dtype == np.float32
    mono = make(folder, split="all", channels=1, context_mult=3, cache_dir=tmp_path)
    assert mono[1]["audio"].shape == (1, CHUNK) and mono[1]["context"].shape == (1, 3 * CHUNK)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["audio"].shape == (4, 2, CHUNK) and batch["context"].shape == (4, 2, 2 * CHUNK)


def test_context_is_the_audio_before_the_chunk(folder, tmp_path):
    ds = make(folder, split="all", aug_shift=False, cache_dir=tmp_path)
    fa = ds.files.index(folder / "a.wav")
    ref = _file_audio(folder / "a.wav")
    tol = 1.0 / 32767
    first = int(ds._cum[fa - 1]) if fa else 0
    for k in range(6):
        item = ds[first + k]
        off = item["offset"]
        assert item["file"] == fa and off == k * CHUNK
        np.testing.assert_allclose(item["audio"], ref[:, off : off + CHUNK], atol=tol)
        ctx = item["context"]
        pad = max(0, 2 * CHUNK - off)
        assert np.all(ctx[:, :pad] == 0)  # zero before the song starts
        np.testing.assert_allclose(ctx[:, pad:], ref[:, max(0, off - 2 * CHUNK) : off], atol=tol)
    assert np.abs(ds[first + 3]["context"]).max() > 0.01


def test_shifted_chunks_keep_context_contiguous(folder, tmp_path):
    ds = make(folder, split="all", aug_shift=True, cache_dir=tmp_path)
    fa = ds.files.index(folder / "a.wav")
    ref = np.concatenate([np.zeros((2, 2 * CHUNK), np.float32), _file_audio(folder / "a.wav")], 1)
    first = int(ds._cum[fa - 1]) if fa else 0
    offsets = set()
    for i in range(first, int(ds._cum[fa])):
        item = ds[i]
        off = item["offset"]
        offsets.add(off % CHUNK)
        joined = np.concatenate([item["context"], item["audio"]], axis=1)
        np.testing.assert_allclose(joined, ref[:, off : off + 3 * CHUNK], atol=1.0 / 32767)
        assert 0 <= off <= ref.shape[1] - 2 * CHUNK - CHUNK
    assert len(offsets) > 3  # the shift really moves chunks off the grid


def test_split_is_by_file_and_deterministic(folder, tmp_path):
    train = make(folder, split="train", cache_dir=tmp_path)
    val = make(folder, split="val", cache_dir=tmp_path)
    every = make(folder, split="all", cache_dir=tmp_path)
    assert set(train.split_keys).isdisjoint(val.split_keys)
    assert set(train.split_keys) | set(val.split_keys) == set(every.split_keys)
    # round(0.2 * 7 files) = 1 validation file, chosen from all 7 (short one included)
    chosen = split_files(sorted(Path(n).with_suffix("").as_posix() for n in FILES), 0.2, 0)
    assert sum(v == "val" for v in chosen.values()) == 1
    assert set(val.split_keys) <= {k for k, v in chosen.items() if v == "val"}
    assert make(folder, split="train", cache_dir=tmp_path).split_keys == train.split_keys


def test_split_files_rules():
    keys = [f"track{i}" for i in range(10)]
    s = split_files(keys, 0.2, seed=0)
    assert sum(v == "val" for v in s.values()) == 2
    assert split_files(list(reversed(keys)), 0.2, seed=0) == s  # order of listing is irrelevant
    assert sum(v == "val" for v in split_files(keys[:2], 0.2, 0).values()) == 1
    assert set(split_files(keys[:1], 0.2, 0).values()) == {"train"}
    others = [split_files(keys, 0.2, seed=k) for k in range(1, 6)]
    assert any(o != s for o in others)


def test_short_files_skipped_with_count(folder, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="training.data.dataset"):
        ds = make(folder, split="all", cache_dir=tmp_path)
    assert ds.num_short == 1 and folder / "d.wav" not in ds.files and len(ds.files) == 6
    assert "skipped 1 of 7 files shorter than one chunk" in caplog.text
    # every file is resampled to 44.1 kHz: round(seconds * 44100) frames each
    frames = [round(sec * 44100) for n, (sec, *_) in FILES.items() if n != "d.wav"]
    assert len(ds) == sum(f // CHUNK for f in frames)


def test_manifest_splits_and_nominal_length_are_honoured(tmp_path):
    root = tmp_path / "set"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    for i, name in enumerate(["train/x.ogg", "train/y.ogg", "val/z.ogg"]):
        sf.write(
            root / name, synth_track(1.0, 44100, seed=i), 44100, format="OGG", subtype="VORBIS"
        )
    clips = [
        {"file": n.replace(".ogg", ".wav"), "split": n.split("/")[0], "samples": 44100 + 300}
        for n in ["train/x.ogg", "train/y.ogg", "val/z.ogg"]
    ]
    (root / "manifest.json").write_text(json.dumps({"clips": clips}))
    val = make(
        root, split="val", chunk_samples=44100 + 300, context_mult=0, cache_dir=tmp_path / "c"
    )
    assert val.split_keys == ["val/z"] and len(val) == 1 and val[0]["context"].shape == (2, 0)
    assert make(root, split="train", cache_dir=tmp_path / "c").split_keys == ["train/x", "train/y"]
    # pointing at the train/ folder still finds the manifest one level up
    sub = make(root / "train", split="all", cache_dir=tmp_path / "c")
    assert sub.split_keys == ["train/x", "train/y"]


def test_exact_resume_same_items_for_same_epoch(folder, tmp_path):
    a = make(folder, split="all", seed=7, cache_dir=tmp_path)
    b = make(folder, split="all", seed=7, cache_dir=tmp_path)
    a.set_epoch(3)
    b.set_epoch(3)
    idx = [5, 0, 17, 9, len(a) - 1]
    for i in idx:  # b is read in another order, as after a restart in the middle of the epoch
        x = a[i]
        y = b[i]
        assert x["offset"] == y["offset"] and np.array_equal(x["audio"], y["audio"])
    b.set_epoch(4)
    assert any(a[i]["offset"] != b[i]["offset"] for i in range(len(a)))
    c = make(folder, split="all", seed=8, cache_dir=tmp_path)
    c.set_epoch(3)
    assert any(a[i]["offset"] != c[i]["offset"] for i in range(len(a)))


def test_epoch_sampler_resumes_mid_epoch():
    s = EpochSampler(50, seed=1)
    s.set_epoch(2)
    full = list(s)
    assert sorted(full) == list(range(50))
    s.set_epoch(2, start=20)
    assert list(s) == full[20:] and len(s) == 30
    s.set_epoch(3)
    assert list(s) != full
    assert list(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_cache_is_reused_and_invalidated(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = make(folder, split="all", cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 7
    calls = []
    real = dataset_mod.decode
    monkeypatch.setattr(dataset_mod, "decode", lambda p: calls.append(p) or real(p))
    again = make(folder, split="all", cache_dir=cache)
    assert calls == [] and np.array_equal(again[3]["audio"], first[3]["audio"])
    st = (folder / "e.wav").stat()
    os.utime(folder / "e.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    make(folder, split="all", cache_dir=cache)
    assert calls == [folder / "e.wav"]


def test_pickle_drops_memory_maps(folder, tmp_path):
    ds = make(folder, split="all", cache_dir=tmp_path)
    ds.set_epoch(2)
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # no audio inside
    clone = pickle.loads(blob)
    assert np.array_equal(clone[11]["audio"], ds[11]["audio"])
    uncached = make(folder, split="all")
    assert np.array_equal(pickle.loads(pickle.dumps(uncached))[11]["audio"], uncached[11]["audio"])


def test_errors_name_the_problem(folder, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        make(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="holds no audio files"):
        make(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in ("x.wav", "y.ogg"):
        (bad / n).write_bytes(b"definitely not audio" * 10)
    with pytest.raises(DataError, match="no readable audio.*all 2 audio files"):
        make(bad, split="all")
    short = tmp_path / "short"
    short.mkdir()
    sf.write(short / "s.wav", synth_track(0.05, 44100), 44100)
    with pytest.raises(DataError, match=r"shorter than one chunk: the minimum length is 0\.100 s"):
        make(short, split="all")
    with pytest.raises(ConfigError, match="chunk_samples"):
        make(folder, chunk_samples=0)
    with pytest.raises(ConfigError, match="split"):
        make(folder, split="test")
    with pytest.raises(JbdiffError, match="empty list of audio files"):
        make([], split="all")


def test_unreadable_files_are_counted_not_fatal(folder, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    sf.write(mixed / "good.wav", synth_track(1.0, 44100), 44100)
    (mixed / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    ds = make(mixed, split="all")
    assert ds.num_unreadable == 1 and ds.files == [mixed / "good.wav"]
    files = make([folder / "a.wav", folder / "e.wav"], split="all")
    assert files.files == [folder / "a.wav", folder / "e.wav"]
