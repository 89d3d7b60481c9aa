"""Records that cross a stage boundary.

Every record is a pydantic model that round-trips through JSON
(``Record.model_validate_json(r.model_dump_json()) == r``); the ledger stores them and
plug-ins exchange them. Structures are pymatgen ``Structure`` objects in memory and
their ``as_dict()`` form on the wire.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, field_validator
from pymatgen.core import Structure

from loop.errors import InputDataError

__all__ = [
    "Candidate",
    "ExperimentRequest",
    "LabCapabilities",
    "Measurement",
    "Observation",
    "Origin",
    "PhaseAnalysis",
    "PhaseFraction",
    "UnidentifiedPeak",
    "UnidentifiedResidual",
    "Precursor",
    "RankingNote",
    "Receipt",
    "Recipe",
    "RequestStatus",
    "Round",
    "ScreenDecision",
    "Selection",
    "StructureField",
]


def _to_structure(value: Any) -> Structure:
    if isinstance(value, Structure):
        return value
    if isinstance(value, Mapping):
        return Structure.from_dict(dict(value))
    raise ValueError(f"expected a pymatgen Structure or its as_dict() form, got {type(value).__name__}")


StructureField = Annotated[
    Structure,
    PlainValidator(_to_structure),
    PlainSerializer(lambda s: s.as_dict(), return_type=dict),
    WithJsonSchema({"type": "object", "description": "pymatgen Structure.as_dict()"}),
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Origin(_Record):
    """Where a candidate came from."""

    generator: str
    round: int | None = None


class Candidate(_Record):
    """Something that may be made: a crystal structure or a parameter vector.

    ``id`` is a content hash of the *proposed* form (see :mod:`loop.identity`); the
    relaxed structure is stored beside it and never re-keys the candidate. A candidate
    later found to match an earlier one points to it through ``duplicate_of``.
    """

    id: str
    structure: StructureField | None = None
    relaxed_structure: StructureField | None = None
    params: dict[str, float] = Field(default_factory=dict)
    formula: str | None = None
    origin: Origin = Field(default_factory=lambda: Origin(generator="unknown"))
    duplicate_of: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, float], origin: Origin | None = None, **kw: Any) -> Candidate:
        from loop.identity import params_id

        clean = {str(k): float(v) for k, v in params.items()}
        return cls(id=params_id(clean), params=clean, origin=origin or Origin(generator="unknown"), **kw)

    @classmethod
    def from_structure(
        cls, structure: Structure, origin: Origin | None = None, *, symprec: float = 0.01, **kw: Any
    ) -> Candidate:
        from loop.identity import structure_id

        return cls(
            id=structure_id(structure, symprec=symprec),
            structure=structure,
            formula=structure.composition.reduced_formula,
            origin=origin or Origin(generator="unknown"),
            **kw,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidate):
            return NotImplemented
        return self.model_dump(mode="json") == other.model_dump(mode="json")

    __hash__ = None  # type: ignore[assignment]


class Precursor(_Record):
    formula: str
    amount: float
    unit: Literal["mol", "g", "mmol", "mg"] = "mol"


class Recipe(_Record):
    """How to make a candidate: free-form ``params`` for tabular labs, or a synthesis."""

    precursors: list[Precursor] = Field(default_factory=list)
    temperature_c: float | None = None
    time_h: float | None = None
    atmosphere: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class RequestStatus(enum.StrEnum):
    """Life cycle: planned -> submitted -> running -> done | failed | abandoned."""

    PLANNED = "planned"
    SUBMITTED = "submitted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def terminal(self) -> bool:
        return self in (RequestStatus.DONE, RequestStatus.FAILED, RequestStatus.ABANDONED)

    @property
    def pending(self) -> bool:
        return self in (RequestStatus.SUBMITTED, RequestStatus.RUNNING)


ALLOWED_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PLANNED: frozenset({RequestStatus.SUBMITTED, RequestStatus.ABANDONED, RequestStatus.FAILED}),
    RequestStatus.SUBMITTED: frozenset(
        {RequestStatus.RUNNING, RequestStatus.DONE, RequestStatus.FAILED, RequestStatus.ABANDONED}
    ),
    RequestStatus.RUNNING: frozenset({RequestStatus.DONE, RequestStatus.FAILED, RequestStatus.ABANDONED}),
    RequestStatus.DONE: frozenset(),
    RequestStatus.FAILED: frozenset(),
    RequestStatus.ABANDONED: frozenset(),
}


class ExperimentRequest(_Record):
    """One lab experiment for one candidate. ``request_id`` is the idempotency key."""

    request_id: str
    candidate: Candidate
    round: int
    lab: str = "default"
    recipe: Recipe = Field(default_factory=Recipe)
    status: RequestStatus = RequestStatus.PLANNED
    status_reason: str | None = None
    resubmission_of: str | None = None
    created_at: float = 0.0
    submitted_at: float | None = None
    updated_at: float | None = None

    @property
    def candidate_id(self) -> str:
        return self.candidate.id


class Receipt(_Record):
    """A lab's acknowledgement of one submitted request."""

    request_id: str
    accepted: bool = True
    duplicate: bool = False
    message: str | None = None
    expected_at: float | None = None


class Measurement(_Record):
    """A measured value with its (1-sigma) uncertainty, when the lab reports one."""

    value: float
    uncertainty: float | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"measured value must be finite, got {v}")
        return v

    @field_validator("uncertainty")
    @classmethod
    def _sane_uncertainty(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v < 0):
            raise ValueError(f"uncertainty must be finite and >= 0, got {v}")
        return v


