"""The round-0 target check of ``bench rediscover-target``: odds of proposing a hidden phase by round."""

from __future__ import annotations

import numpy as np

from loop.bench.rediscover.concentration import proposal_odds


def _target() -> dict:
    # 300 terminals on a gentle slope; the best one (index 0) matches the hidden phase "A", and
    # parent "rs" holds the 100 best terminals (a family of derivatives), "sp" one match of "B" at rank 100
    log_r = -0.004 * np.arange(300)
    parents = ["rs"] * 100 + ["sp"] + [f"p{i}" for i in range(199)]
    return {"log_r": log_r, "parents": parents, "matches": {"A": [0], "B": [100]}}


def test_cooling_proposes_the_best_terminal_sooner_and_a_cap_spreads_over_parents() -> None:
    rows = proposal_odds(_target(), [None, 1.0], proposals=8, rounds=3, draws=300, per_parent=(None, 2))
    odds = {(r["spread"], r["per_parent"]): r["by_round"] for r in rows}
    flat, cooled = odds[(None, None)], odds[(1.0, None)]
    assert rows[0]["perplexity"] > 250  # the slope barely concentrates the target
    assert flat["A"][0] < 0.1 and cooled["A"][0] > 0.9  # cooled to 8 terminals: the best one is drawn in round 0
    assert all(a <= b for a, b in zip(flat["A"], flat["A"][1:]))  # "by round r" can only grow
    # a cap of 2 per parent, cooled: round 0 takes at most 2 of "rs" and reaches "sp" at rank 100
    assert odds[(1.0, 2)]["B"][0] > cooled["B"][0] + 0.5
