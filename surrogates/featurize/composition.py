"""Composition features: fractional composition plus element-property statistics.

For a composition with atomic fractions ``w_e`` and an element property ``p_e`` the
statistics are the weighted mean ``sum_e w_e p_e``, ``min_e p_e``, ``max_e p_e`` and
``range = max - min`` over the elements present. Properties (pymatgen element data):
Z, Pauling electronegativity, atomic radius, row, group, Mendeleev number, valence
electrons. A missing datum (e.g. the electronegativity of He) is the mean over the
elements that have it, so a row is never NaN.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Composition, Element

from loop.errors import InputDataError
from loop.records import Candidate
from surrogates.featurize.base import Featurizer

__all__ = ["ELEMENT_PROPERTIES", "CompositionFeaturizer", "composition_of", "element_table"]

log = logging.getLogger(__name__)

ELEMENT_PROPERTIES = ("Z", "X", "atomic_radius", "row", "group", "mendeleev_no", "valence")
STATS = ("mean", "min", "max", "range")
_MAX_Z = 103


def _prop(el: Element, name: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if name == "valence":
                v = el.valence
                return float(v[-1]) if isinstance(v, tuple) else float(v)
            value = getattr(el, name)
            return float(value) if value is not None else float("nan")
        except Exception:  # pymatgen raises for undefined data (valence of f-block, ...)
            return float("nan")


@functools.lru_cache(maxsize=1)
def element_table() -> np.ndarray:
    """``103 x len(ELEMENT_PROPERTIES)`` property table indexed by ``Z - 1``; gaps filled with column means."""
    table = np.array([[_prop(Element.from_Z(z), p) for p in ELEMENT_PROPERTIES] for z in range(1, _MAX_Z + 1)])
    means = np.nanmean(table, axis=0)
    rows, cols = np.nonzero(~np.isfinite(table))
    table[rows, cols] = means[cols]
    return table


def composition_of(c: Candidate) -> Composition:
    """The candidate's composition: from its structure, else its formula."""
    s = c.relaxed_structure or c.structure
    if s is not None:
        return s.composition
    if c.formula:
        try:
            return Composition(c.formula)
        except Exception as exc:
            raise InputDataError(f"candidate {c.id}: formula {c.formula!r} is not a composition ({exc})") from None
    raise InputDataError(f"candidate {c.id} has neither a structure nor a formula; composition features need one")


class CompositionFeaturizer(Featurizer):
    """``[fractions (103, optional)] + [stat(prop) for prop in ELEMENT_PROPERTIES for stat in STATS]``."""

    def __init__(self, fractions: bool = True) -> None:
        super().__init__()
        self.fractions = fractions

    @property
    def names(self) -> list[str]:
        frac = [f"frac_{Element.from_Z(z).symbol}" for z in range(1, _MAX_Z + 1)] if self.fractions else []
        return frac + [f"{s}_{p}" for p in ELEMENT_PROPERTIES for s in STATS]

    def composition_features(self, comp: Composition) -> np.ndarray:
        table = element_table()
        frac = np.zeros(_MAX_Z)
        amounts = comp.fractional_composition.get_el_amt_dict()
        if not amounts:
            raise InputDataError(f"composition {comp} is empty")
        zs = []
        for sym, amt in amounts.items():
            z = Element(sym).Z
            if z > _MAX_Z:
                raise InputDataError(f"element {sym} (Z={z}) is beyond the element table (Z <= {_MAX_Z})")
            frac[z - 1] += amt
            zs.append(z)
        idx = np.array(sorted(set(zs))) - 1
        w = frac[idx] / frac[idx].sum()
        p = table[idx]
        stats = np.stack([w @ p, p.min(0), p.max(0), p.max(0) - p.min(0)], axis=0)  # 4 x P
        parts = [frac] if self.fractions else []
        parts.append(stats.T.reshape(-1))  # prop-major, matching names
        return np.concatenate(parts)

    def _featurize(self, candidates: Sequence[Candidate]) -> np.ndarray:
        return np.stack([self.composition_features(composition_of(c)) for c in candidates])
