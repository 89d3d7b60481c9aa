"""CHGNet as a batched evaluator: energies, forces and stresses of many structures in one pass.

Each call builds every structure's crystal graph (CHGNet's ``CrystalGraphConverter``),
batches them (``BatchedGraph``) and runs the model once. Forces and stresses are the
gradients of the batch's total energy with respect to the atom positions and the strains:

* ``gradients="first_order"`` (default): one ``torch.autograd.grad`` without
  ``create_graph``, which is all a relaxation needs;
* ``gradients="chgnet"``: CHGNet's own ``forward(task="efs")``, which keeps the graph of the
  gradients (``create_graph=True``, for training on forces) and costs about 2-3x more.

Both give the same numbers (to float32 rounding, about 1e-5 eV/A). The graphs come from
:func:`~surrogates.potentials.chgnet_graph.crystal_graph` (``graphs="vectorised"``, default:
the same edge sets from a numpy neighbour search, about 3x faster) or from CHGNet's own
converter (``graphs="chgnet"``). Units as CHGNet's ASE
calculator gives them: energy eV (``e`` per atom times ``n``, in float32 as the
calculator), forces eV/A, stress eV/A^3 (GPa times ASE's ``units.GPa``).

>>> evaluate = chgnet_evaluator(model, "cpu")
>>> [ev.energy for ev in evaluate(structures)]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from ase import units
from pymatgen.core import Structure

from surrogates.potentials.batch_relax import BatchEvaluator, Evaluation
from surrogates.potentials.chgnet_graph import crystal_graph

__all__ = ["GRADIENT_MODES", "GRAPH_MODES", "CHGNetBatchEvaluator", "chgnet_evaluator"]

log = logging.getLogger(__name__)

GRADIENT_MODES = ("first_order", "chgnet")
GRAPH_MODES = ("vectorised", "chgnet")


class CHGNetBatchEvaluator:
    """A :data:`BatchEvaluator` over a loaded CHGNet ``model`` on ``device`` (see module docs).

    ``timings`` sums the seconds spent building graphs (``graphs_s``) and in the model's
    forward and backward passes (``model_s``) over all calls.
    """

    def __init__(
        self, model: Any, device: str, gradients: Literal["first_order", "chgnet"] = "first_order",
        graphs: Literal["vectorised", "chgnet"] = "vectorised",
    ) -> None:
        if gradients not in GRADIENT_MODES:
            raise ValueError(f"gradients must be one of {GRADIENT_MODES}, got {gradients!r}")
        if graphs not in GRAPH_MODES:
            raise ValueError(f"graphs must be one of {GRAPH_MODES}, got {graphs!r}")
        self.graphs = graphs
        self.model = model
        self.device = device
        self.gradients = gradients
        self.converter = model.graph_converter
        self.converter.set_isolated_atom_response("ignore")  # as CHGNetCalculator(on_isolated_atoms="ignore")
        model.eval()
        self.timings = {"graphs_s": 0.0, "model_s": 0.0}

    def __call__(self, structures: Sequence[Structure]) -> list[Evaluation]:
        from chgnet.model.model import BatchedGraph

        model = self.model
        t0 = time.perf_counter()
        if self.graphs == "vectorised":
            cut_a, cut_b = self.converter.atom_graph_cutoff, self.converter.bond_graph_cutoff
            graphs = [crystal_graph(s, cut_a, cut_b).to(self.device) for s in structures]
        else:
            graphs = [self.converter(s).to(self.device) for s in structures]
        t1 = time.perf_counter()
        with torch.enable_grad():
            if self.gradients == "chgnet":
                pred = model(graphs, task="efs")
                e_atom, forces, stresses = pred["e"], pred["f"], pred["s"]
            else:
                comp = 0 if model.composition_model is None else model.composition_model(graphs)
                batch = BatchedGraph.from_graphs(
                    graphs, model.bond_basis_expansion, model.angle_basis_expansion, compute_stress=True
                )
                pred = model._compute(batch)
                e_graph = pred["e"]
                total = e_graph * pred["atoms_per_graph"] if model.is_intensive else e_graph
                grads = torch.autograd.grad(total.sum(), [*batch.atom_positions, *batch.strains])
                forces = [-g for g in grads[: len(graphs)]]
                # CHGNet's stress: (1 / V) dE/d(strain), in GPa
                stresses = [g * (160.21766208 / v) for g, v in zip(grads[len(graphs) :], batch.volumes, strict=True)]
                e_atom = e_graph + comp
        e_np = e_atom.detach().cpu().numpy()
        out = [
            Evaluation(
                energy=float(e_np[k] * np.float32(len(s)) if model.is_intensive else e_np[k]),
                forces=f.detach().cpu().numpy().astype(float),
                stress=st.detach().cpu().numpy().astype(float) * units.GPa,
            )
            for k, (s, f, st) in enumerate(zip(structures, forces, stresses, strict=True))
        ]
        self.timings["graphs_s"] += t1 - t0
        self.timings["model_s"] += time.perf_counter() - t1
        return out


def chgnet_evaluator(
    model: Any, device: str, gradients: Literal["first_order", "chgnet"] = "first_order",
    graphs: Literal["vectorised", "chgnet"] = "vectorised",
) -> BatchEvaluator:
    """A :class:`CHGNetBatchEvaluator` (for callers that want a plain callable)."""
    return CHGNetBatchEvaluator(model, device, gradients, graphs)
