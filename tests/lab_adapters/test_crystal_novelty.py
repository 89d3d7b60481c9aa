"""Measured novelty: the target found by XRD and matching none of the known phases."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from lab_adapters.crystal.novelty import known_match, novelty


def _rocksalt(a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Mn", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _zincblende(a: float) -> Structure:
    return Structure.from_spacegroup("F-43m", Lattice.cubic(a), ["Mn", "O"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def test_a_known_polymorph_is_named_and_another_is_not():
    known = [("MnO2_136", Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.4, 2.87), ["Mn", "O"],
                                                   [[0, 0, 0], [0.3, 0.3, 0]])),
             ("MnO_225", _rocksalt(4.45))]
    strained = _rocksalt(4.52)  # relaxed by another potential: a slightly different cell
    strained.perturb(0.02, min_distance=0.0)
    assert known_match(strained.get_primitive_structure(), known) == "MnO_225"
    assert known_match(_zincblende(4.8), known) is None  # same formula, another structure
    assert known_match(_rocksalt(4.45), []) is None  # nothing known: nothing matches


@pytest.mark.parametrize(("fraction", "known_as", "expected"), [
    (0.8, None, 1.0),         # found and new
    (0.8, "MnO_225", 0.0),    # found, but a known phase
    (0.01, None, 0.0),        # not found in the pattern: nothing was made, nothing is claimed
    (None, None, 0.0),
    (0.05, None, 1.0),        # at the detection threshold
])
def test_novelty_needs_the_target_found_and_unknown(fraction, known_as, expected):
    assert novelty(fraction, known_as, min_fraction=0.05) == expected
