from __future__ import annotations

from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from generators.bench.metrics import load_reference, sample_metrics
from loop.errors import InputDataError
from loop.records import Candidate

CARBON = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon24" / "val.csv"


def _nacl(a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_metrics_count_validity_uniqueness_and_novelty() -> None:
    good = Candidate.from_structure(_nacl(5.6))
    squashed = Candidate.from_structure(Structure(Lattice.cubic(3.0), ["Na", "Na"], [[0, 0, 0], [0.05, 0, 0]]))
    odd = Candidate.from_structure(
        Structure(Lattice.cubic(4.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.0, 0.5, 0.5]])
    )
    m = sample_metrics([good, good, squashed, odd])
    assert m["structural_validity"] == pytest.approx(0.75)
    assert m["smact_validity"] == pytest.approx(0.75)  # NaCl2 is not charge-neutral
    assert m["uniqueness"] == pytest.approx(0.75)
    assert m["novelty"] == 1.0 and m["n_compositions"] == 3
    assert sample_metrics([good], reference=[_nacl(5.6)])["novelty"] == 0.0
    assert sample_metrics([good], known_ids=[good.id])["novelty"] == 0.0


def test_load_reference(tmp_path: Path) -> None:
    if CARBON.is_file():
        refs = load_reference(CARBON, limit=3)
        assert len(refs) == 3 and refs[0].composition.reduced_formula == "C"
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputDataError, match="cif"):
        load_reference(bad)
    with pytest.raises(InputDataError, match="not found"):
        load_reference(tmp_path / "missing.csv")
