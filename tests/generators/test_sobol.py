from __future__ import annotations

import numpy as np

from generators.sobol import SobolGenerator
from loop.interfaces import PluginContext


def test_sobol_pool_is_seeded_and_in_bounds(tmp_path):
    cfg = SobolGenerator.Config(bounds={"t": (500, 1100), "h": (1, 24)}, n=256)
    a = SobolGenerator(cfg, PluginContext(work_dir=tmp_path, seed=1)).sample(None, None, np.random.default_rng(0))
    b = SobolGenerator(cfg, PluginContext(work_dir=tmp_path, seed=1)).sample(None, None, np.random.default_rng(5))
    assert [c.id for c in a] == [c.id for c in b] and len(a) == 256
    t = np.array([c.params["t"] for c in a])
    assert t.min() >= 500 and t.max() <= 1100 and t.std() > 100
