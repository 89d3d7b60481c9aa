"""Mixed valence: spinels and other averaged-valence oxides are charge-balanced; impossible ones are not."""

from __future__ import annotations

import pytest

from generators.gflownet.chemistry import smact_valid
from loop.valence import balanced
from surrogates.screening.validity import compositional_problem


@pytest.mark.parametrize("formula", ["LiMn2O4", "LiTi2O4", "Mn3O4", "Li3Ti4O8", "LiMn4O8"])
def test_mixed_valence_oxides_pass_every_check(formula):
    from pymatgen.core import Composition

    comp = Composition(formula)
    assert balanced(comp.get_el_amt_dict()) == (True, True)
    assert compositional_problem(formula) is None
    assert smact_valid(comp.get_el_amt_dict())


def test_single_valence_cases_and_failures():
    assert balanced({"Li": 2, "Mn": 1, "O": 3}) == (True, True)
    assert balanced({"Li": 1, "O": 3}) == (False, False)  # no cation states reach +6
    assert balanced({"Mg": 1, "O": 2}) == (True, True)  # a peroxide (O-1), as SMACT allows
    assert balanced({"Mg": 1, "F": 3}) == (False, False)  # Mg has one state only
    assert balanced({"Li": 1, "Mn": 1}) == (True, True)  # an alloy
    assert balanced({"Li": 0.5, "Mn": 1, "O": 2}) == (True, True)  # scaled to Li1 Mn2 O4
    assert compositional_problem("LiO3") is not None
