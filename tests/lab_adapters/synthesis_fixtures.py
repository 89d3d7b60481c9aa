"""A small hand-built Li-Mn-O energy landscape for fast synthesis tests (no world, no MLIP).

Formation energies (eV/atom) near the experimental ones: binaries from pymatgen's
``exp_compounds.json.gz``, ternaries rounded from calorimetry (Wang & Navrotsky 2004 for the
Li-Mn oxides). Only their ordering matters to the tests.
"""

from __future__ import annotations

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from lab_adapters.crystal.reactions import EnergyLandscape

LI_MN_O = {
    "Li2O": -2.066, "Li2O2": -1.639, "MnO": -1.995, "Mn3O4": -2.054, "Mn2O3": -1.986, "MnO2": -1.80,
    "LiMn2O4": -2.045, "Li2MnO3": -2.106, "LiMnO2": -2.10,
}


def entry(formula: str, e_per_atom: float) -> PDEntry:
    comp = Composition(formula)
    return PDEntry(comp, e_per_atom * comp.num_atoms, name=formula)


def li_mn_o_diagram() -> PhaseDiagram:
    return PhaseDiagram([entry("Li", 0), entry("Mn", 0), entry("O", 0)] + [entry(f, e) for f, e in LI_MN_O.items()])


def li_mn_o_landscape() -> EnergyLandscape:
    return EnergyLandscape.from_phase_diagram(li_mn_o_diagram())
