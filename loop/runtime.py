"""A minimal Ray runtime: start (or join) Ray, and stop what we started.

Local by default (``ray.init`` on this machine with ``num_cpus`` workers); a cluster is
joined when ``address`` is given or ``RAY_ADDRESS`` is set. Stages submit Ray tasks
without caring which: ``ray.remote(fn).remote(...)`` works the same on both.

>>> with start_ray(num_cpus=2) as info:
...     futures = [work.remote(chunk) for chunk in chunks]
...     results = ray.get(futures)

Only a runtime this module started is shut down on exit; a Ray that was already running
(started by the campaign, a test or the user) is left alone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["RayInfo", "ray_available", "start_ray", "stop_ray"]

log = logging.getLogger(__name__)

_started_here = False


@dataclass(frozen=True)
class RayInfo:
    """What the runtime looks like: the address joined (``None`` for a local start), CPUs."""

    address: str | None
    num_cpus: float
    started_here: bool


def ray_available() -> bool:
    """True when a Ray runtime is initialised in this process."""
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return bool(ray.is_initialized())


def _init(address: str | None, num_cpus: int | None) -> RayInfo:
    global _started_here
    import ray

    if ray.is_initialized():
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        return RayInfo(address=address, num_cpus=cpus, started_here=False)
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, **kwargs)
    else:
        log.info("starting a local Ray runtime with %s CPU(s)", num_cpus or "all")
        ray.init(num_cpus=num_cpus, **kwargs)
    _started_here = True
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    return RayInfo(address=address, num_cpus=cpus, started_here=True)


def stop_ray() -> None:
    """Shut Ray down if this module started it (idempotent)."""
    global _started_here
    import ray

    if _started_here and ray.is_initialized():
        ray.shutdown()
        log.info("stopped the Ray runtime")
    _started_here = False


@contextmanager
def start_ray(address: str | None = None, num_cpus: int | None = None) -> Iterator[RayInfo]:
    """Start a local Ray (or join ``address`` / ``RAY_ADDRESS``) for the ``with`` block.

    An already running Ray is reused and left running. ``num_cpus`` applies to a local
    start only (a cluster has its own resources).
    """
    info = _init(address, num_cpus)
    try:
        yield info
    finally:
        if info.started_here:
            stop_ray()
