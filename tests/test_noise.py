"""Noise styles: unit variance per window and the right relation between windows."""

from __future__ import annotations

import math

import pytest
import torch

from jbdiff.errors import ConfigError
from jbdiff.noise import make_generator, window_noise

SHAPE = (16, 4096)


def corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).mean() / (a.std() * b.std()))


@pytest.mark.parametrize("style", ["random", "constant", "region", "walk"])
def test_unit_variance_every_window(style: str) -> None:
    n = window_noise(style, 8, SHAPE, 0.5, make_generator(0))
    assert n.shape == (8, *SHAPE)
    for w in n:
        assert abs(float(w.mean())) < 0.02 and abs(float(w.std()) - 1.0) < 0.02


def test_random_windows_are_independent() -> None:
    n = window_noise("random", 4, SHAPE, 0.5, make_generator(0))
    assert abs(corr(n[0], n[1])) < 0.03


def test_constant_repeats_the_first_window() -> None:
    n = window_noise("constant", 4, SHAPE, 0.5, make_generator(0))
    assert all(torch.equal(n[0], n[k]) for k in range(4))


def test_region_stays_near_home() -> None:
    s = 0.6
    n = window_noise("region", 6, SHAPE, s, make_generator(0))
    for k in range(1, 6):  # each window correlates sqrt(1-s^2) with home, regardless of k
        assert abs(corr(n[0], n[k]) - math.sqrt(1 - s * s)) < 0.03


def test_walk_drifts_away_gradually() -> None:
    s = 0.6
    n = window_noise("walk", 8, SHAPE, s, make_generator(0))
    home_corr = [corr(n[0], n[k]) for k in range(8)]
    assert all(a > b for a, b in zip(home_corr, home_corr[1:], strict=False))
    for k in range(1, 8):
        assert abs(home_corr[k] - 1 / math.sqrt(1 + k * s * s)) < 0.03
    # Neighbours stay closer to each other than to home.
    assert corr(n[6], n[7]) > home_corr[7] + 0.2


@pytest.mark.parametrize("style", ["region", "walk"])
def test_step_zero_is_constant(style: str) -> None:
    n = window_noise(style, 3, SHAPE, 0.0, make_generator(0))
    assert torch.allclose(n[0], n[2])


def test_same_seed_same_noise_and_errors() -> None:
    a = window_noise("walk", 3, SHAPE, 0.3, make_generator(7))
    b = window_noise("walk", 3, SHAPE, 0.3, make_generator(7))
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="noise_style"):
        window_noise("pink", 3, SHAPE, 0.3, make_generator(7))
    with pytest.raises(ConfigError, match="noise_step_size"):
        window_noise("walk", 3, SHAPE, 1.5, make_generator(7))
