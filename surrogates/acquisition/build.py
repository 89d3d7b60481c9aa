"""Turn objectives, windows and constraints into one botorch acquisition function.

Every model output ``i`` is in the surrogate's (warped) units. An :class:`OutcomeSpec`
says what the campaign wants of it:

- ``maximize`` / ``minimize``: optimised (``sign * Z_i``);
- ``window`` / ``constraint``: conditions ``Z_i <= hi`` and/or ``Z_i >= lo`` applied to the
  posterior samples (botorch's ``constraints``: feasible when ``c(Z) <= 0``).

One optimised output: ``qLogNoisyExpectedImprovement``, or ``qUpperConfidenceBound`` when
``ucb_beta`` is given and there are no windows or constraints; several: ``qLogNoisyExpected
HypervolumeImprovement`` (reference point given or inferred); none (windows and
constraints only): :class:`qLogProbabilityFeasible`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from botorch.acquisition import AcquisitionFunction, qUpperConfidenceBound
from botorch.acquisition.logei import qLogExpectedImprovement
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import Model
from botorch.sampling import SobolQMCNormalSampler

from surrogates.acquisition.noisy import FastqLogNEHVI, FastqLogNEI
from surrogates.acquisition.shared_rows import SharedRowsModel
from surrogates.acquisition.window import qLogProbabilityFeasible

__all__ = ["OutcomeSpec", "build_acquisition", "infer_ref_point"]

Role = Literal["maximize", "minimize", "window", "constraint"]


@dataclass
class OutcomeSpec:
    """What the campaign wants of model output ``index`` (bounds in model units)."""

    index: int
    name: str
    role: Role
    lo: float | None = None
    hi: float | None = None

    @property
    def sign(self) -> float:
        return -1.0 if self.role == "minimize" else 1.0


def _conditions(specs: Sequence[OutcomeSpec]) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    out: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for s in specs:
        if s.role not in ("window", "constraint"):
            continue
        if s.hi is not None:
            out.append(lambda Z, i=s.index, hi=s.hi: Z[..., i] - hi)
        if s.lo is not None:
            out.append(lambda Z, i=s.index, lo=s.lo: lo - Z[..., i])
    return out


def _no_fused_jit() -> None:
    """Keep botorch from JIT-compiling its fused qLogNEHVI C++ kernel on first use.

    The compile (``torch.utils.cpp_extension.load``) takes over a minute on a cold machine,
    inside the first multi-objective ``select``; a pre-built kernel is still used when
    importable, and the pure-PyTorch path gives the same values. Set
    ``CRYSTALOOP_FUSED_NEHVI=1`` to allow the compile.
    """
    import os

    from botorch.acquisition.multi_objective import logei

    if getattr(logei, "_load_attempted", True) or os.environ.get("CRYSTALOOP_FUSED_NEHVI") == "1":
        return
    try:
        import logei_fused_ext  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        logei._load_attempted = True


def _pareto_layers(model: Model, X: torch.Tensor, idx: list[int], weights: torch.Tensor, keep: int = 32) -> torch.Tensor:
    """Baseline rows in the first non-dominated layers of the posterior mean (at least ``keep`` rows).

    Replaces botorch's sampling-based pruning (2,048 joint samples of the whole baseline,
    seconds at 100 observations and minutes at 1,000): points deep behind the front add
    nothing to the noisy hypervolume but cost box-decomposition cells.
    """
    from botorch.utils.multi_objective.pareto import is_non_dominated

    if len(X) <= keep:
        return X
    with torch.no_grad():
        Y = model.posterior(X).mean[:, idx] * weights
    left = torch.arange(len(X), device=X.device)
    kept: list[torch.Tensor] = []
    while len(left) and sum(len(k) for k in kept) < keep:
        front = is_non_dominated(Y[left])
        kept.append(left[front])
        left = left[~front]
    return X[torch.cat(kept)]


def infer_ref_point(Y_signed: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """``min_i Y_ij - margin * range_j`` per objective ``j`` (``Y_signed``: ``n x m``, maximised)."""
    lo, hi = Y_signed.min(0).values, Y_signed.max(0).values
    return lo - margin * (hi - lo).clamp(min=1e-6)


def build_acquisition(
    model: Model,
    specs: Sequence[OutcomeSpec],
    X_baseline: torch.Tensor,
    *,
    X_pending: torch.Tensor | None = None,
    ref_point: torch.Tensor | None = None,
    mc_samples: int = 128,
    seed: int = 0,
    best_f: float | None = None,
    ucb_beta: float | None = None,
    ucb_scale: float = 1.0,
    ucb_offset: float = 0.0,
) -> AcquisitionFunction:
    """The acquisition for these outcome specs (``X_baseline``: ``n x d`` observed inputs).

    ``best_f`` (one objective, no constraints): use ``qLogExpectedImprovement`` over this
    incumbent (``sign * best observed`` in model units, as BayBE and plain botorch do)
    instead of qLogNEI's noisy incumbent.

    ``ucb_beta`` (one objective, no constraints): ``qUCB(x) = E[U] + sqrt(beta pi / 2) E|U - E[U]|``
    with ``U = sign (Z - c) / s`` (= ``sign (mu - c) / s + sqrt(beta) sigma / s`` for one point),
    ``c = ucb_offset`` and ``s = ucb_scale`` the mean and spread of the observed outcomes: the
    score is in standardised units, so a log weight added to it (feasibility) is a penalty in
    units of that spread.

    >>> acqf = build_acquisition(model, [OutcomeSpec(0, "y", "maximize")], X, ucb_beta=1.0, ucb_scale=float(y.std()))
    """
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed)
    opt = [s for s in specs if s.role in ("maximize", "minimize")]
    cons = _conditions(specs)
    if len(opt) == 1:
        s = opt[0]
        objective = GenericMCObjective(lambda Z, X=None, i=s.index, sg=s.sign: sg * Z[..., i])
        if ucb_beta is not None and not cons:
            scaled = GenericMCObjective(lambda Z, X=None, i=s.index, sg=s.sign / ucb_scale, c=ucb_offset: sg * (Z[..., i] - c))
            return qUpperConfidenceBound(SharedRowsModel(model), beta=ucb_beta, sampler=sampler, objective=scaled, X_pending=X_pending)
        if best_f is not None and not cons:
            return qLogExpectedImprovement(SharedRowsModel(model), best_f=best_f, sampler=sampler, objective=objective, X_pending=X_pending)
        return FastqLogNEI(
            model, X_baseline, sampler=sampler, objective=objective, constraints=cons or None,
            X_pending=X_pending, prune_baseline=True,
        )
    if len(opt) >= 2:
        idx = [s.index for s in opt]
        weights = torch.tensor([s.sign for s in opt], dtype=X_baseline.dtype, device=X_baseline.device)
        objective = WeightedMCMultiOutputObjective(weights=weights, outcomes=idx)
        if ref_point is None:
            with torch.no_grad():
                mean = model.posterior(X_baseline).mean  # n x m
            ref_point = infer_ref_point(mean[:, idx] * weights)
        _no_fused_jit()
        return FastqLogNEHVI(
            model, ref_point.tolist(), _pareto_layers(model, X_baseline, idx, weights), sampler=sampler, objective=objective,
            constraints=cons or None, X_pending=X_pending, prune_baseline=False,
        )
    if not cons:
        raise ValueError("nothing to optimise: no objective, window or constraint was modelled")
    return qLogProbabilityFeasible(SharedRowsModel(model), cons, sampler=sampler, X_pending=X_pending)
