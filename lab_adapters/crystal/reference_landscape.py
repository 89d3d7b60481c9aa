"""An energy landscape of known phases without heavy compute: MLIP single points, FERE-aligned.

For a folder of CIFs (e.g. ``../shared/data/references/li-mn-ti-o-f``): one single-point
energy per structure with a potential (CHGNet 0.3.0 by default; cached as JSON keyed by the
potential and the structures), then *fitted elemental reference energies* (FERE: Stevanović
et al., Phys. Rev. B 85, 115104 (2012)): the elemental chemical potentials ``mu_el`` that
best reproduce the experimental enthalpies of formation of the binary compounds among the
phases (pymatgen's ``exp_compounds.json.gz``, lowest-energy polymorph per formula),

    min_mu  sum_binaries ( E_MLIP(X) - sum_el n_el(X) mu_el - dHf_exp(X) )^2 ,

so formation energies ``e(X) = (E_MLIP(X) - sum_el n_el mu_el) / N(X)`` sit on the experimental
footing that the carbonate/nitrate enthalpies and the oxygen chemical potential of
:mod:`.atmosphere` assume. This sidesteps the MLIP's O2/F2 molecules and the GGA/GGA+U mixing
of the metals. Ternaries are not fitted; those in the experimental table are held out and
reported.

This is the synthesis benchmark's own landscape; a world supplies its own through
:func:`.synthesis.landscape_of`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, Structure

from lab_adapters.crystal.precursors import _experimental_table
from lab_adapters.crystal.reactions import EnergyLandscape, LandscapePhase
from loop.errors import InputDataError

__all__ = ["FereFit", "fere_landscape", "read_reference_cifs", "single_point_energies"]

log = logging.getLogger(__name__)


def read_reference_cifs(directory: Path | str) -> dict[str, Structure]:
    """Structures of ``*.cif`` in ``directory`` by file stem; a clear error naming a broken file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputDataError(f"reference folder {directory} does not exist", source=str(directory))
    out: dict[str, Structure] = {}
    for path in sorted(directory.glob("*.cif")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pymatgen notes every rounded coordinate
                structure = Structure.from_file(path)
            structure.remove_oxidation_states()
            out[path.stem] = structure
        except (ValueError, KeyError, IndexError) as exc:
            raise InputDataError(f"{path}: not a readable CIF ({exc})", source=str(path)) from None
    if not out:
        raise InputDataError(f"reference folder {directory} has no .cif files", source=str(directory))
    return out


def single_point_energies(structures: dict[str, Structure], potential: Any, cache_dir: Path | None = None) -> dict[str, float]:
    """Energy per atom (eV) of each structure, one MLIP single point each; cached as JSON."""
    from surrogates.hull import potential_identity

    ident = potential_identity(potential)
    digest = hashlib.sha256(json.dumps({k: s.as_dict() for k, s in sorted(structures.items())}, sort_keys=True,
                                       default=str).encode()).hexdigest()[:16]
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"single-points-{ident}-{digest}.json"
        if path.is_file():
            return {k: float(v) for k, v in json.loads(path.read_text()).items()}
    names = sorted(structures)
    results = potential.predict([structures[n] for n in names])
    out = {n: float(r.energy_per_atom) for n, r in zip(names, results, strict=True)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
    return out


@dataclass
class FereFit:
    """The fitted chemical potentials and how well they reproduce experiment (eV/atom)."""

    mu: dict[str, float]
    fitted: dict[str, tuple[float, float]]
    """Formula -> (model, experiment) formation energy per atom, binaries used in the fit."""
    held_out: dict[str, tuple[float, float]]
    """The same for compounds with 3+ elements found in the experimental table."""

    @property
    def fit_mae(self) -> float:
        return float(np.mean([abs(a - b) for a, b in self.fitted.values()]))

    @property
    def held_out_mae(self) -> float | None:
        return float(np.mean([abs(a - b) for a, b in self.held_out.values()])) if self.held_out else None


def fere_landscape(structures: dict[str, Structure], energies: dict[str, float]) -> tuple[EnergyLandscape, FereFit]:
    """A landscape of the phases with FERE-aligned formation energies (see the module docs)."""
    table = _experimental_table()
    lowest: dict[str, str] = {}
    for name, s in structures.items():
        f = s.composition.reduced_formula
        if f not in lowest or energies[name] < energies[lowest[f]]:
            lowest[f] = name
    elements = sorted({e.symbol for s in structures.values() for e in s.composition.elements})
    rows, rhs, fit_formulas = [], [], []
    for f, name in sorted(lowest.items()):
        comp = Composition(f)
        if len(comp.elements) == 2 and f in table:
            frac = comp.fractional_composition
            rows.append([frac[el] for el in elements])
            rhs.append(energies[name] - table[f])
            fit_formulas.append(f)
    missing = [el for i, el in enumerate(elements) if not any(r[i] > 0 for r in rows)]
    if missing:
        raise InputDataError(f"FERE fit: no binary with an experimental enthalpy carries {missing}")
    mu_vec, *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)
    mu = dict(zip(elements, (float(m) for m in mu_vec), strict=True))

    def formation(name: str) -> float:
        frac = structures[name].composition.fractional_composition
        return energies[name] - sum(frac[el] * mu[el] for el in elements if el in frac)

    fitted = {f: (formation(lowest[f]), table[f]) for f in fit_formulas}
    held = {f: (formation(n), table[f]) for f, n in lowest.items() if len(Composition(f).elements) > 2 and f in table}
    phases = [LandscapePhase(name, s.composition, formation(name), s) for name, s in sorted(structures.items())]
    return EnergyLandscape(phases, elements), FereFit(mu, fitted, held)
