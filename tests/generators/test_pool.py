from __future__ import annotations

import numpy as np

from generators.pool import PoolGenerator
from loop.interfaces import PluginContext
from tests.conftest import P3HT_OUT


def test_pool_returns_all_distinct_designs_or_a_subset(tmp_path, p3ht_csv):
    gen = PoolGenerator(PoolGenerator.Config(path=p3ht_csv, exclude=[P3HT_OUT]), PluginContext(work_dir=tmp_path))
    assert gen.finite
    everything = gen.sample(None, None, np.random.default_rng(0))
    assert len(everything) == 178 and len({c.id for c in everything}) == 178
    assert P3HT_OUT not in everything[0].params
    some = gen.sample(10, None, np.random.default_rng(0))
    assert len(some) == 10 and {c.id for c in some} <= {c.id for c in everything}


def test_cif_pool(tmp_path, data_dir):
    import pandas as pd

    small = tmp_path / "perov.csv"
    pd.read_csv(data_dir / "perov5" / "val.csv").head(20).to_csv(small, index=False)
    gen = PoolGenerator(PoolGenerator.Config(path=small, cif_column="cif"), PluginContext(work_dir=tmp_path))
    cands = gen.sample(None, None, np.random.default_rng(0))
    assert len(cands) == 20 and all(c.structure is not None and c.formula for c in cands)
