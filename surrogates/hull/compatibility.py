"""Energies on one footing: Materials Project 2020 corrections for PBE-trained potentials.

A potential trained on Materials Project PBE/PBE+U data (CHGNet 0.3.0 and 0.2.0, MACE-MP)
predicts raw GGA / GGA+U total energies. Mixing those in a hull is what MP's
``MaterialsProject2020Compatibility`` (Wang et al., Sci. Rep. 11, 15496 (2021)) corrects: a
fitted energy per anion atom (oxide, peroxide, superoxide, ozonide, F, N, S, ...) and, for
oxides and fluorides of Co, Cr, Fe, Mn, Mo, Ni, V and W, a per-cation GGA+U shift,

    E_corr = E_raw + sum_anion n_anion c_anion + sum_(U cation) n_cation c_cation,

applied here as pymatgen ships it. Each structure becomes a ``ComputedStructureEntry``
with ``run_type`` GGA+U and MP's U values (``u_settings``) where those cations sit in an
oxide or fluoride, GGA otherwise; the structure is passed so that peroxides and
superoxides are recognised; ``check_potcar=False`` (there are no POTCARs behind an MLIP).

A potential fitted to r2SCAN (CHGNet ``r2scan``) gets no correction: MP's r2SCAN energies
are not anion-corrected (Kingsbury et al., Phys. Rev. Mater. 6, 013801 (2022)).

>>> corrected_energy_per_atom(structure, -6.1)   # eV/atom on MP2020's footing
"""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import Any, Literal

from pymatgen.core import Composition, Structure

__all__ = ["CorrectionScheme", "correction_for_potential", "corrected_energy_per_atom", "mp2020_parameters"]

log = logging.getLogger(__name__)

CorrectionScheme = Literal["mp2020", "none"]


@lru_cache(maxsize=1)
def _compat() -> Any:  # noqa: ANN401 - MaterialsProject2020Compatibility
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

    return MaterialsProject2020Compatibility(check_potcar=False)


def mp2020_parameters(composition: Composition) -> dict[str, Any]:
    """``run_type`` and ``hubbards`` MP would have used for ``composition`` (see module docs)."""
    u_settings: dict[str, dict[str, float]] = _compat().u_settings
    symbols = {el.symbol for el in composition.elements}
    anion = next((a for a in ("O", "F") if a in symbols and a in u_settings), None)
    hubbards: dict[str, float] = {}
    if anion is not None:
        hubbards = {el: u for el, u in u_settings[anion].items() if el in symbols}
    if hubbards:
        return {"run_type": "GGA+U", "is_hubbard": True, "hubbards": hubbards}
    return {"run_type": "GGA", "is_hubbard": False, "hubbards": {}}


def corrected_energy_per_atom(structure: Structure, energy_per_atom: float) -> float:
    """``energy_per_atom`` with MP2020's corrections for ``structure`` (eV/atom)."""
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    comp = structure.composition
    if len(comp.elements) < 2:
        return float(energy_per_atom)
    entry = ComputedStructureEntry(structure, energy_per_atom * comp.num_atoms, parameters=mp2020_parameters(comp))
    try:
        with warnings.catch_warnings():  # "failed to guess oxidation states": the anion correction still applies
            warnings.simplefilter("ignore")
            corrected = _compat().process_entry(entry, clean=True, inplace=False)
    except Exception as exc:  # pymatgen raises CompatibilityError for run types it refuses
        log.warning("MP2020 correction of %s failed (%s); energy left raw", comp.reduced_formula, exc)
        return float(energy_per_atom)
    if corrected is None:  # an entry the scheme excludes: left raw, said once
        log.warning("MP2020 scheme excludes %s; energy left raw", comp.reduced_formula)
        return float(energy_per_atom)
    return float(corrected.energy_per_atom)


def correction_for_potential(identity: str) -> CorrectionScheme:
    """``mp2020`` for potentials trained on MP's PBE/PBE+U data, ``none`` for r2SCAN ones.

    ``identity`` is :func:`surrogates.hull.potential_identity`'s string, e.g.
    ``chgnet-0.4.2-0.3.0`` or ``chgnet-0.4.2-r2scan``.
    """
    ident = identity.lower()
    if "r2scan" in ident or "scan" in ident:
        return "none"
    return "mp2020"

