from __future__ import annotations

import numpy as np
import pytest

from generators.gflownet.spacegroups import LATTICE_PARAMS, space_group_table


@pytest.mark.parametrize("number", [1, 2, 14, 62, 139, 166, 194, 225])
def test_orbits_have_multiplicity_distinct_points(number: int) -> None:
    table = space_group_table(number)
    rng = np.random.default_rng(number)
    for wp in table.wyckoffs:
        orbit = wp.orbit(rng.random((1, 3)))[0]
        assert orbit.shape == (wp.multiplicity, 3)
        assert np.all((orbit >= 0) & (orbit < 1))
        rounded = {tuple(np.round(p, 6) % 1.0) for p in orbit}
        assert len(rounded) == wp.multiplicity, wp.letter
        assert wp.dof == len(wp.free_axes)


def test_general_position_first_and_crystal_systems() -> None:
    t = space_group_table(225)
    assert t.wyckoffs[0].multiplicity == 192 and t.wyckoffs[0].dof == 3
    assert t.crystal_system == "cubic" and t.lattice_params == LATTICE_PARAMS["cubic"]
    assert space_group_table(166).crystal_system == "trigonal"
    assert t.free_reachable(30)[24] and not t.free_reachable(30)[4]  # 24e is free, 4a is fixed
    with pytest.raises(ValueError, match="1-230"):
        space_group_table(231)
