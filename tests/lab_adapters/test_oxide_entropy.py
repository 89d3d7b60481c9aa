"""The solids' entropy in the furnace: per metal oxidation state, from standard entropies."""

from __future__ import annotations

import pytest

from lab_adapters.crystal.oxide_entropy import J_MOL_TO_EV, STANDARD_ENTROPY_J_MOL_K, relative_entropy_per_atom


def _table(formula: str, n_metal: int, n_atoms: int, metal: str = "Mn") -> float:
    return (STANDARD_ENTROPY_J_MOL_K[formula] - n_metal * STANDARD_ENTROPY_J_MOL_K[metal]) * J_MOL_TO_EV / n_atoms


def test_binary_oxides_get_their_tabulated_entropy_relative_to_the_metal():
    assert relative_entropy_per_atom("MnO") == pytest.approx(_table("MnO", 1, 2))
    assert relative_entropy_per_atom("Mn3O4") == pytest.approx(_table("Mn3O4", 3, 7))
    assert relative_entropy_per_atom("Mn2O3") == pytest.approx(_table("Mn2O3", 2, 5))
    assert relative_entropy_per_atom("TiO2") == pytest.approx(_table("TiO2", 1, 3, "Ti"))


def test_reduction_releases_entropy_so_oxygen_loss_comes_earlier_than_o2_alone_says():
    # 3 Mn2O3 -> 2 Mn3O4 + 1/2 O2: the solids lose entropy (S(Mn3O4) per Mn is lower than S(Mn2O3) per Mn),
    # 2 MnO2 -> Mn2O3 + 1/2 O2: they gain it
    s = {f: relative_entropy_per_atom(f) * n for f, n in (("MnO2", 3), ("Mn2O3", 5), ("Mn3O4", 7))}
    assert 2 * s["Mn3O4"] - 3 * s["Mn2O3"] < 0 < s["Mn2O3"] - 2 * s["MnO2"]


def test_ternaries_take_their_cations_states_and_others_get_none():
    # LiMn2O4 (Mn 3.5) lies between Mn2O3 and MnO2 per Mn atom; Li has no entry and adds nothing
    per_mn = relative_entropy_per_atom("LiMn2O4") * 7 / 2
    lo, hi = sorted((relative_entropy_per_atom("Mn2O3") * 5 / 2, relative_entropy_per_atom("MnO2") * 3))
    assert lo < per_mn < hi
    assert relative_entropy_per_atom("Li2O") == 0.0
    assert relative_entropy_per_atom("MnF2") == 0.0  # not an oxide
    assert relative_entropy_per_atom("Mn") == 0.0
