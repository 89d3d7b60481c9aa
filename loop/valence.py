"""Charge balance with mixed valence: the composition rule the generators and the screen share.

A composition ``{e: n_e}`` is *charge-balanced* when its atoms can take oxidation states from
SMACT's list for their element (``smact.Element.oxidation_states``) with a total of zero,
where the ``n_e`` atoms of one cation element may take **different positive states** (mixed
valence: Mn3+/Mn4+ in spinel LiMn2O4, Mn2+/Mn3+ in Mn3O4, Ti3+/Ti4+ in LiTi2O4); the atoms of
an anion element share one state, as in SMACT. SMACT's own
test gives all atoms of an element one state and rejects these averaged valences (Mn 3.5 in
LiMn2O4), which are among the most common oxides in the ICSD.

It is *Pauling-valid* when, in addition, every element with positive states is less
electronegative than every element with negative states (Pauling's test, as SMACT applies it;
an element without an electronegativity passes, SMACT's convention). One element alone, and
all-metal compositions (alloys), are valid.

Mixed valence includes the single-state assignments, so everything SMACT accepts is accepted
here too.

>>> balanced({"Li": 1, "Mn": 2, "O": 4})
(True, True)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping

__all__ = ["balanced", "element_states", "pauling_valid"]


@functools.lru_cache(maxsize=256)
def element_states(symbol: str) -> tuple[tuple[int, ...], float | None, bool]:
    """``(nonzero oxidation states, Pauling electronegativity, is_metal)`` from SMACT's data."""
    import smact

    el = smact.Element(symbol)
    states = tuple(sorted({int(q) for q in (el.oxidation_states or []) if q != 0}))
    return states, el.pauling_eneg, symbol in smact.metals


@functools.lru_cache(maxsize=4096)
def _totals(symbol: str, n: int, sign: int) -> frozenset[int]:
    """Total charges ``n`` atoms of ``symbol`` can carry with states of one ``sign`` (each cation atom its own state)."""
    states = [q for q in element_states(symbol)[0] if (q > 0) == (sign > 0)]
    if not states or n <= 0:
        return frozenset()
    if sign < 0:  # anions: one state for all atoms
        return frozenset(n * q for q in states)
    # sums of n states drawn with repetition from a sorted list: every value between n*min and n*max
    # is not guaranteed, so build the set (n is small: atoms of a cell)
    sums = {0}
    for _ in range(n):
        sums = {s + q for s in sums for q in states}
    return frozenset(sums)


def pauling_valid(signs: Mapping[str, int]) -> bool:
    """Every cation (sign > 0) less electronegative than every anion (sign < 0); missing data pass."""
    cations = [element_states(e)[1] for e, s in signs.items() if s > 0]
    anions = [element_states(e)[1] for e, s in signs.items() if s < 0]
    if any(x is None for x in cations + anions):
        return True
    return not cations or not anions or max(cations) < min(anions)  # type: ignore[type-var]


@functools.lru_cache(maxsize=65536)
def _balanced(items: tuple[tuple[str, int], ...]) -> tuple[bool, bool]:
    symbols = [s for s, _ in items]
    if len(items) == 1 or all(element_states(s)[2] for s in symbols):
        return True, True
    neutral = False
    for signs in itertools.product((1, -1), repeat=len(items)):
        sets = [_totals(s, n, sg) for (s, n), sg in zip(items, signs, strict=True)]
        if any(not t for t in sets):
            continue
        reach = {0}
        for t in sets:
            reach = {a + b for a in reach for b in t}
        if 0 not in reach:
            continue
        neutral = True
        if pauling_valid(dict(zip(symbols, signs, strict=True))):
            return True, True
    return neutral, False


def balanced(composition: Mapping[str, float]) -> tuple[bool, bool]:
    """``(charge_neutral, charge_neutral_and_pauling)`` of ``{symbol: count}`` (counts rounded to integers).

    Non-integer counts (a reduced formula like ``Li0.5Mn``) are scaled by the smallest factor up
    to 12 that makes them whole; a composition that stays fractional is neither.
    """
    counts = {s: float(n) for s, n in composition.items() if float(n) > 1e-9}
    if not counts:
        return False, False
    for k in range(1, 13):
        if all(abs(n * k - round(n * k)) < 1e-6 for n in counts.values()):
            return _balanced(tuple(sorted((s, round(n * k)) for s, n in counts.items())))
    return False, False
