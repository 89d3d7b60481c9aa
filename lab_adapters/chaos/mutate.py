"""The fuzzer's primitives: a boundary's tally, text mutations and the check of one input."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loop.errors import CrystaloopError

__all__ = ["Boundary", "BoundaryResult", "check", "mutate_text"]

Boundary = Callable[[Path, np.random.Generator, int], "BoundaryResult"]
"""``(work folder, rng, n) -> BoundaryResult``: ``n`` mutated inputs fed to one parser."""


@dataclass
class BoundaryResult:
    tried: int = 0
    rejected: int = 0
    findings: list[str] = field(default_factory=list)


def mutate_text(text: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(8))
    if kind == 0:
        return text[: int(rng.integers(0, max(len(text), 1)))]
    if kind == 1:
        i = int(rng.integers(0, max(len(text), 1)))
        return text[:i] + "".join(chr(int(c)) for c in rng.integers(0, 0x2FF, size=8)) + text[i:]
    if kind == 2:
        return "\ufeff" + text
    if kind == 3:
        lines = text.splitlines()
        if lines:
            del lines[int(rng.integers(len(lines)))]
        return "\n".join(lines)
    if kind == 4:
        return text.replace("1", "nan", 1)
    if kind == 5:
        return text.replace("0", "inf", 1)
    if kind == 6:
        return text.replace(",", ";", 2)
    return bytes(rng.integers(0, 256, size=64, dtype=np.uint8)).decode("latin-1")


def check(result: BoundaryResult, what: str, fn: Callable[[], Any], must_name: str | None) -> None:
    result.tried += 1
    try:
        fn()
    except CrystaloopError as exc:
        result.rejected += 1
        msg = str(exc)
        if not msg.strip():
            result.findings.append(f"{what}: error with an empty message")
        elif must_name and must_name not in msg:
            result.findings.append(f"{what}: error does not name {must_name!r}: {msg[:200]}")
    except Exception as exc:  # anything else is a crash a user would see as a traceback
        result.findings.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
