"""The ``crystal`` lab: solid-state synthesis and powder XRD in a simulated chemical world.

Each experiment (a request for a candidate crystal):

1. ground truth of the candidate in the world (:mod:`.truth`: relaxation with the world's
   potential, CHGNet r2SCAN by default, plus the world's hidden error; hull of the known
   phases; density, magnetic moment, EOS bulk modulus; cached per candidate id). The truth
   stays in the lab: its ``e_hull`` decides what forms, and is never reported;
2. the recipe: the request's own when it names precursors, else the planner's
   (``recipe``: a ``crystaloop.recipes`` plug-in, default ``stoichiometric``);
3. synthesis (:mod:`.synthesis`): target, hull decomposition products and unreacted
   precursors with weight fractions;
4. a powder pattern of the products (Cu K-alpha, 10-80 deg; per phase a crystallite size
   log-uniform in ``crystallite_size_nm``, a small lattice strain, micro-strain and, half
   of the time, March-Dollase texture), analysed by the XRD adapter against the world's
   stable solids (less the phases ``unknown_to_analyst``: hidden phases exist in the world,
   not in the analyst's references) plus the target (:mod:`.xrd_sample`); its target weight
   fraction is the yield;
5. ``yield``: the target weight fraction of the XRD analysis (also in ``values``), and
   ``novel`` (:mod:`.novelty`): 1 when the target was found (yield >= ``min_target_fraction``)
   and its structure matches none of the world's known phases, less ``unknown_to_analyst``
   (``PhaseAnalysis.target_known_as``
   names the one it matched), else 0;
6. sample properties with Gaussian noise (``density``, ``bulk_modulus``, ``magmom``,
   ``band_gap``) only when the target was found (yield >= ``min_target_fraction``). No
   energy (``e_hull``, ``formation_energy``, ``energy_per_atom``) is ever returned: those are
   computed by the screen, not measured.

The pattern (``.xy``), its fit (``.fit.csv``: two_theta, observed, fit, one column per
phase) and the sample sheet (``.json``, the recipe) are written under ``<work_dir>/xrd``.

    lab:
      kind: crystal
      options: {elements: [Li, Mn, O], references: [../shared/data/references/li-mn-ti-o-f], xrd: true}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator
from pymatgen.core import Structure

from lab_adapters.crystal.hidden_error import HiddenErrorConfig
from lab_adapters.crystal.novelty import known_match, novelty
from lab_adapters.crystal.recipes import RecipePlanner, create_planner
from lab_adapters.crystal.synthesis import SynthesisConfig, SynthesisOutcome, synthesize
from lab_adapters.crystal.truth import CandidateTruth, TruthConfig, ground_truth, ground_truths
from lab_adapters.crystal.world import World, WorldConfig, build_world
from lab_adapters.simulated import SimulatedLab, SimulatedLabConfig
from loop.interfaces import Potential
from loop.records import (
    Candidate,
    LabCapabilities,
    Measurement,
    Observation,
    PhaseAnalysis,
    PhaseFraction,
    Recipe,
)

__all__ = ["CrystalLab", "CrystalLabConfig"]

log = logging.getLogger(__name__)

COMPUTED = ("e_hull", "formation_energy", "energy_per_atom")
"""Computed properties: never returned by the lab (the screen computes them)."""
SAMPLE = ("density", "bulk_modulus", "magmom", "band_gap")
_DEFAULT_NOISE = {"density": 0.02, "bulk_modulus": 3.0, "magmom": 0.05, "band_gap": 0.05}
WORLD_POTENTIAL = {"kind": "chgnet", "options": {"model_name": "r2scan"}}
"""The world's default potential: CHGNet's r2SCAN weights (the screen's default is CHGNet 0.3.0, PBE)."""


class CrystalLabConfig(SimulatedLabConfig):
    """Options of the ``crystal`` lab."""

    latency_s: float = Field(default=43200.0, ge=0, description="Simulated seconds per experiment (a 12 h firing).")
    elements: list[str] = Field(min_length=1, description="the world's chemical system, e.g. [Li, Mn, O]")
    potential: str | dict[str, Any] = Field(
        default_factory=lambda: dict(WORLD_POTENTIAL), description="the world's potential: a name or {kind, options} (default CHGNet r2SCAN)"
    )
    references: list[str] | None = Field(
        None, description="known phases of the world (folders of CIFs, entry JSON, CSV with a cif column); None: decorated prototypes"
    )
    unknown_to_analyst: list[str] = Field(
        default_factory=list, description="known phases (file stems of references) that exist in the world but not in the "
        "analyst's reference set: left out of the XRD references and the novelty check (the phases a rediscovery "
        "benchmark hides)")
    noise_key: Literal["request", "candidate"] = Field(
        "request", description="what seeds an experiment's random draws (synthesis noise, XRD): its request id, or the "
        "candidate id (the same candidate gives the same result in any campaign of the same seed: benchmarks' arms)")
    hidden_error: HiddenErrorConfig | None = Field(
        default_factory=HiddenErrorConfig, description="the world's hidden smooth energy error (null: none)"
    )
    prototype_kinds: list[str] | None = Field(None, description="reference prototypes of the world when no references are given (None: all)")
    reference_fmax: float = Field(0.05, gt=0, description="reference relaxation force threshold, eV/A")
    reference_steps: int = Field(200, ge=1, description="reference relaxation step limit")
    world_cache_dir: str | None = Field(None, description="default: <crystaloop cache>/worlds")
    truth: TruthConfig = Field(default_factory=TruthConfig, description="candidate relaxation and EOS settings")
    properties: list[str] = Field(["density", "bulk_modulus", "magmom"], min_length=1, description=f"measured sample properties, of {', '.join(SAMPLE)}")
    noise: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_NOISE), description="Gaussian sd per property")
    report_uncertainty: bool = Field(True, description="report the noise sd as the measurement uncertainty")
    min_target_fraction: float = Field(0.05, ge=0, le=1, description="yield below which sample properties are not measured")
    xrd: bool = Field(True, description="simulate and analyse a powder pattern (else the true yield, with noise)")
    crystallite_size_nm: tuple[float, float] = Field((5.0, 100.0), description="range of crystallite sizes, nm")
    max_lattice_strain: float = Field(0.002, ge=0, le=0.01, description="|lattice strain| of a phase, drawn uniformly")
    xrd_simulation: dict[str, Any] = Field(
        default_factory=dict, description="lab_adapters.xrd.SimulationConfig options over the instrument's defaults "
        "(Cu K-alpha1/2, FWHM 0.07 deg, background 250, sample displacement drawn per sample)")
    xrd_analysis: dict[str, Any] = Field(default_factory=dict, description="lab_adapters.xrd.AnalysisConfig options")
    yield_noise: float = Field(0.02, ge=0, description="sd of the yield when xrd is off")
    recipe: dict[str, Any] = Field(default_factory=lambda: {"kind": "stoichiometric"}, description="recipe planner {kind, options}")
    synthesis: SynthesisConfig = Field(default_factory=SynthesisConfig)
    band_gap_model: str | None = Field(None, description="band-gap emulator file (crystaloop train-gap) for ABX3 worlds")

    @field_validator("properties")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        computed = sorted(set(v) & set(COMPUTED))
        if computed:
            raise ValueError(f"{computed} are computed, not measured: a lab returns none of them (the mlip screen computes e_hull)")
        bad = sorted(set(v) - set(SAMPLE))
        if bad:
            raise ValueError(f"unknown properties {bad}; valid: {', '.join(SAMPLE)}")
        return v


