"""The CUDA paths: ranker, generator, potential and a whole campaign on the GPU, against the CPU.

Skipped where torch sees no CUDA device (the reason is printed in the ``-ra`` summary). Each
check runs the same work on ``cpu`` and on ``cuda`` and compares: a device mix-up (a tensor
left on the CPU) raises, and a wrong result shows as a difference from the CPU's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from loop.interfaces import PluginContext, resolve_device
from loop.objectives import Objective
from loop.records import Candidate, Measurement, Observation

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device visible to torch: the CUDA paths are not exercised here"
)


def test_auto_resolves_to_cuda():
    assert resolve_device("auto") == "cuda"
    assert PluginContext(work_dir=Path(".")).device == "auto"  # resolved by each stage, from the campaign's runtime.device


def _ranker_on(device: str, tmp_path: Path):
    """The botorch ranker fitted on ``y = -(x1 - 0.3)^2 - (x2 - 0.6)^2`` at 12 points; its pick among 200."""
    from surrogates.botorch_ranker import BotorchRanker

    rng = np.random.default_rng(0)
    X, pool_X = rng.random((12, 2)), rng.random((200, 2))
    observed = [Candidate.from_params({"x1": float(a), "x2": float(b)}) for a, b in X]
    pool = [Candidate.from_params({"x1": float(a), "x2": float(b)}) for a, b in pool_X]
    obs = [Observation(request_id=f"r{i}", candidate_id=c.id, values={"y": Measurement(value=float(-(a - 0.3) ** 2 - (b - 0.6) ** 2))})
           for i, (c, (a, b)) in enumerate(zip(observed, X, strict=True))]
    ctx = PluginContext(work_dir=tmp_path / device, objectives=[Objective(name="y", goal="maximize")], device=device)
    ranker = BotorchRanker(BotorchRanker.Config(), ctx)
    ranker.fit(observed, obs)
    return ranker, pool, ranker.select(pool, 1, [])


def test_botorch_ranker_fits_and_selects_on_cuda(tmp_path):
    on_gpu, pool, (pick,) = _ranker_on("cuda", tmp_path)
    assert on_gpu.device.type == "cuda" and on_gpu._X_train.device.type == "cuda"
    on_cpu, _, (cpu_pick,) = _ranker_on("cpu", tmp_path)
    mean_gpu, _ = on_gpu.predict(pool)["y"]
    mean_cpu, _ = on_cpu.predict(pool)["y"]
    assert np.allclose(mean_gpu, mean_cpu, atol=1e-3)  # float64 on both: the same GP
    chosen = next(c for c in pool if c.id == pick.candidate_id)
    assert abs(chosen.params["x1"] - 0.3) < 0.25 and abs(chosen.params["x2"] - 0.6) < 0.25


def test_gflownet_samples_and_trains_on_cuda(tmp_path):
    from generators.gflownet import GFlowNetGenerator
    from generators.gflownet.validity import structure_valid

    options = {"elements": ["Na", "Cl"], "max_atoms": 8, "hidden": 32, "steps_per_update": 2, "train": {"batch_size": 8},
               "device": "cuda"}
    gen = GFlowNetGenerator(GFlowNetGenerator.Config(**options), PluginContext(work_dir=tmp_path, objectives=[Objective(name="y")]))
    assert next(gen.policy.parameters()).device.type == "cuda"
    cands = gen.sample(6, None, np.random.default_rng(0))
    assert all(structure_valid(c.structure) == c.metadata["valid"] for c in cands)
    gen.update([], score=lambda cs: np.array([c.structure.composition.get_atomic_fraction("Na") for c in cs]))
    assert gen.trainer.steps == 2 and np.isfinite(gen.trainer.last_batch[1]).all()
    cpu = GFlowNetGenerator(GFlowNetGenerator.Config(**{**options, "device": "cpu"}),
                            PluginContext(work_dir=tmp_path / "cpu", objectives=[Objective(name="y")]))
    cpu.load_state_dict(gen.state_dict())  # a GPU checkpoint resumes on the CPU
    assert [c.id for c in cpu.sample(4, None, np.random.default_rng(1))] == [c.id for c in gen.sample(4, None, np.random.default_rng(1))]


def test_chgnet_energies_on_cuda_match_the_cpu(tmp_path):
    from surrogates.potentials.chgnet import CHGNetPotential

    nacl = Structure(Lattice.cubic(5.64), ["Na", "Na", "Na", "Na", "Cl", "Cl", "Cl", "Cl"],
                     [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])
    gpu = CHGNetPotential(CHGNetPotential.Config(device="cuda"), PluginContext(work_dir=tmp_path))
    cpu = CHGNetPotential(CHGNetPotential.Config(device="cpu"), PluginContext(work_dir=tmp_path))
    assert gpu.device == "cuda"
    (e_gpu,), (e_cpu,) = gpu.predict([nacl]), cpu.predict([nacl])
    assert e_gpu.energy_per_atom == pytest.approx(e_cpu.energy_per_atom, abs=2e-3)
    assert -5 < e_gpu.energy_per_atom < -2  # eV/atom of rock-salt NaCl by CHGNet, not a unit slip


@pytest.mark.slow
def test_a_campaign_with_runtime_device_cuda_runs_its_ranker_on_the_gpu(tmp_path, p3ht_csv):
    from loop.campaign.engine import Campaign
    from loop.config import parse_config
    from tests.conftest import p3ht_config

    cfg = p3ht_config(p3ht_csv, ranker={"kind": "botorch"}, runtime={"device": "cuda"})
    cfg["budget"] = {"experiments": 8, "batch_size": 4}
    with Campaign.create(parse_config(cfg), tmp_path / "c") as c:
        summary = c.run()
        assert c.ranker.device.type == "cuda"
        notes = [rnd.ranking for rnd, _ in c.ledger.rounds()]
    assert summary.experiments_done == 8
    assert notes[-1].fallback is None and notes[-1].acquisition.startswith("qUCB")


def test_batched_relaxation_on_cuda_matches_the_cpu(tmp_path):
    from tests.surrogates._mlip_data import nacl_structures

    cells = nacl_structures(3, seed=1, strain=0.03, rattle=0.05)
    gpu = _chgnet_on("cuda", tmp_path)
    cpu = _chgnet_on("cpu", tmp_path)
    on_gpu = gpu.relax_batch(cells, fmax=0.1, steps=40)
    on_cpu = cpu.relax_batch(cells, fmax=0.1, steps=40)
    assert gpu.last_batch_stats["calls"] == max(r.steps for r in on_gpu) + 1  # one CUDA call per step for the batch
    assert any(r.converged for r in on_cpu)
    for g, c in zip(on_gpu, on_cpu, strict=True):
        assert g.converged == c.converged
        if g.converged and c.converged:
            assert g.energy_per_atom == pytest.approx(c.energy_per_atom, abs=2e-3)


def _chgnet_on(device: str, tmp_path: Path):
    from surrogates.potentials.chgnet import CHGNetPotential

    return CHGNetPotential(CHGNetPotential.Config(device=device, relax_batch_size=8), PluginContext(work_dir=tmp_path / device))
