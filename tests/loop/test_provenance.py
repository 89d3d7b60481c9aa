"""Where the reference phases come from: recorded per stage in the ledger, the report and MLflow; and the
report's synthesis table of a campaign."""

from __future__ import annotations

import csv

import pytest

from loop.campaign.engine import Campaign
from loop.config import parse_config
from loop.known_phases import FALLBACK, reference_provenance
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
from loop.report import build_report


def test_reference_provenance_names_files_and_counts(data_dir):
    refs = data_dir / "references" / "li-mn-ti-o-f"
    p = reference_provenance([str(refs)], ["Li", "Mn", "O"])
    assert p["source"] == "known phases" and p["paths"] == [str(refs)]
    assert "LiMn2O4_227.cif" in p["files"] and "Li2TiO3_15.cif" not in p["files"]  # Ti is outside Li-Mn-O
    assert p["counts"]["kept"] == sum(p["files"].values()) and p["counts"]["outside"] > 0
    assert reference_provenance(None, ["Li", "O"]) == {"source": FALLBACK}


@pytest.fixture
def campaign(tmp_path, data_dir):
    refs = str(data_dir / "references" / "li-mn-ti-o-f")
    cfg = parse_config({
        "name": "provenance-test",
        "objectives": [{"name": "yield", "goal": "maximize"}],
        "budget": {"experiments": 2, "batch_size": 1},
        "generator": {"kind": "random_crystal", "options": {"elements": ["Li", "Mn", "O"], "max_atoms": 6}},
        "screen": {"kind": "mlip", "options": {"elements": ["Li", "Mn", "O"]}},  # no references: prototypes
        "lab": {"kind": "crystal", "options": {"elements": ["Li", "Mn", "O"], "references": [refs],
                                               "world_cache_dir": str(tmp_path / "worlds")}},
        "tracking": {"enabled": True},
    })
    return Campaign.create(cfg, tmp_path / "c")


def test_campaign_records_each_stage_references_in_ledger_report_and_mlflow(campaign):
    import mlflow

    with campaign as c:
        c._start_tracking()  # what run() and suggest() do first: it records the provenance once
        c.tracker.flush()
        prov = c.ledger.get_meta("provenance")
        run_id = c.ledger.get_meta("mlflow_run_id")
        # one experiment as a lab would return it, for the report's synthesis table
        cand = Candidate(id="c1", formula="LiMn2O4", metadata={"e_hull": 0.031, "e_hull_source": "computed:mlip"})
        c.ledger.add_candidates([cand], 0.0)
        recipe = Recipe(precursors=[Precursor(formula="Li2CO3", amount=0.5), Precursor(formula="MnO2", amount=2.0)],
                        temperature_c=750.0, time_h=12.0, atmosphere="air")
        c.ledger.plan_requests([ExperimentRequest(request_id="r1", candidate=cand, round=0, recipe=recipe)])
        analysis = PhaseAnalysis(phases=[PhaseFraction(name="LiMn2O4_target", weight_fraction=1.0)], rwp=0.05,
                                 target_fraction=1.0, target_known_as="LiMn2O4_227")
        c.ledger.record_observation(Observation(request_id="r1", candidate_id="c1", phase_analysis=analysis,
                                                values={"yield": Measurement(value=1.0), "novel": Measurement(value=0.0)}), 1.0)
    assert prov["screen"] == {"source": FALLBACK}
    assert prov["lab"]["source"] == "known phases" and prov["lab"]["counts"]["kept"] == 21
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{campaign.directory / 'mlflow.db'}")
    tags = client.get_run(run_id).data.tags
    assert tags["crystaloop.references.screen"] == FALLBACK
    assert tags["crystaloop.references.lab"].startswith("known phases from ") and "21 kept" in tags["crystaloop.references.lab"]
    rep = build_report(campaign.directory, log_to_mlflow=False)
    html = rep.path.read_text()
    assert "Reference phases" in html and FALLBACK in html and "LiMn2O4_227.cif" in html
    # the synthesis table: in the page, labelled computed, and as report/synthesis.csv
    assert "Syntheses" in html and "e_hull computed (eV/atom)" in html and "0.5 Li2CO3 + 2 MnO2, 750 C, 12 h, air" in html
    with (rep.path.parent / "synthesis.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["known_as"] == "LiMn2O4_227" and row["novel"] == "0" and row["e_hull_computed"] == "0.031"
