"""The ``mlip`` screen: valid, new and near the hull.

For each candidate, in order, the first failing check is its recorded reason:

1. a structure is present; structural validity (distances >= 0.5 A, 5-100 A^3/atom);
2. compositional validity (SMACT charge neutrality + electronegativity);
3. every element covered by the potential (and the hull's chemical system);
4. not a duplicate of a ledger candidate (``known``) or of an earlier one in the batch;
5. relaxation converges within ``steps`` (cached by candidate id; Ray tasks by chunk);
6. the relaxed structure is still valid; ``E_hull <= max_e_hull`` against a hull built
   with the same potential (cached per chemical system).

The hull's references are the user's known phases (``references``:
:func:`loop.known_phases.load_known_phases`; entries without a structure enter with their
own energy) plus, for elements the user gave none of, the lowest-energy built-in elemental
prototype (:mod:`surrogates.hull.elemental`); without ``references`` they are decorated
prototypes, and the log says so (:attr:`MLIPScreen.reference_source`). With a potential
trained on MP's PBE/PBE+U data (CHGNet 0.3.0), energies of references and candidates get
MP2020 corrections (``correction: auto``, :mod:`surrogates.hull.compatibility`); an
r2SCAN potential gets none.

Kept candidates carry the relaxed structure, energy per atom and ``E_hull`` (computed, and
passed on to the ranker as ``metadata["e_hull"]`` by the campaign). Nothing a
candidate or a model file does raises out of :meth:`MLIPScreen.screen`: a bad structure,
a diverging relaxation, an uncovered element or a corrupt model file becomes a rejection.

>>> screen = MLIPScreen(MLIPScreen.Config(max_e_hull=0.1), PluginContext(work_dir=tmp))
>>> decisions = screen.screen(candidates, known=[])
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pymatgen.core import Structure

from loop.errors import CrystaloopError
from loop.interfaces import PluginConfig, Potential, Screen
from loop.records import Candidate, ScreenDecision
from surrogates.hull import Hull, build_reference_hull, potential_identity
from surrogates.screening.dedupe import DuplicateIndex, prefilter_key
from surrogates.screening.relaxation import RelaxCache, relax_many
from surrogates.screening.validity import compositional_problem, structural_problem

__all__ = ["MLIPScreen", "MLIPScreenConfig"]

log = logging.getLogger(__name__)


class MLIPScreenConfig(PluginConfig):
    """Options of the ``mlip`` screen."""

    potential: str | None = Field("chgnet", description="potential plug-in name (None: mace if a converted model is cached, else chgnet)")
    potential_options: dict[str, Any] = Field(default_factory=dict)
    max_e_hull: float = Field(0.2, description="eV/atom; candidates above are rejected")
    fmax: float = Field(0.1, gt=0, description="relaxation force threshold (eV/A)")
    steps: int = Field(300, ge=1, description="relaxation step limit")
    min_distance: float = Field(0.5, ge=0)
    min_volume_per_atom: float = Field(5.0, ge=0)
    max_volume_per_atom: float = Field(100.0, gt=0)
    check_composition: bool = Field(True, description="SMACT charge neutrality + electronegativity")
    elements: list[str] | None = Field(None, description="the hull's chemical system (None: each candidate's own)")
    reference_dir: str | None = Field(None, description="folder of reference structures (CIF/POSCAR) for the hull")
    references: list[str] | None = Field(
        None, description="known phases for the hull: folders of CIFs, entry JSON, CSV with a cif column (replaces prototypes)"
    )
    correction: Literal["auto", "mp2020", "none"] = Field(
        "auto", description="energy corrections: auto = MP2020 for PBE-trained potentials, none for r2SCAN ones"
    )
    include_prototypes: bool = True
    prototype_kinds: list[str] | None = None
    hull_fmax: float = Field(0.05, gt=0)
    hull_steps: int = Field(200, ge=1)
    hull_cache_dir: str | None = Field(None, description="default: <work_dir>/hulls")
    relax_cache_dir: str | None = Field(
        None, description="relaxations cached by (candidate id, potential, fmax, steps); default: <work_dir>/relax_cache")
    symprec: float = Field(0.1, gt=0, description="space-group tolerance of the duplicate pre-filter")
    chunk_size: int = Field(4, ge=1, description="candidates per Ray task")
    ray: Literal["auto", "always", "never"] = Field("auto", description="auto: Ray tasks when a Ray runtime is up")
    threads_per_task: int = Field(1, ge=1)
    relax_mode: Literal["batched", "sequential"] = Field(
        "batched", description="batched: the structures of a chunk (all of them without Ray) share each model pass"
    )
    gpus_per_task: float | None = Field(
        None, ge=0, description="GPUs a Ray relaxation task asks for (None: 1 when the potential runs on CUDA, else 0)"
    )
    novel_only: bool = Field(
        False,
        description="reject a candidate whose relaxed structure matches a known phase of the hull (same reduced formula, "
        "pymatgen StructureMatcher with default tolerances): a discovery campaign spends no experiment on what it knows",
    )
    reward_estimates: bool = Field(
        False,
        description="estimate e_hull by one single point (the unrelaxed proposal, this screen's potential and hull) for "
        "the proposals the generator's reward scores before they are screened; one single point per distinct proposal, "
        "cached by candidate id (surrogates/screening/single_point.py). Off by default: a from-scratch generator scores "
        "hundreds of new proposals a round",
    )


def known_match(hull: Hull, structure: Structure) -> str | None:
    """The name of a known phase of ``hull`` (a ``known:`` reference with a structure) that ``structure``
    matches (same reduced formula, ``StructureMatcher`` with default tolerances), else None."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    formula = structure.composition.reduced_formula
    same = [p for p in hull.phases if p.name.startswith("known:") and p.structure is not None
            and p.structure.composition.reduced_formula == formula]
    if not same:
        return None
    matcher = StructureMatcher()
    return next((p.name.removeprefix("known:") for p in same if matcher.fit(structure, p.structure)), None)


