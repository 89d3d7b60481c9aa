"""Campaign reports: figures from the ledger, one self-contained HTML page."""

from __future__ import annotations

from loop.report.html import Report, build_report

__all__ = ["Report", "build_report"]
