"""Commercial solid-state precursors: what a furnace lab can weigh out, and what each becomes when heated.

Each entry of :data:`CATALOG` is a precursor sold for solid-state synthesis (oxides,
carbonates, hydroxides, nitrates, fluorides) with

- ``melting_c``: its melting point (deg C), CRC Handbook of Chemistry and Physics, 97th ed.
  (2016), "Physical constants of inorganic compounds"; for a compound that decomposes
  before it melts, the melting point of its residue;
- ``decomposition_c``: for carbonates, hydroxides, nitrates and oxides that lose oxygen,
  the onset (deg C) of gas release on heating in air, same source (and standard TGA
  literature), ``None`` for a precursor that is stable up to its melting point;
- ``residue``: the oxide left after the gas leaves (the compound itself for a stable one).

Gas release is balanced with CO2 (carbon), H2O (hydrogen), NO2 (nitrogen) and O2 (the
rest of the oxygen). The decomposition enthalpy per formula unit of the precursor is

    dH_dec = r * dHf(residue) + sum_g n_g dHf(g) - dHf(precursor)

with solids' enthalpies of formation from pymatgen's experimental table
(``pymatgen/analysis/compatibility/exp_compounds.json.gz``, Kubaschewski/NIST values as
curated by Materials Project) and gases' from NIST-JANAF (Chase, J. Phys. Chem. Ref. Data
Monograph 9, 1998) at 298.15 K; its entropy is that of the gas released,
``dS_dec = sum_g n_g S(g)``, solids' entropies neglected, and the gases leave at their partial
pressures in a flowing furnace (:data:`GAS_PRESSURE`). So
``dG_dec(T) = dH_dec - T dS_dec + sum_g n_g k_B T ln p_g`` (eV per precursor formula unit).

>>> precursor("Li2CO3").residue, precursor("Li2CO3").gases()   # doctest: +SKIP
('Li2O', {'CO2': 1.0})
"""

from __future__ import annotations

import functools
import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pymatgen.core import Composition

from loop.errors import InputDataError

__all__ = [
    "CATALOG",
    "GASES",
    "PrecursorSpec",
    "UnknownPrecursorError",
    "VOLATILE",
    "experimental_enthalpy",
    "precursor",
    "precursors_for",
]

EV_PER_KJ_MOL = 1.0 / 96.485332
"""eV per (kJ/mol)."""

Kind = Literal["oxide", "peroxide", "carbonate", "hydroxide", "nitrate", "fluoride"]

GASES: dict[str, tuple[float, float]] = {
    # NIST-JANAF, 298.15 K, 1 bar: (dHf kJ/mol, S J/mol/K)
    "CO2": (-393.522, 213.795),
    "H2O": (-241.826, 188.834),
    "NO2": (33.095, 240.034),
    "O2": (0.0, 205.147),
}

GAS_PRESSURE: dict[str, float] = {"CO2": 4e-4, "H2O": 1e-2, "NO2": 1e-4, "O2": 0.21}
"""Partial pressures (bar) of released gases in a flowing furnace atmosphere: CO2 and H2O as in
ambient air (~400 ppm CO2, ~1 % H2O), NO2 swept away, O2 as in air."""

K_B = 8.617333e-5

VOLATILE: dict[str, tuple[float, float]] = {
    # element: (deg C at which the free oxide/salt loses 1 % of the element per hour, activation eV).
    # Rule-of-thumb onsets of the practice of adding excess alkali/B/Pb/Bi above these temperatures
    # (e.g. 3-10 % Li2CO3 excess for 12 h firings at 850-1000 C); not fitted to data.
    "Li": (950.0, 2.5), "Na": (850.0, 2.5), "K": (800.0, 2.5), "Rb": (750.0, 2.5), "Cs": (700.0, 2.5),
    "B": (1000.0, 2.5), "Pb": (850.0, 2.5), "Bi": (900.0, 2.5), "Mo": (750.0, 2.5), "Sb": (650.0, 2.5),
}


class UnknownPrecursorError(InputDataError):
    """A recipe names a precursor that is not in the catalog."""


