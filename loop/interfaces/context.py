"""What every plug-in is given when the campaign builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.objectives import Constraint, GoalSpec, Objective

if TYPE_CHECKING:
    from loop.clock import Clock

__all__ = ["PluginContext", "resolve_device"]


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"


@dataclass
class PluginContext:
    """Campaign-wide facts a plug-in may need.

    ``work_dir`` is a folder the plug-in may write to (its journal, caches, checkpoints);
    ``seed`` the campaign seed; ``clock`` the campaign clock (simulated or wall).
    """

    work_dir: Path
    seed: int = 0
    objectives: list[Objective] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    goal: GoalSpec | None = None
    device: str = "auto"
    clock: Clock | None = None
    name: str = "default"
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)

    @property
    def measured_properties(self) -> list[str]:
        from loop.objectives import goal_names

        names = [o.name for o in self.objectives] + [c.name for c in self.constraints]
        return list(dict.fromkeys([*names, *sorted(goal_names(self.goal))]))