class PhaseFraction(_Record):
    """One identified phase: weight fraction, the evidence for it and its refined cell."""

    name: str
    formula: str | None = None
    weight_fraction: float = Field(ge=0.0, le=1.0)
    confidence: float | None = Field(None, ge=0.0, le=1.0, description="1 - p of the phase's significance test")
    kept_on_evidence: bool | None = Field(
        None, description="True when the fit's significance test and detection limit kept it; False when it "
        "stayed without passing them (e.g. the only phase left)")
    lattice: list[float] | None = Field(None, description="refined a, b, c (A), alpha, beta, gamma (deg)")
    preferred_orientation: list[float] | None = Field(
        None, description="refined March-Dollase texture: h, k, l of the preferred direction and r (1: none)")


class UnidentifiedPeak(_Record):
    """A peak that no reference explains."""

    two_theta: float
    height: float = Field(ge=0.0, description="net counts above the fit at the peak")
    share: float = Field(ge=0.0, le=1.0, description="share of the pattern's net intensity in this peak")


class UnidentifiedResidual(_Record):
    """Intensity that no reference phase explains: 'there is something here I do not know'."""

    detected: bool
    intensity_share: float = Field(ge=0.0, le=1.0, description="share of the net (above-background) intensity")
    peaks: list[UnidentifiedPeak] = Field(default_factory=list)


class PhaseAnalysis(_Record):
    """What an XRD analysis found: phases with weight fractions, unexplained peaks and the fit quality."""

    phases: list[PhaseFraction] = Field(default_factory=list)
    rwp: float | None = None
    confidence: float | None = None
    target_fraction: float | None = None
    unidentified: UnidentifiedResidual | None = None
    warnings: list[str] = Field(default_factory=list)
    target_known_as: str | None = Field(
        None, description="the known phase the target's structure matches (pymatgen StructureMatcher), None when it matches none")


class Observation(_Record):
    """The lab's answer to one request."""

    request_id: str
    candidate_id: str
    success: bool = True
    failure_reason: str | None = None
    values: dict[str, Measurement] = Field(default_factory=dict)
    xrd_pattern: str | None = None
    phase_analysis: PhaseAnalysis | None = None
    raw_files: list[str] = Field(default_factory=list)
    lab: str = "default"
    started_at: float | None = None
    finished_at: float | None = None
    received_at: float | None = None

    def value(self, name: str) -> float | None:
        m = self.values.get(name)
        return None if m is None else m.value

    def scalar_values(self) -> dict[str, float]:
        return {k: m.value for k, m in self.values.items()}

    def measured(self) -> dict[str, Measurement]:
        """The values, plus the synthesis ``yield`` from the XRD phase analysis when not reported directly."""
        out = dict(self.values)
        pa = self.phase_analysis
        if "yield" not in out and pa is not None and pa.target_fraction is not None:
            out["yield"] = Measurement(value=pa.target_fraction)
        return out

    @classmethod
    def from_raw(
        cls, request_id: str, candidate_id: str, raw: Mapping[str, Any], *, source: str | None = None, **kw: Any
    ) -> Observation:
        """Build from ``{name: number | {value, uncertainty}}``; a NaN names its property."""
        values: dict[str, Measurement] = {}
        for name, v in raw.items():
            try:
                if isinstance(v, Mapping):
                    values[name] = Measurement(**v)
                else:
                    values[name] = Measurement(value=float(v))
            except (ValueError, TypeError) as exc:
                raise InputDataError(
                    f"measurement {name!r} of request {request_id} is not a finite number: {v!r}",
                    source=source,
                ) from exc
        return cls(request_id=request_id, candidate_id=candidate_id, values=values, **kw)


class ScreenDecision(_Record):
    """A screen's verdict on one candidate."""

    candidate_id: str
    kept: bool
    reason: str | None = None
    relaxed_structure: StructureField | None = None
    energy_per_atom: float | None = None
    e_hull: float | None = None
    duplicate_of: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class Selection(_Record):
    """A ranker's choice: the candidate, its acquisition value and its predictions."""

    candidate_id: str
    score: float
    rank: int
    predicted: dict[str, tuple[float, float]] = Field(default_factory=dict)


class LabCapabilities(_Record):
    """What a lab can do (the schema the campaign routes and validates against)."""

    properties: list[str]
    xrd: bool = False
    capacity: int = 1
    elements: list[str] | None = None
    clock: Literal["simulated", "wall"] = "wall"
    recipe_kind: Literal["tabular", "synthesis"] = "tabular"


class RankingNote(_Record):
    """How a round's batch was ranked: the acquisition in use, the ranker's fallback (if it used
    one instead) and what it left out, e.g. ``skips output 'yield': ... constant value 0``."""

    acquisition: str
    fallback: str | None = None
    skipped: list[str] = Field(default_factory=list)

    def text(self) -> str:
        """One line: ``fallback`` when there was one, else ``acquisition``; then the skips."""
        parts = [self.fallback or self.acquisition, *(f"skips {s}" for s in self.skipped)]
        return "; ".join(parts)


class Round(_Record):
    """One pass through propose -> screen -> rank -> submit."""

    index: int
    started_at: float
    finished_at: float | None = None
    n_proposed: int = 0
    n_kept: int = 0
    selected: list[str] = Field(default_factory=list)
    pending_at_start: list[str] = Field(default_factory=list)
    rng_seed: int = 0
    model_versions: dict[str, str] = Field(default_factory=dict)
    ranking: RankingNote | None = None
