"""Featurizers: candidates -> ``n x d`` float arrays, cached per candidate id.

>>> feats = TabularFeaturizer(["x1", "x2"])
>>> feats.transform([Candidate.from_params({"x1": 0.1, "x2": 2.0})]).shape
(1, 2)
"""

from __future__ import annotations

from surrogates.featurize.base import DescriptorFn, FeatureCache, Featurizer
from surrogates.featurize.composition import CompositionFeaturizer, element_table
from surrogates.featurize.factory import make_featurizer
from surrogates.featurize.structure import StructureFeaturizer
from surrogates.featurize.tabular import TabularFeaturizer

__all__ = [
    "CompositionFeaturizer",
    "DescriptorFn",
    "FeatureCache",
    "Featurizer",
    "StructureFeaturizer",
    "TabularFeaturizer",
    "element_table",
    "make_featurizer",
]
