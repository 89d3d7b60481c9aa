"""MACE models as safe files, and structures as MACE input batches.

A MACE ``.model`` file is a pickled ``torch.nn.Module``: unpickling runs code, so
:func:`load_pickled_model` is only called for paths the user marked as trusted. Once
loaded, a model is converted to a folder with ``config.json`` (the constructor's
arguments, as JSON: irreps as strings, classes and the gate by name, looked up in
``mace.modules``' own tables, never imported by path) and ``weights.pt`` (a state dict,
read with ``torch.load(weights_only=True)``). :func:`load_converted_model` rebuilds the
module from that folder without unpickling anything.

A batch is MACE's dict of tensors for ``b`` structures with ``N`` atoms in all:
``positions N x 3``, ``node_attrs N x Z`` (one-hot over the model's elements),
``edge_index 2 x E``, ``shifts E x 3``, ``cell 3b x 3``, ``batch N``, ``ptr b+1``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure

from loop.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "file_sha256",
    "load_converted_model",
    "load_pickled_model",
    "make_batch",
    "model_config",
    "save_converted_model",
    "scalar_feature_index",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
FORMAT = "crystaloop-mace-v1"

# e3nn 0.4 reads its Wigner constants with a bare ``torch.load``; torch >= 2.6 defaults to
# ``weights_only=True``, which refuses the ``slice`` objects in that file. Allow-listing the
# builtin ``slice`` (no code runs) lets ``import mace`` work without weakening anything else.
torch.serialization.add_safe_globals([slice])


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _gate_name(gate: Any) -> str:
    from mace.modules import gate_dict

    for name, fn in gate_dict.items():
        if fn is gate:
            return name
    raise ConfigError("mace model", [("gate", f"unsupported gate function {gate!r}")])


def model_config(model: torch.nn.Module) -> dict[str, Any]:
    """The JSON-able constructor arguments of a ``ScaleShiftMACE``."""
    from mace.tools.scripts_utils import extract_config_mace_model

    raw = extract_config_mace_model(model)
    if "error" in raw:
        raise ConfigError("mace model", [("model", raw["error"])])
    cfg: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("interaction_cls", "interaction_cls_first", "readout_cls"):
            cfg[key] = value.__name__
        elif key == "gate":
            cfg[key] = _gate_name(value)
        elif key in ("hidden_irreps", "MLP_irreps", "edge_irreps"):
            cfg[key] = None if value is None else str(value)
        elif isinstance(value, torch.Tensor | np.ndarray):
            cfg[key] = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value).tolist()
        elif key == "cueq_config":
            cfg[key] = None
        else:
            cfg[key] = value
    return cfg


def _build(cfg: dict[str, Any]) -> torch.nn.Module:
    from e3nn import o3
    from mace.modules import ScaleShiftMACE, gate_dict, interaction_classes, readout_classes

    kw = dict(cfg)
    for key in ("interaction_cls", "interaction_cls_first"):
        if kw[key] not in interaction_classes:
            raise ConfigError("mace config", [(key, f"unknown interaction block {kw[key]!r}")])
        kw[key] = interaction_classes[kw[key]]
    if "readout_cls" in kw:
        kw["readout_cls"] = readout_classes[kw["readout_cls"]]
    kw["gate"] = gate_dict[kw["gate"]]
    for key in ("hidden_irreps", "MLP_irreps", "edge_irreps"):
        if kw.get(key) is not None:
            kw[key] = o3.Irreps(kw[key])
    kw["atomic_energies"] = np.asarray(kw["atomic_energies"], dtype=float)
    for key in ("atomic_inter_scale", "atomic_inter_shift"):
        v = np.asarray(kw[key], dtype=float)
        kw[key] = float(v) if v.ndim == 0 else v
    kw["atomic_numbers"] = [int(z) for z in kw["atomic_numbers"]]
    if kw.get("distance_transform") is None:
        kw["distance_transform"] = "None"
    return ScaleShiftMACE(**kw)


def save_converted_model(model: torch.nn.Module, folder: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``config.json`` + ``weights.pt`` (a state dict) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"format": FORMAT, "model": model_config(model), "extra": dict(extra or {})}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=1))
    log.info("saved MACE model as weights + JSON config in %s", folder)
    return folder


def load_converted_model(folder: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model from ``config.json`` + ``weights.pt`` without unpickling code."""
    folder = Path(folder)
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
        if cfg.get("format") != FORMAT:
            raise ValueError(f"format is {cfg.get('format')!r}, expected {FORMAT!r}")
        model = _build(cfg["model"])
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(str(folder), [("model", f"not a readable converted MACE model: {exc}")]) from exc
    return model, cfg.get("extra", {})


def load_pickled_model(path: Path) -> torch.nn.Module:
    """Unpickle a MACE ``.model`` file. Runs code from the file: call only for trusted paths."""
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ConfigError(str(path), [("model", f"corrupt or unreadable MACE model file: {exc}")]) from exc
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(str(path), [("model", f"file holds a {type(model).__name__}, not a MACE model")])
    return model


def scalar_feature_index(model: torch.nn.Module) -> torch.Tensor:
    """Indices of the invariant (``0e``) channels in MACE's concatenated ``node_feats``."""
    idx: list[int] = []
    offset = 0
    for product in model.products:
        for mul, ir in product.linear.irreps_out:
            dim = mul * ir.dim
            if ir.l == 0 and ir.p == 1:
                idx.extend(range(offset, offset + dim))
            offset += dim
    return torch.tensor(idx, dtype=torch.long)


def make_batch(
    structures: Sequence[Structure], atomic_numbers: Sequence[int], r_max: float, dtype: torch.dtype, device: str
) -> dict[str, torch.Tensor]:
    """MACE's input dict for ``structures`` (see module docs for the shapes)."""
    from mace.data import AtomicData, Configuration
    from mace.tools import AtomicNumberTable, torch_geometric

    z_table = AtomicNumberTable([int(z) for z in atomic_numbers])
    data = []
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        for s in structures:
            cfg = Configuration(
                atomic_numbers=np.array([site.specie.Z for site in s]),
                positions=np.asarray(s.cart_coords, dtype=float),
                properties={},
                property_weights={},
                cell=np.asarray(s.lattice.matrix, dtype=float),
                pbc=(True, True, True),
            )
            data.append(AtomicData.from_config(cfg, z_table=z_table, cutoff=r_max))
    finally:
        torch.set_default_dtype(prev)
    batch = torch_geometric.Batch.from_data_list(data).to(device)
    return batch.to_dict()
