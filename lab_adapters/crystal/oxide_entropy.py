"""The entropy of solid oxides in the furnace, per metal oxidation state, from standard entropies.

The furnace's oxygen chemical potential (:mod:`.atmosphere`) carries the entropy of O2 gas; a
solid-state redox step also changes the entropy of the solids. For 3 Mn2O3 -> 2 Mn3O4 + 1/2 O2
the solids lose 20 J/mol/K, which moves the step in air from ~630 C (O2 alone) to ~800 C
(reality: ~900-950 C; the remainder is the solids' heat capacities, left out). The furnace
therefore gives every oxide phase at temperature ``T`` the free energy

    G(X, T) = E(X) - T S_rel(X),    S_rel(X) = sum_M n_M s_M(ox_M(X)) / N(X)      (per atom),

where ``s_M(ox)`` is the standard entropy per ``M`` atom of ``M``'s binary oxides relative to
the metal, ``S(M_a O_b) / a - S(M)`` (J/mol/K converted to eV/K), interpolated piecewise
linearly in the oxidation state from ``(0, 0)`` and extrapolated with the last segment's slope,
as :mod:`.oxidation_correction` does for the energy (a Neumann-Kopp estimate for ternaries:
they get the entropy of their cations' oxidation states). A constant per metal atom cancels in
any reaction, which conserves the metals; so only the differences between oxidation states
matter. Metals missing from the table, non-oxides and compounds without a charge-balanced
assignment get ``S_rel = 0`` (O2 entropy only, as before).

Standard entropies at 298.15 K, J/mol/K: CRC Handbook of Chemistry and Physics, "Standard
thermodynamic properties of chemical substances" (NBS tables, Wagman et al., J. Phys. Chem.
Ref. Data 11, suppl. 2 (1982)).
"""

from __future__ import annotations

import functools

import numpy as np
from pymatgen.core import Composition

__all__ = ["STANDARD_ENTROPY_J_MOL_K", "relative_entropy_per_atom"]

J_MOL_TO_EV = 1.0 / 96485.332

STANDARD_ENTROPY_J_MOL_K: dict[str, float] = {
    "Mn": 32.0, "MnO": 59.7, "Mn3O4": 155.6, "Mn2O3": 110.5, "MnO2": 53.1,
    "Ti": 30.7, "Ti2O3": 77.2, "Ti3O5": 129.4, "TiO2": 50.6,
    "Fe": 27.3, "FeO": 60.8, "Fe3O4": 146.4, "Fe2O3": 87.4,
    "Co": 30.0, "CoO": 53.0, "Co3O4": 102.5,
    "Cu": 33.2, "Cu2O": 93.1, "CuO": 42.6,
    "V": 28.9, "VO": 39.0, "V2O3": 98.3, "V2O5": 131.0,
}
"""S(298.15 K) of metals and their binary oxides (rutile TiO2), J/mol/K; sources in the module docs."""


@functools.cache
def _curves() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metal: oxidation states (0 first) and ``s_M`` in eV/K per metal atom."""
    from lab_adapters.crystal.oxidation_correction import average_oxidation_states

    points: dict[str, list[tuple[float, float]]] = {}
    for formula, s in STANDARD_ENTROPY_J_MOL_K.items():
        comp = Composition(formula)
        if len(comp.elements) != 2:
            continue
        (metal,) = [e.symbol for e in comp.elements if e.symbol != "O"]
        ox = average_oxidation_states(formula)[metal]
        points.setdefault(metal, []).append((ox, (s / comp[metal] - STANDARD_ENTROPY_J_MOL_K[metal]) * J_MOL_TO_EV))
    return {m: (np.array([0.0] + [p[0] for p in sorted(pts)]), np.array([0.0] + [p[1] for p in sorted(pts)]))
            for m, pts in points.items()}


def _s_metal(metal: str, ox: float) -> float:
    xs, ys = _curves()[metal]
    if ox <= 0:
        return 0.0
    if ox > xs[-1]:
        return float(ys[-1] + (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * (ox - xs[-1]))
    return float(np.interp(ox, xs, ys))


@functools.lru_cache(maxsize=8192)
def _relative_entropy(formula: str) -> float:
    from lab_adapters.crystal.oxidation_correction import average_oxidation_states, is_anion

    comp = Composition(formula)
    symbols = {e.symbol for e in comp.elements}
    metals = symbols & set(_curves())
    if "O" not in symbols or not metals or any(is_anion(s) for s in symbols - {"O"}):
        return 0.0
    states = average_oxidation_states(formula)
    if states is None:
        return 0.0
    return sum(comp[m] * _s_metal(m, states.get(m, 0.0)) for m in metals) / comp.num_atoms


def relative_entropy_per_atom(composition: Composition | str) -> float:
    """``S_rel(X)`` in eV/K per atom (see the module docs)."""
    return _relative_entropy(Composition(composition).reduced_formula)
