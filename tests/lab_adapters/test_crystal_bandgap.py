"""The ABX3 band-gap emulator: site assignment, training, skops round trip, the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pymatgen.core import Lattice, Structure

from lab_adapters.crystal.bandgap import FEATURES, GapModel, abx3_features, abx3_sites, train_gap_model
from lab_adapters.crystal.cli import train_gap
from loop.errors import InputDataError


def perovskite(a: str, b: str, x: str, lattice: float = 3.9) -> Structure:
    return Structure(Lattice.cubic(lattice), [a, b, x, x, x], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_sites_follow_the_structure_not_the_formula():
    s = perovskite("Sr", "Ti", "O")
    assert abx3_sites(s) == ("Sr", "Ti", ["O", "O", "O"])  # Ti is octahedral (closest to O)
    swapped = perovskite("Ti", "Sr", "O")
    assert abx3_sites(swapped)[1] == "Sr"
    mixed = Structure(Lattice.cubic(4.0), ["La", "Ti", "O", "O", "N"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    assert abx3_sites(mixed)[2] == ["N", "O", "O"]
    f = abx3_features(s)
    assert f is not None and f.shape == (len(FEATURES),)
    assert f[FEATURES.index("tolerance")] == pytest.approx(1.0)  # ideal cubic perovskite
    assert abx3_features(Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])) is None


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, data_dir):
    frame = pd.read_csv(data_dir / "perov5" / "val.csv")
    gapped = frame[frame.dir_gap > 0].head(40)
    path = tmp_path_factory.mktemp("gap") / "subset.csv"
    pd.concat([gapped, frame[frame.dir_gap == 0].head(260)]).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_train_save_load_predict_and_command(small_csv, tmp_path):
    model = train_gap_model(small_csv, seed=0, test_fraction=0.25)
    assert model.meta["n_test"] == 75 and model.meta["mae_test"] >= 0
    path = model.save(tmp_path / "gap.skops")
    back = GapModel.load(path)
    s = [perovskite("Sr", "Ti", "O"), perovskite("La", "Al", "O", 3.8), Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])]
    p1, p2 = model.predict(s), back.predict(s)
    assert np.isnan(p1[2]) and np.isnan(p2[2])
    assert p1[:2] == pytest.approx(p2[:2]) and (p1[:2] >= 0).all()
    (tmp_path / "bad.skops").write_bytes(b"not a zip")
    with pytest.raises(InputDataError, match="cannot read band-gap model"):
        GapModel.load(tmp_path / "bad.skops")
    with pytest.raises(InputDataError, match="does not exist"):
        GapModel.load(tmp_path / "missing.skops")
    out = CliRunner().invoke(train_gap, ["--data", str(small_csv), "--out", str(tmp_path / "cli.skops"), "--test-fraction", "0.25", "--json", str(tmp_path / "g.json")])
    assert out.exit_code == 0, out.output
    assert "held-out MAE" in out.output and (tmp_path / "cli.skops").is_file()
    assert json.loads((tmp_path / "g.json").read_text())["mae_test"] == pytest.approx(model.meta["mae_test"])
