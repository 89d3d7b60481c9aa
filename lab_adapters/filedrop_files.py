"""Safe file handling for the ``filedrop`` lab: names, atomic writes, moves, result parsing.

Everything here treats the lab's folders as untrusted: a request id becomes a file name
that cannot leave its folder (:func:`safe_name`), a path named inside a result file must
resolve inside the inbox (:func:`inside`), and a result file is checked field by field
(:func:`parse_result`) so that a problem is reported as one line naming the field.

>>> safe_name("../../etc/passwd")
'_._.._etc_passwd-3754d6cb3a38'
>>> safe_name("r-0001")
'r-0001'
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loop.errors import InputDataError
from loop.records import Measurement, PhaseAnalysis

__all__ = ["RESULT_FIELDS", "ParsedResult", "inside", "move_unique", "parse_result", "safe_name", "unique_path"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MAX_NAME = 80
RESULT_FIELDS = (
    "request_id",
    "candidate_id",
    "success",
    "failure_reason",
    "values",
    "xrd_file",
    "phase_analysis",
    "started_at",
    "finished_at",
    "extra",
)


def safe_name(request_id: str) -> str:
    """A file-name stem for a request id that stays inside its folder.

    Only ``[A-Za-z0-9_.-]`` survive; anything else becomes ``_``; a leading dot is
    escaped (no hidden files, no ``..``). When the id had to change (or is long), a
    hash of the original id is appended so that two ids never share a name.
    """
    text = str(request_id)
    clean = _UNSAFE.sub("_", text)
    if clean.startswith("."):
        clean = "_" + clean[1:]
    if clean != text or len(clean) > _MAX_NAME or not clean:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        clean = f"{clean[:_MAX_NAME]}-{digest}"
    return clean


def inside(folder: Path, relative: str) -> Path:
    """``folder / relative`` when it resolves inside ``folder`` (symbolic links followed); else raise."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise InputDataError(f"invalid file name {relative!r}")
    rel = Path(relative)
    if rel.is_absolute() or rel.drive or relative.startswith(("/", "\\")):
        raise InputDataError(f"path {relative!r} is absolute; name a file inside {folder}")
    root = folder.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root) or target == root:
        raise InputDataError(f"path {relative!r} escapes the folder {folder}")
    return target


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name`` or, when taken, ``folder/stem.1.suffix``, ``folder/stem.2.suffix``..."""
    stem, suffix = os.path.splitext(name)
    dst, n = folder / name, 0
    while dst.exists() or dst.is_symlink():
        n += 1
        dst = folder / f"{stem}.{n}{suffix}"
    return dst


def move_unique(src: Path, folder: Path, dst: Path | None = None) -> Path:
    """Move ``src`` into ``folder`` (atomic on one file system), never overwriting (see :func:`unique_path`)."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = dst or unique_path(folder, src.name)
    try:
        os.replace(src, dst)
    except OSError:  # another file system
        shutil.move(str(src), str(dst))
    return dst


