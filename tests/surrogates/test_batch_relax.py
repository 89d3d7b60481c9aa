"""Batched relaxation: the same FIRE and cell filter as ASE's, batched, refilled, and robust to bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE
from pymatgen.core import Lattice, Structure

from loop.errors import StructureError
from surrogates.potentials.base import check_structure, to_atoms, to_structure
from surrogates.potentials.batch_relax import BatchRelaxer, Evaluation, frechet_cell_forces
from tests.surrogates._mlip_data import chgnet, nacl_structures


def emt_evaluate(structures):
    """ASE's EMT (energy, forces, stress) for each structure: a cheap exact model of a batched call."""
    out = []
    for s in structures:
        atoms = to_atoms(s)
        atoms.calc = EMT()
        out.append(Evaluation(atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)))
    return out


def cu_cells(n: int, seed: int = 0) -> list[Structure]:
    """Strained, rattled fcc Cu and Cu-Au cells of 1-4 atoms (EMT covers both)."""
    rng = np.random.default_rng(seed)
    bases = [
        Structure(Lattice.cubic(3.7), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
        Structure(Lattice.cubic(3.9), ["Cu", "Au", "Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
        Structure(Lattice.cubic(2.9), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ]
    out = []
    for i in range(n):
        s = bases[i % len(bases)].copy()
        s.apply_strain(rng.uniform(-0.04, 0.04, 3))
        for j in range(len(s)):
            s.translate_sites([j], rng.normal(0, 0.08, 3), frac_coords=False)
        out.append(s)
    return out


def ase_relax(s: Structure, fmax: float, steps: int, relax_cell: bool = True):
    atoms = to_atoms(s)
    atoms.calc = EMT()
    opt = FIRE(FrechetCellFilter(atoms) if relax_cell else atoms, logfile=None)
    converged = opt.run(fmax=fmax, steps=steps)
    return to_structure(atoms), float(atoms.get_potential_energy()), bool(converged), int(opt.nsteps)


@pytest.mark.parametrize("relax_cell", [True, False])
def test_batched_fire_follows_ase_step_for_step(relax_cell):
    cells = cu_cells(5)
    relaxer = BatchRelaxer(emt_evaluate, batch_size=3)
    batched = relaxer.relax(cells, fmax=0.02, steps=150, relax_cell=relax_cell)
    for s, b in zip(cells, batched, strict=True):
        ref_s, ref_e, ref_conv, ref_steps = ase_relax(s, 0.02, 150, relax_cell)
        assert b.converged == ref_conv and b.steps == ref_steps
        assert b.energy == pytest.approx(ref_e, abs=1e-6)
        assert np.allclose(b.structure.lattice.matrix, ref_s.lattice.matrix, atol=1e-6)
        assert np.allclose(b.structure.cart_coords, ref_s.cart_coords, atol=1e-6)
    assert any(r.steps > 5 for r in batched)  # the cells did move


def test_refill_keeps_the_batch_full_and_the_order():
    cells = cu_cells(5, seed=3)
    alone = [BatchRelaxer(emt_evaluate, batch_size=1).relax([s], fmax=0.02, steps=150)[0] for s in cells]
    relaxer = BatchRelaxer(emt_evaluate, batch_size=2)
    batched = relaxer.relax(cells, fmax=0.02, steps=150)
    assert [r.energy for r in batched] == pytest.approx([r.energy for r in alone], abs=1e-9)
    evals = sum(r.steps + 1 for r in batched)
    assert relaxer.stats["structure_steps"] == evals
    # two slots kept busy: the calls are about half the evaluations, not the longest relaxation times 5
    assert relaxer.stats["calls"] <= math.ceil(evals / 2) + max(r.steps for r in batched)
    assert relaxer.stats["calls"] < evals


def test_frechet_cell_forces_match_scipy():
    from scipy.linalg import expm, expm_frechet

    rng = np.random.default_rng(0)
    log_f = rng.normal(0, 0.05, (4, 3, 3))
    virial = rng.normal(0, 1.0, (4, 3, 3))
    got = frechet_cell_forces(log_f, virial)
    for k in range(4):
        grad = virial[k] @ np.linalg.inv(expm(log_f[k]).T)
        want = np.zeros((3, 3))
        for mu, nu in itertools.product(range(3), repeat=2):
            e = np.zeros((3, 3))
            e[mu, nu] = 1.0
            want[mu, nu] = np.sum(expm_frechet(log_f[k], e, compute_expm=False) * grad)
        assert np.allclose(got[k], want, atol=1e-10)


def test_bad_input_is_a_result_or_a_clear_error():
    cells = cu_cells(2)
    overlapping = Structure(Lattice.cubic(3.6), ["Cu", "Cu"], [[0, 0, 0], [0.01, 0, 0]])
    relaxer = BatchRelaxer(emt_evaluate, batch_size=2, check=lambda s: check_structure(s, None))
    res = relaxer.relax([cells[0], overlapping, cells[1]], fmax=0.05, steps=50)
    assert res[0].converged and res[2].converged
    assert not res[1].converged and "overlapping" in res[1].error and math.isnan(res[1].energy)
    with pytest.raises(StructureError, match="structure 1: expected a pymatgen Structure"):
        relaxer.relax([cells[0], "Cu4"], fmax=0.05, steps=5)
    with pytest.raises(ValueError, match="batch_size"):
        BatchRelaxer(emt_evaluate, batch_size=0)
    with pytest.raises(ValueError, match="fmax"):
        relaxer.relax(cells, fmax=0.0, steps=5)


def test_a_structure_that_breaks_the_model_fails_alone():
    cells = cu_cells(3)
    poison = cells[1]

    def flaky(structures):  # fails whenever the poisoned cell is in the call, alone or in a batch
        if any(np.allclose(s.lattice.matrix, poison.lattice.matrix) for s in structures):
            raise RuntimeError("model blew up")
        return emt_evaluate(structures)

    res = BatchRelaxer(flaky, batch_size=3).relax(cells, fmax=0.05, steps=50)
    assert res[0].converged and res[2].converged
    assert res[1].error == "relaxation failed: model blew up" and not res[1].converged


def test_diverging_relaxation_is_reported():
    def exploding(structures):
        return [Evaluation(-1e4 * len(s), np.zeros((len(s), 3)), np.eye(3)) for s in structures]

    (res,) = BatchRelaxer(exploding).relax(cu_cells(1), fmax=0.05, steps=10)
    assert not res.converged and res.error.startswith("relaxation diverged: energy")


def test_chgnet_batched_energies_match_the_unbatched_path():
    pot = chgnet()
    cells = nacl_structures(3, seed=1, strain=0.03, rattle=0.05)
    seq = pot.relax(cells, fmax=0.1, steps=40)
    bat = pot.relax_batch(cells, fmax=0.1, steps=40)
    assert any(r.converged for r in seq)
    for a, b in zip(seq, bat, strict=True):
        assert a.converged == b.converged
        if a.converged:
            assert a.steps == b.steps
            assert b.energy_per_atom == pytest.approx(a.energy_per_atom, abs=1e-3)
    assert pot.last_batch_stats["calls"] == max(r.steps for r in bat) + 1  # all three in flight together


def test_relax_many_batched_puts_every_structure_in_one_batch_without_ray(tmp_path):
    from surrogates.screening.relaxation import relax_many

    pot = chgnet()
    items = [(f"c{i}", s) for i, s in enumerate(nacl_structures(3, seed=2, strain=0.03, rattle=0.05))]
    kw = {"fmax": 0.1, "steps": 40, "use_ray": False, "chunk_size": 1, "work_dir": tmp_path}
    batched, stats = relax_many(pot, None, items, None, mode="batched", **kw)
    assert pot.last_batch_stats["structure_steps"] == sum(r.steps + 1 for r in batched.values())
    assert pot.last_batch_stats["calls"] == max(r.steps for r in batched.values()) + 1
    sequential, _ = relax_many(pot, None, items, None, mode="sequential", **kw)
    for cid, _ in items:
        assert batched[cid].converged == sequential[cid].converged
        if batched[cid].converged:
            assert batched[cid].energy_per_atom == pytest.approx(sequential[cid].energy_per_atom, abs=1e-3)
    assert stats["relaxed"] == 3
    with pytest.raises(ValueError, match="relax mode"):
        relax_many(pot, None, items, None, mode="fast", **kw)


def test_ray_tasks_of_a_cuda_potential_ask_for_a_gpu(monkeypatch):
    from loop.errors import ConfigError
    from surrogates.screening import relaxation
    from surrogates.screening.relaxation import potential_device, relax_task_resources

    assert relax_task_resources("cpu") == {"num_cpus": 1.0}
    assert relax_task_resources("cuda", 2) == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert relax_task_resources("cuda:1", 1, 0.25) == {"num_cpus": 1.0, "num_gpus": 0.25}
    assert relax_task_resources("cpu", 1, 0.5)["num_gpus"] == 0.5  # explicit wins
    with pytest.raises(ValueError, match="gpus_per_task"):
        relax_task_resources("cuda", 1, -1)
    assert potential_device(None, {"kind": "chgnet", "options": {"device": "cuda:1"}}) == "cuda:1"
    assert potential_device(chgnet(), {"kind": "chgnet", "options": {}}) == "cpu"

    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0})
    with pytest.raises(ConfigError, match="gpus_per_task.*asks for 1 GPU.*has 0"):
        relaxation._check_cluster_gpus(relax_task_resources("cuda"))
    relaxation._check_cluster_gpus(relax_task_resources("cpu"))  # no GPU asked, none needed


def test_screen_options_for_batched_relaxation():
    from pydantic import ValidationError

    from surrogates.screening import MLIPScreen

    cfg = MLIPScreen.Config()
    assert cfg.relax_mode == "batched" and cfg.gpus_per_task is None
    with pytest.raises(ValidationError, match="relax_mode"):
        MLIPScreen.Config(relax_mode="parallel")
    with pytest.raises(ValidationError, match="gpus_per_task"):
        MLIPScreen.Config(gpus_per_task=-0.5)


def _edge_sets(graph):
    """Directed edges ``(i, j, image)``, bonds (pairs of directed edges) and angles, independent of their order."""
    images = graph.neighbor_image.numpy().round().astype(int)
    directed = [(int(a), int(b), tuple(int(x) for x in im)) for (a, b), im in zip(graph.atom_graph.numpy(), images, strict=True)]
    bonds: dict[int, list] = {}
    for k, u in enumerate(graph.directed2undirected.numpy()):
        bonds.setdefault(int(u), []).append(directed[k])
    angles = {(int(r[0]), directed[r[2]], directed[r[4]]) for r in graph.bond_graph.numpy()}
    assert all(int(graph.directed2undirected[r[2]]) == r[1] and int(graph.directed2undirected[r[4]]) == r[3] for r in graph.bond_graph.numpy())
    return set(directed), {frozenset(v) for v in bonds.values()}, angles


def test_vectorised_graph_equals_chgnets_converter():
    from surrogates.potentials.chgnet_graph import crystal_graph

    model = chgnet().model
    unwrapped = cu_cells(2)[1].copy()
    unwrapped.translate_sites([0, 2], [1.3, -2.2, 0.7], frac_coords=True, to_unit_cell=False)
    one_atom = Structure(Lattice.hexagonal(2.9, 4.6), ["Cu"], [[0, 0, 0]])  # bonds to its own images only
    cells = [*nacl_structures(3, seed=4), unwrapped, one_atom, Structure(Lattice.cubic(9.0), ["O", "O"], [[0, 0, 0], [0.13, 0, 0]])]
    for s in cells:
        ours, theirs = crystal_graph(s), model.graph_converter(s)
        assert _edge_sets(ours) == _edge_sets(theirs)
    a, b = model([crystal_graph(s) for s in cells], task="efs"), model([model.graph_converter(s) for s in cells], task="efs")
    assert np.allclose(a["e"].detach(), b["e"].detach(), atol=1e-5)
    assert all(np.allclose(x.detach(), y.detach(), atol=1e-3) for x, y in zip(a["f"], b["f"], strict=True))
