"""The order in which training items are consumed: one endless global stream, shared by all ranks.

Global item ``g`` is item ``order(e)[g % N]`` of epoch ``e = g // N`` (N items per epoch, the
order a permutation seeded by (seed, e), as ``EpochSampler`` draws it). Micro-batch ``m`` of rank
``r`` out of ``W`` takes the ``B`` global items starting at ``start + (m * W + r) * B``. The only
state is how many global items were consumed, so a checkpoint resumes the stream exactly, on
the same or on a different number of devices.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import count

import numpy as np
import torch
import torch.utils.data

from jbdiff.errors import ConfigError
from training.data.errors import DataError


def epoch_order(num_items: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The item order of one epoch (the same permutation EpochSampler uses)."""
    if not shuffle:
        return np.arange(num_items)
    return np.random.default_rng([seed, epoch]).permutation(num_items)


@dataclass
class StreamPosition:
    """Where the global stream stands and which share of it this process takes."""

    items_seen: int = 0
    rank: int = 0
    world_size: int = 1

    def state_dict(self) -> dict[str, int]:
        return {"items_seen": int(self.items_seen)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.items_seen = int(state["items_seen"])


class ItemStream:
    """Maps global item numbers to (epoch, item) and hands each rank its micro-batches."""

    def __init__(self, num_items: int, batch_size: int, *, seed: int = 0, shuffle: bool = True,
                 position: StreamPosition | None = None) -> None:
        if num_items < 1:
            raise DataError("no training items: every file is shorter than one training chunk")
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.position = position or StreamPosition()
        self._orders: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        """Item order of `epoch` (the last two epochs are kept)."""
        if epoch not in self._orders:
            if len(self._orders) > 1:
                self._orders.pop(min(self._orders))
            self._orders[epoch] = epoch_order(self.num_items, self.seed, epoch, self.shuffle)
        return self._orders[epoch]

    def items(self, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, items) of global items first .. first + n - 1."""
        g = first + np.arange(n, dtype=np.int64)
        epochs = g // self.num_items
        pos = g % self.num_items
        items = np.empty(n, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            items[sel] = self.order(int(e))[pos[sel]]
        return epochs, items

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Endless (epochs, items) micro-batches of this rank, from the current position on."""
        p = self.position
        start, w, r, b = p.items_seen, p.world_size, p.rank, self.batch_size
        for m in count():
            yield self.items(start + (m * w + r) * b, b)


class StreamSampler(torch.utils.data.Sampler):
    """DataLoader sampler over an ItemStream: yields (epoch, item) pairs for EpochIndexed."""

    def __init__(self, stream: ItemStream) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for epochs, items in self.stream.batches():
            yield from zip(epochs.tolist(), items.tolist(), strict=True)


class EpochIndexed(torch.utils.data.Dataset):
    """A dataset with set_epoch (AudioChunkDataset) indexed by (epoch, item) pairs."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, item = key
        if self.dataset.epoch != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[item]


class ChunkGrid:
    """Items of one epoch over segments of a flat array: chunk k of a segment, randomly shifted.

    Like AudioChunkDataset.locate: chunk k starts at k * chunk plus a shift in
    [-chunk/2, chunk/2) drawn per (seed, epoch), clamped into the segment.
    """

    def __init__(self, lengths: Sequence[int], chunk: int, *, seed: int = 0,
                 aug_shift: bool = True) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.chunk = int(chunk)
        counts = self.lengths // self.chunk
        self.cum = np.cumsum(counts)
        self.seed = int(seed)
        self.aug_shift = aug_shift
        self._shifts: dict[int, np.ndarray] = {}

    @property
    def num_items(self) -> int:
        return int(self.cum[-1]) if len(self.cum) else 0

    def shifts(self, epoch: int) -> np.ndarray:
        if epoch not in self._shifts:
            if len(self._shifts) > 1:
                self._shifts.pop(min(self._shifts))
            c = self.chunk
            rng = np.random.default_rng([self.seed, epoch, 7919])
            self._shifts[epoch] = rng.integers(-(c // 2), c - c // 2, size=self.num_items)
        return self._shifts[epoch]

    def locate(self, epochs: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment, offset in segment) of each (epoch, item)."""
        seg = np.searchsorted(self.cum, items, side="right")
        before = np.where(seg > 0, self.cum[np.maximum(seg - 1, 0)], 0)
        offset = (items - before) * self.chunk
        if self.aug_shift:
            shift = np.empty_like(offset)
            for e in np.unique(epochs):
                sel = epochs == e
                shift[sel] = self.shifts(int(e))[items[sel]]
            offset = offset + shift
        return seg, np.clip(offset, 0, self.lengths[seg] - self.chunk)
