"""The ``manual`` lab — people run the experiments — and ``crystaloop observe`` to enter results.

Each submitted request is appended to ``worklist.csv`` (and ``requests/<id>.json``, plus a
CIF for crystals) in the lab's folder, for the operator. Results are entered by hand:

    crystaloop observe campaigns/x r0003-001 yield=0.82 band_gap=2.1 --uncertainty band_gap=0.1
    crystaloop observe campaigns/x r0003-002 --xrd scan.xy --references refs/ --target LiMn2O4
    crystaloop observe campaigns/x r0003-003 --failed "crucible cracked"

``observe`` writes straight to the ledger (one transaction, once per request), so it
works while ``crystaloop run`` waits for the results in another terminal.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from pydantic import Field

from loop.errors import InputDataError, LedgerError
from loop.interfaces import LabAdapter, PluginConfig
from loop.records import ExperimentRequest, LabCapabilities, Observation, Receipt

__all__ = ["ManualLab", "observe"]

log = logging.getLogger(__name__)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ManualLabConfig(PluginConfig):
    properties: list[str] = Field(min_length=1, description="What the operators measure.")
    xrd: bool = Field(default=False, description="Whether they record XRD patterns (yield from phase analysis).")
    capacity: int = Field(default=8, ge=1)


class ManualLab(LabAdapter):
    """A lab operated by people: requests go to a worklist, results come from `crystaloop observe`."""

    Config = ManualLabConfig
    name = "manual"

    def __init__(self, config: ManualLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: ManualLabConfig = self.config  # type: ignore[assignment]
        self.folder = self.context.work_dir / "requests"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.worklist = self.context.work_dir / "worklist.csv"

    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(properties=self.cfg.properties, xrd=self.cfg.xrd, capacity=self.cfg.capacity, clock="wall")

    def _path(self, request_id: str) -> Path:
        return self.folder / f"{_SAFE.sub('_', request_id)}.json"

    def _known(self, request_ids: Sequence[str]) -> set[str]:
        return {r for r in request_ids if self._path(r).exists()}

    def _submit(self, requests: Sequence[ExperimentRequest]) -> list[Receipt]:
        new_file = not self.worklist.exists()
        with open(self.worklist, "a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new_file:
                w.writerow(["request_id", "candidate_id", "formula", "params", "recipe"])
            for r in requests:
                path = self._path(r.request_id)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(r.model_dump_json(indent=1), encoding="utf-8")
                tmp.replace(path)
                if r.candidate.structure is not None:
                    r.candidate.structure.to(filename=str(path.with_suffix(".cif")))
                w.writerow([r.request_id, r.candidate.id, r.candidate.formula or "", json.dumps(r.candidate.params), r.recipe.model_dump_json()])
        log.info("manual lab: %d request(s) added to %s", len(requests), self.worklist)
        return [Receipt(request_id=r.request_id, message="added to the worklist") for r in requests]

    def _poll(self) -> list[Observation]:
        return []  # people enter results with `crystaloop observe`


def _pairs(items: Sequence[str], what: str) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputDataError(f"{what} {item!r}: expected name=value, e.g. yield=0.8")
        try:
            out[name] = float(value)
        except ValueError:
            raise InputDataError(f"{what} {name!r}: {value!r} is not a number") from None
    return out


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("request_id")
@click.argument("values", nargs=-1, metavar="NAME=VALUE...")
@click.option("--uncertainty", multiple=True, metavar="NAME=SD", help="1-sigma uncertainty of a value.")
@click.option("--failed", metavar="REASON", help="The experiment failed; why.")
@click.option("--xrd", "xrd_file", type=click.Path(path_type=Path), help="A powder pattern (.xy/.csv/.xrdml) of the product.")
@click.option("--references", type=click.Path(path_type=Path), help="Folder of reference CIFs for --xrd.")
@click.option("--target", help="Reference phase that is the target (its fraction becomes the yield).")
def observe(
    directory: Path,
    request_id: str,
    values: tuple[str, ...],
    uncertainty: tuple[str, ...],
    failed: str | None,
    xrd_file: Path | None,
    references: Path | None,
    target: str | None,
) -> None:
    """Enter the result of REQUEST_ID by hand (values, an XRD file, or a failure)."""
    from loop.store import Ledger

    if not (directory / "ledger.db").exists():
        raise LedgerError(f"{directory} holds no campaign (no ledger.db)")
    measured = _pairs(values, "value")
    sds = _pairs(uncertainty, "uncertainty")
    unknown_sd = sorted(set(sds) - set(measured))
    if unknown_sd:
        raise InputDataError(f"--uncertainty given for {unknown_sd}, which have no value")
    raw: dict[str, Any] = {k: {"value": v, "uncertainty": sds.get(k)} for k, v in measured.items()}
    analysis = None
    if xrd_file is not None:
        if references is None:
            raise InputDataError("--xrd needs --references DIR (the reference CIFs to identify phases with)")
        from lab_adapters.xrd import analyze_pattern, load_references, read_pattern

        analysis = analyze_pattern(read_pattern(xrd_file), load_references(references), target=target)
    ledger = Ledger.for_directory(directory, migrate=False)
    try:
        req = ledger.request(request_id)
        at = float(ledger.get_meta("clock", 0.0)) if ledger.get_meta("clock") else None
        obs = Observation.from_raw(
            request_id,
            req.candidate.id,
            raw,
            success=failed is None,
            failure_reason=failed,
            phase_analysis=analysis,
            xrd_pattern=str(xrd_file.resolve()) if xrd_file else None,
            raw_files=[str(xrd_file.resolve())] if xrd_file else [],
            lab=req.lab,
            source=f"observe {request_id}",
        )
        import time

        stored = ledger.record_observation(obs, at if at is not None else time.time())
    finally:
        ledger.close()
    if not stored:
        raise LedgerError(f"request {request_id} already has a result; nothing changed")
    msg = f"recorded {request_id}: " + (f"failed ({failed})" if failed else ", ".join(f"{k}={v:g}" for k, v in measured.items()))
    if analysis is not None:
        msg += " | XRD: " + ", ".join(f"{p.name} {p.weight_fraction:.0%}" for p in analysis.phases)
    click.echo(msg)
