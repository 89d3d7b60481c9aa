"""Choosing a featurizer for a set of candidates (``auto``: from what they carry)."""

from __future__ import annotations

from collections.abc import Sequence

from loop.errors import InputDataError
from loop.records import Candidate
from surrogates.featurize.base import DescriptorFn, Featurizer
from surrogates.featurize.composition import CompositionFeaturizer
from surrogates.featurize.structure import StructureFeaturizer
from surrogates.featurize.tabular import TabularFeaturizer

__all__ = ["make_featurizer"]


def make_featurizer(
    kind: str,
    candidates: Sequence[Candidate],
    *,
    descriptor_fn: DescriptorFn | None = None,
    fractions: bool = True,
) -> Featurizer:
    """Pick a featurizer: ``tabular`` | ``composition`` | ``structure`` | ``auto``.

    ``auto``: structure when the candidates carry structures, composition when they carry
    only a formula, tabular (over the union of their parameter names) otherwise.
    """
    if kind == "auto":
        if candidates and all(c.structure is not None or c.relaxed_structure is not None for c in candidates):
            kind = "structure"
        elif candidates and all(c.formula for c in candidates) and not any(c.params for c in candidates):
            kind = "composition"
        else:
            kind = "tabular"
    if kind == "tabular":
        names = sorted({k for c in candidates for k in c.params})
        if not names:
            raise InputDataError("tabular features need candidates with params; none of them has any")
        return TabularFeaturizer(names)
    if kind == "composition":
        return CompositionFeaturizer(fractions=fractions)
    if kind == "structure":
        return StructureFeaturizer(fractions=fractions, descriptor_fn=descriptor_fn)
    raise InputDataError(f"unknown featurizer {kind!r}; valid: auto, tabular, composition, structure")
