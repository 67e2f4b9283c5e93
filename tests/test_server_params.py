"""Generate keys, live parameters, presets and path safety, without a network."""

from __future__ import annotations

import os

import pytest

from jbdiff.request import GenerationRequest
from server.errors import BadPath, BadRequest, PresetNotFound
from server.params import (
    PARAMS,
    ParamStore,
    build_request,
    coerce,
    default_value,
    parse_pairs,
    spec_for,
    to_osc,
)
from server.paths import resolve_in_roots
from server.presets import Presets


@pytest.fixture
def roots(tmp_path):
    drop = tmp_path / "drop"
    lib = tmp_path / "lib"
    drop.mkdir()
    lib.mkdir()
    (drop / "ctx.wav").write_bytes(b"RIFF")
    (lib / "init.wav").write_bytes(b"RIFF")
    return [drop, lib]


def test_pairs_map_onto_the_request(roots):
    msg = parse_pairs(["seconds", 8, "levels", "21", "noise_seed", 7, "use_dd", 0, "steps", 3, "steps_dd", 5,
                       "embedding_strength", 2.0, "embedding_strength_1", 1.0, "name", "take", "tag", "abc"])
    assert msg.pop("tag") == "abc"
    req = build_request([msg], roots)
    assert req.seconds_length == 8.0 and req.levels == (2, 1) and req.noise_seed == 7 and req.use_dd is False
    assert req.num_steps == {2: 3, 1: 3, 0: 3, "dd": 5}
    assert req.embedding_strength == {2: 2.0, 1: 1.0, 0: 2.0}
    assert req.project_name == "take"


def test_bars_and_bpm_give_seconds():
    req = build_request([parse_pairs(["bars", 4, "bpm", 120])], [])
    assert req.seconds_length == pytest.approx(4 * 4 * 60 / 120)
    req = build_request([parse_pairs(["bars", 3, "bpm", 90, "beats_per_bar", 3])], [])
    assert req.seconds_length == pytest.approx(3 * 3 * 60 / 90)
    with pytest.raises(BadRequest, match="either seconds or bars"):
        parse_pairs(["bars", 4, "seconds", 2])
    with pytest.raises(BadRequest, match="bpm: 5.0 is out of range"):
        parse_pairs(["bars", 4, "bpm", 5])


def test_later_layers_win_and_message_seconds_beat_stored_bars():
    params = {"bars": 2.0, "bpm": 60.0}
    assert build_request([params], []).seconds_length == pytest.approx(8.0)
    assert build_request([params, {"seconds": 3.0}], []).seconds_length == 3.0
    assert build_request([params, {"bpm": 120.0}], []).seconds_length == pytest.approx(4.0)
    assert build_request([{"steps": 4}, {"steps_1": 9}], []).num_steps == {2: 4, 1: 9, 0: 4, "dd": 4}
    assert build_request([{"steps_1": 9}, {"steps": 4}], []).num_steps == {2: 4, 1: 4, 0: 4, "dd": 4}


@pytest.mark.parametrize("pairs, match", [
    (["seconds"], "odd number"),
    ([3, 4], "expected a key"),
    (["bogus", 1], "unknown parameter"),
    (["seconds", "abc"], "expected a number"),
    (["seconds", float("nan")], "finite"),
    (["seconds", 1e9], "seconds: 1000000000.0 is out of range"),
    (["levels", "9"], "levels"),
    (["noise_style", "pink"], "noise_style"),
    (["token_multiplier", 1.5], "expected an integer"),
    (["use_dd", 7], "expected 0/1"),
    (["steps", 0], "num_steps"),
    (["seconds", 1, "seconds", 2], "given twice"),
    (["name", "a/b"], "name: .a/b. must be a plain file name"),
    (["name", "x" * 200], "1 .. 96"),
])
def test_bad_values_name_the_key_and_range(pairs, match):
    with pytest.raises(BadRequest, match=match):
        build_request([parse_pairs(pairs)], [])


def test_every_param_has_a_default_that_round_trips_through_osc():
    for spec in PARAMS:
        value = default_value(spec.name)
        assert coerce(spec, to_osc(value, spec)) == value, spec.name
    # every request field a musician can set is reachable from OSC
    reachable = set(build_request([{}], []).to_dict())
    assert reachable == set(GenerationRequest().to_dict())


