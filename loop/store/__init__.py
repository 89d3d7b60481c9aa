"""The campaign ledger (SQLAlchemy; SQLite by default) and its writer lock."""

from __future__ import annotations

from loop.store.ledger import LEDGER_FILE, Ledger
from loop.store.lock import WriterLock

__all__ = ["LEDGER_FILE", "Ledger", "WriterLock"]
