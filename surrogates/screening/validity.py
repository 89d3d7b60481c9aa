"""Cheap validity checks run before any potential is called.

Structural: every interatomic distance (periodic images included) is at least
``min_distance`` (default 0.5 A) and the volume per atom lies in ``[v_min, v_max]``
(default 5-100 A^3). Compositional: SMACT's charge-neutrality test over the elements'
oxidation states with the Pauling electronegativity ordering (cations less electronegative
than anions), with mixed valence allowed (:func:`loop.valence.balanced`: the atoms of one
cation element may take different states, as Mn3+/Mn4+ in spinel LiMn2O4, which SMACT's
single-state test rejects); all-metal compositions pass as alloys.
"""

from __future__ import annotations

import logging
import math

from pymatgen.core import Composition, Structure

from surrogates.potentials.base import min_distance

__all__ = ["compositional_problem", "structural_problem"]

log = logging.getLogger(__name__)


def structural_problem(
    structure: Structure, *, min_dist: float = 0.5, v_min: float = 5.0, v_max: float = 100.0
) -> str | None:
    """What is wrong with the structure, or None when it is sane."""
    if len(structure) == 0:
        return "structure has no sites"
    if not structure.is_ordered:
        return "structure is disordered (partial occupancies)"
    vol = structure.volume
    if not math.isfinite(vol) or vol <= 1e-6:
        return f"zero-volume cell ({vol:.3g} A^3)"
    vpa = vol / len(structure)
    if not v_min <= vpa <= v_max:
        return f"volume per atom {vpa:.2f} A^3 outside [{v_min}, {v_max}]"
    d = min_distance(structure)
    if d < min_dist:
        return f"sites that are {d:.3f} A apart (< {min_dist} A): overlapping atoms"
    return None


def compositional_problem(composition: Composition | str) -> str | None:
    """None when a charge-neutral, electronegativity-ordered assignment exists (mixed valence allowed)."""
    from smact.screening import smact_validity

    from loop.valence import balanced

    comp = Composition(composition)
    try:
        ok = smact_validity(comp, use_pauling_test=True, include_alloys=True)
        if not ok:
            ok = balanced(comp.get_el_amt_dict())[1]
    except Exception as exc:  # smact lacks data for some elements
        log.debug("smact could not judge %s: %s", comp.reduced_formula, exc)
        return f"{comp.reduced_formula}: SMACT cannot assess it ({exc})"
    if not ok:
        return f"{comp.reduced_formula} fails SMACT charge neutrality / electronegativity"
    return None
