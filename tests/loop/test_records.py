from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from loop.errors import InputDataError
from loop.records import (
    Candidate,
    ExperimentRequest,
    LabCapabilities,
    Measurement,
    Observation,
    Origin,
    PhaseAnalysis,
    PhaseFraction,
    Precursor,
    Receipt,
    Recipe,
    RequestStatus,
    Round,
    ScreenDecision,
    Selection,
)


def nacl() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def roundtrip(record):
    return type(record).model_validate_json(record.model_dump_json())


def test_structure_candidate_roundtrips_with_relaxed_structure():
    c = Candidate.from_structure(nacl(), Origin(generator="pool", round=3))
    relaxed = nacl()
    relaxed.scale_lattice(relaxed.volume * 1.02)
    c = c.model_copy(update={"relaxed_structure": relaxed})
    back = roundtrip(c)
    assert back == c
    assert back.structure.composition.reduced_formula == "NaCl"
    assert back.relaxed_structure.volume == pytest.approx(relaxed.volume)
    assert back.id == c.id  # relaxing never re-keys


def test_param_candidate_id_ignores_key_order():
    a = Candidate.from_params({"x": 1.0, "y": 2.0})
    b = Candidate.from_params({"y": 2.0, "x": 1.0})
    assert a.id == b.id
    assert Candidate.from_params({"x": 1.0, "y": 2.5}).id != a.id


@pytest.mark.parametrize(
    "record",
    [
        ExperimentRequest(
            request_id="r1",
            candidate=Candidate.from_params({"a": 1}),
            round=0,
            recipe=Recipe(precursors=[Precursor(formula="Li2CO3", amount=0.5)], temperature_c=900, time_h=12, atmosphere="air"),
            status=RequestStatus.SUBMITTED,
            resubmission_of="r0",
        ),
        Observation(
            request_id="r1",
            candidate_id="p-1",
            values={"yield": Measurement(value=0.8, uncertainty=0.05)},
            phase_analysis=PhaseAnalysis(phases=[PhaseFraction(name="LiMn2O4", formula="LiMn2O4", weight_fraction=0.8)], rwp=9.5),
            raw_files=["xrd/r1.xy"],
            started_at=1.0,
            finished_at=2.0,
        ),
        Round(index=2, started_at=10.0, selected=["a", "b"], rng_seed=7, model_versions={"ranker": "gp-1"}),
        ScreenDecision(candidate_id="s-1", kept=False, reason="atoms closer than 0.5 A", e_hull=0.3),
        Selection(candidate_id="s-1", score=0.3, rank=0, predicted={"e_hull": (0.1, 0.02)}),
        Receipt(request_id="r1", expected_at=3600.0),
        LabCapabilities(properties=["yield"], xrd=True, capacity=4, elements=["Li", "O"]),
    ],
)
def test_records_roundtrip_json(record):
    assert roundtrip(record) == record


def test_measurement_rejects_nan_and_negative_uncertainty():
    with pytest.raises(ValueError):
        Measurement(value=float("nan"))
    with pytest.raises(ValueError):
        Measurement(value=1.0, uncertainty=-1)


def test_observation_from_raw_names_the_bad_property():
    with pytest.raises(InputDataError, match="conductivity"):
        Observation.from_raw("r1", "p-1", {"conductivity": float("nan")})
    obs = Observation.from_raw("r1", "p-1", {"a": 1, "b": {"value": 2.0, "uncertainty": 0.1}})
    assert obs.value("a") == 1.0 and obs.values["b"].uncertainty == 0.1


def test_status_terminal_and_pending():
    assert RequestStatus.DONE.terminal and RequestStatus.ABANDONED.terminal
    assert RequestStatus.SUBMITTED.pending and not RequestStatus.PLANNED.pending


def test_yield_from_xrd_phase_analysis_is_a_measurement():
    o = Observation(request_id="r", candidate_id="c", phase_analysis=PhaseAnalysis(target_fraction=0.6))
    assert o.measured()["yield"].value == 0.6
    direct = Observation.from_raw("r", "c", {"yield": 0.9}, phase_analysis=PhaseAnalysis(target_fraction=0.6))
    assert direct.measured()["yield"].value == 0.9  # a directly reported yield wins
