"""The data stream (ranks, resume on another device count), device banks, and the EMA rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from training.banks import Bank, BankBatches
from training.ema import ema_decay_at, ema_update
from training.streams import ChunkGrid, ItemStream, StreamPosition, epoch_order


def take(stream: ItemStream, n: int) -> list[tuple[int, int]]:
    out = []
    for epochs, items in itertools.islice(stream.batches(), n):
        out += list(zip(epochs.tolist(), items.tolist(), strict=True))
    return out


def test_ranks_split_the_global_stream_and_a_resume_on_other_devices_continues_it():
    n, b = 10, 3
    single = take(ItemStream(n, b, seed=5), 8)  # 24 global items, across 3 epochs
    assert sorted(single[:10]) == [(0, i) for i in range(10)]  # each epoch is a permutation
    assert [i for _, i in single[:10]] == epoch_order(n, 5, 0).tolist()
    # two ranks: micro-batch m of rank r holds global items (2m + r) * 3 ...
    ranks = [take(ItemStream(n, b, seed=5, position=StreamPosition(0, r, 2)), 4) for r in (0, 1)]
    merged = [x for m in range(4) for r in (0, 1) for x in ranks[r][m * b:(m + 1) * b]]
    assert merged == single
    assert not set(ranks[0][:3]) & set(ranks[1][:3])
    # after 2 micro-batches on 2 ranks (12 items), 1 process continues with item 12
    resumed = take(ItemStream(n, b, seed=5, position=StreamPosition(items_seen=12)), 4)
    assert resumed == single[12:24]


def test_chunk_grid_stays_inside_segments_and_shifts_per_epoch():
    grid = ChunkGrid([100, 35, 64], 16, seed=1)
    assert grid.num_items == 6 + 2 + 4
    items = np.arange(grid.num_items)
    for epoch in (0, 1):
        seg, off = grid.locate(np.full_like(items, epoch), items)
        assert (off >= 0).all() and (off + 16 <= np.array([100, 35, 64])[seg]).all()
    _, a = grid.locate(np.zeros_like(items), items)
    _, b = grid.locate(np.ones_like(items), items)
    assert not np.array_equal(a, b)
    flat = ChunkGrid([100], 16, aug_shift=False)
    assert flat.locate(np.zeros(6, int), np.arange(6))[1].tolist() == [0, 16, 32, 48, 64, 80]


def test_bank_windows_and_batches():
    data = torch.arange(40, dtype=torch.int16)
    bank = Bank({"x": data, "stereo": torch.stack([data, -data])}, seg_lo=[4, 24], seg_len=[16, 16], chunk=4,
                seed=0, aug_shift=False)
    starts = torch.tensor([4, 28])
    assert bank.window("x", starts, -2, 6).tolist() == [[2, 3, 4, 5, 6, 7], [26, 27, 28, 29, 30, 31]]
    assert bank.window("stereo", starts, 0, 2).tolist() == [[[4, 5], [-4, -5]], [[28, 29], [-28, -29]]]
    stream = ItemStream(bank.num_items, 3, seed=0)
    first = next(iter(BankBatches(bank, stream)))
    assert first.dtype == torch.int64 and first.shape == (3,)
    assert all(int(s) in {4, 8, 12, 16, 24, 28, 32, 36} for s in first)


def test_ema_rule():
    model, avg = nn.Linear(3, 2), nn.Linear(3, 2)
    with torch.no_grad():
        for p in avg.parameters():
            p.zero_()
    ema_update(model, avg, 0.9)
    torch.testing.assert_close(avg.weight, 0.1 * model.weight)
    assert ema_decay_at(0, 0.995) == pytest.approx(0.1)
    assert ema_decay_at(10**6, 0.995) == 0.995
