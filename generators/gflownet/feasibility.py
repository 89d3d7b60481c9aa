"""Which atom counts a space group admits: per-species counts from Wyckoff multiplicities.

A count vector ``n`` (one entry per element) is *feasible* in space group ``G`` when the
fixed Wyckoff positions (``dof = 0``) can be shared out, each used at most once, so that
every remainder ``n_e - sum(fixed multiplicities given to e)`` is a sum of free-position
multiplicities (free positions can be repeated). :class:`Feasibility` enumerates all
feasible vectors with ``min_atoms <= sum(n) <= max_atoms`` (and the composition filters)
once per space group, and answers the Wyckoff stage's question "can these remaining
counts still be completed with these fixed positions left?".
"""

from __future__ import annotations

import functools

import numpy as np

from generators.gflownet.spacegroups import SpaceGroupTable

__all__ = ["Feasibility", "all_count_vectors"]


@functools.lru_cache(maxsize=8)
def all_count_vectors(n_elements: int, max_atoms: int) -> np.ndarray:
    """Every vector of ``n_elements`` non-negative ints with sum ``<= max_atoms`` (``M x E``)."""
    rows = np.zeros((1, 0), dtype=np.int64)
    for _ in range(n_elements):
        used = rows.sum(1)
        parts = [
            np.column_stack([rows[used <= max_atoms - k], np.full(int((used <= max_atoms - k).sum()), k)])
            for k in range(max_atoms + 1)
        ]
        rows = np.concatenate(parts).astype(np.int64)
    return rows


class Feasibility:
    """Feasible count vectors of one space group under the composition filters.

    ``composition_ok`` flags the rows of ``all_count_vectors(n_elements, max_atoms)`` that pass
    the composition filters (atom and element limits, charge neutrality). ``room`` optionally
    limits uses per position (``(multiplicity, max uses)`` pairs, see :meth:`completable_capped`).
    """

    def __init__(
        self,
        table: SpaceGroupTable,
        n_elements: int,
        max_atoms: int,
        composition_ok: np.ndarray,
        room: tuple[tuple[int, int], ...] | None = None,
    ) -> None:
        self.table = table
        self.n_elements = n_elements
        self.max_atoms = max_atoms
        self.free_ok = table.free_reachable(max_atoms)
        self.fixed_mults = tuple(
            sorted(table.wyckoffs[i].multiplicity for i in table.fixed if table.wyckoffs[i].multiplicity <= max_atoms)
        )
        vectors = all_count_vectors(n_elements, max_atoms)
        base = (max_atoms + 1) ** np.arange(n_elements)
        free_rows = vectors[np.all(self.free_ok[vectors], axis=1)]
        free_tot = free_rows.sum(1)
        codes = [(free_rows[free_tot <= max_atoms - sum(c)] + np.array(c)) @ base for c in self._fixed_contributions()]
        ok = np.isin(vectors @ base, np.unique(np.concatenate(codes)))
        self.uncapped_vectors = vectors[ok & composition_ok]
        """Feasible count vectors, ``M x E`` (free positions reusable without limit)."""
        self.room = room

    @functools.cached_property
    def vectors(self) -> np.ndarray:
        """Feasible count vectors that also respect the per-position use limits ``room`` when
        any does (computed on first use); else :attr:`uncapped_vectors`."""
        if self.room is None or len(self.uncapped_vectors) == 0:
            return self.uncapped_vectors
        keep = np.array([self.completable_capped(tuple(int(x) for x in v), self.room) for v in self.uncapped_vectors])
        return self.uncapped_vectors[keep] if keep.any() else self.uncapped_vectors

    def _fixed_contributions(self) -> set[tuple[int, ...]]:
        """Distinct per-element sums of fixed multiplicities (each fixed position used <= once)."""
        states = {(0,) * self.n_elements}
        for m in self.fixed_mults:
            new = set(states)
            for s in states:
                if sum(s) + m > self.max_atoms:
                    continue
                for e in range(self.n_elements):
                    t = list(s)
                    t[e] += m
                    new.add(tuple(t))
            states = new
        return states

    def allowed_counts(self, partial: tuple[int, ...]) -> dict[int, np.ndarray]:
        """For each unset element (``-1`` in ``partial``), the counts that keep a completion possible."""
        p = np.array(partial)
        rows = self.vectors
        set_idx = np.flatnonzero(p >= 0)
        if len(set_idx):
            rows = rows[np.all(rows[:, set_idx] == p[set_idx][None], axis=1)]
        return {int(e): np.unique(rows[:, e]) for e in np.flatnonzero(p < 0)}

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 - one instance per space group, lives with the env
    def completable(self, remaining: tuple[int, ...], fixed_left: tuple[int, ...]) -> bool:
        """Whether ``remaining`` counts can be filled with free positions and the fixed
        positions whose multiplicities are ``fixed_left`` (sorted, each used at most once)."""
        if all(self.free_ok[r] for r in remaining):
            return True
        if not fixed_left:
            return False
        m, rest = fixed_left[0], fixed_left[1:]
        if self.completable(remaining, rest):
            return True
        for e, r in enumerate(remaining):
            if r >= m:
                nxt = list(remaining)
                nxt[e] -= m
                if self.completable(tuple(nxt), rest):
                    return True
        return False

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 - one instance per space group, lives with the env
    def completable_capped(self, remaining: tuple[int, ...], room: tuple[tuple[int, int], ...]) -> bool:
        """Whether ``remaining`` counts can be filled from positions ``room`` = ``((multiplicity,
        uses left), ...)``: every position, free ones included, used at most its uses left."""
        e = next((i for i, r in enumerate(remaining) if r > 0), None)
        if e is None:
            return True
        for k, (m, left) in enumerate(room):
            if left > 0 and m <= remaining[e]:
                nxt = list(remaining)
                nxt[e] -= m
                rest = room[:k] + ((m, left - 1),) + room[k + 1 :]
                if self.completable_capped(tuple(nxt), rest):
                    return True
        return False
