"""Baseline rankers on the same GP surrogates: greedy posterior mean, UCB and Thompson sampling.

They share :class:`~surrogates.botorch_ranker.BotorchRanker`'s featurizers, models, bad-data
handling and feasibility/synthesizability weights; only the score differs. With several
objectives the score is the sum over objectives of ``sign * score_j`` standardised over the
pool (a documented scalarisation); windows score ``-|distance to the window|``.

- ``greedy``: ``mu(x)``.
- ``ucb``: ``mu(x) + beta^(1/2) sigma(x)`` (``beta`` configurable, default 4).
- ``thompson``: one joint posterior draw over the pool per batch slot (marginal draws above
  ``max_joint`` candidates); each slot takes the argmax of its own draw.

A batch is the top ``q`` distinct candidates (Thompson: distinct argmaxes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pydantic import Field

from loop.records import Candidate, Selection
from surrogates.acquisition.batch import marginal_moments
from surrogates.botorch_ranker import BotorchRanker, BotorchRankerConfig

__all__ = ["GreedyRanker", "ThompsonRanker", "UCBRanker"]


class _PosteriorRanker(BotorchRanker):
    def _moments(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        mu, sd = marginal_moments(self._model, self._tensor(X))
        return mu.reshape(len(X), -1), sd.reshape(len(X), -1)

    def _combine(self, cols: dict[int, torch.Tensor]) -> torch.Tensor:
        total = None
        for s in self._specs:
            if s.index not in cols or s.role == "constraint":
                continue
            v = cols[s.index]
            if s.role == "window":
                lo = s.lo if s.lo is not None else -np.inf
                hi = s.hi if s.hi is not None else np.inf
                v = -(torch.clamp(lo - v, min=0) + torch.clamp(v - hi, min=0))
            else:
                v = s.sign * v
            if len([t for t in self._specs if t.role != "constraint"]) > 1:
                v = (v - v.mean()) / v.std().clamp_min(1e-12)
            total = v if total is None else total + v
        assert total is not None
        return total

    def _score(self, X: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def _acquisition_label(self) -> str:
        what = (type(self).__doc__ or self.name).strip().splitlines()[0].rstrip(".")
        return f"{what} over {', '.join(s.name for s in self._specs if s.role != 'constraint') or 'nothing'}"

    def acquisition(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]) -> np.ndarray:
        if not candidates:
            return np.zeros(0)
        if self._model is None:
            return self._rng.random(len(candidates))
        X, ok, _, lw = self._prepare(candidates, pending)
        vals = self._score(X).cpu().numpy() + lw
        return np.where(ok, vals, -np.inf)

    def select(self, candidates: Sequence[Candidate], q: int, pending: Sequence[Candidate]) -> list[Selection]:
        if self._model is None:
            return super().select(candidates, q, pending)
        sel = Ranker_select(self, candidates, q, pending)
        pred = self.predict([c for c in candidates if c.id in {s.candidate_id for s in sel}])
        ids = {c.id: i for i, c in enumerate([c for c in candidates if c.id in {s.candidate_id for s in sel}])}
        return [
            s.model_copy(update={"predicted": {k: (float(m[ids[s.candidate_id]]), float(d[ids[s.candidate_id]])) for k, (m, d) in pred.items()}})
            for s in sel
        ]


def Ranker_select(ranker: BotorchRanker, candidates: Sequence[Candidate], q: int, pending: Sequence[Candidate]) -> list[Selection]:  # noqa: N802
    from loop.interfaces import Ranker

    unique = list({c.id: c for c in candidates}.values())
    return Ranker.select(ranker, unique, q, pending)


class GreedyConfig(BotorchRankerConfig):
    pass


class GreedyRanker(_PosteriorRanker):
    """Greedy posterior mean (pure exploitation)."""

    Config = GreedyConfig
    name = "greedy"

    def _score(self, X: np.ndarray) -> torch.Tensor:
        mu, _ = self._moments(X)
        return self._combine({s.index: mu[:, s.index] for s in self._specs})


class UCBConfig(BotorchRankerConfig):
    beta: float = Field(4.0, gt=0, description="UCB = mu + sqrt(beta) sigma")


class UCBRanker(_PosteriorRanker):
    """Upper confidence bound ``mu + sqrt(beta) sigma``."""

    Config = UCBConfig
    name = "ucb"

    def _score(self, X: np.ndarray) -> torch.Tensor:
        mu, sd = self._moments(X)
        b = float(self.config.beta) ** 0.5  # type: ignore[attr-defined]
        return self._combine({s.index: mu[:, s.index] + (b if s.role == "maximize" else -b) * sd[:, s.index] for s in self._specs})


class ThompsonConfig(BotorchRankerConfig):
    max_joint: int = Field(2000, ge=1, description="joint draws up to this many candidates, marginal above")


class ThompsonRanker(_PosteriorRanker):
    """Thompson sampling: the argmax of a posterior draw."""

    Config = ThompsonConfig
    name = "thompson"

    def _draw(self, X: np.ndarray) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(self._rng.integers(2**31)))
        Xt = self._tensor(X)
        with torch.no_grad():
            post = self._model.posterior(Xt)
            if len(X) <= self.config.max_joint:  # type: ignore[attr-defined]
                try:
                    base = torch.randn(post.base_sample_shape, generator=gen, dtype=Xt.dtype).to(Xt.device)
                    sample = post.rsample_from_base_samples(torch.Size([1]), base.unsqueeze(0))[0]
                    return sample.reshape(len(X), -1)
                except Exception:  # noqa: BLE001 - fall back to marginal draws (documented)
                    pass
            mu, sd = post.mean.reshape(len(X), -1), post.variance.clamp_min(0).sqrt().reshape(len(X), -1)
            return mu + sd * torch.randn(mu.shape, generator=gen, dtype=mu.dtype).to(mu.device)

    def _score(self, X: np.ndarray) -> torch.Tensor:
        draw = self._draw(X)
        return self._combine({s.index: draw[:, s.index] for s in self._specs})

    def select(self, candidates: Sequence[Candidate], q: int, pending: Sequence[Candidate]) -> list[Selection]:
        if self._model is None:
            return super().select(candidates, q, pending)
        pending_ids = {c.id for c in pending}
        pool = list({c.id: c for c in candidates if c.id not in pending_ids}.values())
        X, ok, _, lw = self._prepare(pool, pending)
        taken: list[int] = []
        out: list[Selection] = []
        for r in range(min(q, int(ok.sum()))):
            vals = self._score(X).cpu().numpy() + lw
            vals[~ok] = -np.inf
            vals[taken] = -np.inf
            i = int(np.argmax(vals))
            taken.append(i)
            out.append(Selection(candidate_id=pool[i].id, score=float(vals[i]), rank=r))
        return out
