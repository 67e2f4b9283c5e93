"""The shipped registry matches the seed's download script; names, groups and cache paths resolve."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from urllib.parse import unquote

import platformdirs
import pytest

from jbdiff.errors import CheckpointError
from jbdiff.store.errors import UnknownCheckpoint
from jbdiff.store.paths import cache_dir
from jbdiff.store.registry import (
    DEFAULT_REGISTRY_PATH,
    format_bytes,
    load_registry,
    registry_from_dict,
)

SEED_SCRIPT = Path("/work/ref/jmoso13+jukebox-diffusion/download_ckpts.py")
SEED_KEYS = {
    "2": "jbdiff-v1-level2",
    "1": "jbdiff-v1-level1",
    "0": "jbdiff-v1-level0",
    "dd": "jbdiff-v1-dd",
}


def _raw() -> dict:
    return json.loads(DEFAULT_REGISTRY_PATH.read_text())


def test_registry_loads_with_expected_entries_and_groups():
    reg = load_registry()
    assert reg.names() == [*SEED_KEYS.values(), "jukebox-5b-vqvae"]
    assert reg.groups["jbdiff-v1"] == tuple(SEED_KEYS.values())
    assert reg.groups["all"] == tuple(reg.names())
    for e in reg.entries:
        # the file name is what the URL serves, so mirrors and the seed's ckpt_loc agree
        assert unquote(e.urls[0].rsplit("/", 1)[-1]) == e.filename


@pytest.mark.skipif(not SEED_SCRIPT.exists(), reason="seed reference clone not available")
def test_registry_matches_the_seed_download_script():
    tree = ast.parse(SEED_SCRIPT.read_text())
    seed = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "v1_models_map"
    )
    reg = load_registry()
    for key, name in SEED_KEYS.items():
        entry = reg.get(name)
        assert entry.sha256 == seed[key]["sha"]
        assert list(entry.urls) == seed[key]["uri_list"]


def test_vqvae_entry_points_at_openai_jukebox_preset():
    e = load_registry().get("vqvae")
    assert e.name == "jukebox-5b-vqvae" and e.filename == "vqvae.pth.tar"
    assert all(u.endswith("/jukebox/models/5b/vqvae.pth.tar") for u in e.urls)
    assert e.sha256 is None  # OpenAI publishes none; a guessed one would block every download


def test_expand_names_aliases_groups_in_order_without_duplicates():
    reg = load_registry()
    got = [e.name for e in reg.expand(["dd", "jbdiff-v1", "VQVAE"])]
    assert got == [
        "jbdiff-v1-dd",
        "jbdiff-v1-level2",
        "jbdiff-v1-level1",
        "jbdiff-v1-level0",
        "jukebox-5b-vqvae",
    ]


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownCheckpoint, match="jbdiff-v1-level2.*all"):
        load_registry().expand(["level3"])


def test_by_filename_accepts_seed_ckpt_loc_and_encoded_urls():
    reg = load_registry()
    assert reg.by_filename("./epoch=2125-step=218000.ckpt").name == "jbdiff-v1-dd"
    assert reg.by_filename("/x/y/epoch%3D543-step%3D705000.ckpt").name == "jbdiff-v1-level0"
    assert reg.by_filename("other.ckpt") is None


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["entries"][0].update(sha256="ABC"), "sha256"),
        (lambda d: d["entries"][0].update(urls=[]), "urls"),
        (lambda d: d["entries"][0].update(filename="a/b.ckpt"), "filename"),
        (lambda d: d["entries"][0].update(size=-1), "size"),
        (lambda d: d["entries"][0].update(colour="red"), "colour"),
        (lambda d: d["entries"][1].update(name=d["entries"][0]["name"]), "used by both"),
        (lambda d: d["groups"].update(extra=["missing-entry"]), "missing-entry"),
        (lambda d: d.update(format=2), "format"),
    ],
)
def test_invalid_registry_names_the_field(mutate, field):
    data = copy.deepcopy(_raw())
    mutate(data)
    with pytest.raises(CheckpointError, match=field):
        registry_from_dict(data)


def test_load_registry_from_other_file_and_bad_json(tmp_path):
    p = tmp_path / "reg.json"
    p.write_text(json.dumps(_raw()))
    assert load_registry(p).names() == load_registry().names()
    p.write_text("{")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_registry(p)


def test_size_text_marks_estimates():
    reg = load_registry()
    assert "estimate" in reg.get("dd").size_text()
    assert reg.get("vqvae").size_text() == "size unknown"
    assert format_bytes(1_540_000_000) == "1.5 GB"
    assert format_bytes(999) == "999 B"


def test_cache_dir_precedence(tmp_path):
    assert cache_dir(tmp_path / "x", env={"JBDIFF_HOME": "/elsewhere"}) == tmp_path / "x"
    assert cache_dir(None, env={"JBDIFF_HOME": str(tmp_path)}) == tmp_path / "checkpoints"
    expected = Path(platformdirs.user_cache_dir("jbdiff", appauthor=False)) / "checkpoints"
    assert cache_dir(None, env={}) == expected
    assert cache_dir("", env={"JBDIFF_HOME": ""}) == expected
