"""`jbdiff download` through argparse: exit codes, one-line errors, --list."""

from __future__ import annotations

import argparse
import hashlib

import pytest

from jbdiff.store.cli import add_arguments, run
from jbdiff.store.registry import CheckpointEntry, Registry

A, B = b"a" * 1000, b"b" * 2000


def _registry(sha_b: str | None = None) -> Registry:
    entries = (
        CheckpointEntry(
            "ck-a",
            "a=1.ckpt",
            ("https://example.invalid/a%3D1.ckpt",),
            hashlib.sha256(A).hexdigest(),
        ),
        CheckpointEntry(
            "ck-b",
            "b.ckpt",
            ("https://example.invalid/b.ckpt",),
            sha_b or hashlib.sha256(B).hexdigest(),
            aliases=("b",),
        ),
    )
    return Registry(
        entries=entries, groups={"jbdiff-v1": ("ck-a", "ck-b"), "all": ("ck-a", "ck-b")}
    )


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="jbdiff download")
    add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture
def mirror(tmp_path):
    m = tmp_path / "mirror"
    m.mkdir()
    (m / "a=1.ckpt").write_bytes(A)
    (m / "b.ckpt").write_bytes(B)
    return m


def test_download_default_group_from_folder_mirror(tmp_path, mirror, capsys):
    dest = tmp_path / "dest"
    rc = run(
        _args("--dir", str(dest), "--mirror", str(mirror), "--no-progress"), registry=_registry()
    )
    assert rc == 0
    assert (dest / "a=1.ckpt").read_bytes() == A and (dest / "b.ckpt").read_bytes() == B
    out = capsys.readouterr().out
    assert "ck-a:" in out and "ck-b:" in out


def test_list_shows_status(tmp_path, mirror, capsys):
    dest = tmp_path / "dest"
    assert (
        run(_args("b", "--dir", str(dest), "--mirror", mirror.as_uri()), registry=_registry()) == 0
    )
    capsys.readouterr()
    assert run(_args("--list", "--dir", str(dest)), registry=_registry()) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"checkpoint folder: {dest}"
    row = {ln.split()[0]: ln.split()[1] for ln in lines[1:3]}
    assert row == {"ck-a": "missing", "ck-b": "verified"}


def test_unknown_name_exits_2_with_one_line(tmp_path, capsys):
    rc = run(_args("nope", "--dir", str(tmp_path)), registry=_registry())
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "unknown checkpoint 'nope'" in err and "Traceback" not in err


def test_missing_file_on_mirror_exits_1_with_one_line(tmp_path, mirror, capsys):
    (mirror / "b.ckpt").unlink()
    rc = run(
        _args("ck-b", "--dir", str(tmp_path / "d"), "--mirror", str(mirror)), registry=_registry()
    )
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("jbdiff download: error:") and "b.ckpt" in err


def test_checksum_failure_exits_1_and_other_entries_still_download(tmp_path, mirror, capsys):
    dest = tmp_path / "d"
    reg = _registry(sha_b=hashlib.sha256(b"other").hexdigest())
    rc = run(_args("all", "--dir", str(dest), "--mirror", str(mirror)), registry=reg)
    err = capsys.readouterr().err
    assert rc == 1
    assert "failed its checksum" in err and "1 of 2 checkpoints failed" in err
    assert (dest / "a=1.ckpt").exists() and not (dest / "b.ckpt").exists()


def test_uses_the_shipped_registry_by_default(tmp_path, capsys):
    assert run(_args("--list", "--dir", str(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "jbdiff-v1-level2" in out and "jukebox-5b-vqvae" in out and "missing" in out
