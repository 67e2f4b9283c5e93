"""Config loading: the seed's YAML files load unchanged; bad values name their field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jbdiff.config import CONFIG_DIR, load_config, load_model_config, load_sampling_config, to_dict
from jbdiff.errors import ConfigError

SEED = Path(__file__).parent / "fixtures" / "seed"


def seed_sample() -> dict:
    return yaml.safe_load((SEED / "jbdiff-sample-v1.yaml").read_text())


def test_seed_model_yaml_loads_unchanged() -> None:
    model = load_model_config(SEED / "jbdiff-v1.yaml")
    assert model.vqvae.base_tokens == 768 and model.vqvae.context_mult == 2
    assert model.vqvae.batch_size == 32 and model.vqvae.aug_shift is True
    assert sorted(model.diffusion) == [0, 1, 2]
    assert model.diffusion[2].resnet_dropout_rate == 0.05
    assert model.diffusion[1].resnet_dropout_rate == 0.0
    assert model.diffusion[2].channels == [64, 128, 128, 256, 256, 512, 512, 1024, 1024]
    assert model.embedding_max_length(2) == 1536
    with pytest.raises(ConfigError, match="no 'sampling' section"):
        load_sampling_config(SEED / "jbdiff-v1.yaml")


def test_seed_sampling_yaml_loads_unchanged() -> None:
    s = load_sampling_config(SEED / "jbdiff-sample-v1.yaml")
    assert [s.level(lv).num_steps for lv in (2, 1, 0)] == [250, 70, 20]
    assert s.level(1).init_strength == 0.67 and s.level(0).embedding_strength == 1.3
    assert s.dd.num_steps == 150 and s.dd.xfade_samples == 1536 and s.dd.xfade_style == "constant-power"
    assert s.level(2).ckpt_loc == "./epoch=4938-step=400000_vqvae_add.ckpt"


def test_bundled_copies_equal_the_seed() -> None:
    ours = load_config("jbdiff-sample-v1")
    seed = load_config(SEED / "jbdiff-sample-v1.yaml")
    assert to_dict(ours.model) == to_dict(seed.model)
    assert to_dict(ours.sampling) == to_dict(seed.sampling)
    assert to_dict(load_model_config("jbdiff-v1")) == to_dict(load_model_config(SEED / "jbdiff-v1.yaml"))


def test_every_bundled_config_loads() -> None:
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if p.stem != "server")
    assert {"jbdiff-v1", "jbdiff-sample-v1", "tiny"} <= set(names)
    for name in names:
        load_config(name)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d["sampling"]["diffusion"][1].update(init_strength=1.5),
         r"sampling\.diffusion\.1\.init_strength: 1\.5 is out of range \(allowed: 0\.0 \.\. 1\.0\)"),
        (lambda d: d["sampling"]["diffusion"][2].update(num_steps=0), r"sampling\.diffusion\.2\.num_steps"),
        (lambda d: d["sampling"]["diffusion"]["dd"].update(xfade_style="cubic"),
         r"sampling\.diffusion\.dd\.xfade_style: 'cubic' is not allowed \(allowed: 'linear', 'constant-power'\)"),
        (lambda d: d["sampling"]["diffusion"][0].update(num_stepz=3), r"sampling\.diffusion\.0\.num_stepz: unknown key"),
        (lambda d: d["model"]["vqvae"].update(base_tokens="many"), r"model\.vqvae\.base_tokens: expected an integer"),
        (lambda d: d["model"]["vqvae"].update(aug_shift="yes"), r"model\.vqvae\.aug_shift: expected true or false"),
        (lambda d: d["model"]["diffusion"][2].update(factors=[1, 2]),
         r"model\.diffusion\.2: U-Net field 'factors' has 2 entries; it needs one per level \(9"),
        (lambda d: d["model"]["diffusion"][1]["channels"].__setitem__(3, 250),
         r"model\.diffusion\.1: U-Net field 'channels\[3\]' = 250 must be a multiple of 8"),
        (lambda d: d["model"]["diffusion"].update({3: {}}), r"model\.diffusion\.3: unknown level"),
        (lambda d: d["model"]["diffusion"][0].update(net_t="my.Net"), r"model\.diffusion\.0\.net_t: 'my\.Net' is not allowed"),
        (lambda d: d["sampling"]["diffusion"][2].update(embedding_strength=-1), r"embedding_strength: -1\.0 is out of range"),
        (lambda d: d.update(extra=1), r"extra: unknown top-level key"),
        (lambda d: d["sampling"]["diffusion"][2].update(sampler="euler"),
         r"sampling\.diffusion\.2\.sampler: 'euler' is not allowed \(allowed: 'ddim', 'dpmpp-2m'\)"),
        (lambda d: d["sampling"]["diffusion"]["dd"].update(sampler="heun"),
         r"sampling\.diffusion\.dd\.sampler: 'heun' is not allowed \(allowed: 'ddim', 'dpmpp-2m'\)"),
    ],
)
def test_invalid_values_name_the_field(mutate, match: str, tmp_path: Path) -> None:
    data = seed_sample()
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_unconfigured_level_is_a_clear_error() -> None:
    s = load_sampling_config({"sampling": {"diffusion": {2: {"num_steps": 5}}}, "model": {}})
    with pytest.raises(ConfigError, match=r"sampling\.diffusion\.1: missing"):
        s.level(1)


def test_a_config_extends_a_base_and_changes_only_what_it_names(tmp_path: Path) -> None:
    base = load_config("demo")
    wide = load_config("demo-wide-l2")
    assert wide.model.diffusion[2].channels == [64, 128, 128, 192, 192]
    assert wide.model.diffusion[2].attention_heads == 4
    assert wide.model.diffusion[2].items == base.model.diffusion[2].items      # merged from the base
    assert wide.model.diffusion[1] == base.model.diffusion[1]
    assert wide.model.dd == base.model.dd and wide.sampling == base.sampling
    # a path relative to the extending file, two levels deep
    (tmp_path / "mid.yaml").write_text("extends: demo\nsampling:\n  diffusion:\n    2: {num_steps: 7}\n")
    (tmp_path / "top.yaml").write_text("extends: mid.yaml\nmodel:\n  dd: {depth: 9}\n")
    top = load_config(tmp_path / "top.yaml")
    assert top.sampling.diffusion[2].num_steps == 7
    assert top.sampling.diffusion[2].embedding_strength == base.sampling.diffusion[2].embedding_strength
    assert top.model.dd.depth == 9 and top.model.dd.c_mults == base.model.dd.c_mults


@pytest.mark.parametrize("files, error", [
    ({"loop_a.yaml": "extends: loop_b.yaml\n", "loop_b.yaml": "extends: loop_a.yaml\n"}, "cannot extend itself"),
    ({"missing.yaml": "extends: no-such-base\n"}, "no-such-base: no such config"),
    ({"number.yaml": "extends: 3\n"}, "number.yaml: extends: must name a config"),
    ({"badfield.yaml": "extends: demo\nmodel:\n  dd: {depth: 1}\n"}, "badfield.yaml: .*depth"),
])
def test_bad_extends_are_clear_errors(tmp_path: Path, files: dict[str, str], error: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(tmp_path / next(iter(files)))
