"""The ``passthrough`` screen: keeps every candidate whose parameters are finite numbers.

The default screen of tabular campaigns, where there is nothing to relax or dedupe
beyond the candidate id (the campaign never screens a known id twice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from loop.interfaces import Screen
from loop.records import Candidate, ScreenDecision

__all__ = ["PassthroughScreen"]


class PassthroughScreen(Screen):
    name = "passthrough"

    def screen(self, candidates: Sequence[Candidate], known: Sequence[Candidate]) -> list[ScreenDecision]:
        out = []
        for c in candidates:
            bad = sorted(k for k, v in c.params.items() if not math.isfinite(v))
            if bad:
                out.append(ScreenDecision(candidate_id=c.id, kept=False, reason=f"non-finite parameters: {bad}"))
            elif not c.params and c.structure is None:
                out.append(ScreenDecision(candidate_id=c.id, kept=False, reason="candidate has neither params nor structure"))
            else:
                out.append(ScreenDecision(candidate_id=c.id, kept=True))
        return out
