"""Building, training and fine-tuning MACE models on campaign data.

A lab's own results (structure, energy[, forces]) improve its potential: :func:`train`
minimises

    L = mean_s ((E_s - E_s^ref) / n_s)^2 + w_F * mean_{s,i} |F_si - F_si^ref|^2

(eV/atom and eV/A) with Adam, over mini-batches of structures. A new model is built by
:func:`build_mace` with one-body energies ``E0_Z`` from a least-squares fit of the
reference energies to the element counts, ``E_s ~ sum_Z n_sZ E0_Z``, and the interaction
energy scaled by the standard deviation of the per-atom residuals.

>>> model = build_mace(structures, energies, TinyMACE(num_channels=8, r_max=4.0))
>>> history = train(model, structures, energies, epochs=30)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from loop.errors import InputDataError, StructureError
from surrogates.potentials.mace_model import make_batch

__all__ = ["MACEArchitecture", "build_mace", "energy_mae", "fit_e0", "train"]

log = logging.getLogger(__name__)


class MACEArchitecture(BaseModel):
    """Hyper-parameters of a MACE model built from scratch (defaults: a tiny one)."""

    model_config = ConfigDict(extra="forbid")

    r_max: float = Field(4.0, gt=0, description="cutoff radius (A)")
    num_channels: int = Field(8, ge=1)
    max_L: int = Field(0, ge=0, le=2, description="highest message symmetry order")
    num_interactions: int = Field(1, ge=1)
    correlation: int = Field(2, ge=1, le=3)
    num_bessel: int = Field(6, ge=1)
    num_polynomial_cutoff: int = Field(5, ge=1)
    max_ell: int = Field(2, ge=0)
    mlp_channels: int = Field(8, ge=1)
    radial_mlp: list[int] = Field(default_factory=lambda: [16, 16])


def _counts(structures: Sequence[Structure], zs: Sequence[int]) -> np.ndarray:
    col = {z: i for i, z in enumerate(zs)}
    out = np.zeros((len(structures), len(zs)))
    for r, s in enumerate(structures):
        for site in s:
            out[r, col[site.specie.Z]] += 1
    return out


def fit_e0(structures: Sequence[Structure], energies: Sequence[float], zs: Sequence[int]) -> np.ndarray:
    """One-body energies ``E0_Z`` (eV) by least squares of total energies on element counts."""
    counts = _counts(structures, zs)
    e0, *_ = np.linalg.lstsq(counts, np.asarray(energies, dtype=float), rcond=None)
    return e0


def build_mace(
    structures: Sequence[Structure],
    energies: Sequence[float],
    arch: MACEArchitecture | None = None,
    elements: Sequence[int] | None = None,
    seed: int = 0,
) -> torch.nn.Module:
    """A new ``ScaleShiftMACE`` for the elements of ``structures`` (or ``elements``)."""
    from e3nn import o3
    from mace.modules import RealAgnosticResidualInteractionBlock, ScaleShiftMACE

    arch = arch or MACEArchitecture()
    if len(structures) != len(energies) or not structures:
        raise InputDataError(f"need one energy per structure, got {len(structures)} structures, {len(energies)} energies")
    zs = sorted(set(elements or ()) | {site.specie.Z for s in structures for site in s})
    e0 = fit_e0(structures, energies, zs)
    resid = (np.asarray(energies) - _counts(structures, zs) @ e0) / np.array([len(s) for s in structures])
    scale = float(max(np.std(resid), 1e-2))
    torch.manual_seed(seed)
    batch = make_batch(structures, zs, arch.r_max, torch.float64, "cpu")
    n_edges = batch["edge_index"].shape[1]
    avg_neighbors = max(n_edges / max(batch["positions"].shape[0], 1), 1.0)
    parity = "eo"
    hidden = o3.Irreps(" + ".join(f"{arch.num_channels}x{ell}{parity[ell % 2]}" for ell in range(arch.max_L + 1)))
    model = ScaleShiftMACE(
        r_max=arch.r_max,
        num_bessel=arch.num_bessel,
        num_polynomial_cutoff=arch.num_polynomial_cutoff,
        max_ell=arch.max_ell,
        interaction_cls=RealAgnosticResidualInteractionBlock,
        interaction_cls_first=RealAgnosticResidualInteractionBlock,
        num_interactions=arch.num_interactions,
        num_elements=len(zs),
        hidden_irreps=hidden,
        MLP_irreps=o3.Irreps(f"{arch.mlp_channels}x0e"),
        atomic_energies=e0,
        avg_num_neighbors=avg_neighbors,
        atomic_numbers=zs,
        correlation=arch.correlation,
        gate=torch.nn.functional.silu,
        radial_MLP=list(arch.radial_mlp),
        atomic_inter_scale=scale,
        atomic_inter_shift=0.0,
    )
    log.info("built MACE for Z=%s (%d parameters)", zs, sum(p.numel() for p in model.parameters()))
    return model.double()


def _check_elements(model: torch.nn.Module, structures: Sequence[Structure]) -> None:
    known = {int(z) for z in model.atomic_numbers}
    for i, s in enumerate(structures):
        missing = sorted({el.symbol for el in s.composition.elements if el.Z not in known})
        if missing:
            raise StructureError(f"structure {i}: elements {missing} are not covered by the MACE model")


def train(
    model: torch.nn.Module,
    structures: Sequence[Structure],
    energies: Sequence[float],
    forces: Sequence[np.ndarray] | None = None,
    *,
    epochs: int = 50,
    lr: float = 5e-3,
    batch_size: int = 8,
    force_weight: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
) -> list[float]:
    """Train (or fine-tune) ``model`` in place; returns the mean loss per epoch."""
    if len(structures) != len(energies):
        raise InputDataError(f"need one energy per structure, got {len(structures)} and {len(energies)}")
    if forces is not None and len(forces) != len(structures):
        raise InputDataError(f"need forces for every structure, got {len(forces)} for {len(structures)}")
    _check_elements(model, structures)
    dtype = next(model.parameters()).dtype
    zs = [int(z) for z in model.atomic_numbers]
    r_max = float(model.r_max)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    e_ref = torch.tensor(np.asarray(energies, dtype=float), dtype=dtype, device=device)
    n_at = torch.tensor([len(s) for s in structures], dtype=dtype, device=device)
    history: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(len(structures))
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = make_batch([structures[i] for i in idx], zs, r_max, dtype, device)
            out = model(batch, training=True, compute_force=forces is not None)
            loss = (((out["energy"] - e_ref[idx]) / n_at[idx]) ** 2).mean()
            if forces is not None and force_weight > 0:
                f_ref = torch.tensor(np.concatenate([np.asarray(forces[i]) for i in idx]), dtype=dtype, device=device)
                loss = loss + force_weight * ((out["forces"] - f_ref) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(structures))
        if not math.isfinite(history[-1]):
            raise InputDataError(f"MACE training diverged at epoch {epoch} (loss {history[-1]}); lower lr")
    model.eval()
    log.info("trained MACE for %d epochs: loss %.4g -> %.4g", epochs, history[0], history[-1])
    return history


def energy_mae(model: torch.nn.Module, structures: Sequence[Structure], energies: Sequence[float]) -> float:
    """Mean absolute energy error per atom (eV/atom)."""
    dtype = next(model.parameters()).dtype
    device = str(next(model.parameters()).device)
    batch = make_batch(structures, [int(z) for z in model.atomic_numbers], float(model.r_max), dtype, device)
    model.eval()
    out = model(batch, training=False, compute_force=False)
    pred = out["energy"].detach().cpu().numpy()
    n = np.array([len(s) for s in structures])
    return float(np.mean(np.abs(pred - np.asarray(energies)) / n))
