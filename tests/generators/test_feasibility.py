from __future__ import annotations

import numpy as np
import pytest

from generators.gflownet.feasibility import Feasibility, all_count_vectors
from generators.gflownet.spacegroups import space_group_table


def test_all_count_vectors() -> None:
    v = all_count_vectors(3, 4)
    assert len(v) == 35 and v.sum(1).max() == 4 and len({tuple(r) for r in v}) == 35


@pytest.mark.parametrize("number", [2, 47, 139, 166, 221, 225])
def test_enumeration_matches_recursive_check(number: int) -> None:
    table = space_group_table(number)
    vectors = all_count_vectors(2, 12)
    feas = Feasibility(table, 2, 12, np.ones(len(vectors), dtype=bool))
    fixed = tuple(sorted(table.wyckoffs[i].multiplicity for i in table.fixed if table.wyckoffs[i].multiplicity <= 12))
    brute = {tuple(int(x) for x in v) for v in vectors if feas.completable(tuple(int(x) for x in v), fixed)}
    assert {tuple(int(x) for x in v) for v in feas.vectors} == brute


def test_fcc_counts_and_allowed_counts() -> None:
    vectors = all_count_vectors(2, 8)
    feas = Feasibility(space_group_table(225), 2, 8, vectors.sum(1) >= 1)
    got = {tuple(int(x) for x in v) for v in feas.vectors}
    assert (4, 4) in got and (4, 0) in got and (2, 2) not in got and (8, 8) not in got
    allowed = feas.allowed_counts((4, -1))
    assert set(allowed[1].tolist()) == {0, 4}
