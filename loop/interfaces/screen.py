"""The screen contract: which proposals are worth ranking."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from loop.interfaces.plugin import Plugin
from loop.records import Candidate, ScreenDecision

__all__ = ["Screen"]


class Screen(Plugin, abc.ABC):
    """Keeps or rejects each candidate, with a reason.

    ``known`` holds candidates already in the ledger (for duplicate detection).
    Returns one decision per candidate, in order.
    """

    @abc.abstractmethod
    def screen(self, candidates: Sequence[Candidate], known: Sequence[Candidate]) -> list[ScreenDecision]:
        """Decide on each candidate."""

    def estimate_e_hull(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """A cheap computed ``e_hull`` (eV/atom) per candidate id, for candidates not screened yet (the
        generator's reward; never recorded as a decision). The default screen offers none."""
        return {}
