"""Charge neutrality and the SMACT validity test of a composition.

A composition ``{e: n_e}`` is SMACT-valid (Davies et al., the test CDVAE and most crystal
generators report) when it is a single element, or all its elements are metals (an
alloy), or there are oxidation states ``q_e`` (one per element, from SMACT's list) with
``sum_e n_e q_e = 0`` that also pass Pauling's electronegativity test (every cation less
electronegative than every anion).

:class:`ChargeRules` precomputes, for every subset of the campaign's elements, the
matrix ``Q`` (``k x |subset|``) of oxidation-state combinations that pass the Pauling
test, so that a count vector is checked with one matrix product ``Q @ n == 0``; a count vector that
fails is then checked for mixed valence (the atoms of one cation element in different
states, e.g. Mn3+/Mn4+ in LiMn2O4: :func:`loop.valence.balanced`, the rule the screen uses too).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from loop.errors import ConfigError
from loop.valence import balanced

__all__ = ["ChargeRules", "smact_valid"]


def _element_data(symbols: Sequence[str], where: str) -> tuple[list[list[int]], list[float | None], list[bool]]:
    import smact

    ox, eneg, metal = [], [], []
    for s in symbols:
        try:
            el = smact.Element(s)
        except (NameError, KeyError, ValueError) as exc:
            raise ConfigError(where, [("elements", f"unknown element {s!r}")]) from exc
        ox.append([int(q) for q in (el.oxidation_states or []) if q != 0] or [0])
        eneg.append(el.pauling_eneg)
        metal.append(s in smact.metals)
    return ox, eneg, metal


class ChargeRules:
    """SMACT charge-neutrality rules for a fixed element list (counts given in that order)."""

    def __init__(self, elements: Sequence[str], where: str = "generator.options") -> None:
        from smact.screening import pauling_test

        self.elements = list(elements)
        ox, eneg, metal = _element_data(self.elements, where)
        self._metal = metal
        self._combos: dict[tuple[int, ...], np.ndarray] = {}
        n = len(self.elements)
        for r in range(2, n + 1):
            for subset in itertools.combinations(range(n), r):
                rows = []
                for states in itertools.product(*(ox[i] for i in subset)):
                    enegs = [eneg[i] for i in subset]
                    try:
                        ok = bool(pauling_test(states, enegs))
                    except TypeError:  # missing electronegativity: SMACT's convention is to accept
                        ok = True
                    if ok:
                        rows.append(states)
                self._combos[subset] = np.array(rows, dtype=np.int64).reshape(-1, r)

    def valid(self, counts: np.ndarray) -> np.ndarray:
        """SMACT validity of count vectors ``counts`` (``b x E`` ints) -> ``b`` bools."""
        counts = np.atleast_2d(np.asarray(counts, dtype=np.int64))
        out = np.zeros(len(counts), dtype=bool)
        present = counts > 0
        n_present = present.sum(1)
        out[n_present == 1] = True
        keys = present @ (1 << np.arange(counts.shape[1]))
        for key in np.unique(keys[n_present >= 2]):
            rows = np.flatnonzero(keys == key)
            subset = tuple(int(j) for j in np.flatnonzero(present[rows[0]]))
            if all(self._metal[j] for j in subset):
                out[rows] = True
                continue
            q = self._combos[subset]
            if q.size:
                out[rows] = np.any((counts[rows][:, list(subset)] @ q.T) == 0, axis=1)
            for r in rows[~out[rows]]:  # mixed valence
                out[r] = balanced({self.elements[j]: int(counts[r, j]) for j in subset})[1]
        return out


def smact_valid(composition: Mapping[str, float]) -> bool:
    """SMACT validity of one composition ``{symbol: count}`` (counts rounded to integers)."""
    items = [(s, round(float(n))) for s, n in composition.items() if round(float(n)) > 0]
    if not items:
        return False
    rules = ChargeRules([s for s, _ in items], where="composition")
    return bool(rules.valid(np.array([[n for _, n in items]]))[0])
