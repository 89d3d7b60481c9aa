from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from loop.errors import StructureError
from loop.identity import params_id, structure_id


def rocksalt(a: float = 5.64) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_same_crystal_in_other_cells_has_same_id():
    conv = rocksalt()
    prim = conv.get_primitive_structure()
    sup = prim.copy()
    sup.make_supercell([2, 2, 1])
    shuffled = Structure(conv.lattice, [s.species_string for s in conv][::-1], [s.frac_coords for s in conv][::-1])
    ids = {structure_id(s) for s in (conv, prim, sup, shuffled)}
    assert len(ids) == 1


def test_different_crystals_differ():
    assert structure_id(rocksalt(5.64)) != structure_id(rocksalt(5.8))
    kcl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert structure_id(kcl) != structure_id(rocksalt())


def test_params_id_precision():
    assert params_id({"a": 0.1 + 0.2}) == params_id({"a": 0.3})
    assert params_id({"a": 0.3}) != params_id({"a": 0.3001})


def test_zero_volume_is_a_structure_error():
    s = Structure(Lattice([[1, 0, 0], [0, 1, 0], [0, 0, 0]]), ["Na"], [[0, 0, 0]], validate_proximity=False)
    with pytest.raises(StructureError, match="zero-volume"):
        structure_id(s)
