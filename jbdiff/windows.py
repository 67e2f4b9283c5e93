"""Window arithmetic of a generation: pure functions, so the plan can be tested without models."""

from __future__ import annotations

import math
from dataclasses import dataclass

from jbdiff.errors import ConfigError

HOPS: dict[int, int] = {0: 8, 1: 32, 2: 128}


@dataclass(frozen=True)
class LevelPlan:
    """How one level covers the (padded) timeline."""

    level: int
    hop: int
    window_tokens: int
    window_samples: int
    num_windows: int
    context_tokens: int

    @property
    def context_samples(self) -> int:
        """Audio samples behind the context tokens."""
        return self.context_tokens * self.hop


@dataclass(frozen=True)
class GenerationPlan:
    """Windows of every level for one request; levels run from the highest number down."""

    total_samples: int
    padded_samples: int
    levels: tuple[LevelPlan, ...]

    def level(self, level: int) -> LevelPlan:
        """The plan of one level."""
        for lp in self.levels:
            if lp.level == level:
                return lp
        raise KeyError(level)


def plan_generation(
    levels: tuple[int, ...],
    total_samples: int,
    base_tokens: int,
    token_multiplier: int,
    context_mult: int,
    hops: dict[int, int] | None = None,
) -> GenerationPlan:
    """Every level's window holds ``token_multiplier * base_tokens`` frames; the first level's
    windows tile the padded timeline and each later level splits them by the hop ratio."""
    hops = hops or HOPS
    if total_samples < 1:
        raise ConfigError(f"seconds_length: the request gives {total_samples} samples (must be > 0)")
    ordered = tuple(sorted(levels, reverse=True))
    tokens = token_multiplier * base_tokens
    top_window = tokens * hops[ordered[0]]
    num_top = math.ceil(total_samples / top_window)
    padded = num_top * top_window
    plans = []
    for lvl in ordered:
        window = tokens * hops[lvl]
        plans.append(LevelPlan(
            level=lvl, hop=hops[lvl], window_tokens=tokens, window_samples=window,
            num_windows=padded // window, context_tokens=context_mult * base_tokens,
        ))
    return GenerationPlan(total_samples=total_samples, padded_samples=padded, levels=tuple(plans))


@dataclass(frozen=True)
class DanceWindows:
    """Overlapping stereo-stage windows: ``starts[i]`` each of ``length`` samples, ``overlap`` shared."""

    starts: tuple[int, ...]
    length: int
    overlap: int

    @property
    def padded_samples(self) -> int:
        """Samples covered once the last window is zero-padded."""
        return self.starts[-1] + self.length


def plan_dance_windows(total_samples: int, target_length: int, overlap: int, multiple: int,
                       min_length: int = 1) -> DanceWindows:
    """Cover ``total_samples`` with as few windows as possible of at most ``target_length``
    (rounded to the network's length multiple), neighbours overlapping by ``overlap``
    samples for the crossfade; every input sample is processed once, plus the overlaps."""
    if multiple < 1:
        raise ConfigError(f"length multiple must be >= 1 (got {multiple})")
    if overlap < 0:
        raise ConfigError(f"xfade_samples: {overlap} must be >= 0")
    floor = max(multiple, math.ceil(min_length / multiple) * multiple)
    round_up = lambda n: max(floor, math.ceil(n / multiple) * multiple)  # noqa: E731
    length = round_up(min(target_length, total_samples))
    if length <= overlap:
        length = round_up(overlap + 1)
    if total_samples <= length:
        return DanceWindows(starts=(0,), length=length, overlap=overlap)
    hop = length - overlap
    count = math.ceil((total_samples - overlap) / hop)
    # Shrink the windows as far as the count allows, so the last one is not mostly padding.
    length = max(round_up(math.ceil((total_samples - overlap) / count) + overlap), round_up(overlap + 1))
    hop = length - overlap
    count = max(1, math.ceil((total_samples - overlap) / hop))
    return DanceWindows(starts=tuple(i * hop for i in range(count)), length=length, overlap=overlap)


def balanced_batches(count: int, max_batch: int) -> list[range]:
    """Split ``count`` items into as few batches of at most ``max_batch`` as possible, equal in
    size to within one (21 by 8 -> 7, 7, 7 rather than 8, 8, 5): fewer distinct shapes to compile
    and capture, and no nearly empty last batch."""
    if count < 0 or max_batch < 1:
        raise ConfigError(f"cannot batch {count} items by {max_batch}")
    n = -(-count // max_batch) if count else 0
    bounds = [round(k * count / n) for k in range(n + 1)] if n else [0]
    return [range(bounds[k], bounds[k + 1]) for k in range(n)]
