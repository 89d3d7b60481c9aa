"""Powder XRD: simulation of phase mixtures and phase identification by whole-pattern fitting.

>>> from lab_adapters.xrd import XRDAnalyzer, load_references, read_pattern  # doctest: +SKIP
"""

from __future__ import annotations

from lab_adapters.xrd.analyze import AnalysisConfig, XRDAnalyzer, XRDFit, analyze_pattern
from lab_adapters.xrd.pattern import XRDPattern, emission_lines, resolve_wavelength, write_xy
from lab_adapters.xrd.peaks import PhasePeaks, phase_peaks
from lab_adapters.xrd.readers import read_pattern
from lab_adapters.xrd.references import ReferenceSet, load_references
from lab_adapters.xrd.simulate import PhaseComponent, SimulationConfig, simulate_pattern

__all__ = [
    "AnalysisConfig",
    "PhaseComponent",
    "PhasePeaks",
    "ReferenceSet",
    "SimulationConfig",
    "XRDAnalyzer",
    "XRDFit",
    "XRDPattern",
    "analyze_pattern",
    "load_references",
    "phase_peaks",
    "read_pattern",
    "emission_lines",
    "resolve_wavelength",
    "simulate_pattern",
    "write_xy",
]
