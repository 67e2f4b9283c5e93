"""ckpt_loc resolution order and the per-entry status shown by `jbdiff info`."""

from __future__ import annotations

import hashlib
import os

import pytest

from jbdiff.store.errors import CheckpointNotFound, ChecksumMismatch
from jbdiff.store.registry import CheckpointEntry, Registry, load_registry
from jbdiff.store.resolve import resolve_checkpoint, status, store_rows
from jbdiff.store.verify import sidecar_path, write_sidecar

DD_FILE = "epoch=2125-step=218000.ckpt"


def test_explicit_absolute_path_wins(tmp_path):
    f = tmp_path / "mine.ckpt"
    f.write_bytes(b"x")
    assert resolve_checkpoint(str(f), search_dirs=[]) == f.resolve()


def _dirs_with_dd(tmp_path, monkeypatch, **contents: bytes) -> list:
    """Folders named by the keys, each holding DD_FILE with the given bytes; CWD is the 'cwd' one."""
    dirs = []
    for name, data in contents.items():
        d = tmp_path / name
        d.mkdir()
        (d / DD_FILE).write_bytes(data)
        dirs.append(d)
    monkeypatch.chdir(tmp_path / "cwd")
    return dirs


def test_relative_path_is_looked_up_beside_the_config_first(tmp_path, monkeypatch):
    cfg_dir, _ = _dirs_with_dd(tmp_path, monkeypatch, cfg=b"cfg", cwd=b"cwd")
    got = resolve_checkpoint(f"./{DD_FILE}", config_dir=cfg_dir, search_dirs=[])
    assert got.read_bytes() == b"cfg"
    assert resolve_checkpoint(f"./{DD_FILE}", search_dirs=[]).read_bytes() == b"cwd"


def test_explicit_file_beats_the_cache(tmp_path, monkeypatch):
    cache, _ = _dirs_with_dd(tmp_path, monkeypatch, cache=b"cache", cwd=b"local")
    assert resolve_checkpoint(f"./{DD_FILE}", search_dirs=[cache]).read_bytes() == b"local"


def test_seed_ckpt_loc_and_registry_name_find_the_cached_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no such file in the CWD
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / DD_FILE).write_bytes(b"dd")
    for ref in (f"./{DD_FILE}", "jbdiff-v1-dd", "dd"):
        assert (
            resolve_checkpoint(ref, config_dir=tmp_path / "cfg", search_dirs=[cache])
            == cache / DD_FILE
        )


def test_search_dirs_default_to_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JBDIFF_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / DD_FILE).write_bytes(b"dd")
    assert resolve_checkpoint("jbdiff-v1-dd") == tmp_path / "checkpoints" / DD_FILE


def test_missing_registry_checkpoint_says_which_download_fetches_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointNotFound) as info:
        resolve_checkpoint(f"./{DD_FILE}", search_dirs=[tmp_path / "cache"])
    msg = str(info.value)
    assert "jbdiff download jbdiff-v1-dd" in msg
    assert load_registry().get("dd").size_text() in msg
    assert str(tmp_path / "cache") in msg


def test_unknown_reference_lists_registry_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointNotFound, match="jbdiff-v1-level2") as info:
        resolve_checkpoint("nothing-here.ckpt", search_dirs=[tmp_path])
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(CheckpointNotFound, match="empty"):
        resolve_checkpoint("  ")


def _reg(
    sha: str | None, filename: str = "w.ckpt", size: int | None = None
) -> tuple[Registry, CheckpointEntry]:
    e = CheckpointEntry(
        name="w", filename=filename, urls=("file:///nowhere",), sha256=sha, size=size
    )
    return Registry(entries=(e,), groups={"all": ("w",)}), e


def test_status_uses_the_sidecar_and_hashes_only_when_asked(tmp_path):
    data = b"weights"
    reg, e = _reg(hashlib.sha256(data).hexdigest())
    assert status(e, tmp_path) == "missing"
    f = tmp_path / "w.ckpt"
    f.write_bytes(data)
    assert status(e, tmp_path) == "present"  # unhashed: not claimed verified
    assert status(e, tmp_path, verify=True) == "verified"
    assert sidecar_path(f).exists()
    assert status(e, tmp_path) == "verified"  # now from the sidecar
    f.write_bytes(b"WEIGHTS")
    os.utime(f, ns=(1, 1))  # a changed file has a new mtime, so the sidecar no longer applies
    assert status(e, tmp_path) == "present"
    assert status(e, tmp_path, verify=True) == "bad"
    assert [r.status for r in store_rows(tmp_path, registry=reg)] == ["bad"]


def test_status_bad_from_sidecar_and_size_and_present_without_checksum(tmp_path):
    reg, e = _reg(hashlib.sha256(b"good").hexdigest())
    f = tmp_path / "w.ckpt"
    f.write_bytes(b"evil")
    write_sidecar(f, hashlib.sha256(b"evil").hexdigest())
    assert status(e, tmp_path) == "bad"
    _, sized = _reg(None, size=99)
    assert status(sized, tmp_path) == "bad"
    _, plain = _reg(None)
    assert status(plain, tmp_path) == "present"


def test_resolve_with_verify_refuses_a_bad_cached_file(tmp_path):
    reg, e = _reg(hashlib.sha256(b"good").hexdigest())
    (tmp_path / "w.ckpt").write_bytes(b"evil")
    assert resolve_checkpoint("w", search_dirs=[tmp_path], registry=reg) == tmp_path / "w.ckpt"
    with pytest.raises(ChecksumMismatch, match="jbdiff download w"):
        resolve_checkpoint("w", search_dirs=[tmp_path], registry=reg, verify=True)
