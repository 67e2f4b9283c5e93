"""GenerationRequest validation: each bad field is named with its allowed range."""

from __future__ import annotations

import pytest

from jbdiff.errors import ConfigError
from jbdiff.request import GenerationRequest, parse_levels


@pytest.mark.parametrize("text,levels", [("012", (2, 1, 0)), ("12", (2, 1)), ("2", (2,)), ("0,2", (2, 0)),
                                         (12, (2, 1)), ([0, 1], (1, 0)), ("210", (2, 1, 0))])
def test_parse_levels(text, levels) -> None:
    assert parse_levels(text) == levels


@pytest.mark.parametrize("bad", ["3", "0a", "", [5], [True]])
def test_parse_levels_rejects(bad) -> None:
    with pytest.raises(ConfigError, match="levels"):
        parse_levels(bad)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("seconds_length", -1.0, r"seconds_length: -1\.0 is out of range"),
        ("seconds_length", 0, r"seconds_length: 0 is out of range \(allowed: > 0\.0 600\.0\)"),
        ("init_strength", 1.5, r"init_strength: 1\.5 is out of range \(allowed: 0\.0 \.\. 1\.0\)"),
        ("init_strength", -0.1, r"init_strength"),
        ("noise_style", "pink", r"noise_style: 'pink' is not allowed"),
        ("dd_noise_style", "x", r"dd_noise_style"),
        ("token_multiplier", 0, r"token_multiplier: 0 is out of range \(allowed: 1 \.\. 64\)"),
        ("levels", "3", r"levels: 3 is not a level"),
        ("noise_seed", -5, r"noise_seed: -5 is out of range"),
        ("noise_step_size", 2.0, r"noise_step_size"),
        ("use_dd", "yes", r"use_dd: expected true or false"),
        ("project_name", "../evil", r"project_name"),
        ("num_steps", {3: 10}, r"num_steps\.3: unknown level"),
        ("num_steps", {"dd": 0}, r"num_steps\.dd: 0 is out of range"),
        ("embedding_strength", {2: 99.0}, r"embedding_strength\.2: 99\.0 is out of range"),
    ],
)
def test_bad_fields_are_named(field, value, match) -> None:
    req = GenerationRequest(**{field: value})
    with pytest.raises(ConfigError, match=match):
        req.validate()


def test_seconds_optional_with_init() -> None:
    GenerationRequest(seconds_length=None, init_audio="x.wav").validate()
    with pytest.raises(ConfigError, match="seconds_length: required"):
        GenerationRequest(seconds_length=None).validate()


def test_round_trip_and_seeds() -> None:
    req = GenerationRequest(levels="21", num_steps={"2": 5, "dd": 7}, embedding_strength={"1": 2.5}).validate()
    assert req.num_steps == {2: 5, "dd": 7} and req.embedding_strength == {1: 2.5}
    seeded = req.with_seeds()
    assert seeded.noise_seed is not None and seeded.dd_noise_seed is not None
    assert req.noise_seed is None
    again = GenerationRequest.from_dict(seeded.to_dict())
    assert again == seeded
    with pytest.raises(ConfigError, match="colour: unknown request field"):
        GenerationRequest.from_dict({"colour": "red"})
