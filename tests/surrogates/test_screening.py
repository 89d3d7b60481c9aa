from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext
from loop.records import Candidate, Origin
from surrogates.screening import DuplicateIndex, MLIPScreen, compositional_problem, structural_problem
from tests.surrogates._mlip_data import bcc_na, cscl, rocksalt, tiny_mace_dir


def _screen(tmp_path, **opts) -> MLIPScreen:
    options = {
        "potential": "mace",
        "potential_options": {"model": str(tiny_mace_dir())},
        "elements": ["Na", "Cl"],
        "include_prototypes": False,
        "max_e_hull": 0.5,
        "steps": 80,
        "hull_steps": 40,
        "ray": "never",
    }
    options.update(opts)
    refs = tmp_path / "refs"
    if not refs.exists():
        refs.mkdir(parents=True)
        for i, s in enumerate([rocksalt(), bcc_na(), Structure(Lattice.cubic(10.0), ["Cl", "Cl"], [[0, 0, 0], [0.2, 0, 0]])]):
            s.to(filename=str(refs / f"ref{i}.cif"))
    options.setdefault("reference_dir", str(refs))
    cfg = MLIPScreen.Config.model_validate(options)
    return MLIPScreen(cfg, PluginContext(work_dir=tmp_path))


def test_structural_and_compositional_validity():
    assert structural_problem(rocksalt()) is None
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.1, 0, 0]])
    assert "overlapping" in structural_problem(overlap)
    flat = Structure(Lattice([[3, 0, 0], [0, 3, 0], [0, 0, 1e-9]]), ["Na"], [[0, 0, 0]])
    assert "zero-volume" in structural_problem(flat)
    sparse = Structure(Lattice.cubic(8.0), ["Na"], [[0, 0, 0]])
    assert "volume per atom" in structural_problem(sparse)
    assert compositional_problem("NaCl") is None and compositional_problem("Fe3Al") is None
    assert "SMACT" in compositional_problem("NaCl2")


def test_duplicates_are_found_across_settings_and_supercells():
    index = DuplicateIndex()
    index.add("a", rocksalt())
    sup = rocksalt().make_supercell([2, 1, 1], in_place=False)
    assert index.find("b", sup) == "a"
    assert index.find("c", cscl()) is None
    assert index.find("a", cscl()) == "a"  # the same id is the same candidate
    index.find("d", rocksalt(5.0))
    assert index.comparisons >= 1


@pytest.mark.slow
def test_screen_records_a_reason_for_every_candidate(tmp_path):
    screen = _screen(tmp_path)
    over = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    flat = Structure(Lattice([[3, 0, 0], [0, 3, 0], [0, 0, 1e-9]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0]])
    kcl = Structure(Lattice.cubic(3.6), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nacl2 = Structure(Lattice.cubic(5.6), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])
    known = Candidate.from_structure(cscl(3.2), Origin(generator="ledger"))
    good = Candidate.from_structure(rocksalt(5.5))
    cands = [
        good,
        Candidate.from_structure(rocksalt(5.5).make_supercell([1, 1, 2], in_place=False)),  # same crystal
        Candidate(id="over", structure=over, formula="NaCl"),
        Candidate(id="flat", structure=flat, formula="NaCl"),
        Candidate.from_structure(kcl),
        Candidate.from_structure(nacl2),
        Candidate.from_structure(cscl(3.3)),  # matches the ledger's CsCl
        Candidate.from_params({"x": 1.0}),
        good,  # the same id twice
    ]
    decisions = screen.screen(cands, known=[known])
    assert [d.candidate_id for d in decisions] == [c.id for c in cands]
    reasons = [d.reason for d in decisions]
    assert decisions[0].kept and decisions[0].e_hull is not None and decisions[0].relaxed_structure is not None
    assert decisions[1].duplicate_of == good.id
    assert "overlapping" in reasons[2] and "zero-volume" in reasons[3]
    assert "not covered" in reasons[4] and "K" in reasons[4]
    assert "SMACT" in reasons[5]
    assert decisions[6].duplicate_of == known.id
    assert "no structure" in reasons[7]
    assert not decisions[8].kept and "within the batch" in reasons[8]
    assert all(d.reason for d in decisions)
    # every decision is a ledger record: it round-trips through JSON
    for d in decisions:
        assert type(d).model_validate_json(d.model_dump_json()) == d
    assert decisions[0].metrics["formation_energy_per_atom"] < 0


def test_relaxations_are_cached_by_candidate_id_across_resumes(tmp_path):
    cands = [Candidate.from_structure(rocksalt(5.5)), Candidate.from_structure(cscl(3.5))]
    first = _screen(tmp_path)
    d1 = first.screen(cands, known=[])
    assert first.stats["relaxed"] == 2 and first.stats["cached"] == 0
    resumed = _screen(tmp_path)  # a new process would build a new screen on the same work_dir
    d2 = resumed.screen(cands, known=[])
    assert resumed.stats["relaxed"] == 0 and resumed.stats["cached"] == 2
    assert [d.energy_per_atom for d in d1] == pytest.approx([d.energy_per_atom for d in d2])
    files = list((tmp_path / "mlip_screen" / "relax_cache").glob("*/*.json"))
    assert sorted(f.stem for f in files) == sorted(c.id for c in cands)
    assert json.loads(files[0].read_text())["converged"] is True