@dataclass(frozen=True)
class PrecursorSpec:
    """One commercial precursor (see the module docs)."""

    formula: str
    kind: Kind
    melting_c: float
    residue: str
    decomposition_c: float | None = None
    rank: int = 1
    """Preference of a chemist for this cation (1: the usual choice)."""

    @property
    def cations(self) -> list[str]:
        return sorted(e.symbol for e in Composition(self.residue).elements if e.symbol not in ("O", "F"))

    @property
    def oxidation_state(self) -> float | None:
        """Oxidation state of the cation in the precursor (pymatgen's guess), None if it cannot tell."""
        return _cation_state(self.formula)

    def residue_per_unit(self) -> float:
        """Residue formula units per precursor formula unit (balanced on the cations)."""
        pre, res = Composition(self.formula), Composition(self.residue)
        el = self.cations[0]
        return float(pre[el] / res[el])

    def gases(self) -> dict[str, float]:
        """Moles of gas released per precursor formula unit (CO2, H2O, NO2, O2)."""
        if self.residue == self.formula:
            return {}
        pre, res = Composition(self.formula), Composition(self.residue)
        r = self.residue_per_unit()
        c, h, n = pre["C"], pre["H"], pre["N"]
        o_left = pre["O"] - r * res["O"] - 2 * c - 0.5 * h - 2 * n
        out = {"CO2": c, "H2O": 0.5 * h, "NO2": n, "O2": 0.5 * o_left}
        if o_left < -1e-9:
            raise ValueError(f"{self.formula} -> {self.residue}: oxygen does not balance")
        return {g: float(v) for g, v in out.items() if v > 1e-9}

    def decomposition_enthalpy(self) -> float:
        """``dH_dec`` in eV per precursor formula unit (0 for a stable precursor)."""
        if self.residue == self.formula:
            return 0.0
        gas = sum(n * GASES[g][0] for g, n in self.gases().items()) * EV_PER_KJ_MOL
        return self.residue_per_unit() * experimental_enthalpy(self.residue) + gas - experimental_enthalpy(self.formula)

    def decomposition_entropy(self) -> float:
        """``dS_dec`` in eV/K per precursor formula unit (the gas released)."""
        return sum(n * GASES[g][1] for g, n in self.gases().items()) * EV_PER_KJ_MOL / 1000.0

    def decomposition_free_energy(self, temperature_k: float, furnace_gas: bool = True) -> float:
        """``dG_dec(T)`` in eV per precursor formula unit (negative: the precursor decomposes).

        ``furnace_gas``: the gases leave at their partial pressures in a flowing furnace atmosphere
        (:data:`GAS_PRESSURE`, ``+ n_g k_B T ln p_g``), else at 1 bar.
        """
        dg = self.decomposition_enthalpy() - temperature_k * self.decomposition_entropy()
        if furnace_gas:
            dg += sum(n * K_B * temperature_k * math.log(GAS_PRESSURE[g]) for g, n in self.gases().items())
        return dg


@functools.lru_cache(maxsize=1024)
def _cation_state(formula: str) -> float | None:
    comp = Composition(formula)
    guesses = comp.oxi_state_guesses()
    cations = [e.symbol for e in comp.elements if e.symbol not in ("O", "F", "C", "H", "N")]
    if not guesses or len(cations) != 1:
        return None
    return float(guesses[0][cations[0]])


def _spec(formula: str, kind: Kind, melting_c: float, residue: str | None = None, dec: float | None = None, rank: int = 1) -> PrecursorSpec:
    return PrecursorSpec(formula, kind, melting_c, residue or formula, dec, rank)


