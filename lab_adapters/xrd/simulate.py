"""Simulated powder XRD of a phase mixture (the simulated lab's diffractometer).

For phases ``p`` with weight fractions ``w_p`` the counts at angle ``x`` (deg 2-theta) are

    y(x) ~ Poisson( b(x) + C * sum_p S_p sum_k F2m_pk LP(theta_pk) P_pk pV(x; c_pk, H_pk, eta) ),
    S_p = w_p / (M_p V_p)                        (Hill-Howard: weight -> Rietveld scale),
    c_pk = 2theta(d_pk (1 + e_p)) + z - (180/pi) 2 s cos(theta_pk) / R   (strain, zero, displacement),
    H_pk from :func:`lab_adapters.xrd.profile.fwhm` (instrument, Scherrer size, micro-strain),
    P_pk = <(r^2 cos^2 a + sin^2 a / r)^(-3/2)>  (March-Dollase texture along ``po_direction``),
    b(x) = B (1 + A exp(-(x - x0) / 15)) + hump * B * exp(-4 ln2 ((x - xh) / wh)^2),

``C`` sets the tallest net peak to ``counts``. With ``ka2`` each reflection is a Cu
K-alpha1/K-alpha2 doublet (ratio 0.5) instead of one line at the mean Cu K-alpha wavelength.

>>> pattern = simulate_pattern([PhaseComponent(structure, 1.0)], SimulationConfig(), seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.analysis.diffraction.xrd import WAVELENGTHS
from pymatgen.core import Structure

from lab_adapters.xrd.pattern import XRDPattern, resolve_wavelength
from lab_adapters.xrd.peaks import PhasePeaks, lorentz_polarization, phase_peaks, two_theta_of
from lab_adapters.xrd.profile import fwhm, pseudo_voigt_sum
from lab_adapters.xrd.texture import march_dollase
from loop.errors import InputDataError

__all__ = ["PhaseComponent", "SimulationConfig", "march_dollase", "simulate_pattern"]

class SimulationConfig(BaseModel):
    """Diffractometer and sample-independent settings of a simulated scan."""

    model_config = ConfigDict(extra="forbid")

    two_theta_min: float = Field(10.0, description="first angle, deg")
    two_theta_max: float = Field(80.0, description="last angle, deg")
    step: float = Field(0.02, gt=0, description="angular step, deg")
    wavelength: str | float = Field("CuKa", description="name (CuKa, MoKa, ...) or Angstrom")
    ka2: bool = Field(False, description="Cu K-alpha1/alpha2 doublet instead of a single mean line")
    ka2_ratio: float = Field(0.5, ge=0, le=1)
    counts: float = Field(20000.0, gt=0, description="counts of the tallest net peak")
    background: float = Field(150.0, ge=0, description="flat background level B, counts")
    background_low_angle: float = Field(1.0, ge=0, description="A: extra background at low angle, relative to B")
    hump: float = Field(0.0, ge=0, description="amorphous hump height relative to B")
    hump_center: float = Field(25.0, description="deg")
    hump_fwhm: float = Field(10.0, gt=0, description="deg")
    zero_shift: float = Field(0.0, description="instrument zero error z, deg")
    displacement_mm: float = Field(0.0, description="sample height displacement s, mm")
    goniometer_radius_mm: float = Field(240.0, gt=0)
    inst_fwhm: float = Field(0.05, gt=0, description="instrument FWHM, deg")
    eta: float = Field(0.5, ge=0, le=1, description="pseudo-Voigt Lorentzian fraction")
    noise: bool = Field(True, description="Poisson counting noise")


@dataclass
class PhaseComponent:
    """One phase of the sample: structure (or its peaks) with weight fraction and microstructure."""

    phase: Structure | PhasePeaks
    weight_fraction: float
    crystallite_size_nm: float = 50.0
    lattice_strain: float = 0.0
    microstrain: float = 0.0
    po_direction: tuple[int, int, int] | None = None
    po_r: float = 1.0

    def peaks(self) -> PhasePeaks:
        return self.phase if isinstance(self.phase, PhasePeaks) else phase_peaks(self.phase)


def _lines(wavelength_name: str | float, ka2: bool, ratio: float) -> list[tuple[float, float]]:
    if ka2:
        if wavelength_name not in ("CuKa", "CuKa1"):
            raise InputDataError(f"the K-alpha2 doublet is modelled for Cu only, not {wavelength_name!r}")
        return [(WAVELENGTHS["CuKa1"], 1.0), (WAVELENGTHS["CuKa2"], ratio)]
    return [(resolve_wavelength(wavelength_name), 1.0)]


def simulate_pattern(
    components: Sequence[PhaseComponent],
    config: SimulationConfig | None = None,
    seed: int | np.random.Generator | None = None,
    allow_empty: bool = False,
) -> XRDPattern:
    """Counts of the mixture ``components`` on the grid of ``config`` (see the module docstring).

    ``allow_empty``: no components gives the background alone (a sample with nothing crystalline
    that the world can show, e.g. only an unreacted carbonate without a structure)."""
    cfg = config or SimulationConfig()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if not components and not allow_empty:
        raise InputDataError("a simulated pattern needs at least one phase")
    wsum = sum(c.weight_fraction for c in components)
    if components and (wsum <= 0 or any(c.weight_fraction < 0 for c in components)):
        raise InputDataError("weight fractions must be >= 0 with a positive sum")
    x = np.arange(cfg.two_theta_min, cfg.two_theta_max + 0.5 * cfg.step, cfg.step)
    lam_mean = resolve_wavelength(cfg.wavelength)
    net = np.zeros_like(x)
    for comp in components:
        if comp.weight_fraction == 0:
            continue
        pk = comp.peaks()
        scale = (comp.weight_fraction / wsum) / pk.mass_volume
        texture = march_dollase(pk, comp.po_direction, comp.po_r) if comp.po_direction else np.ones(len(pk.d))
        for lam, rel in _lines(cfg.wavelength, cfg.ka2, cfg.ka2_ratio):
            tt = two_theta_of(pk.d * (1.0 + comp.lattice_strain), lam)
            ok = np.isfinite(tt) & (tt > x[0] - 5) & (tt < x[-1] + 5)
            tt = tt[ok]
            th = np.radians(tt / 2)
            centers = tt + cfg.zero_shift - np.degrees(2 * cfg.displacement_mm * np.cos(th) / cfg.goniometer_radius_mm)
            areas = rel * scale * pk.f2m[ok] * lorentz_polarization(tt) * texture[ok]
            widths = fwhm(tt, lam, 1.0 / comp.crystallite_size_nm, comp.microstrain, cfg.inst_fwhm)
            net += pseudo_voigt_sum(x, centers, areas, widths, cfg.eta)
    peak = float(net.max())
    if components and peak <= 0:
        raise InputDataError("no reflections of the given phases fall in the simulated 2-theta range")
    if peak > 0:
        net *= cfg.counts / peak
    bkg = cfg.background * (1.0 + cfg.background_low_angle * np.exp(-(x - x[0]) / 15.0))
    bkg += cfg.hump * cfg.background * np.exp(-4 * math.log(2) * ((x - cfg.hump_center) / cfg.hump_fwhm) ** 2)
    mean = net + bkg
    y = rng.poisson(mean).astype(float) if cfg.noise else mean
    meta = {"ka2": str(cfg.ka2), "counts": cfg.counts}
    lines = tuple(_lines(cfg.wavelength, cfg.ka2, cfg.ka2_ratio))
    if cfg.ka2:  # the pattern says which lines made it, as an instrument file does
        return XRDPattern(x, y, lines[0][0], None, meta, lines=lines, wavelength_origin="file")
    return XRDPattern(x, y, lam_mean, None, meta)