def test_step_limit_e_hull_filter_and_corrupt_model_are_rejections(tmp_path):
    tight = _screen(tmp_path / "a", steps=1, fmax=1e-4)
    d = tight.screen([Candidate.from_structure(rocksalt(6.2))], known=[])[0]
    assert not d.kept and "step limit" in d.reason
    strict = _screen(tmp_path / "b", max_e_hull=-10.0)
    d = strict.screen([Candidate.from_structure(rocksalt(5.5))], known=[])[0]
    assert not d.kept and d.reason.startswith("e_hull") and d.e_hull is not None
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"\x80\x04garbage")
    broken = _screen(tmp_path / "c", potential_options={"model": str(corrupt), "trusted": True})
    ds = broken.screen([Candidate.from_structure(rocksalt(5.5)), Candidate.from_structure(cscl())], known=[])
    assert all(not d.kept and "potential could not be loaded" in d.reason for d in ds)


@pytest.mark.slow
def test_ray_tasks_give_the_local_answers(tmp_path):
    from loop.runtime import start_ray

    cands = [Candidate.from_structure(s) for s in (rocksalt(5.5), cscl(3.5), rocksalt(5.8).make_supercell([1, 1, 2], in_place=False), bcc_na(4.0))]
    local = _screen(tmp_path / "local").screen(cands, known=[])
    with start_ray(num_cpus=2):
        ray_screen = _screen(tmp_path / "ray", ray="auto", chunk_size=2)
        remote = ray_screen.screen(cands, known=[])
    assert ray_screen.stats["relaxed"] == 3
    assert [d.kept for d in remote] == [d.kept for d in local]
    assert [d.energy_per_atom for d in remote] == pytest.approx([d.energy_per_atom for d in local], abs=1e-6)


def test_novel_only_names_the_known_phase_a_relaxed_candidate_matches():
    from pymatgen.core import Lattice, Structure

    from surrogates.hull import Hull
    from surrogates.hull.hull import ReferencePhase
    from surrogates.screening.screen import known_match

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    hull = Hull(["Mg", "O"], [
        ReferencePhase("builtin:Mg", Structure(Lattice.cubic(3.0), ["Mg"], [[0, 0, 0]]), -1.5),
        ReferencePhase("builtin:O", Structure(Lattice.cubic(5.0), ["O", "O"], [[0, 0, 0], [0.25, 0, 0]]), -4.9),
        ReferencePhase("known:MgO_225", rocksalt, -6.0),
    ])
    bigger = rocksalt.copy()
    bigger.scale_lattice(rocksalt.volume * 1.1)  # a relaxed copy, 3 % longer bonds: still the known phase
    assert known_match(hull, bigger) == "MgO_225"
    assert known_match(hull, rocksalt * (2, 1, 1)) == "MgO_225"  # a supercell too
    cscl = Structure(Lattice.cubic(2.6), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert known_match(hull, cscl) is None  # same formula, another structure: new
    peroxide = Structure(Lattice.cubic(4.5), ["Mg", "O", "O"], [[0, 0, 0], [0.35, 0.35, 0.35], [0.65, 0.65, 0.65]])
    assert known_match(hull, peroxide) is None  # another formula


@pytest.mark.slow
def test_reward_estimates_are_single_points_on_the_screens_hull_cached_by_id(tmp_path):
    """``reward_estimates``: one single point per unrelaxed proposal against the screen's own hull, kept on
    disk by candidate id; proposals the screen would reject as invalid or out of its system get none."""
    cfg = {"relax_cache_dir": str(tmp_path / "relax")}
    assert _screen(tmp_path, **cfg).estimate_e_hull([Candidate.from_structure(rocksalt(), origin=Origin(generator="t"))]) == {}
    screen = _screen(tmp_path, reward_estimates=True, **cfg)
    good = Candidate.from_structure(rocksalt(5.9), origin=Origin(generator="t"))
    overlap = Candidate.from_structure(Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.1, 0, 0]]), origin=Origin(generator="t"))
    outside = Candidate.from_structure(Structure(Lattice.cubic(4.0), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]), origin=Origin(generator="t"))
    est = screen.estimate_e_hull([good, overlap, outside])
    assert set(est) == {good.id}
    hull = screen.hull(["Na", "Cl"])
    energy = screen.potential().predict([good.structure])[0].energy_per_atom
    assert est[good.id] == pytest.approx(hull.e_above_hull(good.structure.composition, screen.corrected(good.structure, energy)))
    files = list((tmp_path / "relax" / "single_points").rglob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["energy_per_atom"] == pytest.approx(energy)
    again = _screen(tmp_path, reward_estimates=True, **cfg)
    files[0].write_text(json.dumps({"energy_per_atom": energy + 0.5}))  # the cache is read, not recomputed
    assert again.estimate_e_hull([good])[good.id] == pytest.approx(est[good.id] + 0.5)
