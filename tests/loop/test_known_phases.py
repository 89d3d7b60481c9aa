"""Known phases from folders of CIFs, entry JSON and CSVs: filtering, ordering, duplicates, bad files."""

from __future__ import annotations

import json
import shutil

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from loop.errors import InputDataError
from loop.known_phases import load_known_phases, order_structure


@pytest.fixture
def refs(data_dir):
    return data_dir / "references" / "li-mn-ti-o-f"


@pytest.mark.slow
def test_folder_is_filtered_to_the_system_and_duplicates_are_counted(refs):
    known = load_known_phases(refs, ["Li", "Mn", "O"])
    formulas = {p.formula for p in known.phases}
    assert {"LiMn2O4", "Li2MnO3", "Mn3O4", "Li2O"} <= formulas
    assert not any({"Ti", "F"} & p.elements for p in known.phases)
    c = known.counts()
    assert c["kept"] + c["outside"] + c["duplicate"] == 56 and c["outside"] > 0 and c["duplicate"] >= 1
    # the shipped set has no pure elements: every element needs a built-in stand-in
    assert known.missing_elements() == ["Li", "Mn", "O"]
    assert all(len(p.structure) < 60 for p in known.with_structures())  # primitive cells


def test_a_file_named_explicitly_with_every_phase_outside_is_an_error(refs, tmp_path):
    with pytest.raises(InputDataError, match="LiF_225.cif.*outside the chemical system"):
        load_known_phases(refs / "LiF_225.cif", ["Li", "Mn", "O"])


def test_a_broken_cif_names_the_file(refs, tmp_path):
    folder = tmp_path / "refs"
    folder.mkdir()
    shutil.copy(refs / "Li2O_225.cif", folder)
    (folder / "Broken_1.cif").write_text("data_x\n_cell_length_a 3\nloop_\n_atom_site_label\nnonsense\n")
    with pytest.raises(InputDataError, match="Broken_1.cif"):
        load_known_phases(folder, ["Li", "O"])


def test_a_disordered_cif_is_ordered_below_the_cap_and_counted_above_it(refs, tmp_path):
    # a disordered rock salt made from the shipped MnO: half the Mn sites hold Li
    mno = Structure.from_file(refs / "MnO_225.cif")
    mno.remove_oxidation_states()
    mno.replace_species({"Mn": {"Mn": 0.5, "Li": 0.5}})
    folder = tmp_path / "dis"
    folder.mkdir()
    mno.to(filename=str(folder / "LiMnO2_dis.cif"))
    known = load_known_phases(folder, ["Li", "Mn", "O"])
    (ph,) = known.phases
    assert ph.ordered_from_disorder and ph.structure.is_ordered and ph.formula == "LiMnO2"
    assert known.counts()["disordered_ordered"] == 1
    # a 1/3 occupancy needs a 3x supercell: above a tiny cap it is skipped and counted
    third = Structure.from_file(refs / "MnO_225.cif")
    third.remove_oxidation_states()
    third.replace_species({"Mn": {"Mn": 2 / 3, "Li": 1 / 3}})
    third.to(filename=str(folder / "LiMnO2_dis.cif"))
    capped = load_known_phases(folder, ["Li", "Mn", "O"], max_atoms=10)
    assert capped.phases == [] and capped.counts()["disordered_over_cap"] == 1
    assert order_structure(third, 200).composition.reduced_formula == "LiMn2O3"


def test_entries_json_and_csv_with_a_cif_column(refs, tmp_path):
    li2o = Structure.from_file(refs / "Li2O_225.cif")
    li2o.remove_oxidation_states()
    entries = [
        ComputedStructureEntry(li2o, -14.3 * 1, entry_id="mp-1960"),
        ComputedEntry("Li2O2", -19.0, entry_id="mp-841"),
        ComputedEntry("NaCl", -7.0, entry_id="mp-22862"),
    ]
    path = tmp_path / "entries.json"
    path.write_text(json.dumps([e.as_dict() for e in entries]))
    known = load_known_phases(path, ["Li", "O"])
    assert [p.name for p in known.phases] == ["mp-1960", "mp-841"] and known.skipped["outside"] == ["mp-22862"]
    assert [p.name for p in known.with_structures()] == ["mp-1960"]  # an entry without structure never feeds a world
    assert known.phases[1].energy_per_atom == pytest.approx(-19.0 / 4)
    csv = tmp_path / "phases.csv"
    rock = Structure(Lattice.cubic(4.4), ["Mn"] * 4 + ["O"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
                                                                  [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]])
    import pandas as pd

    pd.DataFrame({"material_id": ["a", "b"], "cif": [rock.to(fmt="cif"), rock.to(fmt="cif")]}).to_csv(csv, index=False)
    from_csv = load_known_phases(csv, ["Mn", "O"])
    assert [p.name for p in from_csv.phases] == ["a"] and from_csv.skipped["duplicate"] == ["b"]
    assert len(from_csv.phases[0].structure) == 2


def test_a_folder_read_again_comes_from_memory_as_a_copy_until_a_file_changes(tmp_path, monkeypatch):
    import os

    import loop.known_phases as kp

    folder = tmp_path / "cifs"
    folder.mkdir()
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(folder / "MgO.cif"))
    first = load_known_phases(folder, ["Mg", "O"])
    reads = []
    real = kp._raw_items
    monkeypatch.setattr(kp, "_raw_items", lambda f: reads.append(f) or real(f))
    again = load_known_phases(folder, ["O", "Mg"])
    assert reads == [] and again.counts() == first.counts() and again.phases[0].structure == first.phases[0].structure
    again.phases[0].structure.scale_lattice(100.0)  # a caller's change stays with the caller
    assert load_known_phases(folder, ["Mg", "O"]).phases[0].structure == first.phases[0].structure
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.8), ["Ca", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(folder / "MgO.cif"))
    os.utime(folder / "MgO.cif", ns=(1, 1))
    assert len(load_known_phases(folder, ["Mg", "O"]).phases) == 0 and reads  # the file changed: read again
