"""Furnace atmospheres and the oxygen chemical potential they impose.

The oxygen chemical potential relative to half an O2 molecule at 0 K (Reuter & Scheffler,
Phys. Rev. B 65, 035406 (2001), eq. 6):

    dmu_O(T, pO2) = 1/2 [H(T) - H(0) - T S(T)]_O2 + 1/2 k_B T ln(pO2 / p0)

with H and S of O2 from NIST-JANAF (Chase 1998), tabulated below every 100 K from 300 K
and interpolated linearly (``dmu_O(1000 K, 1 bar) = -1.10 eV``, as in Reuter & Scheffler's
table I). Atmospheres:

- ``air``: pO2 = 0.21 bar; ``O2``: 1 bar;
- ``Ar`` / ``N2`` (flowing inert gas, ~10 ppm O2): pO2 = 1e-5 bar;
- ``H2/Ar`` (5 % H2 in Ar, pH2O/pH2 = 1e-2): oxygen set by H2 + 1/2 O2 = H2O,
  ``dmu_O = dmu_O(T, p0) + dGf(H2O, T) + k_B T ln(pH2O / pH2)`` with
  ``dGf(H2O, g) = -246.39 + 0.05468 T`` kJ/mol (a linear fit of JANAF's 500-1500 K values).
"""

from __future__ import annotations

import math

from loop.errors import InputDataError

__all__ = ["ATMOSPHERES", "K_B", "delta_mu_o", "normalize_atmosphere"]

K_B = 8.617333e-5
"""Boltzmann constant, eV/K."""

EV_PER_KJ_MOL = 1.0 / 96.485332

# NIST-JANAF O2: T (K), S (J/mol/K), H(T) - H(298.15) (kJ/mol); H(298.15) - H(0) = 8.683 kJ/mol
_O2_JANAF = [
    (300, 205.329, 0.054), (400, 213.871, 3.025), (500, 220.693, 6.084), (600, 226.451, 9.244),
    (700, 231.466, 12.499), (800, 235.921, 15.835), (900, 239.931, 19.241), (1000, 243.578, 22.703),
    (1100, 246.922, 26.212), (1200, 250.010, 29.761), (1300, 252.878, 33.344), (1400, 255.556, 36.957),
    (1500, 258.068, 40.599), (1600, 260.434, 44.266), (1700, 262.672, 47.958), (1800, 264.796, 51.673),
]
_H298_H0 = 8.683

ATMOSPHERES: dict[str, float | None] = {"air": 0.21, "O2": 1.0, "Ar": 1e-5, "N2": 1e-5, "H2/Ar": None}
"""Atmosphere -> pO2 (bar); ``None``: set by H2/H2O."""

_ALIASES = {"AIR": "air", "O2": "O2", "OXYGEN": "O2", "AR": "Ar", "ARGON": "Ar", "N2": "N2", "NITROGEN": "N2",
            "H2/AR": "H2/Ar", "AR/H2": "H2/Ar", "5%H2/AR": "H2/Ar", "FORMING GAS": "H2/Ar", "H2": "H2/Ar"}
_PH2O_PH2 = 1e-2


def normalize_atmosphere(name: str | None) -> str:
    """The canonical name of an atmosphere (``None`` is air); a clear error for an unknown one."""
    if name is None:
        return "air"
    key = name.strip().upper().replace(" ", "")
    key = "FORMING GAS" if key == "FORMINGGAS" else key
    if key not in _ALIASES:
        raise InputDataError(f"unknown atmosphere {name!r}; valid: {', '.join(ATMOSPHERES)}",
                             source="recipe.atmosphere")
    return _ALIASES[key]


def _o2_standard(temperature_k: float) -> float:
    """``1/2 [H(T) - H(0) - T S(T)]`` of O2 at 1 bar, eV."""
    t = min(max(temperature_k, _O2_JANAF[0][0]), _O2_JANAF[-1][0])
    for (t0, s0, h0), (t1, s1, h1) in zip(_O2_JANAF, _O2_JANAF[1:], strict=False):
        if t0 <= t <= t1:
            w = (t - t0) / (t1 - t0)
            s, h = s0 + w * (s1 - s0), h0 + w * (h1 - h0)
            break
    g = (h + _H298_H0) - t * s / 1000.0  # kJ/mol
    return 0.5 * g * EV_PER_KJ_MOL


def delta_mu_o(temperature_c: float, atmosphere: str | None) -> float:
    """Oxygen chemical potential (eV per O atom) relative to 1/2 E(O2) in ``atmosphere`` at ``temperature_c``."""
    name = normalize_atmosphere(atmosphere)
    t = temperature_c + 273.15
    base = _o2_standard(t)
    p_o2 = ATMOSPHERES[name]
    if p_o2 is not None:
        return base + 0.5 * K_B * t * math.log(p_o2)
    dgf_h2o = (-246.39 + 0.05468 * t) * EV_PER_KJ_MOL
    return base + dgf_h2o + K_B * t * math.log(_PH2O_PH2)
