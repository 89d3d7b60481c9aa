"""Chemical element symbols as configuration values."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["element_symbols"]


def element_symbols(values: Iterable[str]) -> list[str]:
    """The sorted, de-duplicated symbols; a ``ValueError`` naming the unknown ones (for pydantic validators)."""
    from pymatgen.core import Element

    values = list(values)
    bad = [e for e in values if not Element.is_valid_symbol(e)]
    if bad:
        raise ValueError(f"unknown element symbols {bad}")
    return sorted(set(values))
