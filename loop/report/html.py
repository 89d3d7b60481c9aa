"""``crystaloop report DIR``: one self-contained HTML page (and its PNGs) per campaign.

The page embeds every figure as a data URI (it can be mailed or archived alone) and the
same PNGs are written beside it and logged to the campaign's MLflow run. CIFs of the top
candidates are embedded as download links.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.campaign.engine import Campaign
from loop.campaign.progress import observed_values
from loop.records import Observation, Selection
from loop.report.synthesis import synthesis_rows, write_synthesis_csv

__all__ = ["Report", "build_report"]

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l{text-align:left}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.grid{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ddd;padding:.6em;width:260px}
"""


@dataclass
class Report:
    path: Path
    figures: list[Path] = field(default_factory=list)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return html.escape(str(v))


class _Page:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.parts: list[str] = []
        self.figures: list[Path] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def figure(self, fig: Any, name: str, alt: str) -> None:
        if fig is None:
            return
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        png = buf.getvalue()
        path = self.out / f"{name}.png"
        path.write_bytes(png)
        self.figures.append(path)
        data = base64.b64encode(png).decode()
        self.parts.append(f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')

    def table(self, header: list[str], rows: list[list[Any]], left: int = 0) -> None:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f'<td{" class=l" if j < left else ""}>{c if isinstance(c, _Raw) else _fmt(c)}</td>' for j, c in enumerate(r)) + "</tr>"
            for r in rows
        )
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def raw(self, text: str) -> None:
        self.parts.append(text)


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _describe(cand: Any) -> str:
    if cand.formula:
        return cand.formula
    return ", ".join(f"{k}={v:.4g}" for k, v in list(cand.params.items())[:6])


def _references_section(page: _Page, provenance: dict[str, Any]) -> None:
    """Where each stage's reference phases came from (``Campaign.record_provenance``)."""
    if not provenance:
        return
    page.h(2, "Reference phases")
    rows = []
    for stage, p in provenance.items():
        files = p.get("files") or {}
        counts = p.get("counts") or {}
        rows.append([stage, p.get("source", ""), ", ".join(p.get("paths") or []) or "–",
                     ", ".join(files) or "–", ", ".join(f"{k} {v}" for k, v in counts.items()) or "–"])
    page.table(["stage", "source", "paths", "files", "counts"], rows, left=5)


