"""What the CLI shows: a live progress bar per campaign and the status tables (rich)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loop.campaign.engine import Campaign
from loop.campaign.progress import observed_values
from loop.records import RequestStatus

__all__ = ["CampaignProgress", "status_tables"]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


class CampaignProgress:
    """A rich progress bar over the experiment budget, with round, pending and best so far."""

    def __init__(self, campaign: Campaign, console: Console | None = None) -> None:
        self.campaign = campaign
        b = campaign.config.budget
        total = b.experiments if b.experiments is not None else (b.rounds or 0) * b.batch_size
        self.progress = Progress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("round {task.fields[round]} · pending {task.fields[pending]} · {task.fields[best]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(
            "campaign", total=total or None, name=campaign.config.name, round="-", pending=0, best=""
        )

    def __enter__(self) -> CampaignProgress:
        self.progress.start()
        self.campaign.on_event = self.handle
        self._refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self._refresh()
        self.progress.stop()
        self.campaign.on_event = None

    def _refresh(self, **fields: Any) -> None:
        s = self.campaign.summary()
        best = " ".join(f"best {k}={_fmt(v)}" for k, v in s.best.items())
        if s.goal_hits:
            best += f" · goal hits {s.goal_hits}"
        self.progress.update(self.task, completed=s.experiments_done, best=best, **fields)

    def _pending(self) -> str:
        by_lab: dict[str, int] = {}
        for r in self.campaign.pending():
            by_lab[r.lab] = by_lab.get(r.lab, 0) + 1
        if len(self.campaign.config.lab_specs()) <= 1:
            return str(sum(by_lab.values()))
        return " ".join(f"{k}:{v}" for k, v in sorted(by_lab.items())) or "0"

    def handle(self, kind: str, data: Mapping[str, Any]) -> None:
        if kind == "round_started":
            self._refresh(round=data["index"], pending=self._pending())
        elif kind in ("observed", "round_planned", "finished", "waiting"):
            self._refresh(pending=self._pending())


def status_tables(campaign: Campaign, top: int = 10) -> list[Table]:
    """Rounds, requests by status (and per lab), and the best candidates so far."""
    ledger = campaign.ledger
    cfg = campaign.config
    overview = Table(title=f"campaign {cfg.name}", show_header=False)
    s = campaign.summary()
    counts = ledger.status_counts()
    overview.add_row("status", str(ledger.get_meta("status")) + (f" ({ledger.get_meta('stop_reason')})" if ledger.get_meta("stop_reason") else ""))
    overview.add_row("rounds", str(len(ledger.rounds())))
    overview.add_row("experiments", f"{s.experiments_done} observed, {s.experiments_failed} failed")
    overview.add_row("requests", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")
    pending = ledger.requests([RequestStatus.SUBMITTED, RequestStatus.RUNNING])
    by_lab: dict[str, int] = {}
    for r in pending:
        by_lab[r.lab] = by_lab.get(r.lab, 0) + 1
    overview.add_row("pending per lab", ", ".join(f"{k} {v}" for k, v in by_lab.items()) or "none")
    overview.add_row("goal hits", str(s.goal_hits) + (f" (first after {s.first_goal_hit_at} experiments)" if s.first_goal_hit_at else ""))
    if s.hypervolume is not None:
        overview.add_row("hypervolume", _fmt(s.hypervolume))
    overview.add_row("clock", _fmt(campaign.now()))
    all_rounds = ledger.rounds()
    latest = next((rnd.ranking for rnd, _ in reversed(all_rounds) if rnd.ranking is not None), None)
    overview.add_row("ranker", f"{cfg.ranker.kind}: " + (latest.text() if latest else "no round ranked yet"))

    rounds = Table(title="rounds")
    for col in ("round", "state", "proposed", "newly kept", "selected", "pending at start"):
        rounds.add_column(col, justify="right")
    rounds.add_column("ranked by (acquisition or fallback; skips)", justify="left")
    for rnd, state in all_rounds[-top:]:
        rounds.add_row(str(rnd.index), state, str(rnd.n_proposed), str(rnd.n_kept), str(len(rnd.selected)), str(len(rnd.pending_at_start)),
                       rnd.ranking.text() if rnd.ranking else "-")

    best = Table(title="best candidates")
    objs = cfg.objectives
    best.add_column("candidate")
    best.add_column("formula / params")
    for o in objs:
        best.add_column(f"{o.name} ({o.goal})", justify="right")
    obs = [o for o in ledger.observations() if o.success]
    primary = objs[0]

    def key(o: Any) -> float:
        v = observed_values(o).get(primary.name)
        if v is None:
            return math.inf
        return primary.distance(v) if primary.goal == "target" else -primary.sign * v

    obs.sort(key=key)
    cands = {c.id: c for c in ledger.candidates([o.candidate_id for o in obs[:top]])}
    for o in obs[:top]:
        c = cands[o.candidate_id]
        desc = c.formula or ", ".join(f"{k}={_fmt(v)}" for k, v in list(c.params.items())[:4])
        vals = observed_values(o)
        best.add_row(o.candidate_id, desc, *[_fmt(vals[x.name]) if x.name in vals else "-" for x in objs])
    return [overview, rounds, best]
