"""The error tree of crystaloop.

Every error a user can meet derives from :class:`CrystaloopError` and carries a message
that names the file, field or request at fault and what was expected::

    CrystaloopError
    ├── ConfigError            a campaign/stage configuration is invalid (lists every problem)
    ├── PluginNotFoundError    an unknown plug-in name (lists the valid ones)
    ├── InputDataError         a data file or measurement is malformed (names file/column/row)
    ├── LedgerError            the campaign ledger cannot be used
    │   └── LedgerLockedError  another process is writing this campaign
    ├── LabError               a lab adapter failed (transient or not)
    │   └── LabTimeoutError
    └── StructureError         a crystal structure is invalid (says what is wrong with it)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "CrystaloopError",
    "InputDataError",
    "LabError",
    "LabTimeoutError",
    "LedgerError",
    "LedgerLockedError",
    "PluginNotFoundError",
    "StructureError",
]


class CrystaloopError(Exception):
    """Base class of every error raised on purpose by crystaloop."""


class ConfigError(CrystaloopError):
    """A configuration is invalid.

    ``problems`` holds one ``(location, message)`` pair per problem, so that
    ``crystaloop validate`` can report all of them at once.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}" for loc, msg in self.problems]
        super().__init__("\n".join(lines) if lines else f"{source}: invalid configuration")


class PluginNotFoundError(CrystaloopError, LookupError):
    """No plug-in of that name is registered in the group."""

    def __init__(self, group: str, name: str, available: Sequence[str]) -> None:
        self.group = group
        self.name = name
        self.available = sorted(available)
        valid = ", ".join(self.available) or "none installed"
        super().__init__(f"unknown {group.rsplit('.', 1)[-1][:-1]} {name!r}; valid names: {valid}")


class InputDataError(CrystaloopError, ValueError):
    """A data file, row or measurement is malformed."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class LedgerError(CrystaloopError):
    """The campaign ledger cannot be opened or written."""


class LedgerLockedError(LedgerError):
    """Another process holds the campaign's writer lock."""


class LabError(CrystaloopError):
    """A lab adapter failed. ``transient`` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class LabTimeoutError(LabError):
    """A lab did not answer in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


class StructureError(CrystaloopError, ValueError):
    """A crystal structure is invalid; the message says what is wrong with the material."""
