"""Tabular pools: a CSV of designs (parameter columns or a ``cif`` column) with hidden outputs.

Rows with identical inputs are one design (replicate measurements of it). The pool
generator, the table lab and the pool benchmarks all read tables through here, so they
agree on design ids and on what is wrong with a bad file::

    >>> table = load_design_table("P3HT_dataset.csv", exclude=["Conductivity (measured) (S/cm)"])
    >>> len(table.designs), table.truth("Conductivity (measured) (S/cm)").shape
    (178, (178,))
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loop.errors import InputDataError
from loop.identity import params_id, structure_id
from loop.records import Candidate, Origin

__all__ = ["Design", "DesignTable", "load_design_table", "read_csv"]

log = logging.getLogger(__name__)


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV (a UTF-8 byte-order mark is allowed); a clear error for a missing or bad file."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("file not found (give the path to a CSV table)", source=str(path))
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputDataError("the file is empty", source=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputDataError(f"not a readable CSV: {exc}", source=str(path)) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.loc[:, [c for c in frame.columns if not c.startswith("Unnamed:")]]
    if frame.empty:
        raise InputDataError("the table has a header but no rows", source=str(path))
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str, role: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(
            f"{role} column(s) {missing} not in the table; columns are {list(frame.columns)}", source=source
        )


def numeric_column(frame: pd.DataFrame, column: str, source: str, *, allow_nan: bool = False) -> np.ndarray:
    """A column as float; names the first bad row."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) if not allow_nan else np.isinf(values)
    if not allow_nan:
        bad |= np.isnan(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputDataError(
            f"column {column!r} row {row + 2} (line in file) is not a finite number: {str(frame[column].iloc[row])!r}",
            source=source,
        )
    return values


def cache_dir() -> Path:
    """Where crystaloop caches derived data (``$CRYSTALOOP_CACHE``, else the user cache folder)."""
    root = os.environ.get("CRYSTALOOP_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crystaloop"
    return Path(root)


def _parse_cif_column(path: Path, frame: pd.DataFrame, column: str, symprec: float) -> list[tuple[str, Any]]:
    """(id, Structure) per row. Parsing thousands of CIFs is slow, so the result is cached as
    JSON keyed by the file's content hash (never pickled)."""
    from pymatgen.core import Structure

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
    cache = cache_dir() / "tables" / f"{digest}-{column}-{symprec:g}.json"
    if cache.exists():
        try:
            rows = json.loads(cache.read_text())
            if len(rows) == len(frame):
                return [(cid, Structure.from_dict(d)) for cid, d in rows]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable cache file %s", cache)
    out = []
    for i, text in enumerate(frame[column].tolist()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pymatgen warns about rounded coordinates
                structure = Structure.from_str(str(text), fmt="cif")
        except Exception as exc:
            raise InputDataError(f"row {i + 2}: column {column!r} is not a valid CIF ({exc})", source=str(path)) from None
        out.append((structure_id(structure, symprec=symprec), structure))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps([(cid, st.as_dict()) for cid, st in out]))
        tmp.replace(cache)
    except OSError as exc:
        log.warning("could not cache parsed structures at %s: %s", cache, exc)
    return out


@dataclass
class Design:
    """One distinct design: its candidate and the rows (replicates) that measured it."""

    candidate: Candidate
    rows: list[int] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.candidate.id


@dataclass
class DesignTable:
    """A pool read from a table: distinct designs and the raw rows behind them."""

    path: Path
    frame: pd.DataFrame
    inputs: list[str]
    designs: list[Design]
    cif_column: str | None = None

    def __post_init__(self) -> None:
        self.by_id = {d.id: d for d in self.designs}

    @property
    def source(self) -> str:
        return str(self.path)

    def candidates(self) -> list[Candidate]:
        return [d.candidate for d in self.designs]

    def column(self, name: str, *, allow_nan: bool = False) -> np.ndarray:
        """Raw per-row values of an output column (validated)."""
        require_columns(self.frame, [name], self.source, "output")
        return numeric_column(self.frame, name, self.source, allow_nan=allow_nan)

    def truth(self, name: str) -> np.ndarray:
        """Per-design truth: the mean of its replicates (NaN replicates ignored)."""
        values = self.column(name, allow_nan=True)
        out = np.array([np.nanmean(values[d.rows]) if np.isfinite(values[d.rows]).any() else np.nan for d in self.designs])
        return out

    def replicates(self, design_id: str, name: str) -> np.ndarray:
        values = self.column(name, allow_nan=True)
        reps = values[self.by_id[design_id].rows]
        return reps[np.isfinite(reps)]


def load_design_table(
    path: str | Path,
    *,
    inputs: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    cif_column: str | None = None,
    generator: str = "pool",
    symprec: float = 0.01,
) -> DesignTable:
    """Read a table of designs.

    With ``cif_column`` each row is a crystal (id from its canonical structure); otherwise
    the ``inputs`` columns (default: every numeric column not in ``exclude``) are the
    parameters. Rows with the same id are replicates of one design.
    """
    path = Path(path)
    frame = read_csv(path)
    source = str(path)
    origin = Origin(generator=generator, round=None)
    groups: dict[str, Design] = {}
    if cif_column is not None:
        require_columns(frame, [cif_column], source, "structure")
        parsed = _parse_cif_column(path, frame, cif_column, symprec)
        for i, (cid, structure) in enumerate(parsed):
            if cid not in groups:
                cand = Candidate(id=cid, structure=structure, formula=structure.composition.reduced_formula, origin=origin)
                groups[cid] = Design(candidate=cand)
            groups[cid].rows.append(i)
        used_inputs: list[str] = []
    else:
        if inputs is None:
            used_inputs = [
                c for c in frame.columns if c not in set(exclude) and pd.api.types.is_numeric_dtype(frame[c])
            ]
            if not used_inputs:
                raise InputDataError("no numeric input columns left after excluding the outputs", source=source)
        else:
            used_inputs = list(inputs)
            require_columns(frame, used_inputs, source, "input")
        matrix = np.column_stack([numeric_column(frame, c, source) for c in used_inputs])
        for i, row in enumerate(matrix):
            params = {c: float(v) for c, v in zip(used_inputs, row, strict=True)}
            cid = params_id(params)
            if cid not in groups:
                groups[cid] = Design(candidate=Candidate(id=cid, params=params, origin=origin))
            groups[cid].rows.append(i)
    log.info("%s: %d rows, %d distinct designs", source, len(frame), len(groups))
    return DesignTable(path=path, frame=frame, inputs=used_inputs, designs=list(groups.values()), cif_column=cif_column)
