from __future__ import annotations

import numpy as np
import pytest

from loop.errors import InputDataError
from loop.tables import load_design_table


def test_liang_replicates_group_into_designs(data_dir):
    t = load_design_table(data_dir / "liang2021" / "P3HT_dataset.csv", exclude=["Conductivity (measured) (S/cm)"])
    assert len(t.frame) == 233 and len(t.designs) == 178
    truth = t.truth("Conductivity (measured) (S/cm)")
    d = max(t.designs, key=lambda d: len(d.rows))
    i = t.designs.index(d)
    assert truth[i] == pytest.approx(np.mean(t.replicates(d.id, "Conductivity (measured) (S/cm)")))


def test_bom_is_handled(data_dir):
    t = load_design_table(data_dir / "liang2021" / "Perovskite_dataset.csv", exclude=["Instability index"])
    assert t.inputs == ["CsPbI", "FAPbI", "MAPbI"]
    assert len(t.designs) == 94


def test_bad_tables_name_file_and_column(tmp_path):
    with pytest.raises(InputDataError, match="file not found"):
        load_design_table(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputDataError, match="empty"):
        load_design_table(empty)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,3\n1,x,4\n")
    with pytest.raises(InputDataError, match=r"bad.csv: column 'b' row 3"):
        load_design_table(bad, inputs=["a", "b"])
    with pytest.raises(InputDataError, match=r"input column\(s\) \['c'\]"):
        load_design_table(bad, inputs=["a", "c"])
    cif = tmp_path / "cif.csv"
    cif.write_text('cif,y\n"not a cif",1\n')
    with pytest.raises(InputDataError, match="row 2: column 'cif' is not a valid CIF"):
        load_design_table(cif, cif_column="cif")


def test_cif_tables_are_cached_as_json(tmp_path, data_dir, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("CRYSTALOOP_CACHE", str(tmp_path / "cache"))
    small = tmp_path / "perov.csv"
    pd.read_csv(data_dir / "perov5" / "val.csv").head(12).to_csv(small, index=False)
    first = load_design_table(small, cif_column="cif")
    files = list((tmp_path / "cache" / "tables").glob("*.json"))
    assert len(files) == 1
    again = load_design_table(small, cif_column="cif")
    assert [d.id for d in again.designs] == [d.id for d in first.designs]
    assert again.designs[0].candidate.structure == first.designs[0].candidate.structure
    files[0].write_text("{broken")  # a damaged cache is ignored, not trusted
    assert [d.id for d in load_design_table(small, cif_column="cif").designs] == [d.id for d in first.designs]


def test_fuzzed_csv_tables_give_input_errors(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cell = st.one_of(st.floats(), st.integers(), st.text(max_size=5), st.just(""), st.just("nan"))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=5), bom=st.booleans())
    def check(rows, bom):
        path = tmp_path / "fuzz.csv"
        text = "a,b,y\n" + "\n".join(",".join(map(str, r)) for r in rows)
        path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
        try:
            t = load_design_table(path, inputs=["a", "b"])
            t.truth("y")
        except InputDataError as exc:
            assert "fuzz.csv" in str(exc)

    check()
