"""The random crystal baseline (kind ``random_crystal``): symmetric random structures.

Each sample draws a space group uniformly from the allowed ones, then a composition
uniformly from the counts that space group's Wyckoff multiplicities admit (charge-neutral
when required: the same limits as the GFlowNet's environment); with ``draw: composition``
it draws the reduced composition uniformly first, then a space group and cell that admit it
(small cells admit few ternaries, so a space-group-first draw proposes mostly binaries).
It places the atoms with
pyxtal's ``from_random`` (random lattice and Wyckoff positions, distance checks; its draws come from a
numpy generator seeded from the sample rng, so a seed replays the same crystals). A draw
pyxtal cannot realise is redrawn, up to ``max_tries`` per sample.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from functools import reduce
from typing import Any, Literal

import numpy as np
from pydantic import Field
from pymatgen.core import Structure

from generators.gflownet.env import CrystalEnv, EnvConfig
from loop.interfaces import Generator, PluginContext
from loop.records import Candidate, Origin

__all__ = ["RandomCrystalConfig", "RandomCrystalGenerator", "pyxtal_random"]

log = logging.getLogger(__name__)


class RandomCrystalConfig(EnvConfig):
    """The chemical system and limits (shared with the GFlowNet) plus ``max_tries``."""

    max_tries: int = Field(10, ge=1, description="redraws per sample when pyxtal fails")
    draw: Literal["space_group", "composition"] = Field(
        "space_group",
        description="space_group: a space group uniformly, then counts it admits; composition: a reduced "
        "composition uniformly, then a space group and counts that realise it",
    )


def pyxtal_random(space_group: int, species: list[str], counts: list[int], seed: int) -> Structure | None:
    """One ``pyxtal.from_random`` crystal (conventional cell), or None when pyxtal gives up."""
    from pyxtal import pyxtal

    crystal = pyxtal()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crystal.from_random(3, space_group, species, counts, random_state=np.random.default_rng(seed))
    except Exception as exc:  # pyxtal raises bare Exceptions for incompatible draws
        log.debug("pyxtal from_random(%s, %s, %s) failed: %s", space_group, species, counts, exc)
        return None
    return crystal.to_pymatgen() if crystal.valid else None


class RandomCrystalGenerator(Generator):
    """Uniform space group and composition (or composition first), pyxtal positions."""

    Config = RandomCrystalConfig
    name = "random_crystal"
    version = "1"

    def __init__(self, config: RandomCrystalConfig | None = None, context: PluginContext | None = None) -> None:
        super().__init__(config, context)
        self.env = CrystalEnv(self.config, where="generator.options")
        self._by_composition: list[list[tuple[int, int]]] | None = None

    def compositions(self) -> list[list[tuple[int, int]]]:
        """Per reduced composition, the (space group index, count vector index) pairs that realise it."""
        if self._by_composition is None:
            groups: dict[tuple[int, ...], list[tuple[int, int]]] = {}
            for k in range(self.env.n_sg):
                for j, v in enumerate(self.env._feas[k].vectors):
                    g = reduce(math.gcd, (int(c) for c in v))
                    groups.setdefault(tuple(int(c) // g for c in v), []).append((k, j))
            self._by_composition = [groups[key] for key in sorted(groups)]
        return self._by_composition

    def draw(self, rng: np.random.Generator) -> tuple[int, list[str], list[int]]:
        """A space group number, species and counts (conventional cell)."""
        if self.config.draw == "composition":
            options = self.compositions()
            pairs = options[int(rng.integers(len(options)))]
            k, j = pairs[int(rng.integers(len(pairs)))]
        else:
            k = int(rng.integers(self.env.n_sg))
            j = int(rng.integers(len(self.env._feas[k].vectors)))
        counts = self.env._feas[k].vectors[j]
        species = [el for el, c in zip(self.env.elements, counts, strict=True) if c > 0]
        return self.env.space_groups[k], species, [int(c) for c in counts if c > 0]

    def sample(self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator) -> list[Candidate]:
        out = []
        for _ in range(int(n or 1)):
            for _ in range(self.config.max_tries):
                sg, species, counts = self.draw(rng)
                structure = pyxtal_random(sg, species, counts, seed=int(rng.integers(2**31)))
                if structure is not None:
                    out.append(
                        Candidate.from_structure(
                            structure, origin=Origin(generator=self.name), metadata={"space_group": sg}
                        )
                    )
                    break
            else:
                log.warning("random_crystal: no structure after %d draws", self.config.max_tries)
        return out
