"""MACE (mace-torch) behind the :class:`~loop.interfaces.Potential` interface.

Where the model comes from (``options.model``):

* a folder with ``config.json`` + ``weights.pt`` (see :mod:`.mace_model`): loaded with
  ``torch.load(weights_only=True)``, always safe;
* a pickled ``.model`` file: only with ``options.trusted: true`` (unpickling runs code);
  the first trusted load converts it to weights + JSON in ``<work_dir>/mace_converted/<sha>``
  and later loads of the same bytes use the conversion;
* a foundation-model name (``small``, ``medium-mpa-0``, ...): the file in the MACE cache
  folder (``$XDG_CACHE_HOME/mace``), or downloaded by mace-torch when
  ``options.allow_download`` is set (mace-torch's official URLs count as trusted);
* nothing: the first converted model found in the MACE cache folder.

Descriptors are the model's invariant node features (the ``0e`` channels of every
interaction layer) averaged over the atoms of each structure, shape ``n x d``.
:meth:`MACEPotential.fit` fine-tunes the model on (structure, energy[, forces]) data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from pydantic import Field
from pymatgen.core import Structure

from loop.errors import ConfigError
from loop.interfaces import PluginConfig, PotentialResult, resolve_device
from surrogates.potentials import mace_model as mm
from surrogates.potentials.base import EV_A3_TO_GPA, ASEPotential, to_structure

__all__ = ["MACECalculatorLite", "MACEConfig", "MACEPotential", "mace_cache_dir"]

log = logging.getLogger(__name__)


def mace_cache_dir() -> Path:
    from mace.tools.utils import get_cache_dir

    return Path(get_cache_dir())


class MACEConfig(PluginConfig):
    """Options of the ``mace`` potential."""

    model: str | None = Field(None, description="converted folder, .model file, or foundation-model name")
    trusted: bool = Field(False, description="allow unpickling options.model (a pickled .model file runs code)")
    allow_download: bool = Field(False, description="let mace-torch download a foundation model when online")
    dtype: Literal["float32", "float64"] = "float64"
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    batch_size: int = Field(16, ge=1)


class MACEPotential(ASEPotential):
    """A MACE model (foundation or trained here)."""

    Config = MACEConfig
    name = "mace"
    version = "1"

    config: MACEConfig

    def __init__(self, config: MACEConfig | None = None, context: Any = None, *, model: torch.nn.Module | None = None) -> None:
        super().__init__(config, context)
        self._model = model
        self._label = "in-memory" if model is not None else None
        if model is not None:
            self._prepare(model)

    # -- loading ------------------------------------------------------------------------
    @cached_property
    def device(self) -> str:
        dev = self.config.device if self.config.device != "auto" else self.context.device
        return resolve_device(dev)

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64 if self.config.dtype == "float64" else torch.float32

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._prepare(self._load())
        assert self._model is not None
        return self._model

    def _prepare(self, model: torch.nn.Module) -> None:
        self._model = model.to(device=self.device, dtype=self.dtype).eval()
        for p in self._model.parameters():
            p.requires_grad_(False)
        self._zs = [int(z) for z in self._model.atomic_numbers]
        self._r_max = float(self._model.r_max)
        self._scalar_idx = mm.scalar_feature_index(self._model).to(self.device)

    def _resolve(self) -> tuple[Path, bool]:
        """The model path and whether it may be unpickled."""
        spec = self.config.model
        if spec is None:
            cache = mace_cache_dir()
            found = sorted(p.parent for p in cache.glob(f"**/{mm.CONFIG_FILE}")) if cache.is_dir() else []
            if not found:
                raise ConfigError("potential.options.model", [("model", f"no MACE model given and none converted in {cache}")])
            return found[0], False
        path = Path(spec).expanduser()
        if path.exists():
            return path, self.config.trusted
        from mace.calculators.foundations_models import mace_mp_urls

        if spec not in mace_mp_urls:
            raise ConfigError("potential.options.model", [("model", f"{spec!r} is neither a file nor a MACE foundation model ({', '.join(mace_mp_urls)})")])
        name = "".join(c for c in Path(mace_mp_urls[spec]).name if c.isalnum() or c == "_")
        cached = mace_cache_dir() / name
        if cached.is_file():
            return cached, self.config.trusted
        if not self.config.allow_download:
            raise ConfigError("potential.options.model", [("model", f"{spec!r} is not in the MACE cache {cached.parent}; set allow_download: true when online")])
        from mace.calculators.foundations_models import download_mace_mp_checkpoint

        return Path(download_mace_mp_checkpoint(spec)), True  # fetched by mace-torch from its official URL

    def _load(self) -> torch.nn.Module:
        path, trusted = self._resolve()
        self._label = str(path)
        if path.is_dir():
            model, _ = mm.load_converted_model(path)
            return model
        digest = mm.file_sha256(path)
        converted = self.context.work_dir / "mace_converted" / digest[:20]
        if (converted / mm.CONFIG_FILE).is_file():
            model, _ = mm.load_converted_model(converted)
            return model
        if not trusted:
            raise ConfigError(
                str(path),
                [("trusted", "a .model file is a pickle that runs code when loaded; set options.trusted: true for a file you trust, or load a converted folder (config.json + weights.pt)")],
            )
        model = mm.load_pickled_model(path)
        try:
            mm.save_converted_model(model, converted, extra={"source": str(path), "sha256": digest})
        except ConfigError as exc:  # a model kind we cannot express as JSON: use it as is
            log.warning("could not convert %s to weights + JSON: %s", path, exc)
        return model

    @property
    def identity(self) -> str:
        import mace

        m = self.model
        h = mm.hashlib.sha256()
        for v in m.state_dict().values():
            h.update(v.detach().cpu().numpy().tobytes()[:4096])
        return f"mace-{getattr(mace, '__version__', '?')}-{h.hexdigest()[:12]}"

    @property
    def supported_numbers(self) -> frozenset[int]:
        _ = self.model
        return frozenset(self._zs)

    # -- evaluation ---------------------------------------------------------------------
    def _forward(self, structures: Sequence[Structure], *, forces: bool, stress: bool) -> tuple[dict[str, Any], torch.Tensor]:
        model = self.model
        batch = mm.make_batch(structures, self._zs, self._r_max, self.dtype, self.device)
        out = model(batch, training=False, compute_force=forces, compute_stress=stress)
        return out, batch["batch"]

    def _predict_batch(self, structures: Sequence[Structure]) -> list[PotentialResult]:
        results: list[PotentialResult] = []
        bs = self.config.batch_size
        for start in range(0, len(structures), bs):
            chunk = structures[start : start + bs]
            out, _ = self._forward(chunk, forces=True, stress=True)
            e = out["energy"].detach().cpu().numpy()
            f = out["forces"].detach().cpu().numpy()
            st = out["stress"].detach().cpu().numpy() * EV_A3_TO_GPA
            offset = 0
            for i, s in enumerate(chunk):
                n = len(s)
                results.append(PotentialResult(float(e[i]), f[offset : offset + n], st[i], None, n))
                offset += n
        return results

    def descriptors(self, structures: Sequence[Structure]) -> np.ndarray:
        """Mean invariant node features per structure, shape ``n x d``."""
        self.check_all(structures)
        _ = self.model
        d = len(self._scalar_idx)
        rows: list[np.ndarray] = []
        bs = self.config.batch_size
        for start in range(0, len(structures), bs):
            chunk = structures[start : start + bs]
            out, index = self._forward(chunk, forces=False, stress=False)
            feats = out["node_feats"].detach()[:, self._scalar_idx]
            sums = torch.zeros(len(chunk), feats.shape[1], dtype=feats.dtype, device=feats.device).index_add_(0, index, feats)
            counts = torch.bincount(index, minlength=len(chunk)).to(feats.dtype).unsqueeze(1)
            rows.append((sums / counts).cpu().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, d))

    def calculator(self) -> Calculator:
        return MACECalculatorLite(self)

    # -- learning -----------------------------------------------------------------------
    def fit(
        self,
        structures: Sequence[Structure],
        energies: Sequence[float],
        forces: Sequence[np.ndarray] | None = None,
        **train_kw: Any,
    ) -> list[float]:
        """Fine-tune the model on campaign data (see :func:`.mace_train.train`); returns losses."""
        from surrogates.potentials.mace_train import train

        model = self.model
        for p in model.parameters():
            p.requires_grad_(True)
        try:
            history = train(model, structures, energies, forces, device=self.device, **train_kw)
        finally:
            self._prepare(model)
        return history

    def save(self, folder: Path) -> Path:
        """Write the current model as weights + JSON config (loadable without trust)."""
        return mm.save_converted_model(self.model, Path(folder), extra={"source": self._label})


class MACECalculatorLite(Calculator):
    """An ASE calculator over :class:`MACEPotential` (energy, forces, stress in eV/A^3)."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, potential: MACEPotential) -> None:
        super().__init__()
        self.potential = potential

    def calculate(self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        from ase.stress import full_3x3_to_voigt_6_stress

        super().calculate(atoms, properties, system_changes)
        out, _ = self.potential._forward([to_structure(self.atoms)], forces=True, stress=True)
        energy = float(out["energy"].detach().cpu()[0])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().cpu().numpy().astype(float),
            "stress": full_3x3_to_voigt_6_stress(out["stress"].detach().cpu().numpy()[0].astype(float)),
        }