class CrystalLab(SimulatedLab):
    """A simulated solid-state synthesis lab with a powder diffractometer."""

    Config = CrystalLabConfig
    name = "crystal"
    version = "1"

    def __init__(self, config: CrystalLabConfig, context: Any) -> None:
        super().__init__(config, context)
        self.cfg: CrystalLabConfig = self.config  # type: ignore[assignment]
        if "band_gap" in self.cfg.properties and not self.cfg.band_gap_model:
            from loop.errors import ConfigError

            raise ConfigError("lab", [("lab.options.band_gap_model", "band_gap needs an emulator file (crystaloop train-gap)")])
        self.world_config = WorldConfig(
            elements=self.cfg.elements,
            prototype_kinds=self.cfg.prototype_kinds,
            fmax=self.cfg.reference_fmax,
            steps=self.cfg.reference_steps,
            cache_dir=self.cfg.world_cache_dir,
            references=self.cfg.references,
            hidden_error=self.cfg.hidden_error,
        )
        self.planner: RecipePlanner = create_planner(self.cfg.recipe, self.context)
        self._potential: Potential | None = None
        self._world: World | None = None
        self._gap_model: Any = None
        self._known_list: list[tuple[str, Structure]] | None = None
        self.xrd_dir = Path(self.context.work_dir) / "xrd"
        self._restore()

    # -- the world ----------------------------------------------------------------------
    @property
    def potential(self) -> Potential:
        if self._potential is None:
            from surrogates.potentials.factory import create_potential

            self._potential = create_potential(self.cfg.potential, self.context)
        return self._potential

    @property
    def world(self) -> World:
        if self._world is None:
            self._world = build_world(self.world_config, self.potential)
        return self._world

    @property
    def gap_model(self) -> Any:
        if self._gap_model is None and self.cfg.band_gap_model:
            from lab_adapters.crystal.bandgap import GapModel

            self._gap_model = GapModel.load(self.cfg.band_gap_model)
        return self._gap_model

    def _capabilities(self) -> LabCapabilities:
        return LabCapabilities(
            properties=[*self.cfg.properties, "yield", "novel"], xrd=True, capacity=self.cfg.capacity,
            elements=list(self.world_config.elements), clock="simulated", recipe_kind="synthesis",
        )

    def truth(self, candidate: Candidate) -> CandidateTruth:
        return ground_truth(candidate, self.world, self.potential, self.cfg.truth)

    def truths(self, candidates: Sequence[Candidate]) -> list[CandidateTruth]:
        """The truths of many candidates; the relaxations the cache lacks run in one batch."""
        return ground_truths(candidates, self.world, self.potential, self.cfg.truth)

    def _prepare(self, jobs: Sequence[dict[str, Any]]) -> None:
        """The truths of a poll's jobs in one batched relaxation (cached; ``_measure`` reads them back)."""
        if len(jobs) > 1:
            self.truths([Candidate.model_validate(j["candidate"]) for j in jobs])

    def _recipe_for(self, candidate: Candidate) -> Recipe | None:
        """Planned when the campaign plans the request, so the ledger records the recipe used."""
        structure = candidate.structure
        formula = candidate.formula or (structure.composition.reduced_formula if structure is not None else None)
        if formula is None:
            return None
        return self.planner.plan(formula, self.world)

    def plan_recipe(self, recipe: Recipe, formula: str) -> Recipe:
        """The request's recipe when it names precursors, else the planner's; checked against the furnace."""
        from lab_adapters.crystal.synthesis import landscape_of, validate_recipe

        if not recipe.precursors:
            planned = self.planner.plan(formula, self.world)
            recipe = planned.model_copy(update={"params": {**recipe.params, **planned.params}})
        validate_recipe(recipe, landscape_of(self.world), self.cfg.synthesis.furnace, formula)
        return recipe

    # -- one experiment -----------------------------------------------------------------
    def _measure(self, job: dict[str, Any], candidate: Candidate) -> Observation:
        base = self.observation_base(job)
        rid = job["request_id"]
        truth = self.truth(candidate)
        if truth.error or truth.structure is None:
            return Observation(success=False, failure_reason=f"no sample: {truth.error}", **base)
        target = truth.relaxed
        assert target is not None
        recipe = self.plan_recipe(Recipe.model_validate(job.get("recipe") or {}), truth.formula)
        rng = self.request_rng(rid if self.cfg.noise_key == "request" else f"candidate:{candidate.id}")
        seed = self.cfg.synthesis.kinetics_seed if self.cfg.synthesis.kinetics_seed is not None else self.seed
        outcome = synthesize(target, float(truth.e_hull or 0.0), recipe, self.world, self.cfg.synthesis, seed, rng)
        self.xrd_dir.mkdir(parents=True, exist_ok=True)
        sheet = self.xrd_dir / f"{rid}.json"
        sheet.write_text(json.dumps({"request_id": rid, "candidate_id": candidate.id, "formula": truth.formula,
                                     "recipe": recipe.model_dump(mode="json")}, indent=1))
        if not outcome.products:
            return Observation(success=False, failure_reason="nothing crystalline formed", raw_files=[str(sheet)], **base)
        raw = [str(sheet)]
        target_label = f"{truth.formula}_target"
        if self.cfg.xrd:
            from lab_adapters.crystal.xrd_sample import measure_xrd

            analysis, files = measure_xrd(rid, outcome, target, target_label, self.world, self.cfg, self.xrd_dir, rng,
                                          unknown=set(self.cfg.unknown_to_analyst))
            raw += files
            pattern = files[0]
        else:
            analysis, pattern = self._true_analysis(outcome, target_label, rng), None
        known_as = known_match(target, self.known_phases())
        analysis = analysis.model_copy(update={"target_known_as": known_as})
        values = self._values(truth, target, analysis.target_fraction or 0.0, rng)
        # the yield as a measured value too, so rankers that read values see the XRD-derived yield
        values["yield"] = Measurement(value=float(analysis.target_fraction or 0.0))
        # measured novelty: the target found in the pattern and not a known phase
        values["novel"] = Measurement(value=novelty(analysis.target_fraction, known_as, self.cfg.min_target_fraction))
        return Observation(values=values, xrd_pattern=pattern, phase_analysis=analysis, raw_files=raw, **base)

    def _values(self, truth: CandidateTruth, target: Structure, yield_: float, rng: np.random.Generator) -> dict[str, Measurement]:
        props = {k: v for k, v in truth.properties().items() if k in SAMPLE}
        if "band_gap" in self.cfg.properties and self.gap_model is not None and self.gap_model.applies(target):
            props["band_gap"] = float(self.gap_model.predict([target])[0])
        out: dict[str, Measurement] = {}
        for name in self.cfg.properties:
            if name not in props or (name in SAMPLE and yield_ < self.cfg.min_target_fraction):
                continue
            sd = float(self.cfg.noise.get(name, 0.0))
            v = props[name] + (float(rng.normal(0.0, sd)) if sd > 0 else 0.0)
            if name in ("density", "bulk_modulus", "magmom", "band_gap"):
                v = max(v, 0.0)
            out[name] = Measurement(value=v, uncertainty=sd if (self.cfg.report_uncertainty and sd > 0) else None)
        return out

    def _true_analysis(self, outcome: SynthesisOutcome, target_label: str, rng: np.random.Generator) -> PhaseAnalysis:
        y = outcome.target_fraction
        noisy = float(np.clip(y + rng.normal(0.0, self.cfg.yield_noise), 0.0, 1.0)) if y > 0 else 0.0
        phases = [PhaseFraction(name=target_label if p.label == "target" else p.label, formula=p.formula,
                                weight_fraction=round(p.weight_fraction, 6)) for p in outcome.products]
        return PhaseAnalysis(phases=phases, target_fraction=noisy)

    def known_phases(self) -> list[tuple[str, Structure]]:
        """The world's solid reference phases by label: what a target is checked against for novelty."""
        if self._known_list is None:
            unknown = set(self.cfg.unknown_to_analyst)
            self._known_list = [(self.world.phase_label(p), p.structure) for p in self.world.hull.phases
                                if not self.world.is_gas(p) and self.world.phase_label(p) not in unknown]
        return self._known_list

    def provenance(self) -> dict[str, Any]:
        """Where the world's known phases came from (folders, files, counts), or the prototype fallback."""
        from loop.known_phases import reference_provenance

        return reference_provenance(self.cfg.references, self.world_config.elements, max_atoms=self.world_config.max_disordered_atoms)
