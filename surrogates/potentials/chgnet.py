"""CHGNet with the weights that ship in its wheel (no download; the offline default).

``CHGNet.load(model_name="0.3.0")`` reads ``chgnet/pretrained/0.3.0/*.pth.tar`` from the
installed package, so it works without a network. Descriptors are CHGNet's crystal
features: the per-atom features after the last interaction, averaged over the cell
(shape ``n x 64`` for the 0.3.0 model).

>>> pot = CHGNetPotential(CHGNetPotential.Config(), PluginContext(work_dir="."))
>>> pot.predict([structure])[0].energy_per_atom
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
from ase.calculators.calculator import Calculator
from pydantic import Field
from pymatgen.core import Structure

from loop.interfaces import PluginConfig, PotentialResult, RelaxResult, resolve_device
from surrogates.potentials.base import ASEPotential

__all__ = ["CHGNetPotential"]

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], Any] = {}


def _load_chgnet(model_name: str, device: str) -> Any:
    """The bundled CHGNet model, loaded once per process (and quietly: CHGNet prints)."""
    key = (model_name, device)
    if key not in _MODELS:
        from chgnet.model import CHGNet

        with contextlib.redirect_stdout(io.StringIO()):
            _MODELS[key] = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
        log.info("loaded CHGNet %s on %s", model_name, device)
    return _MODELS[key]


class CHGNetConfig(PluginConfig):
    """Options of the ``chgnet`` potential."""

    model_name: Literal["0.3.0", "0.2.0", "r2scan"] = Field("0.3.0", description="bundled CHGNet weights")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    batch_size: int = Field(16, ge=1, description="structures per forward pass in predict/descriptors")
    relax_batch_size: int = Field(32, ge=1, description="structures in flight per forward pass in relax_batch")
    relax_gradients: Literal["first_order", "chgnet"] = Field(
        "first_order", description="relax_batch's forces: first_order (one autograd pass) | chgnet (CHGNet's create_graph)"
    )
    relax_graphs: Literal["vectorised", "chgnet"] = Field(
        "vectorised", description="relax_batch's crystal graphs: vectorised (numpy neighbour search) | chgnet (its converter)"
    )


class CHGNetPotential(ASEPotential):
    """CHGNet behind the :class:`~loop.interfaces.Potential` interface."""

    Config = CHGNetConfig
    name = "chgnet"
    version = "1"

    config: CHGNetConfig
    last_batch_stats: dict[str, float] = {}  # noqa: RUF012 - replaced per call, never mutated

    @cached_property
    def device(self) -> str:
        dev = self.config.device if self.config.device != "auto" else self.context.device
        return resolve_device(dev)

    @property
    def model(self) -> Any:
        return _load_chgnet(self.config.model_name, self.device)

    @property
    def identity(self) -> str:
        import chgnet

        return f"chgnet-{chgnet.__version__}-{self.config.model_name}"

    @property
    def supported_numbers(self) -> frozenset[int]:
        return frozenset(range(1, 95))

    def _run(self, structures: Sequence[Structure], task: str, feas: bool) -> list[dict[str, Any]]:
        out = self.model.predict_structure(
            list(structures), task=task, return_crystal_feas=feas, batch_size=self.config.batch_size
        )
        return [out] if isinstance(out, dict) else list(out)

    def _predict_batch(self, structures: Sequence[Structure]) -> list[PotentialResult]:
        preds = self._run(structures, task="efsm", feas=False)
        results = []
        for s, p in zip(structures, preds, strict=True):
            n = len(s)
            results.append(
                PotentialResult(
                    energy=float(p["e"]) * n,
                    forces=np.asarray(p["f"], dtype=float),
                    stress=np.asarray(p["s"], dtype=float),
                    magmoms=np.asarray(p["m"], dtype=float),
                    n_atoms=n,
                )
            )
        return results

    def energies_per_atom(self, structures: Sequence[Structure]) -> list[float]:
        """Energies per atom without forces or stresses (CHGNet's ``task="e"``, no autograd graph)."""
        self.check_all(structures)
        if not structures:
            return []
        return [float(p["e"]) for p in self._run(structures, task="e", feas=False)]

    def descriptors(self, structures: Sequence[Structure]) -> np.ndarray:
        """CHGNet crystal features, shape ``n x 64``."""
        self.check_all(structures)
        if not structures:
            return np.zeros((0, 64))
        preds = self._run(structures, task="e", feas=True)
        return np.stack([np.asarray(p["crystal_fea"], dtype=float) for p in preds])

    def relax_batch(
        self, structures: Sequence[Structure], *, fmax: float = 0.05, steps: int = 200, relax_cell: bool = True
    ) -> list[RelaxResult]:
        """Relax ``relax_batch_size`` structures per CHGNet call (:mod:`~surrogates.potentials.batch_relax`).

        The same FIRE and Frechet cell filter as :meth:`relax`, step for step; ``stats`` of the
        last call are kept in :attr:`last_batch_stats`.
        """
        from surrogates.potentials.batch_relax import BatchRelaxer
        from surrogates.potentials.chgnet_batch import CHGNetBatchEvaluator

        evaluate = CHGNetBatchEvaluator(self.model, self.device, self.config.relax_gradients, self.config.relax_graphs)
        relaxer = BatchRelaxer(
            evaluate,
            batch_size=self.config.relax_batch_size, check=self.check, max_volume_ratio=self.max_volume_ratio,
        )
        out = relaxer.relax(structures, fmax=fmax, steps=steps, relax_cell=relax_cell)
        self.last_batch_stats = {**relaxer.stats, **evaluate.timings}
        return out

    def calculator(self) -> Calculator:
        from chgnet.model.dynamics import CHGNetCalculator

        with contextlib.redirect_stdout(io.StringIO()):
            return CHGNetCalculator(model=self.model, use_device=self.device, on_isolated_atoms="ignore")
