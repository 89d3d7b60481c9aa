"""The configuration reference, generated from the pydantic models (campaign and every plug-in).

``crystaloop config-reference > docs/configuration.md``; a test keeps the committed file current.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from loop import registry
from loop.config import BudgetConfig, CampaignConfig, LedgerConfig, RequestPolicy, RuntimeConfig, TrackingConfig

__all__ = ["config_reference"]


def _type_name(ann: Any) -> str:
    if ann is None:
        return "None"
    origin = typing.get_origin(ann)
    if origin is None:
        return "None" if ann is type(None) else getattr(ann, "__name__", str(ann)).replace("typing.", "")
    if origin in (typing.Union, __import__("types").UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(ann))
    args = ", ".join(_type_name(a) for a in typing.get_args(ann))
    name = getattr(origin, "__name__", str(origin)).replace("typing.", "")
    return "Literal[" + args + "]" if name == "Literal" else f"{name}[{args}]"


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        return f"`{field.default!r}`" if not isinstance(field.default, BaseModel) else "see below"
    if field.default_factory is not None:
        try:
            v = field.default_factory()
        except TypeError:
            return "–"
        return f"`{v!r}`" if not isinstance(v, BaseModel) else "see below"
    return "**required**"


def _table(model: type[BaseModel]) -> list[str]:
    lines = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        type_name = _type_name(field.annotation).replace("|", "\\|")
        lines.append(f"| `{name}` | `{type_name}` | {_default(field)} | {desc} |")
    return lines


def config_reference() -> str:
    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `crystaloop config-reference`; do not edit by hand.",
        "Unknown fields are errors everywhere; `crystaloop validate CONFIG` lists every problem at once.",
        "",
        "## Campaign",
        "",
        *_table(CampaignConfig),
    ]
    for title, model in [
        ("budget", BudgetConfig),
        ("requests", RequestPolicy),
        ("tracking", TrackingConfig),
        ("ledger", LedgerConfig),
        ("runtime", RuntimeConfig),
    ]:
        out += ["", f"### `{title}`", "", *_table(model)]
    for group, field in [("generators", "generator"), ("screens", "screen"), ("rankers", "ranker"), ("labs", "lab"), ("potentials", "potential")]:
        names = registry.available(group)
        if not names:
            continue
        out += ["", f"## {field} kinds (`{field}: {{kind: NAME, options: {{...}}}}`)"]
        for name in names:
            try:
                cls = registry.load(group, name)
            except Exception as exc:  # a broken third-party plug-in must not break the reference
                out += ["", f"### `{name}`", "", f"(could not be loaded: {exc})"]
                continue
            doc = (cls.__doc__ or "").strip().split("\n")[0]
            model = getattr(cls, "Config", None)
            out += ["", f"### `{name}`", "", doc, ""]
            if model is not None and model.model_fields:
                out += _table(model)
            else:
                out.append("No options.")
    return "\n".join(out) + "\n"