# Melting points and decomposition onsets (deg C): CRC Handbook, 97th ed. Residue melting points
# stand in for compounds that decompose first (MnO2 -> Mn2O3 -> Mn3O4, carbonates -> oxides).
CATALOG: dict[str, PrecursorSpec] = {s.formula: s for s in [
    # lithium
    _spec("Li2CO3", "carbonate", 723, "Li2O", 720, rank=1),
    _spec("LiOH", "hydroxide", 473, "Li2O", 430, rank=2),
    _spec("LiNO3", "nitrate", 253, "Li2O", 600, rank=4),
    _spec("Li2O", "oxide", 1438, rank=3),
    _spec("Li2O2", "peroxide", 1438, "Li2O", 340, rank=5),
    _spec("LiF", "fluoride", 848, rank=1),
    # sodium, potassium, caesium, rubidium
    _spec("Na2CO3", "carbonate", 856, "Na2O", 850, rank=1),
    _spec("NaOH", "hydroxide", 323, "Na2O", 1000, rank=2),
    _spec("NaNO3", "nitrate", 307, "Na2O", 500, rank=3),
    _spec("NaF", "fluoride", 996, rank=1),
    _spec("K2CO3", "carbonate", 899, "K2O", 900, rank=1),
    _spec("KNO3", "nitrate", 334, "K2O", 550, rank=3),
    _spec("KF", "fluoride", 858, rank=1),
    _spec("Rb2CO3", "carbonate", 837, "Rb2O", 840, rank=1),
    _spec("Cs2CO3", "carbonate", 610, "Cs2O", 610, rank=1),
    # alkaline earths
    _spec("MgO", "oxide", 2825, rank=1),
    _spec("MgCO3", "carbonate", 2825, "MgO", 400, rank=2),
    _spec("Mg(OH)2", "hydroxide", 2825, "MgO", 360, rank=3),
    _spec("Mg(NO3)2", "nitrate", 2825, "MgO", 400, rank=4),
    _spec("MgF2", "fluoride", 1263, rank=1),
    _spec("CaCO3", "carbonate", 2613, "CaO", 825, rank=1),
    _spec("CaO", "oxide", 2613, rank=2),
    _spec("Ca(OH)2", "hydroxide", 2613, "CaO", 512, rank=3),
    _spec("Ca(NO3)2", "nitrate", 561, "CaO", 560, rank=4),
    _spec("CaF2", "fluoride", 1418, rank=1),
    _spec("SrCO3", "carbonate", 2531, "SrO", 1100, rank=1),
    _spec("SrF2", "fluoride", 1477, rank=1),
    _spec("BaCO3", "carbonate", 1973, "BaO", 1300, rank=1),
    _spec("Ba(NO3)2", "nitrate", 590, "BaO", 590, rank=2),
    _spec("BaF2", "fluoride", 1368, rank=1),
    # manganese
    _spec("MnO2", "oxide", 1567, "Mn2O3", 535, rank=1),
    _spec("Mn2O3", "oxide", 1567, "Mn3O4", 900, rank=2),
    _spec("Mn3O4", "oxide", 1567, rank=3),
    _spec("MnO", "oxide", 1842, rank=4),
    _spec("MnCO3", "carbonate", 1842, "MnO", 400, rank=2),
    _spec("MnF2", "fluoride", 930, rank=1),
    _spec("MnF3", "fluoride", 600, rank=2),  # decomposes from ~600 C; that stands in for its melting point
    # titanium
    _spec("TiO2", "oxide", 1843, rank=1),
    _spec("Ti2O3", "oxide", 1842, rank=2),
    _spec("TiF4", "fluoride", 284, rank=1),
    _spec("TiF3", "fluoride", 1200, rank=2),
    # other 3d metals
    _spec("V2O5", "oxide", 681, rank=1),
    _spec("V2O3", "oxide", 1957, rank=2),
    _spec("VO2", "oxide", 1967, rank=3),
    _spec("Cr2O3", "oxide", 2432, rank=1),
    _spec("Fe2O3", "oxide", 1539, rank=1),
    _spec("Fe3O4", "oxide", 1597, rank=2),
    _spec("FeO", "oxide", 1377, rank=3),
    _spec("FeF2", "fluoride", 1100, rank=1),
    _spec("FeF3", "fluoride", 1000, rank=2),
    _spec("Co3O4", "oxide", 1830, "CoO", 900, rank=1),
    _spec("CoO", "oxide", 1830, rank=2),
    _spec("CoCO3", "carbonate", 1830, "CoO", 350, rank=3),
    _spec("CoF2", "fluoride", 1127, rank=1),
    _spec("NiO", "oxide", 1955, rank=1),
    _spec("NiCO3", "carbonate", 1955, "NiO", 300, rank=2),
    _spec("NiF2", "fluoride", 1380, rank=1),
    _spec("CuO", "oxide", 1227, rank=1),
    _spec("CuF2", "fluoride", 836, rank=1),
    _spec("ZnO", "oxide", 1974, rank=1),
    _spec("ZnF2", "fluoride", 872, rank=1),
    # main group and 4d/5d/rare earths
    _spec("Al2O3", "oxide", 2053, rank=1),
    _spec("AlF3", "fluoride", 1290, rank=1),
    _spec("SiO2", "oxide", 1713, rank=1),
    _spec("Ga2O3", "oxide", 1807, rank=1),
    _spec("GeO2", "oxide", 1116, rank=1),
    _spec("In2O3", "oxide", 1912, rank=1),
    _spec("SnO2", "oxide", 1630, rank=1),
    _spec("Sb2O3", "oxide", 656, rank=1),
    _spec("B2O3", "oxide", 450, rank=1),
    _spec("B(OH)3", "hydroxide", 450, "B2O3", 171, rank=2),
    _spec("PbO", "oxide", 887, rank=1),
    _spec("Pb(NO3)2", "nitrate", 887, "PbO", 470, rank=2),
    _spec("Bi2O3", "oxide", 817, rank=1),
    _spec("ZrO2", "oxide", 2710, rank=1),
    _spec("Nb2O5", "oxide", 1512, rank=1),
    _spec("MoO3", "oxide", 802, rank=1),
    _spec("Ta2O5", "oxide", 1872, rank=1),
    _spec("WO3", "oxide", 1472, rank=1),
    _spec("Y2O3", "oxide", 2438, rank=1),
    _spec("La2O3", "oxide", 2304, rank=1),
    _spec("CeO2", "oxide", 2400, rank=1),
]}


