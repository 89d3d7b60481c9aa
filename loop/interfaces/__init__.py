"""Plug-in interfaces: every stage implements one of these."""

from __future__ import annotations

from loop.interfaces.context import PluginContext, resolve_device
from loop.interfaces.generator import Generator, ScoreFn
from loop.interfaces.lab import LabAdapter
from loop.interfaces.plugin import Plugin, PluginConfig
from loop.interfaces.potential import Potential, PotentialResult, RelaxResult
from loop.interfaces.ranker import Ranker
from loop.interfaces.screen import Screen

__all__ = [
    "Generator",
    "LabAdapter",
    "Plugin",
    "PluginConfig",
    "PluginContext",
    "Potential",
    "PotentialResult",
    "Ranker",
    "RelaxResult",
    "ScoreFn",
    "Screen",
    "resolve_device",
]
