"""Potentials by name: through the registry (``crystaloop.potentials``), else the built-ins.

>>> pot = create_potential({"kind": "chgnet", "options": {}}, context)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from loop.errors import PluginNotFoundError
from loop.interfaces import PluginContext, Potential

__all__ = ["BUILTIN_POTENTIALS", "create_potential", "default_potential_name"]

log = logging.getLogger(__name__)

BUILTIN_POTENTIALS = {
    "chgnet": "surrogates.potentials.chgnet:CHGNetPotential",
    "mace": "surrogates.potentials.mace:MACEPotential",
}


def _builtin(kind: str) -> type[Potential]:
    import importlib

    if kind not in BUILTIN_POTENTIALS:
        raise PluginNotFoundError("crystaloop.potentials", kind, list(BUILTIN_POTENTIALS))
    module, _, attr = BUILTIN_POTENTIALS[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def default_potential_name() -> str:
    """``mace`` when a converted MACE model sits in the MACE cache folder, else ``chgnet``."""
    from surrogates.potentials.mace_model import CONFIG_FILE

    try:
        from surrogates.potentials.mace import mace_cache_dir

        cache = mace_cache_dir()
        if cache.is_dir() and any(cache.glob(f"**/{CONFIG_FILE}")):
            return "mace"
    except ImportError:  # pragma: no cover - mace-torch is a dependency
        pass
    return "chgnet"


def create_potential(spec: str | Mapping[str, Any] | None, context: PluginContext) -> Potential:
    """Build a potential from ``name`` or ``{kind, options}`` (``None``: the default)."""
    from loop import registry

    if spec is None:
        spec = default_potential_name()
    if isinstance(spec, str):
        spec = {"kind": spec, "options": {}}
    kind = spec["kind"]
    if kind in registry.available("potentials"):
        return registry.create("potentials", spec, context, where="potential")  # type: ignore[return-value]
    cls = _builtin(kind)
    from pydantic import ValidationError

    from loop.errors import ConfigError

    try:
        options = cls.Config.model_validate(dict(spec.get("options") or {}))
    except ValidationError as exc:
        raise ConfigError("potential", registry.validation_problems(exc, "potential.options")) from None
    return cls(options, context)
