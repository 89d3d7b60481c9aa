from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from loop.errors import InputDataError
from loop.records import Candidate
from surrogates.featurize import CompositionFeaturizer, StructureFeaturizer, TabularFeaturizer, make_featurizer


def _srtio3(a: float = 3.9) -> Structure:
    return Structure(
        Lattice.cubic(a), ["Sr", "Ti", "O", "O", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    )


def test_tabular_in_name_order_and_cached():
    f = TabularFeaturizer(["b", "a"])
    c = Candidate.from_params({"a": 1.0, "b": 2.0})
    assert f.transform([c]).tolist() == [[2.0, 1.0]]
    assert c.id in f.cache
    with pytest.raises(InputDataError, match="lacks parameter"):
        f.transform([Candidate.from_params({"a": 1.0})])


def test_tabular_nan_named():
    f = TabularFeaturizer(["a"])
    with pytest.raises(InputDataError, match="not finite"):
        f.transform([Candidate(id="x", params={"a": float("nan")})])


def test_composition_statistics():
    f = CompositionFeaturizer(fractions=True)
    x = f.transform([Candidate(id="c", formula="SrTiO3")])[0]
    names = f.names
    assert len(x) == len(names)
    assert x[names.index("frac_O")] == pytest.approx(0.6)
    assert x[names.index("mean_Z")] == pytest.approx((38 + 22 + 3 * 8) / 5)
    assert x[names.index("range_Z")] == pytest.approx(30)
    assert x[names.index("max_X")] == pytest.approx(3.44)


def test_structure_features_and_descriptor_hook():
    calls = []

    def desc(structures):
        calls.append(len(structures))
        return np.array([[s.volume, 1.0] for s in structures])

    f = StructureFeaturizer(descriptor_fn=desc)
    cands = [Candidate.from_structure(_srtio3(a)) for a in (3.9, 4.1)]
    X = f.transform(cands)
    names = f.names
    assert X.shape == (2, len(names))
    assert X[0, names.index("spacegroup")] == 221
    assert X[1, names.index("volume_per_atom")] == pytest.approx(4.1**3 / 5)
    assert X[0, names.index("desc_0")] == pytest.approx(3.9**3)
    f.transform(cands)
    assert calls == [2]  # cached per id


def test_auto_picks_by_content():
    assert isinstance(make_featurizer("auto", [Candidate.from_params({"a": 1.0})]), TabularFeaturizer)
    assert isinstance(make_featurizer("auto", [Candidate.from_structure(_srtio3())]), StructureFeaturizer)
    assert isinstance(make_featurizer("auto", [Candidate(id="c", formula="NaCl")]), CompositionFeaturizer)
