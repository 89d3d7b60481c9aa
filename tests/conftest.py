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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A throwaway PostgreSQL on loopback (skipped where the server binaries or psycopg are missing)."""
    import glob
    import shutil
    import subprocess

    pytest.importorskip("psycopg")
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = os.environ.get("PG_INITDB") or (bins[-1] if bins else shutil.which("initdb"))
    if not initdb:
        pytest.skip("PostgreSQL server binaries not found (Debian package postgresql)")
    bindir = Path(initdb).parent
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="crystaloop-pg-"))  # pytest's tmp is not readable by the postgres user
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-w", "-l", str(root / "log"),
         "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database on the throwaway server for one test."""
    import re

    import sqlalchemy as sa

    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    engine = sa.create_engine(f"{postgres_server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{postgres_server}/{name}"
