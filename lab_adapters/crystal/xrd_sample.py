"""The crystal lab's powder XRD: a pattern of the products, its whole-pattern fit, and the files.

The sample: per diffracting product a crystallite size log-uniform in ``crystallite_size_nm``,
a small lattice strain, micro-strain and, half of the time, March-Dollase texture. The
diffractometer: Cu K-alpha1/alpha2, 10-80 deg, a sample-height error drawn per sample, a zero
shift, air scatter and counting noise, and a peak width of its own (0.07 deg; not the
analyzer's default). The analyzer's references are the world's stable solids (minus any the
target duplicates) plus the target's own structure; the target's weight fraction of the fit is
the yield.

Files under the lab's ``xrd`` folder: ``<request>.xy`` (the pattern) and ``<request>.fit.csv``
(two_theta, observed, fit, one column per phase).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from lab_adapters.crystal.synthesis import SynthesisOutcome
from lab_adapters.crystal.world import World
from loop.records import PhaseAnalysis

__all__ = ["INSTRUMENT", "fit_sample", "measure_xrd", "xrd_references"]

INSTRUMENT = {"ka2": True, "inst_fwhm": 0.07, "background": 250.0, "counts": 15000.0}
"""The diffractometer's fixed settings (displacement and zero shift are drawn per sample)."""


def xrd_references(world: World, target: Structure, target_label: str,
                   unknown: set[str] | frozenset[str] = frozenset()) -> dict[str, Structure]:
    """The analyst's references: the world's known solids, stable or not (what a lab takes from ICSD for
    its chemical system; an unreacted metastable precursor such as Li2O2 is among them), minus any the
    target duplicates and the labels in ``unknown`` (phases that exist in the world but not in the
    analyst's references), and the target."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    refs: dict[str, Structure] = {}
    for ph in world.hull.phases:
        if world.is_gas(ph) or world.phase_label(ph) in unknown:
            continue
        if ph.formula == target.composition.reduced_formula and matcher.fit(ph.structure, target):
            continue
        refs[world.phase_label(ph)] = ph.structure
    refs[target_label] = target
    return refs


def fit_sample(
    outcome: SynthesisOutcome, references: Any, target_label: str, cfg: Any, rng: np.random.Generator,  # noqa: ANN401
) -> Any:  # noqa: ANN401 - (Pattern, XRDFit)
    """The sample's simulated pattern and its whole-pattern fit against ``references`` (a ``ReferenceSet``).

    ``cfg``: the lab's settings (``crystallite_size_nm``, ``max_lattice_strain``, ``xrd_simulation``,
    ``xrd_analysis``; :class:`~lab_adapters.crystal.lab.CrystalLabConfig`)."""
    from lab_adapters.xrd import AnalysisConfig, PhaseComponent, SimulationConfig, XRDAnalyzer, simulate_pattern

    lo, hi = cfg.crystallite_size_nm
    comps = []
    for p in outcome.diffracting_products():
        textured = rng.random() < 0.5
        direction = [(0, 0, 1), (1, 1, 1), (1, 1, 0)][int(rng.integers(3))]
        comps.append(PhaseComponent(
            p.structure, p.weight_fraction,
            crystallite_size_nm=float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
            lattice_strain=float(rng.uniform(-1, 1) * cfg.max_lattice_strain),
            microstrain=float(rng.uniform(0.0, 0.001)),
            po_direction=direction if textured else None,
            po_r=float(rng.uniform(0.85, 1.0)) if textured else 1.0,
        ))
    # the diffractometer: K-alpha1/alpha2, a sample-height error that differs from sample to sample,
    # air scatter and counting noise, and a peak width of its own (not the analyzer's default)
    instrument = {**INSTRUMENT, "displacement_mm": float(rng.uniform(-0.15, 0.15)), "zero_shift": float(rng.uniform(-0.03, 0.03))}
    pattern = simulate_pattern(comps, SimulationConfig(**{**instrument, **cfg.xrd_simulation}), rng, allow_empty=True)
    return pattern, XRDAnalyzer(references, AnalysisConfig(**cfg.xrd_analysis)).fit(pattern, target=target_label)


def measure_xrd(
    rid: str, outcome: SynthesisOutcome, target: Structure, target_label: str, world: World, cfg: Any,  # noqa: ANN401 - CrystalLabConfig
    xrd_dir: Path, rng: np.random.Generator, unknown: set[str] | frozenset[str] = frozenset(),
) -> tuple[PhaseAnalysis, list[str]]:
    """Simulate the sample's pattern, fit it, write ``<rid>.xy`` and ``<rid>.fit.csv``; (analysis, [xy, fit csv])."""
    from lab_adapters.xrd import ReferenceSet, write_xy

    refs = ReferenceSet.from_structures(xrd_references(world, target, target_label, unknown))
    pattern, fit = fit_sample(outcome, refs, target_label, cfg, rng)
    xrd_dir.mkdir(parents=True, exist_ok=True)
    xy = write_xy(pattern, xrd_dir / f"{rid}.xy").resolve()
    fit_csv = xrd_dir / f"{rid}.fit.csv"
    cols = [fit.two_theta, fit.observed, fit.model] + [fit.background + (ph.curve if ph.curve is not None else 0) for ph in fit.phases]
    header = ",".join(["two_theta", "observed", "fit", *[ph.name for ph in fit.phases]])
    np.savetxt(fit_csv, np.column_stack(cols), delimiter=",", fmt="%.4f", header=header, comments="")
    return fit.analysis, [str(xy), str(fit_csv.resolve())]
