"""Progress as clients see it: one overall fraction per job, never going back, a few per second."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


class ProgressReporter:
    """Turns the pipeline's ``(stage, level, step, total)`` calls into rate-limited, monotone reports.

    The job's stages (its levels in order, then ``dd``) split 0..1 evenly; the fraction reported
    is the running maximum, so windows that restart their step count never move it back.
    """

    def __init__(self, levels: Sequence[int], use_dd: bool, send: Callable[[str, float], None], *,
                 hz: float = 4.0, now: Callable[[], float] = time.monotonic) -> None:
        self.segments = [f"level{lvl}" for lvl in levels] + (["dd"] if use_dd else [])
        self.min_interval = 1.0 / hz
        self._send = send
        self._now = now
        self._last_sent: float | None = None
        self.fraction = 0.0
        self.stage = self.segments[0] if self.segments else "start"
        self.calls = 0

    def __call__(self, stage: str, level: int | None, step: int, total: int) -> None:
        self.calls += 1
        name = f"level{level}" if stage == "level" and level is not None else str(stage)
        if name in self.segments and total > 0:
            within = min(max(step / total, 0.0), 1.0)
            frac = (self.segments.index(name) + within) / len(self.segments)
        elif stage == "done":
            frac = 1.0
        else:
            frac = self.fraction
        if frac > self.fraction:
            self.fraction = min(frac, 1.0)
        self.stage = name
        t = self._now()
        # "compiling" precedes minutes without steps (torch.compile's first call): never held back.
        if self._last_sent is None or t - self._last_sent >= self.min_interval or stage == "compiling":
            self._last_sent = t
            self._send(self.stage, self.fraction)