class MLIPScreen(Screen):
    """Validity, duplicates, relaxation and energy above hull, with a reason per decision."""

    Config = MLIPScreenConfig
    name = "mlip"
    version = "1"

    config: MLIPScreenConfig

    def __init__(self, config: MLIPScreenConfig | None = None, context: Any = None, *, potential: Potential | None = None) -> None:
        super().__init__(config, context)
        self._potential = potential
        self._potential_error: str | None = None
        self._hulls: dict[str, Hull | str] = {}
        self._known_keys: dict[str, tuple[str, int]] = {}
        self._single_points: dict[str, float] = {}
        self.stats: dict[str, float] = {}

    # -- helpers ------------------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        return Path(self.context.work_dir) / "mlip_screen"

    @property
    def potential_spec(self) -> dict[str, Any] | None:
        if self._potential is not None and self.config.potential is None:
            return None
        name = self.config.potential
        if name is None:
            from surrogates.potentials.factory import default_potential_name

            name = default_potential_name()
        return {"kind": name, "options": dict(self.config.potential_options)}

    def potential(self) -> Potential | None:
        """The potential, loaded once; None (with the reason kept) when it cannot be loaded."""
        if self._potential is None and self._potential_error is None:
            from surrogates.potentials.factory import create_potential

            try:
                pot = create_potential(self.potential_spec, self.context)
                _ = getattr(pot, "supported_numbers", None)  # forces the model to load now
                self._potential = pot
            except Exception as exc:  # a missing or corrupt model file is a recorded rejection
                self._potential_error = f"potential could not be loaded: {exc}"
                log.error("mlip screen: %s", self._potential_error)
        return self._potential

    def _references(self) -> list[Structure]:
        if not self.config.reference_dir:
            return []
        folder = Path(self.config.reference_dir)
        return [Structure.from_file(p) for p in sorted(folder.iterdir()) if p.is_file()]

    @property
    def reference_source(self) -> str:
        """``known phases`` or ``prototypes`` (the fallback), for logs, reports and MLflow."""
        return "known phases" if self.config.references else "prototypes"

    def provenance(self) -> dict[str, Any]:
        """Where the hull's known phases came from (folders, files, counts), or the prototype fallback."""
        from loop.known_phases import reference_provenance

        return reference_provenance(self.config.references, self.config.elements)

    def correction(self) -> str:
        """The energy correction in force: ``mp2020`` or ``none``."""
        if self.config.correction != "auto":
            return self.config.correction
        pot = self.potential()
        if pot is None:
            return "none"
        from surrogates.hull.compatibility import correction_for_potential

        return correction_for_potential(potential_identity(pot))

    def corrected(self, structure: Structure, energy_per_atom: float) -> float:
        """A candidate's energy per atom on the hull's footing."""
        if self.correction() == "mp2020":
            from surrogates.hull.compatibility import corrected_energy_per_atom

            return corrected_energy_per_atom(structure, energy_per_atom)
        return energy_per_atom

    def hull(self, elements: Sequence[str]) -> Hull | str:
        """The hull of a chemical system, or the reason it cannot be built."""
        els = sorted(set(self.config.elements or elements))
        key = "-".join(els)
        if key not in self._hulls:
            pot = self.potential()
            if pot is None:
                return self._potential_error or "no potential"
            try:
                cache = Path(self.config.hull_cache_dir) if self.config.hull_cache_dir else self.work_dir / "hulls"
                kw = {"fmax": self.config.hull_fmax, "steps": self.config.hull_steps, "correction": self.correction(),
                      "relax_mode": self.config.relax_mode}
                if self.config.references:
                    self._hulls[key] = self._known_hull(els, pot, cache, kw)
                else:
                    refs = [s for s in self._references() if {e.symbol for e in s.composition.elements} <= set(els)]
                    log.info("mlip screen: hull of %s from decorated prototypes (no known phases given)", key)
                    self._hulls[key] = build_reference_hull(
                        els, pot, cache, structures=refs, include_prototypes=self.config.include_prototypes,
                        prototype_kinds=self.config.prototype_kinds, **kw,
                    )
            except (CrystaloopError, ValueError, OSError) as exc:
                self._hulls[key] = f"hull of {key} could not be built: {exc}"
        return self._hulls[key]

    def _known_hull(self, els: list[str], pot: Potential, cache: Path, kw: dict[str, Any]) -> Hull:
        from loop.known_phases import load_known_phases
        from surrogates.hull import ReferencePhase
        from surrogates.hull.elemental import elemental_references

        known = load_known_phases(self.config.references or [], els)
        log.info("mlip screen: hull of %s from %s", "-".join(els), known.label())
        with_s = known.with_structures()
        fixed = [ReferencePhase(f"entry:{p.name}", None, float(p.energy_per_atom), True, p.formula)
                 for p in known.phases if p.structure is None and p.energy_per_atom is not None]
        missing = known.missing_elements(els)
        builtin = elemental_references(missing, pot, cache / "elements", fmax=kw["fmax"], steps=kw["steps"])
        for el, ph in builtin.items():
            log.info("mlip screen: elemental reference of %s is the built-in prototype %s", el, ph.name)
        return build_reference_hull(
            els, pot, cache, structures=[p.structure for p in with_s], names=[f"known:{p.name}" for p in with_s],
            include_prototypes=False, fixed_phases=[*fixed, *builtin.values()], **kw,
        )

    def estimate_e_hull(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """Single-point ``e_hull`` of unrelaxed candidates, with ``reward_estimates`` (else none)."""
        if not self.config.reward_estimates or not candidates:
            return {}
        from surrogates.screening.single_point import single_point_e_hull

        return single_point_e_hull(self, candidates, self._single_points)

    def _use_ray(self) -> bool:
        from loop.runtime import ray_available

        mode = self.config.ray
        return mode == "always" or (mode == "auto" and ray_available())

    # -- the stage ----------------------------------------------------------------------
    def screen(self, candidates: Sequence[Candidate], known: Sequence[Candidate]) -> list[ScreenDecision]:
        t0 = time.perf_counter()
        cfg = self.config
        decisions: dict[str, ScreenDecision] = {}
        order = [c.id for c in candidates]

        def reject(c: Candidate, reason: str, **kw: Any) -> None:
            decisions[c.id] = ScreenDecision(candidate_id=c.id, kept=False, reason=reason, **kw)

        pot = self.potential()
        supported = getattr(pot, "supported_numbers", None) if pot is not None else None
        index = DuplicateIndex(symprec=cfg.symprec)
        for k in known:
            s = k.relaxed_structure or k.structure
            if s is None:
                continue
            if k.id not in self._known_keys:
                self._known_keys[k.id] = prefilter_key(s, cfg.symprec)
            index.add(k.id, s, self._known_keys[k.id])
        to_relax: list[tuple[str, Structure]] = []
        by_id: dict[str, Candidate] = {}
        seen_ids: set[str] = set()
        for c in candidates:
            if c.id in seen_ids:  # the same id twice: decided once, repeated below
                continue
            seen_ids.add(c.id)
            s = c.structure
            if s is None:
                reject(c, "no structure to screen (parameter candidate)")
                continue
            problem = structural_problem(s, min_dist=cfg.min_distance, v_min=cfg.min_volume_per_atom, v_max=cfg.max_volume_per_atom)
            if problem:
                reject(c, f"invalid structure: {problem}")
                continue
            if cfg.check_composition and (problem := compositional_problem(s.composition)):
                reject(c, f"invalid composition: {problem}")
                continue
            if pot is None:
                reject(c, self._potential_error or "no potential")
                continue
            if supported is not None:
                missing = sorted({e.symbol for e in s.composition.elements if e.Z not in supported})
                if missing:
                    reject(c, f"elements {missing} are not covered by the potential")
                    continue
            if cfg.elements is not None:
                outside = sorted({e.symbol for e in s.composition.elements} - set(cfg.elements))
                if outside:
                    reject(c, f"elements {outside} are outside the hull's chemical system {cfg.elements}")
                    continue
            key = prefilter_key(s, cfg.symprec)
            dup = index.find(c.id, s, key)
            if dup is not None:
                reject(c, f"duplicate of {dup}", duplicate_of=dup)
                continue
            index.add(c.id, s, key)
            by_id[c.id] = c
            to_relax.append((c.id, s))
        t_checks = time.perf_counter() - t0

        relaxed: dict = {}
        rstats = {"cached": 0.0, "relaxed": 0.0, "relax_s": 0.0}
        if to_relax and pot is not None:
            root = Path(cfg.relax_cache_dir) if cfg.relax_cache_dir else self.work_dir / "relax_cache"
            cache = RelaxCache(root, potential_identity(pot), cfg.fmax, cfg.steps)
            relaxed, rstats = relax_many(
                pot, self.potential_spec, to_relax, cache, fmax=cfg.fmax, steps=cfg.steps, use_ray=self._use_ray(),
                chunk_size=cfg.chunk_size, work_dir=Path(self.context.work_dir), threads_per_task=cfg.threads_per_task,
                mode=cfg.relax_mode, gpus_per_task=cfg.gpus_per_task,
            )
        t_relax_end = time.perf_counter()

        for cid, _s in to_relax:
            c, r = by_id[cid], relaxed[cid]
            metrics = {"relax_steps": float(r.steps)}
            if r.error or not r.converged or not math.isfinite(r.energy):
                reject(c, f"relaxation: {r.error or 'not converged'}", metrics=metrics)
                continue
            problem = structural_problem(r.structure, min_dist=cfg.min_distance, v_min=cfg.min_volume_per_atom, v_max=cfg.max_volume_per_atom)
            if problem:
                reject(c, f"relaxed structure invalid: {problem}", relaxed_structure=r.structure, energy_per_atom=r.energy_per_atom, metrics=metrics)
                continue
            hull = self.hull([e.symbol for e in r.structure.composition.elements])
            if isinstance(hull, str):
                reject(c, hull, relaxed_structure=r.structure, energy_per_atom=r.energy_per_atom, metrics=metrics)
                continue
            e_corr = self.corrected(r.structure, r.energy_per_atom)
            e_hull = hull.e_above_hull(r.structure.composition, e_corr)
            metrics["formation_energy_per_atom"] = hull.formation_energy_per_atom(r.structure.composition, e_corr)
            kw = {"relaxed_structure": r.structure, "energy_per_atom": r.energy_per_atom, "e_hull": e_hull, "metrics": metrics}
            if e_hull > cfg.max_e_hull:
                reject(c, f"e_hull {e_hull:.3f} eV/atom > {cfg.max_e_hull}", **kw)
            elif cfg.novel_only and (match := known_match(hull, r.structure)) is not None:
                reject(c, f"matches the known phase {match} (novel_only)", **kw)
            else:
                decisions[cid] = ScreenDecision(candidate_id=cid, kept=True, reason=f"e_hull {e_hull:.3f} eV/atom <= {cfg.max_e_hull}", **kw)

        total = time.perf_counter() - t0
        self.stats = {
            "n": float(len(candidates)),
            "kept": float(sum(d.kept for d in decisions.values())),
            "checks_s": t_checks,
            "relax_wall_s": t_relax_end - t0 - t_checks,
            "hull_s": time.perf_counter() - t_relax_end,
            "total_s": total,
            **rstats,
        }
        log.info("mlip screen: kept %d of %d in %.2f s (%d relaxed, %d cached)", self.stats["kept"], len(candidates), total, rstats["relaxed"], rstats["cached"])
        # one decision per candidate, in order (a repeated id repeats its batch-duplicate decision)
        out = []
        seen: set[str] = set()
        for cid in order:
            if cid in seen:
                out.append(ScreenDecision(candidate_id=cid, kept=False, reason=f"duplicate of {cid} within the batch", duplicate_of=cid))
            else:
                out.append(decisions[cid])
                seen.add(cid)
        return out
