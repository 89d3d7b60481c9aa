from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from loop.runtime import ray_available, start_ray, stop_ray  # noqa: E402


def _square(x: int) -> int:
    return x * x


@pytest.mark.slow
def test_local_ray_starts_runs_tasks_and_stops(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray_available()
    with start_ray(num_cpus=1) as info:
        assert info.started_here and info.address is None and info.num_cpus == 1
        assert ray_available()
        task = ray.remote(num_cpus=1)(_square)
        assert ray.get([task.remote(i) for i in range(4)]) == [0, 1, 4, 9]
        # a nested start joins the running runtime and leaves it running
        with start_ray() as inner:
            assert not inner.started_here
        assert ray_available()
    assert not ray_available()
    stop_ray()  # idempotent
    assert not ray_available()
