"""Register this repository's ``filedrop`` and ``http`` labs by entry point for a test.

Until ``pyproject.toml`` lists them, a campaign (which builds its lab through
``loop.registry``) cannot find them; a ``.dist-info`` folder on ``sys.path`` does what an
installed package would. Harmless once they are registered for real (same targets).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENTRY_POINTS = {
    "filedrop": "lab_adapters.filedrop:FileDropLab",
    "http": "lab_adapters.http.client:HttpLab",
}


@contextmanager
def labs_registered(tmp: Path) -> Iterator[None]:
    dist = tmp / "site" / "crystaloop_lab_adapters_under_test-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: crystaloop-lab-adapters-under-test\nVersion: 0\n")
    lines = ["[crystaloop.labs]", *(f"{k} = {v}" for k, v in ENTRY_POINTS.items())]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(dist.parent))
    try:
        yield
    finally:
        sys.path.remove(str(dist.parent))
