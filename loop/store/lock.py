"""One writer per campaign: an OS file lock in the campaign folder.

The lock is released by the operating system when the holder dies (even by SIGKILL),
so ``resume`` after a crash never needs a manual unlock.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

from loop.errors import LedgerLockedError

__all__ = ["WriterLock"]


class WriterLock:
    """``with WriterLock(dir):`` — raises :class:`LedgerLockedError` when another process writes."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / ".writer.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LedgerLockedError(
                f"campaign {self.path.parent} is already being run by {holder}; "
                "wait for it to finish or stop it before running or resuming it again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
