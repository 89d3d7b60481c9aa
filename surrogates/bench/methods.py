"""Methods a pool benchmark compares: our rankers (through the Ranker interface) and the peers.

Peers (versions key the result cache):

- ``random``: the seed's shared random permutation.
- ``botorch-plain``: ``SingleTaskGP`` with botorch defaults (inputs normalised to the pool's
  bounds, as botorch recommends) refitted every step; at ``q = 1`` analytic
  ``LogExpectedImprovement`` (``best_f`` = best measured value) over the unmeasured designs,
  at ``q > 1`` ``qLogNoisyExpectedImprovement`` with pending points, the batch built by
  sequential greedy over the unmeasured designs (``optimize_acqf_discrete``), as botorch's
  tutorials do. Own default start: 5 random designs. The optimiser starts from the previous
  step's hyperparameters (the peer's model is unchanged; this only bounds its run time).
- ``baybe``: BayBE's default campaign (random start, then its ``BotorchRecommender``), see
  :mod:`surrogates.bench.baybe_peer`. Own default start: one batch of ``q`` random designs.
- ``ax``: Ax's default generation strategy through its ``Client`` (Sobol, then BoTorch) in the
  pool's input box, each proposal mapped to the nearest unmeasured design, see
  :mod:`surrogates.bench.ax_peer`. Own default start: Ax's centre point and Sobol trials.

Every method runs in two settings: the *shared start* (the seed's ``n_init`` random designs,
then the method's own model; our ranker's and the peers' ``n_init`` are set to it) and the
method's *own* documented default start (random 1, botorch-plain 5, BayBE ``q``, Ax 0 shared
designs and its own Sobol start, ours the ranker's ``n_init``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from loop.errors import ConfigError, PluginNotFoundError
from loop.interfaces import PluginContext, Ranker
from loop.objectives import Objective
from loop.records import Candidate, Measurement, Observation
from surrogates.bench.protocol import PoolProblem

__all__ = ["PEERS", "PEER_VERSIONS", "check_methods", "make_policy", "method_version", "peer_version", "ranker_classes"]

log = logging.getLogger(__name__)

PEERS = ("botorch-plain", "baybe", "ax", "random")
PEER_VERSIONS = {"random": "1", "botorch-plain": "2", "baybe": "2", "ax": "1"}


def peer_version(name: str) -> str:
    """The cache key version of a peer (BayBE's and Ax's include the installed package version)."""
    if name == "baybe":
        from surrogates.bench.baybe_peer import baybe_version

        return f"{PEER_VERSIONS[name]}-baybe{baybe_version()}"
    if name == "ax":
        from surrogates.bench.ax_peer import ax_version

        return f"{PEER_VERSIONS[name]}-ax{ax_version()}"
    return PEER_VERSIONS[name]


def _source_digest() -> str:
    """Hash of the surrogates stage's sources outside ``bench/`` (our ranker's code): a change re-runs cached campaigns."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "bench" not in path.relative_to(root).parts:
            h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()[:10]


def method_version(name: str, options: dict | None = None) -> str:
    """The cache key version of a method: a peer's :func:`peer_version`; for ours the source hash and options."""
    if name in PEER_VERSIONS:
        return peer_version(name)
    opts = json.dumps(options or {}, sort_keys=True, default=str)
    return f"{_source_digest()}-{hashlib.sha256(opts.encode()).hexdigest()[:8]}"


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
        if q == 1:
            with torch.no_grad():
                acq = LogExpectedImprovement(model, best_f=Y.max())(X[rest].unsqueeze(-2)).numpy()
            return [int(rest[i]) for i in np.argsort(-acq, kind="stable")[:q]]
        return _greedy_qlognei(model, X, measured, rest, q)

    return policy


def _greedy_qlognei(model, X: torch.Tensor, measured: list[int], rest: np.ndarray, q: int) -> list[int]:  # noqa: ANN001
    """botorch's discrete sequential greedy: ``qLogNEI`` with the picks so far as pending points."""
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.optim import optimize_acqf_discrete

    acqf = qLogNoisyExpectedImprovement(model, X_baseline=X[measured], prune_baseline=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chosen, _ = optimize_acqf_discrete(acqf, q=q, choices=X[rest], unique=True)
    index = {tuple(row): int(j) for j, row in zip(rest, X[rest].tolist(), strict=True)}
    return [index[tuple(row)] for row in chosen.tolist()]


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


def _ranker_class(name: str) -> type[Ranker]:
    classes = ranker_classes()
    if name not in classes:
        raise PluginNotFoundError("crystaloop.bench-methods", name, [*classes, *PEERS])
    return classes[name]


def check_methods(names: Sequence[str], ranker_options: dict | None = None) -> None:
    """Fail early, with the install command, on a peer that is not installed, an unknown name or a bad ranker option."""
    from pydantic import ValidationError

    for name in names:
        if name in PEER_VERSIONS:
            peer_version(name)
            continue
        cls = _ranker_class(name)
        try:
            cls.Config(**(ranker_options or {}))
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise ConfigError(f"--ranker-option of {name}", problems) from None


def make_policy(
    name: str, problem: PoolProblem, seed: int, work_dir: str = ".", options: dict | None = None, q: int = 1,
    start: int | None = None,
) -> tuple[Policy, int]:
    """``(policy, n_init)`` for a peer or one of our rankers.

    ``start``: the shared start's size (the method's model takes over after it); ``None``: the
    method's own documented default start.
    """
    if name == "random":
        return _random_policy(problem, seed), 1 if start is None else start
    if name == "botorch-plain":
        return _plain_policy(problem, seed), 5 if start is None else start
    if name == "baybe":
        from surrogates.bench.baybe_peer import baybe_policy

        return baybe_policy(problem, seed), q if start is None else start
    if name == "ax":
        from surrogates.bench.ax_peer import ax_policy

        return ax_policy(problem, seed, start), 0 if start is None else start
    cls = _ranker_class(name)
    goal = "maximize" if problem.maximize else "minimize"
    ctx = PluginContext(work_dir=work_dir, seed=seed, objectives=[Objective(name="y", goal=goal)])
    options = dict(options or {})
    if start is not None and "n_init" in cls.Config.model_fields:
        options["n_init"] = max(start, 1)
    ranker = cls(cls.Config(**options), ctx)
    n_init = int(getattr(ranker.config, "n_init", 3))
    return _ranker_policy(problem, seed, ranker), n_init if start is None else start