class ParsedResult:
    """A result file checked field by field (types, finiteness, sign, unknown fields)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.request_id: str = data["request_id"]
        self.candidate_id: str | None = data.get("candidate_id")
        self.success: bool = data.get("success", True)
        self.failure_reason: str | None = data.get("failure_reason")
        self.values: dict[str, Measurement] = data.get("values", {})
        self.xrd_file: str | None = data.get("xrd_file")
        self.phase_analysis: PhaseAnalysis | None = data.get("phase_analysis")
        self.started_at: float | None = data.get("started_at")
        self.finished_at: float | None = data.get("finished_at")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputDataError(f"{where} must be a number, got {type(v).__name__} {v!r:.40}")
    x = float(v)
    if not math.isfinite(x):
        raise InputDataError(f"{where} must be finite, got {v!r}")
    return x


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    v = data.get(key)
    if v is not None and not isinstance(v, str):
        raise InputDataError(f"field {key!r} must be a string, got {type(v).__name__}")
    return v


def _measurement(name: str, raw: Any, allow_negative: bool) -> Measurement:
    where = f"values.{name}"
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - {"value", "uncertainty"})
        if unknown:
            raise InputDataError(f"{where} has unknown field(s) {unknown}; use value and uncertainty")
        if "value" not in raw:
            raise InputDataError(f"{where} lacks 'value'")
        value = _number(raw["value"], f"{where}.value")
        unc = raw.get("uncertainty")
        unc = None if unc is None else _number(unc, f"{where}.uncertainty")
        if unc is not None and unc < 0:
            raise InputDataError(f"{where}.uncertainty must be >= 0, got {unc:g}")
    else:
        value, unc = _number(raw, where), None
    if name == "yield" and not 0.0 <= value <= 1.0:
        raise InputDataError(f"{where} must lie in [0, 1], got {value:g}")
    if value < 0 and not allow_negative:
        raise InputDataError(f"{where} is negative ({value:g}); this lab's {name!r} must be >= 0")
    return Measurement(value=value, uncertainty=unc)


def parse_result(
    text: str, *, properties: list[str] | None, allow_negative: set[str], strict_properties: bool
) -> ParsedResult:
    """Check one result file's text; raise :class:`InputDataError` naming the field at fault.

    Schema (JSON object)::

        {"request_id": str, "candidate_id": str?, "success": bool = true,
         "failure_reason": str?, "values": {name: number | {"value": number, "uncertainty": number}},
         "xrd_file": "relative/path.xy"?, "phase_analysis": PhaseAnalysis?,
         "started_at": number?, "finished_at": number?, "extra": {...}?}
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputDataError(f"not valid JSON (truncated or malformed): {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise InputDataError(f"expected a JSON object at the top level, got {type(data).__name__}")
    unknown = sorted(set(data) - set(RESULT_FIELDS))
    if unknown:
        raise InputDataError(f"unknown field(s) {unknown}; allowed: {list(RESULT_FIELDS)} (put free-form data under 'extra')")
    rid = data.get("request_id")
    if not isinstance(rid, str) or not rid:
        raise InputDataError(f"field 'request_id' must be a non-empty string, got {rid!r:.60}")
    out: dict[str, Any] = {"request_id": rid}
    out["candidate_id"] = _optional_str(data, "candidate_id")
    success = data.get("success", True)
    if not isinstance(success, bool):
        raise InputDataError(f"field 'success' must be true or false, got {success!r:.40}")
    out["success"] = success
    out["failure_reason"] = _optional_str(data, "failure_reason")
    out["xrd_file"] = _optional_str(data, "xrd_file")
    raw_values = data.get("values", {})
    if raw_values is None:
        raw_values = {}
    if not isinstance(raw_values, dict):
        raise InputDataError(f"field 'values' must be an object {{name: number}}, got {type(raw_values).__name__}")
    values: dict[str, Measurement] = {}
    for name, raw in raw_values.items():
        if strict_properties and properties is not None and name not in properties and name != "yield":
            raise InputDataError(f"values.{name}: this lab does not report {name!r}; it reports {properties}")
        values[name] = _measurement(name, raw, name in allow_negative)
    out["values"] = values
    for key in ("started_at", "finished_at"):
        v = data.get(key)
        if v is not None:
            v = _number(v, f"field {key!r}")
            if v < 0:
                raise InputDataError(f"field {key!r} must be >= 0 (seconds), got {v:g}")
        out[key] = v
    pa = data.get("phase_analysis")
    if pa is not None:
        try:
            out["phase_analysis"] = PhaseAnalysis.model_validate(pa, strict=False)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}  # type: ignore[attr-defined]
            loc = ".".join(str(p) for p in ("phase_analysis", *first["loc"]))
            raise InputDataError(f"{loc}: {first['msg']}") from None
        analysis = out["phase_analysis"]
        for key in ("rwp", "confidence", "target_fraction"):
            v = getattr(analysis, key)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise InputDataError(f"phase_analysis.{key} must be finite and >= 0, got {v!r}")
        if analysis.target_fraction is not None and analysis.target_fraction > 1:
            raise InputDataError(f"phase_analysis.target_fraction must lie in [0, 1], got {analysis.target_fraction:g}")
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise InputDataError(f"field 'extra' must be an object, got {type(extra).__name__}")
    return ParsedResult(out)
