"""Capped exponential backoff, the one retry schedule every reconnecting or retrying part uses."""

from __future__ import annotations

import random
from dataclasses import dataclass

_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.0  # ± fraction of the delay, so many clients do not retry in step

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds before retry number ``retry`` (0 = the first): initial, ×factor each time, at most maximum."""
        base = min(self.maximum, self.initial * self.factor ** min(max(retry, 0), 64))
        if not self.jitter:
            return base
        return base * (1 + (rng or _RNG).uniform(-self.jitter, self.jitter))
