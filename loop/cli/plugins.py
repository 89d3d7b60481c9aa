"""CLI subcommands contributed by stages through the ``crystaloop.commands`` entry points.

The entry-point name is the command path: ``bench.pool`` becomes ``crystaloop bench pool``
and ``xrd`` becomes ``crystaloop xrd``. A broken plug-in command is reported, not fatal.
"""

from __future__ import annotations

import logging

import click

from loop import registry

__all__ = ["attach_plugin_commands"]

log = logging.getLogger(__name__)


def attach_plugin_commands(root: click.Group) -> None:
    for name in registry.available("commands"):
        try:
            cmd = registry.load("commands", name)
        except Exception as exc:  # a third-party command must not break the CLI
            log.warning("could not load command %r: %s", name, exc)
            continue
        if not isinstance(cmd, click.Command):
            log.warning("entry point %r is not a click command", name)
            continue
        *parents, leaf = name.split(".")
        group = root
        for p in parents:
            sub = group.commands.get(p)
            if sub is None:
                sub = click.Group(p, help=f"{p} commands")
                group.add_command(sub)
            if not isinstance(sub, click.Group):
                log.warning("cannot nest %r under command %r", name, p)
                break
            group = sub
        else:
            group.add_command(cmd, leaf)
