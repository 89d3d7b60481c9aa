"""Sample-quality metrics of generated crystals (CDVAE/MatterGen conventions).

- structural validity: share with all distances >= 0.5 A and 5 <= V/atom <= 100 A^3;
- SMACT validity: share whose composition passes the SMACT charge-neutrality test;
- uniqueness: distinct candidate ids (canonical structure hashes) / n;
- novelty: share of unique valid structures matching no reference structure
  (pymatgen ``StructureMatcher`` against references of the same reduced formula) and
  no id in ``known_ids`` (e.g. the ledger);
- distinct space groups (spglib, symprec 0.1) and reduced compositions.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pymatgen.core import Structure

from generators.gflownet.chemistry import smact_valid
from generators.gflownet.validity import structure_valid
from loop.errors import InputDataError
from loop.records import Candidate

__all__ = ["load_reference", "sample_metrics"]

log = logging.getLogger(__name__)


def load_reference(path: str | Path, limit: int | None = None) -> list[Structure]:
    """Structures from the ``cif`` column of a CSV (e.g. ``carbon24/val.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("reference file not found", source=str(path))
    csv.field_size_limit(10**8)
    out = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if "cif" not in (reader.fieldnames or []):
            raise InputDataError(f"no 'cif' column (columns: {reader.fieldnames})", source=str(path))
        for i, row in enumerate(reader):
            if limit is not None and i >= limit:
                break
            try:
                out.append(Structure.from_str(row["cif"], fmt="cif"))
            except Exception as exc:  # a bad CIF names its row
                raise InputDataError(f"row {i + 2}: unreadable CIF ({exc})", source=str(path)) from exc
    return out


def _space_group(structure: Structure) -> int | None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_number()
    except Exception:
        return None


def sample_metrics(
    candidates: Sequence[Candidate], reference: Iterable[Structure] = (), known_ids: Iterable[str] = ()
) -> dict[str, float | int]:
    """Metrics of one batch of structure candidates (see the module docstring)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    n = len(candidates)
    if n == 0:
        raise InputDataError("no candidates to evaluate")
    structs = [c.structure for c in candidates]
    valid = [s is not None and structure_valid(s) for s in structs]
    smact = [s is not None and smact_valid(s.composition.get_el_amt_dict()) for s in structs]
    by_id: dict[str, Structure] = {}
    for c, ok in zip(candidates, valid, strict=True):
        if ok and c.structure is not None:
            by_id.setdefault(c.id, c.structure)
    refs: dict[str, list[Structure]] = defaultdict(list)
    for r in reference:
        refs[r.composition.reduced_formula].append(r)
    known = set(known_ids)
    matcher = StructureMatcher()
    novel = 0
    for cid, s in by_id.items():
        if cid in known:
            continue
        if not any(matcher.fit(s, r) for r in refs.get(s.composition.reduced_formula, [])):
            novel += 1
    sgs = {sg for s in structs if s is not None and (sg := _space_group(s)) is not None}
    return {
        "n": n,
        "structural_validity": sum(valid) / n,
        "smact_validity": sum(smact) / n,
        "uniqueness": len({c.id for c in candidates}) / n,
        "novelty": novel / max(len(by_id), 1),
        "n_space_groups": len(sgs),
        "n_compositions": len({s.composition.reduced_formula for s in structs if s is not None}),
    }
