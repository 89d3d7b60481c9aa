"""The ``ax`` peer: Ax's default generation strategy (Client API) on the pool.

Ax optimises in a continuous box, so the peer works as an Ax user with a pool would: the
experiment has one ``RangeParameterConfig`` per input over the pool's range, and, where the
inputs are fractions of a whole (every design's inputs sum to the same total within 1 %, as
P3HT's percentages and Perovskite's fractions do), the constraint ``sum <= total`` (Ax takes
no equality constraints, and a two-sided slab around the total is too thin for its Sobol
step's rejection sampling). Each proposal is mapped to the nearest unmeasured design (inputs
scaled to the pool's range); the proposal is marked abandoned and the design actually measured
is attached and completed as its own trial, so Ax's model sees exactly what was measured.
A batch of ``q`` is asked one trial at a time, the earlier ones still running (Ax's pending
points), because the ``Client`` generates fewer than ``q`` trials at once after a transition.

Start: in the shared setting the seed's shared random designs are attached as completed
trials and the generation strategy is configured with ``initialization_budget = n_init``
(no centre point), so BoTorch takes over at once; in Ax's own default setting nothing is
attached and ``Client``'s default strategy runs as shipped (centre point and Sobol to five
trials, then BoTorch). ``Client(random_seed=...)`` fixes Ax's seed per campaign.

Needs ``ax-platform`` (``pip install 'crystaloop[bench]'``); its version enters the cache key.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from surrogates.bench.protocol import PeerNotInstalledError, PoolProblem

__all__ = ["ax_policy", "ax_version", "sum_total"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'crystaloop[bench]' (or pip install 'ax-platform==1.3.1')"


def ax_version() -> str:
    """The installed Ax version (``KeyError`` with an install hint when missing)."""
    try:
        from importlib.metadata import version

        return version("ax-platform")
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError and broken installs alike
        raise PeerNotInstalledError(f"peer 'ax' needs Ax: {INSTALL_HINT}") from exc


def sum_total(X: np.ndarray, rel_tol: float = 0.01) -> float | None:
    """The common total of each row's inputs when they are fractions of a whole, else ``None``.

    Fires when every input is non-negative, there are at least two, and every row sums to the
    median row sum within ``rel_tol`` (P3HT: 100 +- 0.1; Perovskite: 1 +- 0.01).
    """
    if X.ndim != 2 or X.shape[1] < 2 or (X < 0).any():
        return None
    sums = X.sum(1)
    total = float(np.median(sums))
    if total <= 0 or np.abs(sums - total).max() > (rel_tol + 1e-9) * total:  # 1e-9: the float error of 0.99 + ... + 0.01
        return None
    return total


def ax_policy(problem: PoolProblem, seed: int, n_init: int | None):  # noqa: ANN201 - a protocol Policy
    """A policy ``(measured, values, q) -> indices`` driving one Ax ``Client``.

    ``n_init``: the shared start's size (``None``: Ax's own default strategy, nothing attached first).
    """
    ax_version()
    logging.getLogger("ax").setLevel(logging.WARNING)
    from ax import Client, RangeParameterConfig

    X = problem.X
    lo, hi = X.min(0), X.max(0)
    varying = np.flatnonzero(hi > lo)
    names = [f"x{i}" for i in range(X.shape[1])]
    params = [RangeParameterConfig(name=names[i], parameter_type="float", bounds=(float(lo[i]), float(hi[i]))) for i in varying]
    constraints = []
    total = sum_total(X)
    if total is not None:
        fixed = float(sum(lo[i] for i in range(X.shape[1]) if i not in set(varying)))
        slack = float(np.abs(X.sum(1) - total).max())
        constraints.append(" + ".join(names[i] for i in varying) + f" <= {total + slack - fixed!r}")
    client = Client(random_seed=seed)
    client.configure_experiment(parameters=params, parameter_constraints=constraints or None)
    client.configure_optimization(objective="y" if problem.maximize else "-y")
    if n_init is not None:
        client.configure_generation_strategy(initialization_budget=max(n_init, 1), initialize_with_center=False)
    scale = np.where(hi > lo, hi - lo, 1.0)
    Z = (X - lo) / scale
    attached: set[int] = set()

    def attach(measured: list[int], values: list[float]) -> None:
        for j, v in zip(measured, values, strict=True):
            if j in attached:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = client.attach_trial(parameters={names[i]: float(X[j, i]) for i in varying})
                client.complete_trial(trial_index=trial, raw_data={"y": float(v)})
            attached.add(j)

    def policy(measured: list[int], values: list[float], q: int) -> list[int]:
        attach(measured, values)
        proposals: dict = {}
        for _ in range(q):  # one trial at a time: the ones generated so far are RUNNING, i.e. Ax's pending points
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                proposals.update(client.get_next_trials(max_trials=1))
        seen = set(measured)
        picks: list[int] = []
        for trial, parameters in proposals.items():
            z = np.array([(parameters[names[i]] - lo[i]) / scale[i] for i in varying])
            dist = ((Z[:, varying] - z) ** 2).sum(1)
            dist[list(seen.union(picks))] = np.inf
            picks.append(int(np.argmin(dist)))
            client.mark_trial_abandoned(trial_index=trial)
        if len(picks) < q:  # Ax generated fewer trials than asked; keep the protocol valid and say so
            log.warning("ax proposed %d design(s) for q=%d; topping up at random", len(picks), q)
            rest = [int(j) for j in np.random.default_rng(seed).permutation(problem.n) if j not in seen and j not in picks]
            picks += rest[: q - len(picks)]
        return picks

    return policy
