"""Fuzz boundaries of the lab adapters (result files, XRD files, HTTP payloads).

Each registers itself with :func:`lab_adapters.chaos.fuzz.register_boundary` when the
adapter it exercises is present.
"""

from __future__ import annotations