@functools.cache
def _experimental_table() -> dict[str, float]:
    # located beside pymatgen.core: importing pymatgen.analysis.compatibility itself takes seconds
    import pymatgen.core

    path = Path(pymatgen.core.__file__).resolve().parents[1] / "analysis" / "compatibility" / "exp_compounds.json.gz"
    if not path.is_file():
        raise InputDataError(f"pymatgen's experimental table is missing: {path}", source=str(path))
    rows = json.loads(gzip.decompress(path.read_bytes()))
    out: dict[str, float] = {}
    for row in rows:
        comp = Composition(row["formula"])
        per_atom = float(row["exp energy"]) / comp.num_atoms
        out.setdefault(comp.reduced_formula, per_atom)
    return out


def experimental_enthalpy(formula: str) -> float:
    """Experimental enthalpy of formation of ``formula`` (eV per formula unit as written), 298 K.

    From pymatgen's ``exp_compounds.json.gz`` (eV per formula unit of its own formula).
    """
    comp = Composition(formula)
    table = _experimental_table()
    if comp.reduced_formula not in table:
        raise InputDataError(f"no experimental enthalpy of formation for {formula}", source="exp_compounds.json.gz")
    return table[comp.reduced_formula] * comp.num_atoms


@functools.cache
def _by_reduced_formula() -> dict[str, PrecursorSpec]:
    return {Composition(s.formula).reduced_formula: s for s in CATALOG.values()}


@functools.lru_cache(maxsize=4096)
def precursor(formula: str) -> PrecursorSpec:
    """The catalog entry of ``formula`` (any way of writing it); a clear error if it is not sold."""
    try:
        reduced = Composition(formula).reduced_formula
    except (ValueError, KeyError) as exc:
        raise UnknownPrecursorError(f"unknown precursor {formula!r}: not a formula ({exc})", source="recipe.precursors") from None
    spec = _by_reduced_formula().get(reduced)
    if spec is not None:
        return spec
    raise UnknownPrecursorError(
        f"unknown precursor {formula!r}: not in the catalog of commercial precursors "
        f"(lab_adapters.crystal.precursors.CATALOG)", source="recipe.precursors")


def precursors_for(element: str, elements: list[str] | set[str]) -> list[PrecursorSpec]:
    """Catalog precursors carrying ``element`` whose residue lies within ``elements`` (best rank first)."""
    allowed = set(elements)
    out = [s for s in CATALOG.values() if s.cations == [element]
           and {e.symbol for e in Composition(s.residue).elements} <= allowed]
    return sorted(out, key=lambda s: (s.rank, s.formula))


def _reference_melting_c(element: str, fluoride: bool) -> float:
    kind = "fluoride" if fluoride else "oxide"
    stable = [s for s in CATALOG.values() if s.cations == [element] and s.kind == kind and s.residue == s.formula]
    if not stable and fluoride:
        return _reference_melting_c(element, False)
    return min(stable, key=lambda s: s.rank).melting_c if stable else 1500.0


@functools.lru_cache(maxsize=4096)
def melting_point_c(formula: str) -> float:
    """Melting point (deg C): the catalog's, else the cation-weighted mean of the cations' simplest
    stable oxide (or fluoride, for a compound with more F than O) -- an estimate for intermediates."""
    comp = Composition(formula)
    try:
        return precursor(formula).melting_c
    except UnknownPrecursorError:
        pass
    fluoride = comp["F"] > comp["O"]
    cations = [(e.symbol, comp[e]) for e in comp.elements if e.symbol not in ("O", "F")]
    if not cations:
        return 1000.0
    total = sum(n for _, n in cations)
    return sum(n * _reference_melting_c(el, fluoride) for el, n in cations) / total


@functools.lru_cache(maxsize=4096)
def reactive_temperature_c(formula: str, tammann: float) -> float:
    """Temperature (deg C) from which a solid takes part in reactions.

    Tammann's rule, ``T = tammann * T_melt`` (kelvin; bulk diffusion sets in near 2/3 of the
    melting point: G. Tammann, Z. Anorg. Allg. Chem. 149, 21 (1925)), or the onset of its
    decomposition when that comes first (the fresh residue is reactive: Hedvall effect).
    """
    t = tammann * (melting_point_c(formula) + 273.15) - 273.15
    try:
        spec = precursor(formula)
    except UnknownPrecursorError:
        return t
    return min(t, spec.decomposition_c) if spec.decomposition_c is not None else t
