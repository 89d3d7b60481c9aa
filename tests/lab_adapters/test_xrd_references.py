from __future__ import annotations

import pytest

from lab_adapters.xrd.benchmark import benchmark_world
from lab_adapters.xrd.references import ReferenceSet, load_references
from loop.errors import InputDataError

LISTED, _ = benchmark_world()


def _folder(tmp_path, names):
    for n in names:
        LISTED[n].to(filename=str(tmp_path / f"{n}.cif"))
    return tmp_path


def test_load_folder_names_by_stem_and_caches(tmp_path):
    refs = load_references(_folder(tmp_path, ["MnO", "CaTiO3"]))
    assert refs.names == ["CaTiO3", "MnO"]
    assert refs["MnO"].formula == "MnO"
    assert refs["MnO"].cell_mass > 0 and refs["MnO"].cell_volume == pytest.approx(4.445**3, rel=1e-3)
    assert load_references(tmp_path) is refs  # same folder content: cached
    with pytest.raises(KeyError, match="known"):
        refs["Unobtainium"]


def test_broken_cif_names_the_file(tmp_path):
    _folder(tmp_path, ["MnO"])
    bad = tmp_path / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a 4.0\nloop_\n_atom_site_label\n")
    with pytest.raises(InputDataError) as info:
        load_references(tmp_path)
    assert "broken.cif" in str(info.value)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(InputDataError, match="no .cif files"):
        load_references(tmp_path)
    with pytest.raises(InputDataError, match="does not exist"):
        load_references(tmp_path / "nope")


def test_from_structures_rejects_duplicates():
    refs = ReferenceSet.from_structures({"a": LISTED["MnO"], "b": LISTED["CaO"]})
    assert refs.names == ["a", "b"]
    with pytest.raises(InputDataError, match="duplicate"):
        ReferenceSet.from_structures([("a", LISTED["MnO"]), ("a", LISTED["CaO"])])
