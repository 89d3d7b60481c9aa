"""Campaign clocks.

Simulated labs run on a :class:`SimulatedClock` that only the campaign advances and that
is stored in the ledger, so a simulated campaign replays identically from its seed
whatever the machine's speed or a kill does. Real labs run on the :class:`WallClock`.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SimulatedClock", "WallClock"]


@runtime_checkable
class Clock(Protocol):
    simulated: bool

    def now(self) -> float:
        """Seconds since the campaign started (simulated) or since the epoch (wall)."""
        ...


class SimulatedClock:
    """A clock that moves only when told to; never backwards."""

    simulated = True

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def advance_to(self, t: float) -> None:
        if t < self._t:
            raise ValueError(f"simulated clock cannot go back from {self._t} to {t}")
        self._t = float(t)

    def advance(self, dt: float) -> None:
        self.advance_to(self._t + max(dt, 0.0))


class WallClock:
    """The machine's clock."""

    simulated = False

    def now(self) -> float:
        return time.time()
