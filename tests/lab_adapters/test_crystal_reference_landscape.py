"""FERE-aligned landscapes of known phases: the fit recovers the elemental references; bad folders are named."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition, Lattice, Structure

from lab_adapters.crystal.precursors import experimental_enthalpy
from lab_adapters.crystal.reference_landscape import fere_landscape, read_reference_cifs
from loop.errors import InputDataError

MU = {"Li": -1.9, "Ti": -7.8, "O": -4.9}


def fake_phase(formula: str) -> Structure:
    comp = Composition(formula)
    species = [el for el, n in comp.items() for _ in range(int(n))]
    return Structure(Lattice.cubic(6.0), species, [[i / 12, i / 12, i / 12] for i in range(len(species))])


def mlip_energy(formula: str, error: float = 0.0) -> float:
    """An 'MLIP' energy per atom: experiment plus the elemental references, plus an error."""
    comp = Composition(formula)
    return (experimental_enthalpy(formula) + sum(n * MU[el.symbol] for el, n in comp.items())) / comp.num_atoms + error


def test_fere_recovers_elemental_references_and_holds_out_ternaries():
    formulas = ["Li2O", "Li2O2", "TiO2", "Ti2O3", "Li2TiO3"]
    structures = {f: fake_phase(f) for f in formulas}
    land, fit = fere_landscape(structures, {f: mlip_energy(f) for f in formulas})
    assert fit.mu == pytest.approx(MU, abs=1e-6) and fit.fit_mae == pytest.approx(0.0, abs=1e-9)
    assert set(fit.fitted) == {"Li2O", "Li2O2", "TiO2", "Ti2O3"} and set(fit.held_out) == {"Li2TiO3"}
    assert land.lowest("Li2TiO3").energy_per_atom == pytest.approx(experimental_enthalpy("Li2TiO3") / 6, abs=1e-6)
    # an error on one binary spreads over the fit: references move a little, the fit shows it
    _, noisy = fere_landscape(structures, {f: mlip_energy(f, 0.05 if f == "Ti2O3" else 0.0) for f in formulas})
    assert noisy.fit_mae > 0.005 and noisy.mu == pytest.approx(MU, abs=0.25)
    with pytest.raises(InputDataError, match="carries.*Mn"):
        fere_landscape({**structures, "Mn3X": fake_phase("LiMnO2")}, {**{f: mlip_energy(f) for f in formulas}, "Mn3X": -5.0})


def test_reference_folders_name_their_problems(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        read_reference_cifs(tmp_path / "nope")
    with pytest.raises(InputDataError, match="no .cif files"):
        read_reference_cifs(tmp_path)
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 4\n")
    with pytest.raises(InputDataError, match="broken.cif"):
        read_reference_cifs(tmp_path)
