"""The report's synthesis table: recipe -> XRD phases -> Rwp -> yield -> novel, beside the computed e_hull."""

from __future__ import annotations

import csv

from loop.records import (
    Candidate,
    ExperimentRequest,
    Measurement,
    Observation,
    PhaseAnalysis,
    PhaseFraction,
    Precursor,
    Recipe,
)
from loop.report.synthesis import COLUMNS, recipe_text, synthesis_rows, write_synthesis_csv


def _pair(rid: str, recipe: Recipe, analysis: PhaseAnalysis | None, novel: float | None, e_hull: float | None):
    meta = {} if e_hull is None else {"e_hull": e_hull, "e_hull_source": "computed:mlip"}
    cand = Candidate(id=f"c-{rid}", formula="LiMn2O4", metadata=meta)
    req = ExperimentRequest(request_id=rid, candidate=cand, round=0, recipe=recipe)
    values = {} if novel is None else {"novel": Measurement(value=novel)}
    return req, Observation(request_id=rid, candidate_id=cand.id, phase_analysis=analysis, values=values)


def test_rows_join_recipe_xrd_yield_novelty_and_the_computed_e_hull(tmp_path):
    recipe = Recipe(precursors=[Precursor(formula="Li2CO3", amount=0.5), Precursor(formula="MnO2", amount=2.0)],
                    temperature_c=750.0, time_h=12.0, atmosphere="air")
    found = PhaseAnalysis(phases=[PhaseFraction(name="LiMn2O4_target", weight_fraction=0.82),
                                  PhaseFraction(name="Mn2O3_206", weight_fraction=0.18)],
                          rwp=0.0734, target_fraction=0.82, target_known_as="LiMn2O4_227")
    pairs = [_pair("r1", recipe, found, 0.0, 0.012), _pair("r2", recipe, None, None, 0.3),
             _pair("r3", Recipe(), PhaseAnalysis(phases=[], target_fraction=0.0), 0.0, None)]
    requests = {r.request_id: r for r, _ in pairs}
    rows = synthesis_rows([o for _, o in pairs], requests)
    assert [r["request"] for r in rows] == ["r1", "r3"]  # no phase analysis, no row
    r1 = rows[0]
    assert r1["recipe"] == "0.5 Li2CO3 + 2 MnO2, 750 C, 12 h, air" == recipe_text(recipe)
    assert r1["phases"] == "LiMn2O4_target 0.82; Mn2O3_206 0.18"
    assert r1["rwp_percent"] == 7.34 and r1["yield"] == 0.82 and r1["novel"] == 0 and r1["known_as"] == "LiMn2O4_227"
    assert r1["e_hull_computed"] == 0.012 and r1["e_hull_source"] == "computed:mlip"
    assert rows[1]["e_hull_computed"] is None and rows[1]["recipe"] == ""
    path = write_synthesis_csv(rows, tmp_path / "report" / "synthesis.csv")
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == COLUMNS and read[0]["e_hull_computed"] == "0.012" and read[1]["known_as"] == ""
