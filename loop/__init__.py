"""crystaloop core: records, plug-in interfaces, configuration, registry, ledger, campaign."""

from __future__ import annotations

from loop.errors import (
    ConfigError,
    CrystaloopError,
    InputDataError,
    LabError,
    LedgerError,
    LedgerLockedError,
    PluginNotFoundError,
)
from loop.objectives import Constraint, Objective
from loop.records import Candidate, ExperimentRequest, Observation, RequestStatus

__all__ = [
    "Candidate",
    "ConfigError",
    "Constraint",
    "CrystaloopError",
    "ExperimentRequest",
    "InputDataError",
    "LabError",
    "LedgerError",
    "LedgerLockedError",
    "Objective",
    "Observation",
    "PluginNotFoundError",
    "RequestStatus",
]

__version__ = "0.1.0"
