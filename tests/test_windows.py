"""Window plans: levels, token multiplier, padding and the stereo stage's overlapping windows."""

from __future__ import annotations

import pytest

from jbdiff.windows import plan_dance_windows, plan_generation


def test_published_shape_numbers() -> None:
    plan = plan_generation((2, 1, 0), 30 * 44100, base_tokens=768, token_multiplier=2, context_mult=2)
    lv2, lv1, lv0 = plan.levels
    assert lv2.window_samples == 196_608 and lv2.num_windows == 7
    assert (lv1.num_windows, lv0.num_windows) == (28, 112)
    assert lv0.window_samples * lv0.num_windows == plan.padded_samples == 7 * 196_608
    assert lv1.context_samples == 1536 * 32
    one = plan_generation((2,), 98_304, 768, 1, 2)
    assert one.levels[0].num_windows == 1 and one.padded_samples == 98_304


def test_lowest_level_used_sets_the_window() -> None:
    plan = plan_generation((1, 0), 44100, base_tokens=768, token_multiplier=1, context_mult=2)
    assert plan.levels[0].window_samples == 768 * 32
    assert plan.levels[1].num_windows == 4 * plan.levels[0].num_windows


@pytest.mark.parametrize("total", [1, 1000, 65_536, 100_000, 1_323_000])
@pytest.mark.parametrize("overlap", [0, 1536])
def test_dance_windows_cover_once_plus_overlaps(total: int, overlap: int) -> None:
    w = plan_dance_windows(total, 65_536, overlap, 8192)
    assert w.length % 8192 == 0 and w.length <= max(65_536, 8192 * ((overlap // 8192) + 1))
    assert w.padded_samples >= total
    assert all(b - a == w.length - overlap for a, b in zip(w.starts, w.starts[1:], strict=False))
    # No window is needed beyond the last one that reaches the end.
    assert len(w.starts) == 1 or w.starts[-1] < total
    # Total work stays within one window of the audio length plus the overlaps.
    assert len(w.starts) * w.length <= total + len(w.starts) * overlap + w.length


def test_dance_windows_respect_the_minimum_length() -> None:
    w = plan_dance_windows(5000, 65_536, 1536, 8192, min_length=24_576)
    assert w.starts == (0,) and w.length == 24_576
    long = plan_dance_windows(200_000, 65_536, 1536, 8192, min_length=24_576)
    assert long.length >= 24_576 and long.length % 8192 == 0


@pytest.mark.parametrize("count,max_batch", [(21, 8), (21, 24), (224, 32), (56, 32), (1, 4), (0, 3), (33, 32)])
def test_balanced_batches_cover_in_order_with_sizes_within_one(count: int, max_batch: int) -> None:
    from jbdiff.windows import balanced_batches

    parts = balanced_batches(count, max_batch)
    assert [i for r in parts for i in r] == list(range(count))
    assert len(parts) == -(-count // max_batch)
    sizes = {len(r) for r in parts}
    assert all(0 < s <= max_batch for s in sizes) and (not sizes or max(sizes) - min(sizes) <= 1)


def test_balanced_batches_reject_a_zero_batch() -> None:
    from jbdiff.errors import ConfigError
    from jbdiff.windows import balanced_batches

    with pytest.raises(ConfigError, match="by 0"):
        balanced_batches(5, 0)
