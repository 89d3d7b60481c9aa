from __future__ import annotations

import pytest

from loop.clock import SimulatedClock, WallClock


def test_simulated_clock_moves_forward_only():
    c = SimulatedClock(5.0)
    c.advance(10)
    assert c.now() == 15.0
    with pytest.raises(ValueError, match="cannot go back"):
        c.advance_to(1.0)
    assert c.simulated and not WallClock().simulated and WallClock().now() > 1e9
