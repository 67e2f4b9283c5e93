"""Vector quantiser with Jukebox's EMA codebook and dead-code restart.

Only the codebook `k` is persistent (as in Jukebox, so checkpoints match); the EMA
accumulators live in non-persistent buffers and are re-derived from `k` after loading.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch import nn

# Rows per distance matrix chunk: bounds quantiser memory to ~chunk * l_bins floats.
QUANTISE_CHUNK_ROWS = 16384


def _distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


class BottleneckBlock(nn.Module):
    """One level's codebook: nearest-neighbour codes, lookup, and EMA updates."""

    def __init__(self, l_bins: int, emb_width: int, mu: float) -> None:
        super().__init__()
        self.l_bins = l_bins
        self.emb_width = emb_width
        self.mu = mu
        self.threshold = 1.0
        self.init = False
        self.register_buffer("k", torch.zeros(l_bins, emb_width))
        self.register_buffer("k_sum", torch.zeros(l_bins, emb_width), persistent=False)
        self.register_buffer("k_elem", torch.zeros(l_bins), persistent=False)
        self.register_load_state_dict_post_hook(_after_load)

    # -- codes -----------------------------------------------------------------------------

    def quantise_flat(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codebook index for each row of x [N, emb]; also the mean squared distance."""
        k_w = self.k.t().to(x.dtype)
        k_sq = torch.sum(k_w**2, dim=0, keepdim=True)
        codes, dists = [], []
        for rows in x.split(QUANTISE_CHUNK_ROWS):
            # Same expression as Jukebox so near-ties resolve the same way.
            distance = torch.sum(rows**2, dim=-1, keepdim=True) - 2 * torch.matmul(rows, k_w) + k_sq
            d, c = torch.min(distance, dim=-1)
            codes.append(c)
            dists.append(d)
        if not codes:
            return x.new_zeros(0, dtype=torch.long), x.new_zeros(())
        return torch.cat(codes), torch.cat(dists).mean()

    def dequantise(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook vectors for codes of any shape; adds a trailing emb dim."""
        return F.embedding(codes, self.k)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [B, emb, T] -> codes [B, T]."""
        b, _, t = x.shape
        codes, _ = self.quantise_flat(_flatten(x))
        return codes.view(b, t)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [B, T] -> quantised latents [B, emb, T]."""
        return self.dequantise(codes).permute(0, 2, 1).contiguous()

    # -- training --------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, update_k: bool = True,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantise with a straight-through gradient; EMA-update the codebook if asked.

        Returns (codes [B,T], quantised [B,emb,T], commit loss, metrics).
        """
        b, _, t = x.shape
        flat = _flatten(x)
        prenorm = torch.norm(flat - flat.mean()) / math.sqrt(flat.numel())
        if update_k and not self.init:
            self.init_k(flat, generator)
        codes, fit = self.quantise_flat(flat)
        quantised = self.dequantise(codes)
        metrics: dict[str, torch.Tensor] = {"fit": fit, "pn": prenorm}
        if update_k:
            metrics.update(self.update_k(flat, codes, generator))
        commit_loss = torch.norm(quantised.detach() - flat) ** 2 / flat.numel()
        quantised = flat + (quantised - flat).detach()
        quantised = quantised.view(b, t, -1).permute(0, 2, 1).contiguous()
        return codes.view(b, t), quantised, commit_loss, metrics

    def _random_rows(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """l_bins rows drawn from x (tiled with small noise when x has too few rows)."""
        n, ew = x.shape
        if n < self.l_bins:
            x = x.repeat((self.l_bins + n - 1) // n, 1)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + noise * (0.01 / math.sqrt(ew))
        perm = torch.randperm(x.shape[0], generator=generator, device=x.device)
        rows = x[perm][: self.l_bins]
        if _distributed():
            torch_dist.broadcast(rows, 0)
        return rows

    @torch.no_grad()
    def init_k(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Start the codebook from random encoder outputs x [N, emb]."""
        rows = self._random_rows(x.detach().float(), generator)
        self.k.copy_(rows)
        self.k_sum.copy_(rows)
        self.k_elem.fill_(1.0)
        self.init = True

    @torch.no_grad()
    def restore_k(self, num_tokens: int | None = None, threshold: float = 1.0) -> None:
        """Restart EMA statistics from the current codebook (after loading, before fine-tuning).

        num_tokens: codes per update step (per level, summed over devices), so each entry
        starts at its expected usage as Jukebox does; threshold: usage below which an entry
        is replaced by a random encoder output.
        """
        scale = 1.0 if num_tokens is None else num_tokens / self.l_bins
        self.k_sum.copy_(self.k * scale)
        self.k_elem.fill_(scale)
        self.threshold = threshold
        self.init = True

    @torch.no_grad()
    def update_k(self, x: torch.Tensor, codes: torch.Tensor,
                 generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One EMA step of counts and sums; entries used less than threshold are restarted."""
        x = x.detach().float()
        mu = self.mu
        batch_sum = torch.zeros_like(self.k_sum).index_add_(0, codes, x)
        batch_elem = torch.bincount(codes, minlength=self.l_bins).to(x.dtype)
        rand_rows = self._random_rows(x, generator)
        if _distributed():
            torch_dist.all_reduce(batch_sum)
            torch_dist.all_reduce(batch_elem)
        old_k = self.k.clone()
        self.k_sum.mul_(mu).add_(batch_sum, alpha=1.0 - mu)
        self.k_elem.mul_(mu).add_(batch_elem, alpha=1.0 - mu)
        used = (self.k_elem >= self.threshold).to(x.dtype).unsqueeze(1)
        self.k.copy_(used * (self.k_sum / self.k_elem.unsqueeze(1)) + (1 - used) * rand_rows)
        prob = batch_elem / batch_elem.sum()
        return {
            "entropy": -torch.sum(prob * torch.log(prob + 1e-8)),
            "used_curr": (batch_elem >= self.threshold).sum(),
            "usage": used.sum(),
            "dk": torch.norm(self.k - old_k) / math.sqrt(old_k.numel()),
        }


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """[B, C, T] -> [B*T, C] (time-major rows, as the codebook sees them)."""
    return x.permute(0, 2, 1).reshape(-1, x.shape[1])


def _after_load(module: nn.Module, incompatible_keys) -> None:
    """Loaded codebooks are trained: derive EMA state so training never re-initialises them."""
    for block in module.modules():
        if isinstance(block, BottleneckBlock) and bool(block.k.abs().sum() > 0):
            block.restore_k(threshold=block.threshold)


class Bottleneck(nn.Module):
    """One BottleneckBlock per level (`level_blocks.<i>.k` in the state dict)."""

    def __init__(self, l_bins: int, emb_width: int, mu: float, levels: int) -> None:
        super().__init__()
        self.levels = levels
        self.level_blocks = nn.ModuleList(BottleneckBlock(l_bins, emb_width, mu) for _ in range(levels))
