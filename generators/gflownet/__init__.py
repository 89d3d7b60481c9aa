"""A conditional GFlowNet that builds crystals: space group, composition, Wyckoff sites,
lattice and atomic positions (see :mod:`generators.gflownet.env`)."""

from __future__ import annotations

from generators.gflownet.env import CrystalEnv, EnvConfig, State
from generators.gflownet.generator import GFlowNetConfig, GFlowNetGenerator

__all__ = ["CrystalEnv", "EnvConfig", "GFlowNetConfig", "GFlowNetGenerator", "State"]
