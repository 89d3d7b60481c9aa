"""The base every plug-in shares: a pydantic ``Config`` model and a context."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from loop.interfaces.context import PluginContext

__all__ = ["Plugin", "PluginConfig"]


class PluginConfig(BaseModel):
    """Base of every plug-in's options model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Plugin:
    """A stage implementation. Subclasses set ``Config`` to their options model.

    The registry validates the campaign's ``options`` against ``Config`` (so an error
    names ``generator.options.beta``) and calls ``cls(config, context)``.
    """

    Config: ClassVar[type[PluginConfig]] = PluginConfig
    name: ClassVar[str] = "plugin"
    version: ClassVar[str] = "1"

    def __init__(self, config: PluginConfig | None = None, context: PluginContext | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.context = context if context is not None else PluginContext(work_dir=".")

    def provenance(self) -> dict[str, Any] | None:
        """Where the plug-in's reference data come from (e.g. known phases: folders, files, counts), or None.

        Recorded by the campaign (:meth:`loop.campaign.engine.Campaign.record_provenance`) in the
        ledger, the report and as MLflow tags."""
        return None
