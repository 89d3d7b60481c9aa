"""The simulated world is private: no screen, ranker or estimator can reach its potential, hull or error."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab_adapters.crystal.hidden_error import HiddenError, HiddenErrorConfig
from lab_adapters.crystal.lab import CrystalLab, CrystalLabConfig
from lab_adapters.crystal.world import World
from loop.config import parse_config

REPO = Path(__file__).resolve().parents[2]
PRIVATE = ("lab_adapters",)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_loop_surrogate_or_generator_module_imports_the_lab():
    """Static boundary: the loop and the stages that rank or screen never import the simulated lab.

    Benchmarks that drive a lab on purpose (``*/bench/*``) are the exception.
    """
    offenders = []
    for package in ("loop", "surrogates", "generators"):
        for path in (REPO / package).rglob("*.py"):
            if "bench" in path.relative_to(REPO).parts:
                continue
            bad = sorted(m for m in _imports(path) if m.split(".")[0] in PRIVATE)
            if bad:
                offenders.append(f"{path.relative_to(REPO)}: {bad}")
    assert offenders == []


def _reachable(root: object, depth: int = 6) -> list[object]:
    """Objects reachable from ``root`` through attributes, dicts, lists and tuples."""
    seen: set[int] = set()
    out: list[object] = []
    stack = [(root, 0)]
    while stack:
        obj, d = stack.pop()
        if id(obj) in seen or d > depth or isinstance(obj, str | bytes | int | float | type(None) | type):
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, dict):
            stack += [(v, d + 1) for v in obj.values()]
        elif isinstance(obj, list | tuple | set):
            stack += [(v, d + 1) for v in obj]
        elif hasattr(obj, "__dict__") and not type(obj).__module__.startswith(("torch", "numpy", "pymatgen", "botorch", "gpytorch")):
            stack += [(v, d + 1) for v in vars(obj).values()]
    return out


@pytest.mark.slow
def test_screen_ranker_and_estimator_cannot_reach_the_world(tmp_path):
    """Runtime boundary: from the campaign's screen, ranker and generator, no path leads to the lab's world."""
    from loop.campaign.engine import Campaign

    cfg = parse_config({
        "name": "privacy", "seed": 0,
        "objectives": [{"name": "yield", "goal": "maximize"}],
        "budget": {"experiments": 2, "batch_size": 1},
        "generator": {"kind": "random_crystal", "options": {"elements": ["Li", "O"], "max_atoms": 4}},
        "screen": {"kind": "mlip", "options": {"elements": ["Li", "O"], "ray": "never"}},
        "ranker": {"kind": "botorch", "options": {"e_hull_estimate": {"steps": 2}}},
        "lab": {"kind": "crystal", "options": {"elements": ["Li", "O"], "world_cache_dir": str(tmp_path / "w")}},
        "tracking": {"enabled": False},
    })
    with Campaign.create(cfg, tmp_path / "c") as c:
        lab = c.labs["default"] if "default" in c.labs else next(iter(c.labs.values()))
        assert isinstance(lab, CrystalLab)
        lab._world = object.__new__(World)  # a world in the lab, as after the first experiment
        forbidden = (World, HiddenError, CrystalLab, CrystalLabConfig)
        for stage in (c.screen, c.ranker, c.generator):
            leaks = [type(o).__name__ for o in _reachable(stage) if isinstance(o, forbidden)]
            assert leaks == [], f"{type(stage).__name__} reaches {leaks}"
        # the lab itself does reach it: the walk would find a leak
        assert any(isinstance(o, World) for o in _reachable(lab))


@pytest.mark.slow
def test_the_hidden_error_is_smooth_sized_and_tells_polymorphs_apart(data_dir):
    from loop.known_phases import load_known_phases

    err = HiddenError(HiddenErrorConfig(sigma=0.05, seed=0), ["Li", "Mn", "O"])
    known = load_known_phases(data_dir / "references" / "li-mn-ti-o-f", ["Li", "Mn", "O"])
    values = {p.name: err(p.structure) for p in known.with_structures()}
    spread = sorted(abs(v) for v in values.values())
    assert 0.005 < spread[len(spread) // 2] < 0.15  # tens of meV/atom
    mno2 = [v for k, v in values.items() if k.startswith("MnO2_")]
    assert len(mno2) >= 5 and max(mno2) - min(mno2) > 0.01  # polymorphs differ
    s = next(p.structure for p in known.phases if p.name == "MnO_225")
    nudged = s.copy()
    nudged.scale_lattice(s.volume * 1.001)
    assert abs(err(nudged) - err(s)) < 0.002  # smooth
    assert err(s) == HiddenError(HiddenErrorConfig(sigma=0.05, seed=0), ["O", "Mn", "Li"])(s)  # seeded
    assert err(s) != HiddenError(HiddenErrorConfig(sigma=0.05, seed=1), ["Li", "Mn", "O"])(s)


@pytest.mark.parametrize("name", ["e_hull", "formation_energy", "energy_per_atom"])
def test_the_lab_refuses_to_report_computed_energies(name):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="computed, not measured"):
        CrystalLabConfig(elements=["Li", "O"], properties=["density", name])
