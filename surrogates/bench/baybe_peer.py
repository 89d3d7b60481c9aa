"""The ``baybe`` peer: BayBE's default campaign on the pool.

BayBE's default recommender is ``TwoPhaseMetaRecommender(RandomRecommender ->
BotorchRecommender)``, switching after the first measured batch. The random start is the
seed's shared random initial designs of the protocol: ``n_init`` of them in the shared
setting, one batch of ``q`` (BayBE's own first batch) in BayBE's default setting; from then on BayBE's ``BotorchRecommender`` (its default surrogate and acquisition) picks
each batch from the unmeasured designs (``allow_recommending_already_measured=False``),
seeded with ``set_random_seed(seed)``. The design space is the pool itself
(``SearchSpace.from_dataframe`` over the inputs, as ``NumericalDiscreteParameter`` s), so
the recommendation maps back to design indices by its input values.

Needs the optional ``bench`` extra (``baybe``); the version enters the peer's cache key.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from surrogates.bench.protocol import PeerNotInstalledError, PoolProblem

__all__ = ["baybe_policy", "baybe_version"]

log = logging.getLogger(__name__)


def baybe_version() -> str:
    """The installed BayBE version (``KeyError`` with an install hint when missing)."""
    try:
        from importlib.metadata import version

        return version("baybe")
    except Exception as exc:  # noqa: BLE001 - PackageNotFoundError and broken installs alike
        raise PeerNotInstalledError("peer 'baybe' needs BayBE: pip install 'crystaloop[bench]' (or pip install baybe)") from exc


def baybe_policy(problem: PoolProblem, seed: int):  # noqa: ANN201 - a protocol Policy
    """A policy ``(measured, values, q) -> indices`` driving one BayBE campaign."""
    baybe_version()
    import pandas as pd
    from baybe import Campaign
    from baybe.objectives import SingleTargetObjective
    from baybe.parameters import NumericalDiscreteParameter
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    cols = [f"x{i}" for i in range(problem.X.shape[1])]
    frame = pd.DataFrame(problem.X, columns=cols)
    params = []
    for c in cols:
        values = tuple(float(v) for v in np.unique(frame[c]))
        if len(values) == 1:  # BayBE needs two values; a constant input carries no information
            values = (values[0], values[0] + 1.0)
        params.append(NumericalDiscreteParameter(name=c, values=values))
    space = SearchSpace.from_dataframe(frame, parameters=params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        target = NumericalTarget(name="y", minimize=not problem.maximize)
    campaign = Campaign(
        searchspace=space, objective=SingleTargetObjective(target=target),
        allow_recommending_already_measured=False,
    )
    index = {tuple(np.round(row, 9)): j for j, row in enumerate(problem.X)}
    added: list[int] = []
    set_random_seed(seed)

    def policy(measured: list[int], values: list[float], q: int) -> list[int]:
        new = [(j, v) for j, v in zip(measured, values, strict=True) if j not in set(added)]
        if new:
            df = pd.DataFrame(problem.X[[j for j, _ in new]], columns=cols)
            df["y"] = [v for _, v in new]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                campaign.add_measurements(df)
            added.extend(j for j, _ in new)
        set_random_seed(seed * 100003 + len(measured))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = campaign.recommend(batch_size=q)
        picks = [index[tuple(np.round(row, 9))] for row in rec[cols].to_numpy(dtype=float)]
        seen = set(measured)
        picks = [j for j in dict.fromkeys(picks) if j not in seen]
        if len(picks) < q:  # never expected; keep the protocol valid and say so
            log.warning("baybe recommended %d new design(s) for q=%d; topping up at random", len(picks), q)
            rest = [j for j in np.random.default_rng(seed).permutation(problem.n) if j not in seen and j not in picks]
            picks += [int(j) for j in rest[: q - len(picks)]]
        return picks

    return policy
