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

__all__ = ["oxide_enthalpy_errors"]


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
