"""Rediscovery worlds: a folder of known phases, a chemical system, and the phases hidden from the loop.

A world config (``experiments/rediscover/*.yaml``) has these keys:

- ``name``: the world's key in the benchmark's JSON;
- ``references``: a folder of CIFs (one per phase, named by file stem), relative to the config
  file (or absolute). Pointing it at another folder gives a new world;
- ``elements``: the chemical system, e.g. ``[Li, Mn, O]``; phases of the folder with other
  elements are not part of this world (they remain known, e.g. as substitution templates);
- ``hide``: which phases of the world the loop must not know:
  ``ternaries`` (every phase of the world with three or more elements), a list of file stems,
  or ``{share: 0.5, seed: 0}`` (that share of the world's compounds, drawn with the seed).

Hidden phases stay in the world's truth (its hull, and what synthesis makes); the loop's
known phases are the folder's other files (:meth:`RediscoveryWorld.write_known`), which the
screen's hull, the substitution templates and the lab's XRD references use.

Bad input is a :class:`~loop.errors.ConfigError` naming the file and key: a missing folder, an
unknown stem, hiding nothing, or hiding every phase of the system.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loop.elements import element_symbols
from loop.errors import ConfigError

__all__ = ["HideShare", "RediscoveryWorld", "WorldSpec", "load_world"]

log = logging.getLogger(__name__)

LAB_PHYSICS_VERSION = 4
"""Part of every world's cache key: bump when the simulated lab's physics changes (2: the world's
oxidation-state correction; 3: fitted with the hidden error; 4: the solids' entropy in the furnace), so cached campaign results and reachability are recomputed."""


class HideShare(BaseModel):
    """Hide a random share of the world's compounds."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0, le=1, description="share of the world's compounds hidden")
    seed: int = Field(0, description="seed of the draw")


class WorldSpec(BaseModel):
    """One rediscovery world (see the module docs)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="the world's key in the JSON")
    references: str = Field(description="folder of CIFs, relative to the config file")
    elements: list[str] = Field(min_length=2, description="chemical system")
    hide: Literal["ternaries"] | list[str] | HideShare = Field(description="ternaries | [file stems] | {share, seed}")

    @field_validator("elements")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        return element_symbols(v)


class RediscoveryWorld:
    """A validated world: its folder, the world's phases (stem -> structure) and the hidden stems."""

    def __init__(self, spec: WorldSpec, folder: Path, source: str) -> None:
        from loop.known_phases import load_known_phases

        self.spec = spec
        self.folder = folder
        self.source = source
        if not folder.is_dir():
            raise ConfigError(source, [("references", f"folder not found: {folder}")])
        known = load_known_phases(folder, spec.elements)
        self.phases = {p.name: p for p in known.with_structures()}
        compounds = sorted(n for n, p in self.phases.items() if not p.is_elemental)
        self.hidden = self._hidden(compounds)
        if not self.hidden:
            raise ConfigError(source, [("hide", f"hides no phase of {'-'.join(spec.elements)}: nothing to rediscover")])
        visible = [n for n in compounds if n not in self.hidden]
        if not visible:
            raise ConfigError(source, [("hide", f"hides every compound of {'-'.join(spec.elements)} "
                                                f"({len(compounds)}): the loop would know no phase of the system")])

    def _hidden(self, compounds: list[str]) -> list[str]:
        hide = self.spec.hide
        if hide == "ternaries":
            return [n for n in compounds if len(self.phases[n].elements) >= 3]
        if isinstance(hide, HideShare):
            rng = np.random.default_rng(hide.seed)
            k = max(1, round(hide.share * len(compounds)))
            return sorted(rng.choice(compounds, size=min(k, len(compounds)), replace=False).tolist())
        stems = {p.stem for p in self.folder.glob("*.cif")}
        unknown = sorted(set(hide) - stems)
        if unknown:
            raise ConfigError(self.source, [("hide", f"no such files in {self.folder}: {unknown}")])
        outside = sorted(s for s in hide if s not in self.phases)
        if outside:
            raise ConfigError(self.source, [("hide", f"{outside} are not phases of {'-'.join(self.spec.elements)} "
                                                     "(other elements, or duplicates of an earlier file)")])
        return sorted(set(hide))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def elements(self) -> list[str]:
        return list(self.spec.elements)

    def hidden_structures(self) -> dict[str, Any]:
        """Stem -> structure (primitive, as read) of each hidden phase."""
        return {n: self.phases[n].structure for n in self.hidden}

    def key(self) -> str:
        """A hash of the folder's files and the hidden stems (caches of different worlds never mix)."""
        h = hashlib.sha256()
        for p in sorted(self.folder.glob("*.cif")):
            h.update(p.name.encode())
            h.update(p.read_bytes())
        h.update(repr((self.elements, self.hidden, LAB_PHYSICS_VERSION)).encode())
        return h.hexdigest()[:12]

    def write_known(self, directory: Path) -> Path:
        """The loop's known phases: every CIF of the folder except the hidden ones, copied into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        hidden = set(self.hidden)
        for p in sorted(self.folder.glob("*.cif")):
            if p.stem not in hidden:
                target = directory / p.name
                if not target.is_file():
                    shutil.copyfile(p, target)
        for stale in directory.glob("*.cif"):
            if stale.stem in hidden:
                stale.unlink()
        return directory


def load_world(path: str | Path) -> RediscoveryWorld:
    """Read and validate a world config (``references`` resolved against the file's folder)."""
    from loop.config import read_yaml_mapping
    from loop.registry import validation_problems

    path = Path(path)
    data = read_yaml_mapping(path)
    try:
        spec = WorldSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), validation_problems(exc, "")) from None
    folder = Path(spec.references)
    if not folder.is_absolute():
        folder = (path.parent / folder).resolve()
    return RediscoveryWorld(spec, folder, str(path))