def test_store_set_get_reset_and_atomic_set_many(roots):
    store = ParamStore(roots)
    assert store.set("seconds", 5) == 5.0
    assert store.get("seconds") == 5.0
    assert store.set("noise_seed", "random") is None
    assert store.set("noise_seed", -1) is None
    assert store.set("noise_seed", 42) == 42
    with pytest.raises(BadRequest, match="init_strength"):
        store.set_many({"seconds": 6, "init_strength": 2.0})
    assert store.get("seconds") == 5.0                      # nothing of a failed set_many is kept
    store.set("seconds", "default")
    assert store.get("seconds") == default_value("seconds")
    store.set("bars", 2)
    assert store.request({}).seconds_length == pytest.approx(4.0)
    store.set("seconds", 3)                                 # seconds switches bars off
    assert store.get("bars") is None and store.request({}).seconds_length == 3.0
    store.set("context", "ctx.wav")
    assert store.get("context") == str(roots[0] / "ctx.wav")
    assert store.request({}).context_audio == str(roots[0] / "ctx.wav")
    assert store.request({"context": None}).context_audio is None


def test_presets_round_trip_and_names_are_checked(tmp_path, roots):
    store = ParamStore(roots)
    presets = Presets(tmp_path / "presets")
    store.set_many({"seconds": 4, "levels": "21", "noise_seed": 9, "use_dd": False, "steps": 3})
    path = presets.save("my preset", store.export())
    assert path.exists() and path.parent == (tmp_path / "presets").resolve()
    saved = store.snapshot()
    store.set_many({"seconds": 9, "bpm": 99, "noise_seed": "random"})
    store.replace_all(presets.load("my preset"))
    assert store.snapshot() == saved
    assert presets.names() == ["my preset"]
    for bad in ("../x", ".hidden", "a/b", "", "x" * 65, "trailing."):
        with pytest.raises(BadRequest, match="preset name"):
            presets.path(bad)
    with pytest.raises(PresetNotFound):
        presets.load("missing")
    (tmp_path / "presets" / "broken.json").write_text('{"params": {"bogus": 1}}')
    with pytest.raises(BadRequest, match="unknown parameter"):
        store.replace_all(presets.load("broken"))
    assert store.snapshot() == saved


def test_paths_stay_inside_the_roots(tmp_path, roots):
    drop, lib = roots
    assert resolve_in_roots("ctx.wav", roots) == drop / "ctx.wav"
    assert resolve_in_roots(str(lib / "init.wav"), roots) == lib / "init.wav"
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"x")
    with pytest.raises(BadPath, match=r"'\.\.'"):
        resolve_in_roots("../secret.wav", roots)
    with pytest.raises(BadPath, match="outside the allowed folders"):
        resolve_in_roots(str(outside), roots)
    os.symlink(outside, drop / "link.wav")
    with pytest.raises(BadPath, match="outside the allowed folders"):
        resolve_in_roots("link.wav", roots)
    os.symlink(lib / "init.wav", drop / "inner.wav")          # a link that stays inside is fine
    assert resolve_in_roots("inner.wav", roots) == lib / "init.wav"
    os.symlink("/dev/null", drop / "dev.wav")
    with pytest.raises(BadPath):
        resolve_in_roots("dev.wav", roots)
    os.mkfifo(drop / "fifo.wav")
    with pytest.raises(BadPath, match="not a regular file"):
        resolve_in_roots("fifo.wav", roots)
    (drop / "folder").mkdir()
    with pytest.raises(BadPath, match="folder"):
        resolve_in_roots("folder", roots)
    for bad in ("", "nope.wav", "a\x00b", 5):
        with pytest.raises(BadPath):
            resolve_in_roots(bad, roots)


def test_spec_for_lists_allowed_names():
    with pytest.raises(BadRequest, match="allowed: seconds, bars"):
        spec_for("nope")


def test_cli_flags_override_the_config_file(tmp_path):
    import argparse

    import yaml

    from server.cli import add_arguments, config_from_args

    cfg_file = tmp_path / "server.yaml"
    cfg_file.write_text(yaml.safe_dump({"port": 9200, "model": "jbdiff-v1", "max_queue": 5}))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = config_from_args(parser.parse_args(["--config", str(cfg_file), "--tiny", "--device", "cpu",
                                              "--reply-port", "9300", "--data-dir", str(tmp_path / "d")]))
    assert (cfg.port, cfg.reply_port, cfg.model, cfg.workers, cfg.max_queue) == (9200, 9300, "tiny", ["cpu"], 5)
    assert cfg.data_path == (tmp_path / "d").resolve() and cfg.drop_path == cfg.data_path / "drop"
    bundled = config_from_args(parser.parse_args([]))               # configs/server.yaml: the defaults
    assert (bundled.host, bundled.port, bundled.reply_port, bundled.max_queue) == ("127.0.0.1", 9130, 9131, 32)
    assert bundled.model == "demo" and bundled.worker_mode == "auto"
    two = config_from_args(parser.parse_args(["--workers", "cuda:0, cuda:1"]))
    assert two.workers == ["cuda:0", "cuda:1"]
    from jbdiff.errors import ConfigError

    with pytest.raises(ConfigError, match="give one of them"):
        config_from_args(parser.parse_args(["--workers", "cpu,cpu", "--device", "cpu"]))
