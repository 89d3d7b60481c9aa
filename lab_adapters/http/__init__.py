"""A lab behind HTTP: the ``http`` client adapter and the server that exposes any adapter.

>>> from lab_adapters.http import HttpLab, create_app  # doctest: +SKIP
"""

from __future__ import annotations

from lab_adapters.http.client import HttpLab, HttpLabConfig
from lab_adapters.http.server import LabService, create_app, serve

__all__ = ["HttpLab", "HttpLabConfig", "LabService", "create_app", "serve"]
