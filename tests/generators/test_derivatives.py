"""Derivative structures (Hart & Forcade 2008): orderings of two elements on one orbit of a parent's supercells."""

from __future__ import annotations

from collections import Counter

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from generators.gflownet.chemistry import ChargeRules
from generators.gflownet.derivatives import derivatives, hnf_matrices
from generators.gflownet.templates import decorate, make_templates


def _rocksalt() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def _antifluorite() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.6), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]).get_primitive_structure()


def test_hermite_normal_forms_are_distinct_superlattices_of_the_index() -> None:
    for n, count in ((2, 7), (3, 13), (4, 35), (6, 91)):  # sum of d * sigma(d) over divisors: the known counts
        forms = list(hnf_matrices(n))
        assert len(forms) == count
        assert all(round(np.linalg.det(h)) == n for h in forms)


def test_fcc_binary_orderings_match_hart_and_forcade() -> None:
    found = derivatives(_rocksalt(), [[0], [1]], 0, max_index=8, max_atoms=20, feasible=lambda sizes: True)
    # Hart & Forcade 2008, Table IV (fcc, binary): 2, 3, 12, 14, 50, 52, 229 structures at 2-8 sites
    assert Counter(d.index for d in found) == {2: 2, 3: 3, 4: 12, 5: 14, 6: 50, 7: 52, 8: 229}
    for d in found:
        a, b, anions = d.classes
        assert len(a) >= len(b) >= 1 and len(a) + len(b) == d.index == len(anions)
        assert d.class_elements == ("Mg", "Mg", "O")


def test_feasibility_and_the_coloured_sites_limit_the_enumeration() -> None:
    two_to_one = derivatives(_rocksalt(), [[0], [1]], 0, max_index=6, max_atoms=20,
                             feasible=lambda sizes: sizes[0] == 2 * sizes[1])
    assert two_to_one and all(len(d.classes[0]) == 2 * len(d.classes[1]) for d in two_to_one)
    assert {d.index for d in two_to_one} == {3, 6}
    prim = _antifluorite()
    li = [i for i, site in enumerate(prim) if site.specie.symbol == "Li"]
    o = [i for i, site in enumerate(prim) if site.specie.symbol == "O"]
    found = derivatives(prim, [o, li], 1, max_index=6, max_atoms=20, feasible=lambda sizes: True)
    assert found and max(d.index for d in found) == 3  # two Li sites a cell: 3 cells hold the 6 allowed


def test_rock_salt_orderings_make_li2mno3_which_no_known_phase_templates(data_dir) -> None:
    """Li2MnO3 (C2/m, 12 sites) is a cation ordering of rock salt: a derivative template makes it."""
    elements = ["Li", "Mn", "O"]
    templates = make_templates([("MgO_rocksalt", _rocksalt())], elements, ChargeRules(elements), max_atoms=20,
                               min_elements=3, derivative_index=6)
    derived = [t for t in templates if "*" in t.name]
    assert derived and all(t.n_orbits == 3 for t in derived)
    target = Structure.from_file(data_dir / "references" / "li-mn-ti-o-f" / "Li2MnO3_12.cif")
    matcher = StructureMatcher()
    hits = []
    for t in derived:
        for p in t.prefixes:
            if len(p) == t.n_orbits:
                assert p[0] != p[1]  # the two classes of a derivative never take one element
                s = decorate(t, p, elements)
                if s.composition.reduced_formula == "Li2MnO3" and matcher.fit(s, target):
                    hits.append(t.name)
    assert hits
    assert make_templates([("MgO_rocksalt", _rocksalt())], elements, ChargeRules(elements), max_atoms=20,
                          min_elements=3) == []  # without derivatives rock salt has no Li-Mn-O decoration
