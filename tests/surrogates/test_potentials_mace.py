from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from loop.errors import ConfigError, StructureError
from loop.interfaces import PluginContext
from surrogates.potentials import create_potential
from surrogates.potentials.mace import MACEPotential
from surrogates.potentials.mace_model import CONFIG_FILE, load_converted_model
from surrogates.potentials.mace_train import build_mace, energy_mae, train
from tests.surrogates._mlip_data import cscl, labelled, rocksalt, tiny_mace_dir


def _pot(tmp_path, **opts) -> MACEPotential:
    return MACEPotential(MACEPotential.Config(model=str(tiny_mace_dir()), **opts), PluginContext(work_dir=tmp_path))


def test_converted_model_round_trips_and_is_safe(tmp_path):
    pot = _pot(tmp_path)
    e1 = pot.predict([rocksalt(), cscl()])
    pot.save(tmp_path / "copy")
    again = MACEPotential(MACEPotential.Config(model=str(tmp_path / "copy")), PluginContext(work_dir=tmp_path))
    e2 = again.predict([rocksalt(), cscl()])
    assert [r.energy for r in e1] == pytest.approx([r.energy for r in e2], abs=1e-8)
    assert pot.identity == again.identity and pot.identity.startswith("mace-")
    # the registry-free factory builds the same thing from a spec
    via_spec = create_potential({"kind": "mace", "options": {"model": str(tmp_path / "copy")}}, PluginContext(work_dir=tmp_path))
    assert via_spec.predict([cscl()])[0].energy == pytest.approx(e1[1].energy, abs=1e-8)


def test_pickled_model_needs_trust_and_is_converted_once(tmp_path):
    model, _ = load_converted_model(tiny_mace_dir())
    path = tmp_path / "tiny.model"
    torch.save(model, path)
    untrusted = MACEPotential(MACEPotential.Config(model=str(path)), PluginContext(work_dir=tmp_path))
    with pytest.raises(ConfigError, match="trusted"):
        untrusted.predict([cscl()])
    trusted = MACEPotential(MACEPotential.Config(model=str(path), trusted=True), PluginContext(work_dir=tmp_path))
    e = trusted.predict([cscl()])[0].energy
    converted = list((tmp_path / "mace_converted").glob(f"*/{CONFIG_FILE}"))
    assert len(converted) == 1
    # the same bytes, now without trust: served from the weights-only conversion
    later = MACEPotential(MACEPotential.Config(model=str(path)), PluginContext(work_dir=tmp_path))
    assert later.predict([cscl()])[0].energy == pytest.approx(e, abs=1e-8)


def test_corrupt_or_missing_models_are_config_errors(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a pickle at all")
    with pytest.raises(ConfigError, match="corrupt"):
        MACEPotential(MACEPotential.Config(model=str(bad), trusted=True), PluginContext(work_dir=tmp_path)).predict([cscl()])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / CONFIG_FILE).write_text("{")
    with pytest.raises(ConfigError, match="converted MACE model"):
        MACEPotential(MACEPotential.Config(model=str(tmp_path / "broken")), PluginContext(work_dir=tmp_path)).predict([cscl()])
    with pytest.raises(ConfigError, match="allow_download"):
        MACEPotential(MACEPotential.Config(model="small"), PluginContext(work_dir=tmp_path)).predict([cscl()])


def test_forces_and_stress_are_energy_derivatives(tmp_path):
    pot = _pot(tmp_path)
    s = cscl()
    s.translate_sites([1], [0.1, -0.05, 0.02], frac_coords=False)
    r = pot.predict([s])[0]
    h = 1e-4
    for axis in range(3):
        plus, minus = s.copy(), s.copy()
        plus.translate_sites([1], np.eye(3)[axis] * h, frac_coords=False)
        minus.translate_sites([1], -np.eye(3)[axis] * h, frac_coords=False)
        fd = -(pot.predict([plus])[0].energy - pot.predict([minus])[0].energy) / (2 * h)
        assert r.forces[1, axis] == pytest.approx(fd, abs=1e-5)
    assert r.stress.shape == (3, 3)


def test_descriptors_are_invariant_and_batched(tmp_path):
    pot = _pot(tmp_path)
    s = rocksalt()
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.3, 0.1, 0.2])
    rotated = Structure(Lattice(s.lattice.matrix @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])), s.species, s.frac_coords)
    d = pot.descriptors([s, moved, rotated, cscl()])
    assert d.shape[0] == 4 and d.shape[1] == 8  # 8 invariant channels in the tiny model
    assert np.allclose(d[0], d[1], atol=1e-8) and np.allclose(d[0], d[2], atol=1e-8)
    assert not np.allclose(d[0], d[3])


def test_candidate_descriptors_have_nan_rows_for_what_the_potential_cannot_take(tmp_path):
    from loop.records import Candidate
    from surrogates.potentials.descriptors import candidate_descriptors

    pot = _pot(tmp_path)
    kcl = Structure(Lattice.cubic(3.5), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cands = [Candidate.from_structure(rocksalt()), Candidate.from_params({"x": 1.0}), Candidate.from_structure(kcl)]
    X = candidate_descriptors(cands, pot)
    assert X.shape == (3, 8)
    assert np.allclose(X[0], pot.descriptors([rocksalt()])[0])
    assert np.isnan(X[1]).all() and np.isnan(X[2]).all()


def test_relax_and_uncovered_elements(tmp_path):
    pot = _pot(tmp_path)
    kcl = Structure(Lattice.cubic(3.5), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    start = cscl(3.6)
    good, bad = pot.relax([start, kcl], fmax=0.05, steps=100)
    assert good.error is None and good.converged and good.energy <= pot.predict([start])[0].energy + 1e-9
    assert "not covered" in bad.error
    with pytest.raises(StructureError, match="K"):
        pot.predict([kcl])


@pytest.mark.slow
def test_fine_tuning_lowers_held_out_error(tmp_path):
    """A tiny MACE trained on near-equilibrium cells, then fine-tuned on strained ones."""
    torch.manual_seed(0)
    base_s, base_e, base_f = labelled(24, 0)
    new_s, new_e, new_f = labelled(36, 1, 0.12)
    train_s, train_e, train_f = new_s[:24], new_e[:24], new_f[:24]
    held_s, held_e = new_s[24:], new_e[24:]
    model = build_mace(base_s, base_e)
    train(model, base_s, base_e, base_f, epochs=10, lr=1e-2)
    pot = MACEPotential(MACEPotential.Config(device="cpu"), PluginContext(work_dir=tmp_path), model=model)
    before = energy_mae(pot.model, held_s, held_e)
    history = pot.fit(train_s, train_e, train_f, epochs=40, lr=2e-2, force_weight=0.01)
    after = energy_mae(pot.model, held_s, held_e)
    assert history[-1] < history[0]
    assert after < 0.5 * before, (before, after)
    # the fine-tuned model still evaluates through the plug-in
    assert np.isfinite(pot.predict(held_s[:2])[0].energy)
