"""Methods a pool benchmark compares: our rankers (through the Ranker interface) and the peers.

Peers (versions key the result cache):

- ``random``: the seed's shared random permutation.
- ``botorch-plain``: ``SingleTaskGP`` with botorch defaults (inputs normalised to the pool's
  bounds, as botorch recommends) and analytic ``LogExpectedImprovement`` (``best_f`` = best
  measured value) over the unmeasured designs, refitted from scratch every step; ``n_init = 5``;
  a batch of ``q`` is the top ``q`` by LogEI. The optimiser starts from the previous step's
  hyperparameters (the peer's model is unchanged; this only bounds its run time).
- ``baybe``: BayBE's default campaign (random start = the seed's shared initial designs,
  ``n_init = q``; then its ``BotorchRecommender``), see :mod:`surrogates.bench.baybe_peer`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from loop.interfaces import PluginContext, Ranker
from loop.objectives import Objective
from loop.records import Candidate, Measurement, Observation
from surrogates.bench.protocol import PoolProblem

__all__ = ["PEERS", "PEER_VERSIONS", "make_policy", "peer_version", "ranker_classes"]

log = logging.getLogger(__name__)

PEERS = ("botorch-plain", "baybe", "random")
PEER_VERSIONS = {"random": "1", "botorch-plain": "1", "baybe": "1"}


def peer_version(name: str) -> str:
    """The cache key version of a peer (BayBE's includes the installed BayBE version)."""
    if name == "baybe":
        from surrogates.bench.baybe_peer import baybe_version

        return f"{PEER_VERSIONS[name]}-baybe{baybe_version()}"
    return PEER_VERSIONS[name]
Policy = Callable[[list[int], list[float], int], Sequence[int]]


def ranker_classes() -> dict[str, type[Ranker]]:
    """Our rankers by name (the registry's when installed, else the built-in ones)."""
    from surrogates.baselines import GreedyRanker, ThompsonRanker, UCBRanker
    from surrogates.botorch_ranker import BotorchRanker

    return {"botorch": BotorchRanker, "greedy": GreedyRanker, "ucb": UCBRanker, "thompson": ThompsonRanker}


def _random_policy(problem: PoolProblem, seed: int) -> Policy:
    perm = [int(j) for j in np.random.default_rng(seed).permutation(problem.n)]

    def policy(measured: list[int], values: list[float], q: int) -> list[int]:
        seen = set(measured)
        return [j for j in perm if j not in seen][:q]

    return policy


def _plain_policy(problem: PoolProblem, seed: int) -> Policy:
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    X = torch.as_tensor(problem.X, dtype=torch.float64)
    bounds = torch.stack([X.min(0).values, X.max(0).values])
    bounds[1] = torch.where(bounds[1] > bounds[0], bounds[1], bounds[0] + 1)
    sign = 1.0 if problem.maximize else -1.0

    state: dict = {}

    def policy(measured: list[int], values: list[float], q: int) -> list[int]:
        torch.manual_seed(seed * 100003 + len(measured))
        Y = sign * torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
        model = SingleTaskGP(X[measured], Y, input_transform=Normalize(d=X.shape[1], bounds=bounds))
        if state:  # warm start from the last step's hyperparameters (same optimum, fewer iterations)
            model.load_state_dict(state, strict=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            except Exception as exc:  # noqa: BLE001 - the peer keeps its prior hyperparameters, as botorch would
                log.warning("botorch-plain fit failed (%s); using prior hyperparameters", exc)
        state.clear()
        state.update({k: v for k, v in model.state_dict().items() if "train" not in k and "transform" not in k})
        rest = np.setdiff1d(np.arange(problem.n), measured)
        with torch.no_grad():
            acq = LogExpectedImprovement(model, best_f=Y.max())(X[rest].unsqueeze(-2)).numpy()
        return [int(rest[i]) for i in np.argsort(-acq, kind="stable")[:q]]

    return policy


def _ranker_policy(problem: PoolProblem, seed: int, ranker: Ranker) -> Policy:
    cands = [Candidate(id=problem.ids[j], params={f"x{i}": float(v) for i, v in enumerate(problem.X[j])}) for j in range(problem.n)]

    def policy(measured: list[int], values: list[float], q: int) -> list[int]:
        obs = [
            Observation(request_id=f"r{i}", candidate_id=cands[j].id, values={"y": Measurement(value=v)})
            for i, (j, v) in enumerate(zip(measured, values, strict=True))
        ]
        ranker.fit([cands[j] for j in measured], obs)
        seen = set(measured)
        pool = [cands[j] for j in range(problem.n) if j not in seen]
        index = {c.id: j for j, c in enumerate(cands)}
        return [index[s.candidate_id] for s in ranker.select(pool, q, [])]

    return policy


def make_policy(
    name: str, problem: PoolProblem, seed: int, work_dir: str = ".", options: dict | None = None, q: int = 1
) -> tuple[Policy, int]:
    """``(policy, n_init)`` for a peer or one of our rankers."""
    if name == "random":
        return _random_policy(problem, seed), 1
    if name == "botorch-plain":
        return _plain_policy(problem, seed), 5
    if name == "baybe":
        from surrogates.bench.baybe_peer import baybe_policy

        return baybe_policy(problem, seed), q
    classes = ranker_classes()
    if name not in classes:
        raise KeyError(f"unknown method {name!r}; valid: {', '.join([*classes, *PEERS])}")
    cls = classes[name]
    goal = "maximize" if problem.maximize else "minimize"
    ctx = PluginContext(work_dir=work_dir, seed=seed, objectives=[Objective(name="y", goal=goal)])
    ranker = cls(cls.Config(**(options or {})), ctx)
    n_init = int(getattr(ranker.config, "n_init", 3))
    return _ranker_policy(problem, seed, ranker), n_init
