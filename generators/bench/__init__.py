"""Benchmarks of crystal generators: sample quality, throughput and the enumerable L1 check."""

from __future__ import annotations

from generators.bench.enumerable import EnumerableCheck, enumerable_check
from generators.bench.metrics import load_reference, sample_metrics

__all__ = ["EnumerableCheck", "enumerable_check", "load_reference", "sample_metrics"]
