"""Training data held in device memory: flat arrays of segments, gathered by chunk start on device.

The bank is what ``--cache-audio`` (VQ-VAE, Dance Diffusion) and ``--cache-latents`` (levels)
train from: one batch is a LongTensor of flat start indices, the crop happens on the device,
so no DataLoader worker, no host copy of audio, and no Python per item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.utils.data

from training.streams import ChunkGrid, ItemStream

INT16_SCALE = 32767.0


class Bank:
    """Named flat tensors (time on the last axis) made of segments, with a chunk grid over them.

    Segment s's usable part is [seg_lo[s], seg_lo[s] + seg_len[s]) of the flat axis; elements
    before seg_lo may hold a prefix (context before the song start) that windows may reach.
    """

    def __init__(self, arrays: dict[str, torch.Tensor], seg_lo: Sequence[int], seg_len: Sequence[int],
                 chunk: int, *, seed: int = 0, aug_shift: bool = True) -> None:
        self.arrays = dict(arrays)
        self.seg_lo = np.asarray(seg_lo, dtype=np.int64)
        self.seg_len = np.asarray(seg_len, dtype=np.int64)
        self.chunk = int(chunk)
        self.grid = ChunkGrid(self.seg_len, self.chunk, seed=seed, aug_shift=aug_shift)

    @property
    def num_items(self) -> int:
        return self.grid.num_items

    @property
    def device(self) -> torch.device:
        return next(iter(self.arrays.values())).device

    def to(self, device: torch.device | str) -> Bank:
        """Move every array (in place) and return self."""
        self.arrays = {k: v.to(device) for k, v in self.arrays.items()}
        return self

    def starts(self, epochs: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Flat start index of each (epoch, item) chunk."""
        seg, offset = self.grid.locate(epochs, items)
        return self.seg_lo[seg] + offset

    def window(self, name: str, starts: torch.Tensor, offset: int, length: int) -> torch.Tensor:
        """array[..., start + offset : start + offset + length] per start: [B, ..., length]."""
        arr = self.arrays[name]
        idx = starts.to(arr.device).long()[:, None] + (offset + torch.arange(length, device=arr.device))
        out = arr[..., idx]  # [..., B, length]
        return out.movedim(-2, 0) if arr.dim() > 1 else out

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.arrays.values())


class BankBatches(torch.utils.data.IterableDataset):
    """Endless micro-batches of flat chunk starts for this rank (use with batch_size=None)."""

    def __init__(self, bank: Bank, stream: ItemStream) -> None:
        super().__init__()
        self.bank = bank
        self.stream = stream

    def __iter__(self) -> Iterator[torch.Tensor]:
        for epochs, items in self.stream.batches():
            yield torch.from_numpy(self.bank.starts(epochs, items))


def audio_bank(dataset, *, channels: int, chunk: int, before: int = 0, seed: int = 0,
               aug_shift: bool = True) -> Bank:
    """Every file of an AudioChunkDataset as int16 [channels, total] (with `before` zeros ahead of each)."""
    pieces, seg_lo, seg_len, pos = [], [], [], 0
    for i in range(len(dataset.files)):
        audio = dataset.file_audio(i)
        if audio.shape[0] != channels:
            audio = audio.mean(axis=0, keepdims=True) if channels == 1 else np.repeat(audio[:1], channels, 0)
        q = np.clip(np.rint(audio * INT16_SCALE), -32768, 32767).astype(np.int16)
        pieces += [np.zeros((channels, before), np.int16), q]
        seg_lo.append(pos + before)
        seg_len.append(q.shape[1])
        pos += before + q.shape[1]
    data = torch.from_numpy(np.concatenate(pieces, axis=1))
    return Bank({"audio": data}, seg_lo, seg_len, chunk, seed=seed, aug_shift=aug_shift)


def int16_to_float(x: torch.Tensor) -> torch.Tensor:
    """Bank audio back to float32 in [-1, 1]."""
    return x.float() / INT16_SCALE
