"""Shared fixtures: the data folder beside the repository, and small campaign configs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CRYSTALOOP_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA} (set CRYSTALOOP_DATA)")
    return DATA


@pytest.fixture
def p3ht_csv(data_dir: Path) -> Path:
    return data_dir / "liang2021" / "P3HT_dataset.csv"


P3HT_OUT = "Conductivity (measured) (S/cm)"


def p3ht_config(csv: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "p3ht-test",
        "seed": 0,
        "objectives": [{"name": "conductivity", "goal": "maximize"}],
        "budget": {"experiments": 12, "batch_size": 4},
        "generator": {"kind": "pool", "options": {"path": str(csv), "exclude": [P3HT_OUT]}},
        "ranker": {"kind": "random"},
        "lab": {"kind": "table", "options": {"path": str(csv), "outputs": {"conductivity": P3HT_OUT}, "latency_s": 60}},
        "tracking": {"enabled": False},
    }
    for key, value in over.items():
        node = cfg
        *parents, leaf = key.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg
