"""qLogNEHVI and qLogNEI that score many candidates without recomputing the baseline posterior.

botorch's ``qLogNoisyExpectedHypervolumeImprovement`` scores a batch of ``b`` single
candidates (``b x 1 x d``) from the joint posterior over ``[X_baseline; x]`` for every
``x`` (``b x (n_b + 1)`` points): the baseline rows of the train cross-covariance and the
baseline block of the test covariance are recomputed ``b`` times (botorch's own TODO in
``NoisyExpectedHypervolumeMixin._compute_posterior_samples_and_concat_pending``). With 1,000
observations that is almost all of a selection's time.

:class:`FastqLogNEHVI` computes the joint posterior of ``[X_baseline; x_1..x_b]`` once
(:func:`~surrogates.acquisition.shared_rows.shared_rows_posterior`) and gathers from it, for
each ``x_i``, the covariance and mean that the batched call would compute; the rest (cached baseline Cholesky, base samples, box decompositions, the log-HVI) is botorch's,
unchanged. :class:`FastqLogNEI` does the same for qLogNEI's ``[X_baseline; x]``. The values equal botorch's up to floating-point rounding
(``tests/surrogates/test_fast_nehvi.py``). Inputs it does not cover (uncached pending points,
non-linear outcome transforms, batched multi-output models) take botorch's path.
"""

from __future__ import annotations

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.utils.transforms import match_batch_shape
from torch import Tensor

from surrogates.acquisition.shared_rows import shared_rows_posterior

__all__ = ["FastqLogNEHVI", "FastqLogNEI"]


class FastqLogNEHVI(qLogNoisyExpectedHypervolumeImprovement):
    """``qLogNEHVI`` with a shared-baseline posterior for batched inputs (see the module docstring)."""

    def _compute_posterior_samples_and_concat_pending(self, X: Tensor) -> tuple[Tensor, Tensor]:
        uncached = 0
        if self.X_pending is not None:
            uncached = self.X_pending.shape[-2] + self._X_baseline.shape[-2] - self.X_baseline.shape[-2]
            if not self.cache_pending:
                uncached = self.X_pending.shape[-2]
        posterior = None
        if X.dim() == 3 and uncached == 0:
            X_full = torch.cat([match_batch_shape(self.X_baseline, X), X], dim=-2)
            posterior = shared_rows_posterior(self.model, X_full)
        if posterior is None:
            return super()._compute_posterior_samples_and_concat_pending(X)
        q_in = X.shape[-2]
        self._set_sampler(q_in=q_in, posterior=posterior)
        return self._get_f_X_samples(posterior=posterior, q_in=q_in), X


class FastqLogNEI(qLogNoisyExpectedImprovement):
    """``qLogNEI`` with a shared-baseline posterior for batched inputs (cached root only).

    botorch prunes the baseline (and re-prunes it whenever pending points are set) with
    samples from torch's global generator, so the same inputs could give different scores
    from run to run; here the pruning draws from a generator seeded with the sampler's seed
    (the global one is left as it was).
    """

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        sampler = kwargs.get("sampler")
        self._prune_seed = int(getattr(sampler, "seed", None) or 0)
        super().__init__(*args, **kwargs)

    def _init_baseline(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self._prune_seed)
            super()._init_baseline(*args, **kwargs)

    def _get_samples_and_objectives(self, X: Tensor) -> tuple[Tensor, Tensor]:
        posterior = None
        if self._cache_root and self.posterior_transform is None and X.dim() == 3:
            X_full = torch.cat([match_batch_shape(self.X_baseline, X), X], dim=-2)
            posterior = shared_rows_posterior(self.model, X_full)
        if posterior is None:
            return super()._get_samples_and_objectives(X)
        q = X.shape[-2]
        self._set_sampler(q_in=q, posterior=posterior)
        samples = self._get_f_X_samples(posterior=posterior, q_in=q)
        return samples, self.objective(samples, X=X_full[..., -q:, :])
