"""Files written whole: a reader (or a second process writing the same cache) never sees a part."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to a hidden temporary file beside ``path`` (unique per process), fsync it, then ``os.replace``.

    A reader polling the folder sees either no file or the whole file, never a part; two
    processes writing the same path leave one whole version.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with open(tmp, "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
