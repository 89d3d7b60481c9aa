from __future__ import annotations

import math
import socket

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from loop.errors import StructureError
from loop.interfaces import PluginContext
from surrogates.potentials import chgnet as chgnet_module
from surrogates.potentials.chgnet import CHGNetPotential
from tests.surrogates._mlip_data import chgnet, cscl, rocksalt


def test_bundled_weights_load_without_network(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(chgnet_module, "_MODELS", {})
    pot = CHGNetPotential(CHGNetPotential.Config(device="cpu"), PluginContext(work_dir=tmp_path))
    assert pot.identity.startswith("chgnet-0.4") and pot.identity.endswith("0.3.0")
    e = pot.predict([cscl()])[0]
    assert math.isfinite(e.energy)


def test_predict_shapes_and_batching_agree():
    pot = chgnet()
    ss = [rocksalt(), cscl(), rocksalt(5.9)]
    batched = pot.predict(ss)
    single = [pot.predict([s])[0] for s in ss]
    for s, b, u in zip(ss, batched, single):
        assert b.n_atoms == len(s)
        assert b.forces.shape == (len(s), 3) and b.stress.shape == (3, 3)
        assert np.allclose(b.forces.sum(axis=0), 0, atol=1e-3)  # no net force on a periodic cell
        assert b.energy == pytest.approx(u.energy, abs=1e-4)
    # ASE sign convention: a compressed cell has a negative (compressive) stress
    squeezed = pot.predict([rocksalt(5.0)])[0]
    assert np.trace(squeezed.stress) / 3 < np.trace(batched[0].stress) / 3 - 10


def test_relax_lowers_energy_and_fixes_the_cell():
    pot = chgnet()
    start = rocksalt(6.0)
    res = pot.relax([start], fmax=0.05, steps=60)[0]
    assert res.error is None and res.converged
    assert res.energy < pot.predict([start])[0].energy
    assert res.structure.volume < start.volume  # 6.0 A is too large for NaCl
    assert len(res.trajectory_energies) == res.steps + 1 or len(res.trajectory_energies) >= res.steps


def test_descriptors_are_crystal_features():
    pot = chgnet()
    d = pot.descriptors([rocksalt(), cscl()])
    assert d.shape == (2, 64) and np.isfinite(d).all()
    assert not np.allclose(d[0], d[1])


def test_bad_structures_are_reported_not_crashed():
    pot = chgnet()
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    uncovered = Structure(Lattice.cubic(4.0), ["Am", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(StructureError, match="structure 1: .*overlapping"):
        pot.predict([cscl(), overlap])
    results = pot.relax([overlap, uncovered], steps=5)
    assert "overlapping" in results[0].error and not results[0].converged
    assert "not covered" in results[1].error and "Am" in results[1].error
