"""Plug-ins by name, through entry points.

Built-in and third-party plug-ins register the same way, in ``pyproject.toml``::

    [project.entry-points."crystaloop.labs"]
    my_robot = "my_package.driver:MyRobotLab"

Groups: ``generators``, ``screens``, ``rankers``, ``labs``, ``potentials``,
``recipes`` and ``commands`` (CLI subcommands that belong to a stage). An unknown name
raises :class:`PluginNotFoundError` listing the valid ones; options are validated by the
plug-in's own ``Config`` model so that errors name the exact field.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError

from loop.errors import ConfigError, PluginNotFoundError
from loop.interfaces.context import PluginContext
from loop.interfaces.plugin import Plugin, PluginConfig

__all__ = ["GROUPS", "available", "create", "load", "validate_options", "validation_problems"]

log = logging.getLogger(__name__)

GROUPS = ("generators", "screens", "rankers", "labs", "potentials", "recipes", "estimators", "commands")
_PREFIX = "crystaloop."
_cache: dict[tuple[str, str], Any] = {}


def _group(group: str) -> str:
    short = group.removeprefix(_PREFIX)
    if short not in GROUPS:
        raise ValueError(f"unknown plug-in group {group!r}; groups: {', '.join(GROUPS)}")
    return _PREFIX + short


def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=_group(group))}


def available(group: str) -> list[str]:
    """Names registered in a group, sorted."""
    return sorted(_entry_points(group))


def load(group: str, name: str) -> Any:
    """The object an entry point names (a plug-in class, or a CLI command)."""
    key = (_group(group), name)
    if key not in _cache:
        eps = _entry_points(group)
        if name not in eps:
            raise PluginNotFoundError(key[0], name, list(eps))
        _cache[key] = eps[name].load()
    return _cache[key]


def validation_problems(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    """Pydantic errors as ``(dotted.location, message)`` pairs under ``prefix``."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            msg = f"{msg} (got {err['input']!r})"
        out.append((loc, msg))
    return out


def validate_options(group: str, name: str, options: Mapping[str, Any] | None, where: str) -> PluginConfig:
    """Validate ``options`` with the plug-in's ``Config``; errors name ``<where>.options.<field>``."""
    cls = load(group, name)
    model = getattr(cls, "Config", PluginConfig)
    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as exc:
        raise ConfigError(where, validation_problems(exc, f"{where}.options")) from None


def create(group: str, spec: Any, context: PluginContext, where: str | None = None) -> Plugin:
    """Build the plug-in a ``{kind, options}`` spec names, with validated options."""
    kind = spec["kind"] if isinstance(spec, Mapping) else spec.kind
    options = spec.get("options", {}) if isinstance(spec, Mapping) else spec.options
    where = where or group.removeprefix(_PREFIX).rstrip("s")
    cls = load(group, kind)
    config = validate_options(group, kind, options, where)
    log.debug("creating %s %r", where, kind)
    return cls(config, context)
