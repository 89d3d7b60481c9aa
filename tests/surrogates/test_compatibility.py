"""MP2020 corrections for PBE-trained potentials; none for r2SCAN ones."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from surrogates.hull.compatibility import corrected_energy_per_atom, correction_for_potential, mp2020_parameters


def _rocksalt(a: str, b: str, x: float = 4.4) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(x), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_u_only_for_oxides_and_fluorides_of_the_u_cations():
    assert mp2020_parameters(_rocksalt("Mn", "O").composition) == {"run_type": "GGA+U", "is_hubbard": True, "hubbards": {"Mn": 3.9}}
    assert mp2020_parameters(_rocksalt("Mg", "O").composition)["run_type"] == "GGA"
    assert mp2020_parameters(_rocksalt("Mn", "S").composition)["run_type"] == "GGA"


def test_corrections_lower_oxides_leave_elements_and_tell_peroxides_apart(data_dir):
    mno, mgo = _rocksalt("Mn", "O"), _rocksalt("Mg", "O", 4.2)
    # MnO: U shift of Mn plus the oxide correction, per atom; MgO: the oxide correction alone
    assert corrected_energy_per_atom(mno, -7.0) < corrected_energy_per_atom(mgo, -7.0) < -7.0
    mn = Structure(Lattice.cubic(2.9), ["Mn", "Mn"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert corrected_energy_per_atom(mn, -9.0) == -9.0
    refs = data_dir / "references" / "li-mn-ti-o-f"
    li2o = Structure.from_file(refs / "Li2O_225.cif")
    li2o2 = Structure.from_file(refs / "Li2O2_194.cif")
    per_o_oxide = (corrected_energy_per_atom(li2o, -5.0) + 5.0) * 3
    per_o_peroxide = (corrected_energy_per_atom(li2o2, -5.0) + 5.0) * 2
    assert per_o_oxide == pytest.approx(-0.687, abs=0.01) and per_o_peroxide != pytest.approx(per_o_oxide, abs=0.05)


def test_scheme_follows_the_potential():
    assert correction_for_potential("chgnet-0.4.2-0.3.0") == "mp2020"
    assert correction_for_potential("chgnet-0.4.2-r2scan") == "none"
