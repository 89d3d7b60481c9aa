"""Where each stage's reference phases came from: recorded once per campaign in the ledger and MLflow."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["record_provenance"]

log = logging.getLogger(__name__)


def record_provenance(campaign: Any) -> dict[str, dict[str, Any]]:  # noqa: ANN401 - a Campaign
    """Each stage's :meth:`~loop.interfaces.Plugin.provenance` (screen, labs): ledger meta ``provenance``
    and MLflow tags ``crystaloop.references.<stage>`` (the label, or the fallback's name)."""
    stages: dict[str, Any] = {"screen": campaign.screen}
    if campaign.config.lab_specs():
        labs = campaign.labs
        stages.update({"lab" if len(labs) == 1 else f"lab:{n}": lab for n, lab in labs.items()})
    out: dict[str, dict[str, Any]] = {}
    for stage, plugin in stages.items():
        fn = getattr(plugin, "provenance", None)
        try:
            prov = fn() if callable(fn) else None
        except Exception as exc:  # an unreadable reference file is the stage's error when it is used, not here
            log.warning("provenance of %s: %s", stage, exc)
            prov = {"source": f"unreadable ({exc})"}
        if prov is not None:
            out[stage] = prov
            log.info("references of %s: %s", stage, prov.get("label", prov.get("source")))
    campaign.ledger.set_meta("provenance", out)
    campaign.tracker.set_tags({f"crystaloop.references.{s}": p.get("label", p.get("source", "")) for s, p in out.items()})
    return out
