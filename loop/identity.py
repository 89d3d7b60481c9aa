"""Stable content hashes for candidates.

A structure's id hashes its canonical form: the reduced formula plus the standardised
primitive cell found by spglib at ``symprec`` (default 0.01 A), with lattice parameters
and fractional coordinates rounded to ``decimals``. The same crystal written in another
setting, supercell or site order gets the same id. A parameter vector's id hashes the
sorted ``name=value`` pairs with values at 12 significant digits.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

import numpy as np
from pymatgen.core import Structure

from loop.errors import StructureError

os.environ.setdefault("SPGLIB_WARNING", "OFF")  # spglib prints to stderr on hard cells; we fall back

__all__ = ["DEFAULT_SYMPREC", "canonical_structure", "derive_seed", "params_id", "structure_id"]

DEFAULT_SYMPREC = 0.01
_DECIMALS = 3


def derive_seed(*parts: object) -> int:
    """A 32-bit seed from anything printable (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "little")


def _digest(payload: object, prefix: str) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def params_id(params: Mapping[str, float]) -> str:
    """Id of a parameter vector: order of keys does not matter."""
    payload = {str(k): float(f"{float(v):.12g}") for k, v in sorted(params.items())}
    return _digest(payload, "p")


def canonical_structure(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> Structure:
    """The standardised primitive cell (or a Niggli-reduced cell when spglib fails)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if len(structure) == 0:
        raise StructureError("structure has no sites")
    if structure.volume <= 1e-6:
        raise StructureError(f"structure has a zero-volume cell ({structure.volume:.3g} A^3)")
    try:
        return SpacegroupAnalyzer(structure, symprec=symprec).get_primitive_standard_structure()
    except Exception:  # spglib gives up on badly distorted cells; fall back to a reduced cell
        return structure.get_reduced_structure()


def structure_id(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> str:
    """Id of a crystal: hash of reduced formula + standardised primitive cell."""
    canon = canonical_structure(structure, symprec)
    lat = canon.lattice
    sites = sorted(
        (site.species_string, *(round(float(x) % 1.0, _DECIMALS) % 1.0 for x in site.frac_coords))
        for site in canon
    )
    payload = {
        "formula": structure.composition.reduced_formula,
        "lattice": [round(float(x), _DECIMALS) for x in (*lat.abc, *lat.angles)],
        "sites": [[s[0], *[float(np.round(v, _DECIMALS)) for v in s[1:]]] for s in sites],
    }
    return _digest(payload, "s")
