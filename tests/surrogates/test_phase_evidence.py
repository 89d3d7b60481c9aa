"""The lab's XRD evidence of new phases as a composition weight: down where known phases explained the pattern,
up where intensity stayed unexplained, nothing where the lab has not been or reads no phases."""

from __future__ import annotations

import numpy as np
import pytest

from loop.interfaces import PluginContext
from loop.records import Candidate, Measurement, Observation, PhaseAnalysis, PhaseFraction, UnidentifiedResidual
from surrogates.models.phase_evidence import PhaseEvidence, evidence_by_composition, new_phase_evidence
from surrogates.models.prior_weights import PriorWeights


def _cand(formula: str, i: int = 0) -> Candidate:
    return Candidate(id=f"{formula}-{i}", formula=formula)


def _read(c: Candidate, *, unexplained: float, target: float = 0.0, success: bool = True) -> Observation:
    analysis = PhaseAnalysis(
        phases=[PhaseFraction(name="MnO_225", formula="MnO", weight_fraction=1.0)],
        target_fraction=target,
        unidentified=UnidentifiedResidual(detected=unexplained > 0, intensity_share=unexplained),
    )
    return Observation(request_id=f"r-{c.id}", candidate_id=c.id, success=success, values={"yield": Measurement(value=target)},
                       phase_analysis=analysis)


def test_explained_patterns_lower_their_composition_and_unexplained_ones_raise_theirs():
    tried = [_cand("Ti2MnO6", i) for i in range(3)] + [_cand("Ti2MnO3")]
    obs = [_read(c, unexplained=0.0) for c in tried[:3]] + [_read(tried[3], unexplained=0.45)]
    ev = PhaseEvidence(length=0.05, prior=0.2).fit(tried, obs)
    probe = [_cand("Ti2MnO6", 9), _cand("Ti2MnO3", 9), _cand("TiMn5O6"), _cand("Li2O")]
    w = ev.log_weight(probe)
    assert w[0] < np.log(0.5)  # three fully explained patterns: below half the prior
    assert w[1] > 0.3  # unexplained intensity: above the prior
    assert abs(w[2]) < 0.05  # far from every experiment: the prior
    assert w[3] == pytest.approx(0.0, abs=1e-9)  # elements never measured


def test_the_weight_sharpens_with_repeated_failures_at_one_composition():
    weights = []
    for n in (1, 2, 4):
        tried = [_cand("Ti2MnO6", i) for i in range(n)]
        ev = PhaseEvidence().fit(tried, [_read(c, unexplained=0.0) for c in tried])
        weights.append(ev.log_weight([_cand("Ti2MnO6", 99)])[0])
    assert weights[0] > weights[1] > weights[2]


def test_a_formed_target_counts_as_new_and_failed_or_unread_experiments_do_not_count():
    c = _cand("Li2MnO3")
    assert new_phase_evidence(_read(c, unexplained=0.1, target=0.6)) == pytest.approx(0.7)
    assert new_phase_evidence(_read(c, unexplained=0.1, success=False)) is None
    known = _read(c, unexplained=0.1, target=0.9)
    known = known.model_copy(update={"phase_analysis": known.phase_analysis.model_copy(update={"target_known_as": "Li2MnO3_12"})})
    assert new_phase_evidence(known) == pytest.approx(0.1)  # a known target is not a new phase
    assert new_phase_evidence(Observation(request_id="r", candidate_id=c.id, values={"yield": Measurement(value=0.0)})) is None
    ev = PhaseEvidence().fit([c], [Observation(request_id="r", candidate_id=c.id, values={"yield": Measurement(value=0.0)})])
    assert not ev.active and ev.log_weight([c])[0] == 0.0


def test_prior_weights_carry_the_evidence_into_the_fallback_ranking(tmp_path):
    tried = [_cand("Ti2MnO6"), _cand("Ti2MnO3")]
    obs = [_read(tried[0], unexplained=0.0), _read(tried[1], unexplained=0.5)]
    prior = PriorWeights(PluginContext(work_dir=tmp_path, seed=0), synthesizability="off", feasibility=False, phase_evidence=PhaseEvidence())
    X = np.zeros((2, 1))
    assert not prior.has_weights(tried)
    prior.fit(X, np.ones(2, dtype=bool), tried, obs)
    assert prior.has_weights(tried)
    probe = [_cand("Ti2MnO6", 1), _cand("Ti2MnO3", 1)]
    lw = prior.fallback_log_weight(probe, np.zeros((2, 1)), np.ones(2, dtype=bool))
    assert lw is not None and lw[1] > 0 > lw[0]
    off = PriorWeights(PluginContext(work_dir=tmp_path, seed=0), synthesizability="off", feasibility=False)
    off.fit(X, np.ones(2, dtype=bool), tried, obs)
    assert off.fallback_log_weight(probe, np.zeros((2, 1)), np.ones(2, dtype=bool)) is None


def test_an_analysis_that_lists_phases_only_is_no_evidence_and_the_table_ranks_compositions():
    c = _cand("Ti2MnO6")
    phases_only = Observation(request_id="r", candidate_id=c.id, values={"yield": Measurement(value=0.0)},
                              phase_analysis=PhaseAnalysis(phases=[PhaseFraction(name="TiO2_136", formula="TiO2", weight_fraction=1.0)],
                                                           target_fraction=0.0))
    assert new_phase_evidence(phases_only) is None

    tried = [_cand("Ti2MnO6", i) for i in range(3)] + [_cand("Ti2MnO3", i) for i in range(2)]
    obs = [_read(c, unexplained=0.0) for c in tried[:3]] + [_read(tried[3], unexplained=0.4), _read(tried[4], unexplained=0.2, target=0.1)]
    rows = evidence_by_composition(tried, obs)
    assert [r["formula"] for r in rows] == ["Ti2MnO3", "Ti2MnO6"]
    top, bottom = rows
    assert (top["experiments"], bottom["experiments"]) == (2, 3)
    assert top["mean_evidence"] == pytest.approx(0.35) and top["max_evidence"] == pytest.approx(0.4)
    assert top["best_yield"] == pytest.approx(0.1) and top["weight"] > 1.0 > bottom["weight"]


def test_the_evidence_command_names_a_folder_without_a_ledger(tmp_path):
    from click.testing import CliRunner

    from surrogates.cli import evidence

    result = CliRunner().invoke(evidence, [str(tmp_path)])
    assert result.exit_code != 0 and f"{tmp_path}: no ledger.db here" in result.output
