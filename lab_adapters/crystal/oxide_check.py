"""The world's oxide formation enthalpies against experiment, per O atom.

For each binary or ternary oxide of the world's landscape with an experimental enthalpy of
formation (pymatgen's ``exp_compounds.json.gz``, 298 K), the lowest-energy phase of that
formula gives

    error_per_O = (dH_world - dH_exp) / x_O        (eV per O atom; x_O: O atoms per atom).

A uniform O2 over- or underbinding shows as the same error for every oxide (what a fitted
O2 reference, Wang, Maxisch & Ceder, PRB 73, 195107 (2006), removes). An error that grows
with the cation's oxidation state is the transition-metal error of semilocal functionals that
MP's +U corrections address. It decides the atmosphere chemistry of the simulated furnace:
which oxide is stable in air at which temperature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymatgen.core import Composition

from loop.errors import InputDataError

__all__ = ["oxide_enthalpy_errors", "redox_temperatures"]


def oxide_enthalpy_errors(land: Any, correction: Any = None) -> dict[str, Any]:  # noqa: ANN401 - an EnergyLandscape
    """``{"oxides": [{formula, world, experiment, error_per_o[, uncorrected_error_per_o]}], "uniform_shift_per_o": s}``.

    ``correction``: the world's :class:`~.oxidation_correction.OxidationCorrection`; when given,
    each row also carries the error without it.
    """
    from lab_adapters.crystal.precursors import experimental_enthalpy

    rows = []
    for formula in sorted({p.composition.reduced_formula for p in land.phases}):
        comp = Composition(formula)
        if "O" not in {e.symbol for e in comp.elements} or len(comp.elements) < 2:
            continue
        try:
            h_exp = experimental_enthalpy(formula) / comp.num_atoms
        except InputDataError:
            continue
        world = float(land.lowest(formula).energy_per_atom)
        x_o = comp["O"] / comp.num_atoms
        row = {"formula": formula, "world": round(world, 4), "experiment": round(h_exp, 4),
               "error_per_o": round((world - h_exp) / x_o, 4), "x_o": x_o}
        if correction is not None:
            row["uncorrected_error_per_o"] = round((world - correction.per_atom(comp) - h_exp) / x_o, 4)
        rows.append(row)
    x = np.array([r.pop("x_o") for r in rows])
    d = np.array([r["world"] - r["experiment"] for r in rows])
    shift = float(x @ d / (x @ x)) if len(rows) else float("nan")
    return {"oxides": rows, "uniform_shift_per_o": round(shift, 4)}


def redox_temperatures(land: Any, atmospheres: tuple[str, ...] = ("air", "Ar", "H2/Ar"),  # noqa: ANN401 - an EnergyLandscape
                       t_range_c: tuple[float, float] = (100.0, 1500.0)) -> list[dict[str, Any]]:
    """For each pair of a metal's binary oxides adjacent in oxidation state, the lowest temperature (deg C, 10 C
    steps) at which the lower oxide + O2 is favoured in each atmosphere (None: not within ``t_range_c``).

    ``dG(T) = [n_lo G(lo, T) - n_hi G(hi, T)] + n_O dmu_O(T, atmosphere)`` per reaction ``n_hi hi -> n_lo lo + n_O O``,
    with the furnace's free energies ``G = E - T S_rel`` (the landscape's lowest phase per formula, the solids'
    entropy of :mod:`.oxide_entropy`) and the oxygen chemical potential of :func:`.atmosphere.delta_mu_o`.
    """
    from lab_adapters.crystal.atmosphere import delta_mu_o
    from lab_adapters.crystal.oxidation_correction import average_oxidation_states
    from lab_adapters.crystal.oxide_entropy import relative_entropy_per_atom

    by_metal: dict[str, list[tuple[float, str]]] = {}
    for formula in sorted({p.composition.reduced_formula for p in land.phases}):
        comp = Composition(formula)
        symbols = {e.symbol for e in comp.elements}
        if len(symbols) != 2 or "O" not in symbols:
            continue
        (metal,) = symbols - {"O"}
        states = average_oxidation_states(formula)
        if states is not None and states.get(metal, 0.0) > 0:
            by_metal.setdefault(metal, []).append((states[metal], formula))
    rows = []
    for metal, oxides in sorted(by_metal.items()):
        oxides.sort()
        for (_, lo), (_, hi) in zip(oxides, oxides[1:], strict=False):
            c_lo, c_hi = Composition(lo), Composition(hi)
            n_hi, n_lo = c_lo[metal], c_hi[metal]  # the metal balanced: n_hi hi -> n_lo lo + n_o O
            n_o = n_hi * c_hi["O"] - n_lo * c_lo["O"]
            d_e = (n_lo * land.lowest(lo).energy_per_atom * c_lo.num_atoms - n_hi * land.lowest(hi).energy_per_atom * c_hi.num_atoms)
            d_s = (n_lo * relative_entropy_per_atom(c_lo) * c_lo.num_atoms - n_hi * relative_entropy_per_atom(c_hi) * c_hi.num_atoms)
            row: dict[str, Any] = {"reaction": f"{n_hi:g} {hi} -> {n_lo:g} {lo} + {n_o:g} O", "d_e_per_o": round(d_e / n_o, 4)}
            for atm in atmospheres:
                t_c = next((float(t) for t in np.arange(t_range_c[0], t_range_c[1] + 1e-9, 10.0)
                            if d_e - (t + 273.15) * d_s + n_o * delta_mu_o(float(t), atm) < 0), None)
                row[atm] = t_c
            rows.append(row)
    return rows