def build_report(directory: str | Path, out: str | Path | None = None, top: int = 6, log_to_mlflow: bool = True) -> Report:
    """Write ``<out>/report.html`` (default ``<campaign>/report``) with all figures; returns it."""
    from loop.report import figures as F

    directory = Path(directory)
    out = Path(out) if out else directory / "report"
    out.mkdir(parents=True, exist_ok=True)
    with Campaign.open(directory, lock=False) as c:
        cfg, ledger = c.config, c.ledger
        observations = ledger.observations()
        requests = {r.request_id: r for r in ledger.requests()}
        selections = ledger.selections()
        summary = c.summary()
        page = _Page(out)
        page.raw(f"<h1>{html.escape(cfg.name)}</h1>")
        page.raw(
            f'<p class="sub">status {html.escape(str(ledger.get_meta("status")))}'
            f' ({html.escape(str(ledger.get_meta("stop_reason") or ""))}) · {len(ledger.rounds())} rounds ·'
            f" {summary.experiments_done} experiments · {summary.experiments_failed} failed · goal hits {summary.goal_hits}</p>"
        )
        page.table(
            ["objective", "goal", "best", "candidate"],
            [[o.name, o.goal, summary.best.get(o.name), summary.best_candidate.get(o.name, "")] for o in cfg.objectives],
            left=2,
        )
        page.h(2, "Progress")
        page.p("Best value so far against the number of experiments; grey points are single measurements.")
        page.figure(F.progress_figure(cfg.objectives, observations), "progress", "progress")
        if len(cfg.objectives) >= 2:
            page.h(2, "Pareto front")
            page.figure(F.pareto_figure(cfg.objectives, observations), "pareto", "pareto front")

        obs_by_request = {o.request_id: o for o in observations}
        pairs: list[tuple[Selection, Observation]] = []
        rows = []
        for rnd, sel in selections:
            req = next((r for r in requests.values() if r.round == rnd and r.candidate.id == sel.candidate_id and not r.resubmission_of), None)
            o = obs_by_request.get(req.request_id) if req else None
            if o is not None:
                pairs.append((sel, o))
            cells: list[Any] = [rnd, sel.rank, req.request_id if req else "", _describe(req.candidate) if req else sel.candidate_id, sel.score]
            for obj in cfg.objectives:
                pred = sel.predicted.get(obj.name)
                cells.append(f"{pred[0]:.4g} ± {pred[1]:.2g}" if pred else None)
                cells.append(observed_values(o).get(obj.name) if o is not None and o.success else None)
            cells.append(req.status.value if req else "")
            rows.append(cells)
        page.h(2, "Calibration of the surrogate")
        page.figure(F.calibration_figure(cfg.objectives, pairs), "calibration", "calibration")
        if not pairs or all(not s.predicted for s, _ in pairs):
            page.p("The ranker reported no predictions (e.g. the random ranker), so there is nothing to calibrate.")
        page.h(2, "Success over time")
        page.figure(F.success_figure(observations), "success", "success rate")

        page.h(2, "Rounds")
        notes = [(rnd.index, rnd.ranking) for rnd, _ in ledger.rounds() if rnd.ranking is not None]
        if notes:
            page.p(f"Ranker {cfg.ranker.kind}; the latest round ranked by {notes[-1][1].text()}. "
                   "Per round, the acquisition in use, the fallback the ranker took instead (if any) and what it skipped:")
            page.table(["round", "acquisition", "fallback", "skipped"],
                       [[i, n.acquisition, n.fallback or "none", "; ".join(n.skipped) or "nothing"] for i, n in notes], left=0)
        header = ["round", "rank", "request", "candidate", "score"]
        for obj in cfg.objectives:
            header += [f"{obj.name} predicted", f"{obj.name} measured"]
        page.table([*header, "status"], rows, left=4)

        _references_section(page, ledger.get_meta("provenance") or {})
        synth = synthesis_rows(observations, requests)
        if synth:
            write_synthesis_csv(synth, out / "synthesis.csv")
            page.h(2, "Syntheses")
            page.p("Per experiment: the recipe, the phases the XRD fit found (weight fractions), its Rwp, the target's "
                   "yield read from the pattern, and whether the target was found and matches no known phase (novel; "
                   "the known phase it matched otherwise). The last column is the screen's COMPUTED energy above its "
                   "hull, not a measurement. Also in synthesis.csv.")
            page.table(["request", "candidate", "recipe", "XRD phases (wt fraction)", "Rwp %", "yield", "novel", "known as",
                        "e_hull computed (eV/atom)"],
                       [[r["request"], r["formula"] or r["candidate"], r["recipe"], r["phases"], r["rwp_percent"], r["yield"],
                         r["novel"], r["known_as"], r["e_hull_computed"]] for r in synth], left=4)

        xrd_obs = [o for o in observations if o.xrd_pattern or any(f.endswith(".fit.csv") for f in o.raw_files)]
        if xrd_obs:
            page.h(2, "XRD patterns")
            for o in xrd_obs:
                page.figure(F.xrd_figure(o, o.request_id), f"xrd-{o.request_id}", f"XRD {o.request_id}")

        page.h(2, "Top candidates")
        primary = cfg.objectives[0]
        scored = [(o, observed_values(o).get(primary.name)) for o in observations if o.success]
        scored = [(o, v) for o, v in scored if v is not None]
        scored.sort(key=lambda t: primary.distance(t[1]) if primary.goal == "target" else -primary.sign * t[1])
        seen: set[str] = set()
        cards = []
        for o, v in scored:
            if o.candidate_id in seen or len(seen) >= top:
                continue
            seen.add(o.candidate_id)
            cand = requests[o.request_id].candidate
            card = f"<div class=card><b>{html.escape(_describe(cand))}</b><br>{html.escape(primary.name)} = {_fmt(v)}<br><small>{cand.id}</small>"
            structure = cand.relaxed_structure or cand.structure
            if structure is not None:
                page_fig = F.structure_figure(structure, cand.formula or cand.id)
                sub = _Page(out)
                sub.figure(page_fig, f"structure-{cand.id}", f"structure {cand.id}")
                page.figures.extend(sub.figures)
                cif = base64.b64encode(structure.to(fmt="cif").encode()).decode()
                card += "".join(sub.parts)
                card += f'<br><a download="{cand.id}.cif" href="data:chemical/x-cif;base64,{cif}">CIF</a>'
            cards.append(card + "</div>")
        page.raw('<div class="grid">' + "".join(cards) + "</div>")

        doc = f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(cfg.name)} report</title><style>{_CSS}</style></head><body>{''.join(page.parts)}</body></html>"
        path = out / "report.html"
        path.write_text(doc, encoding="utf-8")
        if log_to_mlflow and cfg.tracking.enabled and ledger.get_meta("mlflow_run_id"):
            try:
                c.tracker.run_id = ledger.get_meta("mlflow_run_id")
                for fig in page.figures:
                    c.tracker.log_file(fig, "report")
                c.tracker.log_file(path, "report")
                if (out / "synthesis.csv").is_file() and synth:
                    c.tracker.log_file(out / "synthesis.csv", "report")
            except Exception as exc:  # the report is written even when the tracking server is away
                log.warning("could not log the report to MLflow: %s", exc)
        log.info("report written to %s (%d figures)", path, len(page.figures))
        return Report(path=path, figures=page.figures)
