"""The screen's computed e_hull reaches the ranker through candidate metadata, labelled as computed."""

from __future__ import annotations

import pytest

from loop.campaign.rounds import computed_metadata
from loop.config import parse_config
from loop.records import ScreenDecision


def test_computed_metadata_labels_the_screen_and_keeps_the_uncertainty():
    d = ScreenDecision(candidate_id="a", kept=True, e_hull=0.031, metrics={"e_hull_std": 0.02})
    assert computed_metadata(d, "mlip") == {"e_hull": 0.031, "e_hull_source": "computed:mlip", "e_hull_std": 0.02}
    assert computed_metadata(ScreenDecision(candidate_id="b", kept=False), "mlip") == {}


@pytest.mark.slow
def test_the_ranker_uses_the_mlip_screens_e_hull(tmp_path):
    from loop.campaign.engine import Campaign
    from surrogates.models.synthesizability import smact_prior
    from tests.surrogates._mlip_data import bcc_na, rocksalt, tiny_mace_dir

    refs = tmp_path / "refs"
    refs.mkdir()
    rocksalt().to(filename=str(refs / "NaCl.cif"))
    bcc_na().to(filename=str(refs / "Na.cif"))
    from pymatgen.core import Lattice, Structure

    Structure(Lattice.cubic(10.0), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]]).to(filename=str(refs / "Cl2.cif"))
    cfg = parse_config({
        "name": "meta", "seed": 0,
        "objectives": [{"name": "yield", "goal": "maximize"}],
        "budget": {"experiments": 4, "batch_size": 2},
        "proposals": 6,
        "generator": {"kind": "random_crystal", "options": {"elements": ["Na", "Cl"], "max_atoms": 4, "min_elements": 2}},
        "screen": {"kind": "mlip", "options": {
            "potential": "mace", "potential_options": {"model": str(tiny_mace_dir())}, "elements": ["Na", "Cl"],
            "reference_dir": str(refs), "include_prototypes": False, "max_e_hull": 5.0, "steps": 40, "hull_steps": 20,
            "check_composition": False, "ray": "never",
        }},
        "ranker": {"kind": "botorch"},
        "tracking": {"enabled": False},
    })
    with Campaign.create(cfg, tmp_path / "c") as c:
        batch = c.suggest(2)
        assert batch
        kept = [x for x in c.ledger.candidates() if "e_hull" in x.metadata]
        assert kept and all(x.metadata["e_hull_source"] == "computed:mlip" for x in kept)
        decisions = {d.candidate_id: d for d in c.ledger.screen_decisions()}
        for x in kept:
            if x.id in decisions:
                assert x.metadata["e_hull"] == decisions[x.id].e_hull
        prior = c.ranker.prior.synth_prior(kept)
        expected = [smact_prior(x.formula, x.metadata["e_hull"]) for x in kept]
        assert list(prior) == pytest.approx(expected)
        above = [i for i, x in enumerate(kept) if x.metadata["e_hull"] > 0.01]
        assert above, "no candidate above the hull to tell the prior apart"
        assert all(prior[i] < smact_prior(kept[i].formula, None) for i in above)  # the ranker read the screen's e_hull


def test_the_generators_reward_sees_what_the_screen_computed():
    """A proposal the screen saw in an earlier round reaches the ranker's acquisition (the generator's
    reward) as the screened candidate, with its computed e_hull; a fresh proposal carries the screen's
    single-point estimate when the screen gives one (labelled as such), else nothing."""
    from types import SimpleNamespace

    import numpy as np
    from pymatgen.core import Lattice, Structure

    from loop.campaign.rounds import RoundPlanner
    from loop.records import Candidate

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    fresh = {i: Candidate(id=i, formula="NaCl", structure=nacl if i != "b" else None) for i in ("a", "b", "c", "d")}
    screened_a = fresh["a"].model_copy(update={"metadata": {"e_hull": 0.3, "e_hull_source": "computed:mlip"}})

    class Ledger:
        def screened_ids(self):
            return {"a": False}

        def candidates(self, ids):
            return [screened_a] if list(ids) == ["a"] else []

    class Ranker:
        seen: list = []

        def acquisition(self, cands, pending):
            self.seen = list(cands)
            return np.zeros(len(cands))

    class Screen:
        asked: list = []

        def estimate_e_hull(self, cands):
            self.asked = [x.id for x in cands]
            return {"c": 0.12}  # "d" could not be estimated

    planner = RoundPlanner.__new__(RoundPlanner)
    screen = Screen()
    planner.c = SimpleNamespace(ledger=Ledger(), screen=screen, config=SimpleNamespace(screen=SimpleNamespace(kind="mlip")))
    ranker = Ranker()
    planner.generator_score(ranker, [])([fresh[i] for i in "abcd"])
    assert screen.asked == ["c", "d"]  # neither the screened one nor one without a structure
    assert [x.metadata.get("e_hull") for x in ranker.seen] == [0.3, None, 0.12, None]
    assert ranker.seen[2].metadata["e_hull_source"] == "computed:mlip single point, unrelaxed"
    assert "e_hull" not in fresh["c"].metadata  # the proposal itself is not changed
