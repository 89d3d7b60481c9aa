"""``BotorchRanker`` (kind ``botorch``): GP surrogates + qUCB / qLogNEI / qLogNEHVI over the candidate set.

fit: one GP per modelled output (each objective, and each constraint property the lab
measures), on warped outcomes (see :mod:`surrogates.models.warping`), with the lab's
reported uncertainty as known noise when every observation reports one; a feasibility
model on success flags; optionally ``p_synth``. Inputs are normalised to the range of every
candidate seen (the pool, as BayBE scales to its search space), and an input constant in the
training data but varying among the candidates is still modelled (its lengthscale prior then
makes the unexplored direction uncertain). Tabular inputs are also warped through a learned
Kumaraswamy CDF per input (``input_warp``: auto; :mod:`surrogates.models.fastfit` fits it).
Chemistry enters through the element-property
statistics of :mod:`surrogates.featurize.composition` (and the structure descriptors); the 103
element fractions are left out by default (``composition_fractions``): a lengthscale per
element column is more than a GP learns from a few hundred observations, and on perov-5
discovery the fractions kept the ranker from finding all four targets within 400
experiments, which it does in a median 280 without them (docs/benchmarks.md).

score: ``alpha(x) = a(x | X_pending) + log p_feas(x) [+ log p_synth(x)]``, where ``a`` is, for
one objective without windows or constraints, ``qUCB = (mu - c + sqrt(beta) sigma) / s`` (``beta =
0.25`` by default, ``c`` and ``s`` the mean and spread of the observed outcomes, so the log weights are penalties
in units of it; ``acquisition: qlognei`` or ``qlogei`` for the log expected improvements),
``log qLogNEI`` with windows or constraints, ``log qLogNEHVI`` for several objectives, or the log
window/constraint probability. A mildly exploring UCB finds the top designs of a pool faster
than the expected improvements (measured on the Liang et al. pools, docs/benchmarks.md).
A batch (``q > 1``) is built by sequential greedy over the candidates, each pick scored with the
earlier picks and the pending experiments as pending points; ``batch_acquisition`` can score
the picks after a first qUCB pick by qLogNEI or qLogEI instead (as botorch's tutorials build
batches), which the synthetic tuning pools did not favour.

Goal-directed ranking (``goal_acquisition``, ``auto``: on when the campaign declares a goal
made of conditions joined by ``all``): the campaign stops on its goal, so the ranker models
each property the goal names (plus the campaign's constraints) and scores
``a = log P(some experiment of the batch, pending ones included, meets every goal condition)``
(:class:`~surrogates.acquisition.qLogProbabilityFeasible`) instead of optimising the
objectives. A goal property that cannot be modelled yet (e.g. an XRD yield that is 0 for
every sample before the first hit) is left to the other conditions and to ``p_synth``,
which learns from the same formed / not-formed outcomes. The objectives' UCB or expected
improvement prefer the best predicted mean: a candidate predicted 0.14 +- 0.01 eV/atom above the hull
outranks one at 0.8 +- 0.4 although only the second may reach a goal of 0.02 (the first is
typically a near copy of an observed miss); the goal probability ranks the other way round.
A goal with ``any`` keeps the objective-based acquisition.
A probability is only as good as the predictive spread, so in goal-directed mode each exact GP
is calibrated by leave-one-out (``goal_calibration``, :mod:`surrogates.models.calibration`): with ``z_i`` the standardised LOO
residuals, kernel and noise are scaled by ``c^2 = max(1, mean z_i^2)`` (the posterior mean is
unchanged, every predictive sd grows by ``c``). Where the inputs do not determine the outcome
(an unrelaxed structure that may relax into one basin or another), the GP interpolates the
lab's small measurement noise and calls a candidate next to an observed miss a sure miss;
LOO residuals larger than the predicted spread expose that.

Contact descriptors (``contact_descriptors``, ``auto``: on with structure features): the
structure features describe composition, lattice and space group but not where the atoms
sit, so two candidates with the same lattice and different sites look identical although
one may relax onto the ground state and the other into a high-energy basin. Four
chemistry-agnostic columns describe the atomic arrangement (:func:`surrogates.featurize.contacts.contact_descriptors`):
the shortest contact between atoms of the same element and between different elements,
each divided by the sum of the two atomic radii, the mean nearest-neighbour distance so
scaled, and the fraction of sites whose nearest neighbour (in A) is the same element (in an
ionic ground state: none). On 250 MgO candidates of the GFlowNet relaxed by CHGNet, the
like-element contact has Spearman -0.34 with the relaxed ``e_hull`` (volume per atom: 0.06),
and 0.65 AUC for ``e_hull <= 0.02``.

Physics prior (``e_hull_estimate``, off by default): when the screen gives candidates no
``e_hull`` (a ``passthrough`` screen), the ranker can estimate it by a short relaxation with a
potential (:mod:`surrogates.models.hull_estimate`) for the candidates it selects from and those
observed; the estimate enters the ``p_synth`` prior as ``exp(-e_hull / 0.1)`` (below the hull,
``1 - (1 - p) exp(e_hull / 0.1)``: ``smact_prior``), so it ranks the
first batches, before a GP can be fitted, and keeps weighting the acquisition after. Scores
requested through :meth:`acquisition` (the generator's reward) use estimates already made and
start no relaxation.

The feasibility and ``p_synth`` weights, with the ``e_hull`` estimates, live in
:class:`surrogates.models.prior_weights.PriorWeights` (``ranker.prior``); the options in
:mod:`surrogates.botorch_config`.

Bad data never crashes a campaign: an objective that is never reported, constant, or
seen fewer than two times is skipped (logged and listed in :attr:`skips`); a candidate
whose features are not finite is skipped; with nothing left to model, or before
``n_init`` observations, the ranker falls back and says so in :attr:`fallback`: it ranks by
the weights it has before any GP (the ``p_synth`` prior or its update from the lab's formed /
not-formed outcomes, the feasibility model once fitted), ties broken at random, and where
those weights are the same for every candidate (no chemistry: a parameter pool) it draws a
seeded random batch (the documented baseline).

>>> ranker = BotorchRanker(BotorchRanker.Config(), PluginContext(work_dir=".", objectives=[Objective(name="y")]))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from botorch.models import ModelListGP

from loop.errors import InputDataError
from loop.interfaces import Ranker, resolve_device
from loop.objectives import AllOf, Condition
from loop.records import Candidate, Observation, RankingNote, Selection
from surrogates.acquisition import (
    OutcomeSpec,
    build_acquisition,
    evaluate_acquisition,
    greedy_discrete,
    marginal_moments,
)
from surrogates.acquisition.prefilter import prefilter
from surrogates.botorch_config import BotorchRankerConfig
from surrogates.featurize import DescriptorFn, Featurizer, make_featurizer
from surrogates.featurize.contacts import with_contacts
from surrogates.featurize.simplex import SimplexRule, simplex_transform
from surrogates.featurize.structure import StructureFeaturizer
from surrogates.featurize.tabular import TabularFeaturizer
from surrogates.models import ModelFitError, OutcomeWarp, fit_objective_gp
from surrogates.models.calibration import loo_calibrate
from surrogates.models.phase_evidence import PhaseEvidence
from surrogates.models.prior_weights import PriorWeights, computed_e_hull

__all__ = ["BotorchRanker", "BotorchRankerConfig"]

log = logging.getLogger(__name__)


class BotorchRanker(Ranker):
    """Bayesian-optimisation ranker on botorch (see module docstring)."""

    Config = BotorchRankerConfig
    name = "botorch"
    version = "1"

    def __init__(self, config: BotorchRankerConfig | None = None, context=None, *, descriptor_fn: DescriptorFn | None = None) -> None:  # noqa: ANN001
        super().__init__(config, context)
        self.config: BotorchRankerConfig
        self.descriptor_fn = descriptor_fn
        if descriptor_fn is None and self.config.descriptors is not None:
            from surrogates.potentials.factory import create_potential

            potential = create_potential(self.config.descriptors, self.context)
            self.descriptor_fn = potential.descriptors
        self.device = torch.device(resolve_device(self.config.device if self.config.device != "auto" else self.context.device))
        self.dtype = torch.float64
        self.seed = self.config.seed if self.config.seed is not None else self.context.seed
        self._rng = np.random.default_rng(self.seed)
        self.featurizer: Featurizer | None = None
        self.skips: list[dict[str, str]] = []
        self.fallback: str | None = "not fitted"
        self._ranked_by: str | None = None  # the acquisition class of the last model-based select
        self._batch_by: str | None = None  # that of picks 2..q where batch_acquisition differs
        self._fallback_used: str | None = None  # the fallback the last select used instead
        self._model = None
        self._specs: list[OutcomeSpec] = []
        self._warps: dict[str, OutcomeWarp] = {}
        self._keep: np.ndarray | None = None
        self._X_train: torch.Tensor | None = None
        self._states: dict[str, dict] = {}
        self._opt_n: dict[str, int] = {}
        self._best: dict[str, float] | None = None
        self._spread: dict[str, tuple[float, float]] = {}  # mean and sd of each output's observed (warped) values
        self._seen_lo: np.ndarray | None = None
        self._seen_hi: np.ndarray | None = None
        self._simplex = SimplexRule(self.config.simplex_inputs) if self.config.simplex_inputs != "off" else None
        self._simplex_on = False  # decided at each fit (the rule on every candidate seen so far), kept until the next
        self._n_fit = 0
        self._calibration: dict[str, float] = {}  # LOO spread factor per output (goal-directed mode)
        self.prior = PriorWeights(
            self.context, feasibility=self.config.feasibility, synthesizability=self.config.synthesizability,
            e_hull_estimate=self.config.e_hull_estimate, skip=self._skip,
            phase_evidence=PhaseEvidence(length=self.config.phase_evidence_length, prior=self.config.phase_evidence_prior)
            if self.config.phase_evidence else None,
        )

    def _warp_inputs(self, n: int) -> bool:
        """Whether the GP of an output with ``n`` observations learns an input warping (see ``input_warp``)."""
        if self.config.input_warp != "auto":
            return self.config.input_warp == "on"
        # Goal-directed ranking needs calibrated tail probabilities P(goal); 2 d warp parameters fitted
        # on a few points made the GP overconfident out of the sampled range in
        # tests/surrogates/test_botorch_ranker.py's goal problem, so auto leaves them off there.
        return (
            isinstance(self.featurizer, TabularFeaturizer) and self.goal_bounds() is None
            and self.config.input_warp_min <= n <= self.config.input_warp_max
        )

    # ---------------------------------------------------------------- features
    def _skip(self, what: str, reason: str) -> None:
        log.warning("botorch ranker skips %s: %s", what, reason)
        self.skips.append({"what": what, "reason": reason})

    def _features(self, candidates: Sequence[Candidate], *, decide_simplex: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(X, ok)``: features (``n x d``, zero rows where not ok) and which rows are usable.

        ``decide_simplex`` (at fit): whether compositional inputs are transformed until the next fit.
        """
        X, ok = self._raw_features(candidates)
        if decide_simplex:
            self._simplex_on = bool(
                self._simplex is not None and self._simplex.holds and isinstance(self.featurizer, TabularFeaturizer) and ok.all()
            )
        if self._simplex_on and len(X):
            assert self.config.simplex_inputs != "off"
            X = simplex_transform(X, self.config.simplex_inputs)
        return X, ok

    def _raw_features(self, candidates: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        if self.featurizer is None:
            self.featurizer = make_featurizer(
                self.config.features, candidates, descriptor_fn=self.descriptor_fn, fractions=self.config.composition_fractions
            )
            if isinstance(self.featurizer, StructureFeaturizer) and self.config.contact_descriptors == "auto":
                self.featurizer.descriptor_fn = with_contacts(self.descriptor_fn)
        try:
            X = self.featurizer.transform(candidates)
            self._see(X)
            return X, np.ones(len(candidates), dtype=bool)
        except InputDataError:
            rows, ok = [], np.ones(len(candidates), dtype=bool)
            for i, c in enumerate(candidates):
                try:
                    rows.append(self.featurizer.transform([c])[0])
                except InputDataError as exc:
                    self._skip(f"candidate {c.id}", str(exc))
                    ok[i] = False
                    rows.append(None)
            width = next((len(r) for r in rows if r is not None), 0)
            return np.stack([r if r is not None else np.zeros(width) for r in rows]) if rows else np.zeros((0, width)), ok

    def _see(self, X: np.ndarray) -> None:
        """Track the feature range of every candidate seen (the normalisation bounds, ``input_bounds='seen'``)."""
        if not len(X):
            return
        if self._simplex is not None:
            self._simplex.see(X)
        lo, hi = X.min(0), X.max(0)
        if self._seen_lo is None or self._seen_lo.shape != lo.shape:
            self._seen_lo, self._seen_hi = lo, hi
        else:
            self._seen_lo, self._seen_hi = np.minimum(self._seen_lo, lo), np.maximum(self._seen_hi, hi)

    def _bounds(self) -> torch.Tensor | None:
        """``2 x d'`` normalisation bounds over the kept columns (``None``: learned from the training data)."""
        seen = self.config.input_bounds == "seen" or self.config.keep_inputs == "seen"  # a column constant in the data needs the seen range
        if not seen or self._seen_lo is None or self._keep is None:
            return None
        lo, hi = self._seen_lo[self._keep], self._seen_hi[self._keep]
        if self._simplex_on and self._simplex is not None and self._simplex.lo is not None:
            lo, hi = self._simplex.lo[self._keep], self._simplex.hi[self._keep]
        hi = np.where(hi > lo, hi, lo + 1.0)
        return torch.as_tensor(np.stack([lo, hi]), dtype=self.dtype, device=self.device)

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        assert self._keep is not None
        return torch.as_tensor(X[:, self._keep], dtype=self.dtype, device=self.device)

    # ---------------------------------------------------------------- fit
    def goal_bounds(self) -> dict[str, tuple[float | None, float | None]] | None:
        """``name -> (lo, hi)`` of the campaign goal in goal-directed mode, else ``None``.

        ``None`` when ``goal_acquisition`` is off, there is no goal, or the goal has an ``any``
        (a probability of a disjunction is not built here). Several conditions on one name
        intersect; strict and non-strict bounds are treated alike.
        """
        if self.config.goal_acquisition == "off" or self.context.goal is None:
            return None
        bounds: dict[str, tuple[float | None, float | None]] = {}
        stack = [self.context.goal]
        while stack:
            node = stack.pop()
            if isinstance(node, AllOf):
                stack.extend(node.all)
                continue
            if not isinstance(node, Condition):
                return None
            lo, hi = bounds.get(node.name, (None, None))
            if node.between is not None:
                new_lo, new_hi = node.between
            elif node.op in (">=", ">"):
                new_lo, new_hi = node.value, None
            else:
                new_lo, new_hi = None, node.value
            lo = new_lo if lo is None else (lo if new_lo is None else max(lo, new_lo))
            hi = new_hi if hi is None else (hi if new_hi is None else min(hi, new_hi))
            bounds[node.name] = (lo, hi)
        return bounds

    def _outputs(self) -> list[tuple[str, str, float | None, float | None]]:
        """``(name, role, lo, hi)`` in lab units for objectives (or the goal's conditions) and modelled constraints."""
        out: list[tuple[str, str, float | None, float | None]] = []
        goal = self.goal_bounds()
        if goal is not None:
            out.extend((name, "constraint", lo, hi) for name, (lo, hi) in goal.items())
        for o in self.context.objectives if goal is None else []:
            if o.goal == "target":
                assert o.window is not None
                out.append((o.name, "window", o.window[0], o.window[1]))
            else:
                out.append((o.name, o.goal, None, None))
        for c in self.context.constraints:
            if c.name == "p_synth":
                continue
            lo, hi = (c.value, None) if c.op in (">=", ">") else (None, c.value)
            out.append((c.name, "constraint", lo, hi))
        return out

    def fit(self, candidates: Sequence[Candidate], observations: Sequence[Observation]) -> None:
        self.skips = []
        self._model, self._specs = None, []
        by_id = {c.id: c for c in candidates}
        obs = [o for o in observations if o.candidate_id in by_id]
        for o in observations:
            if o.candidate_id not in by_id:
                self._skip(f"observation {o.request_id}", f"candidate {o.candidate_id} not given to fit")
        if not obs:
            self.fallback = "no observations"
            return
        cands = [by_id[o.candidate_id] for o in obs]
        self.prior.estimate_e_hull(cands)
        X_all, ok = self._features(cands, decide_simplex=True)
        self.prior.fit(X_all, ok, cands, obs)
        good = [i for i, o in enumerate(obs) if ok[i] and o.success]
        if len(good) < self.config.n_init:
            self.fallback = f"{len(good)} successful observations < n_init={self.config.n_init}"
            return
        Xg = X_all[good]
        if self.config.keep_inputs == "seen" and self._seen_lo is not None and self._seen_lo.shape[0] == Xg.shape[1]:
            self._keep = self._seen_hi - self._seen_lo > 1e-12
        else:
            self._keep = np.ptp(Xg, axis=0) > 1e-12 if len(good) > 1 else np.ones(Xg.shape[1], dtype=bool)
        if not self._keep.any():
            self._keep[:] = True
        models, specs, best = [], [], {}
        measured = {i: obs[i].measured() for i in good}  # XRD-derived yield included
        for name, role, lo, hi in self._outputs():
            rows = [i for i in good if name in measured[i]]
            if not rows:
                self._skip(f"output {name!r}", "never reported by the lab")
                continue
            y = np.array([measured[i][name].value for i in rows])
            if len(rows) < 2 or np.ptp(y) <= 1e-12 * max(1.0, np.abs(y).max()):
                self._skip(f"output {name!r}", f"{len(rows)} observation(s), constant value {y[0]:g}: nothing to learn")
                continue
            unc = [measured[i][name].uncertainty for i in rows]
            warp = OutcomeWarp(self.config.outcome_warp).fit(y)
            z = warp.forward(y)
            Yvar = None
            if all(u is not None for u in unc):
                yv = np.square(np.array(unc, dtype=float)) * np.square(warp.slope(y))
                Yvar = torch.as_tensor(np.maximum(yv, 1e-8), dtype=self.dtype, device=self.device).unsqueeze(-1)
            elif any(u is not None for u in unc):
                log.info("output %r: uncertainty reported for only some observations; noise is learned", name)
            X = self._tensor(X_all[rows])
            optimize = self._should_optimize(name, len(rows))
            try:
                model = fit_objective_gp(
                    X, torch.as_tensor(z, dtype=self.dtype, device=self.device).unsqueeze(-1), Yvar=Yvar, bounds=self._bounds(),
                    input_warp=self._warp_inputs(len(rows)), max_exact=self.config.max_exact, n_inducing=self.config.n_inducing,
                    init_state=self._states.get(name) if self.config.warm_start or not optimize else None,
                    optimize=optimize, fast=self.config.fast_fit, prior=self.config.gp_prior, name=name,
                )
            except ModelFitError as exc:
                self._skip(f"output {name!r}", str(exc))
                continue
            if optimize:
                self._opt_n[name] = len(rows)
            self._states[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if self.config.goal_calibration and self.goal_bounds() is not None:
                self._calibration[name] = loo_calibrate(model)
            self._warps[name] = warp
            f = warp.forward
            specs.append(OutcomeSpec(
                index=len(models), name=name, role=role,  # type: ignore[arg-type]
                lo=None if lo is None else float(f(np.array([lo]))[0]), hi=None if hi is None else float(f(np.array([hi]))[0]),
            ))
            models.append(model)
            z_signed = z * (-1.0 if role == "minimize" else 1.0)
            best[name] = float(z[int(np.argmax(z_signed))])
            self._spread[name] = (float(np.mean(z)), float(np.std(z)) if np.std(z) > 0 else 1.0)
        if not specs:
            self.fallback = "no objective could be modelled"
            self._skip("model", "no objective could be modelled; falling back to the prior weights (p_synth, feasibility), or a random batch where those are equal")
            return
        if self.goal_bounds() is not None:
            log.info("botorch ranker: goal-directed, P(goal) over %s (LOO spread factors %s)", [s.name for s in specs],
                     {k: round(v, 2) for k, v in self._calibration.items()})
        elif not any(s.role != "constraint" for s in specs):  # e.g. a window output still constant: chase the constraints
            self._skip("objectives", "no objective could be modelled; ranking by the probability of meeting the constraints")
        self._model = models[0] if len(models) == 1 else ModelListGP(*models)
        self._specs = specs
        self._best = best
        self._X_train = self._tensor(Xg)
        self._n_fit = len(good)
        self.fallback = None

    def _should_optimize(self, name: str, n: int) -> bool:
        """Re-optimise hyperparameters below ``refit_below`` observations, then every ``refit_every`` new ones.

        In between, the GP keeps the last optimised hyperparameters and is only conditioned on
        the new data (cost ``O(n^3)`` once instead of tens of marginal-likelihood evaluations);
        hyperparameters move little once ``n`` is in the tens.
        """
        last = self._opt_n.get(name)
        if last is None or name not in self._states or n < self.config.refit_below:
            return True
        return n - last >= self.config.refit_every or n < last

    def e_hull_estimates(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """The ranker's own ``e_hull`` estimate per candidate (NaN where none was made)."""
        return self.prior.e_hull_estimates(candidates)

    # ---------------------------------------------------------------- scoring
    def p_synth(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """``p_synth`` per candidate (the prior when nothing was learned yet)."""
        X, _ = self._features(candidates)
        return self.prior.p_synth(candidates, X)

    def _prepare(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]):  # noqa: ANN202
        X, ok = self._features(candidates)
        Xp = None
        if pending:
            P, pok = self._features(pending)
            if pok.any():
                Xp = self._tensor(P[pok])
        lw = self.prior.log_weight(candidates, X)
        lw[~ok] = -np.inf
        return X, ok, Xp, lw

    def _acqf(self, Xp: torch.Tensor | None, acquisition: str | None = None):  # noqa: ANN202
        """The acquisition over the fitted model (``acquisition``: overrides the configured one for one objective)."""
        acquisition = acquisition or self.config.acquisition
        ref = None
        opt = [s for s in self._specs if s.role in ("maximize", "minimize")]
        if self.config.ref_point and len(opt) >= 2:
            missing = [s.name for s in opt if s.name not in self.config.ref_point]
            if missing:
                raise InputDataError(f"ranker.options.ref_point lacks objective(s) {missing}")
            ref = torch.tensor(
                [s.sign * float(self._warps[s.name].forward(np.array([self.config.ref_point[s.name]]))[0]) for s in opt],
                dtype=self.dtype, device=self.device,
            )
        best_f = None
        if acquisition == "qlogei" and len(opt) == 1 and self._best is not None:
            if self.config.best_f == "posterior_mean":
                with torch.no_grad():
                    best_f = float((opt[0].sign * self._model.posterior(self._X_train).mean[:, opt[0].index]).max())
            else:
                best_f = opt[0].sign * self._best[opt[0].name]
        ucb = acquisition == "ucb" and len(opt) == 1
        return build_acquisition(
            self._model, self._specs, self._X_train, X_pending=Xp, ref_point=ref, best_f=best_f,
            ucb_beta=self.config.ucb_beta if ucb else None, ucb_scale=self._spread[opt[0].name][1] if ucb else 1.0, ucb_offset=self._spread[opt[0].name][0] if ucb else 0.0,
            mc_samples=self.config.mc_samples if len(opt) < 2 else self.config.mo_mc_samples, seed=self.seed + self._n_fit,
        )

    def _prior_log_weight(self, candidates: Sequence[Candidate], *, ties: bool = False) -> np.ndarray | None:
        """Fallback scores (:meth:`PriorWeights.fallback_log_weight`) on the ranker's features."""
        if not self.prior.has_weights(candidates):
            return None
        X, ok = self._features(candidates)
        return self.prior.fallback_log_weight(candidates, X, ok, ties=ties)

    def acquisition(self, candidates: Sequence[Candidate], pending: Sequence[Candidate]) -> np.ndarray:
        """``log a(x | pending) + log w(x)`` per candidate; in fallback (see ``fallback``) the prior log
        weight ``log w(x)``, ties included, where there is a prior, else random scores.

        Ties stay ties: a caller that scores its candidates in parts (the GFlowNet's exact target,
        256 terminals a call) must get the same scale in every part. Random scores in [0, 1] for a
        part whose candidates all sat at the prior's floor once outranked every log weight (<= 0)
        of the other parts (docs/benchmarks.md, "Session 13")."""
        if not candidates:
            return np.zeros(0)
        if self._model is None:
            lw = self._prior_log_weight(candidates, ties=True)
            return self._rng.random(len(candidates)) if lw is None else lw
        X, ok, Xp, lw = self._prepare(candidates, pending)
        vals = evaluate_acquisition(self._acqf(Xp), self._tensor(X)).cpu().numpy() + lw
        return np.where(ok, vals, -np.inf)

    def predict(self, candidates: Sequence[Candidate]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Posterior ``(mean, std)`` per modelled output, in lab units (warping inverted; std is half the
        width of the inverse-warped ``mean +- std`` interval)."""
        if self._model is None or not candidates:
            return {}
        X, _ = self._features(candidates)
        mu_t, sd_t = marginal_moments(self._model, self._tensor(X))
        mu, sd = mu_t.cpu().numpy().reshape(len(candidates), -1), sd_t.cpu().numpy().reshape(len(candidates), -1)
        out = {}
        for s in self._specs:
            w = self._warps[s.name]
            m, d = mu[:, s.index], sd[:, s.index]
            out[s.name] = (w.inverse(m), 0.5 * np.abs(w.inverse(m + d) - w.inverse(m - d)))
        return out

    def select(self, candidates: Sequence[Candidate], q: int, pending: Sequence[Candidate]) -> list[Selection]:
        pending_ids = {c.id for c in pending}
        pool = list({c.id: c for c in candidates if c.id not in pending_ids}.values())
        if len(pool) < len(candidates) - len([c for c in candidates if c.id in pending_ids]):
            log.info("botorch ranker: %d duplicated candidate(s) ignored", len(candidates) - len(pool))
        if not pool or q <= 0:
            return []
        self.prior.estimate_e_hull(pool)
        self._ranked_by = self._fallback_used = self._batch_by = None
        if self._model is None:
            lw = self._prior_log_weight(pool)
            if lw is None:
                self._fallback_used = f"random batch ({self.fallback})"
                log.info("botorch ranker falls back to random selection (%s)", self.fallback)
                order = self._rng.permutation(len(pool))[:q]
                return [Selection(candidate_id=pool[i].id, score=0.0, rank=r) for r, i in enumerate(order)]
            computed = sum(computed_e_hull(c) is not None for c in pool)
            prior = (f"p_synth prior: SMACT x exp(-e_hull / 0.1) (rising further below the hull) with the screen's computed e_hull for {computed} of {len(pool)}"
                     if computed else "p_synth prior: SMACT (no computed e_hull)")
            learned = ", updated by the lab's formed / not-formed outcomes" if self.prior.synth is not None else ""
            if self.prior.evidence is not None and self.prior.evidence.active:
                learned += "; the lab's XRD evidence of new phases by composition"
            self._fallback_used = f"ranks by its prior weights ({prior}{learned}) and feasibility ({self.fallback})"
            log.info("botorch ranker %s", self._fallback_used)
            order = np.lexsort((self._rng.random(len(pool)), -lw))[:q]
            return [Selection(candidate_id=pool[i].id, score=float(lw[i]), rank=r) for r, i in enumerate(order) if np.isfinite(lw[i])]
        X, ok, Xp, lw = self._prepare(pool, pending)
        Xt = self._tensor(X)
        lwt = torch.as_tensor(lw, dtype=self.dtype, device=self.device)
        idx_map = np.arange(len(pool))
        if self.config.prefilter is not None and len(pool) > self.config.prefilter:
            idx_map = prefilter(self._model, Xt, self._specs, lw, self.config.prefilter)
            Xt, lwt = Xt[idx_map], lwt[idx_map]
        acqf = self._acqf(Xp)
        acqf_rest = self._batch_acqf(Xp, acqf) if q > 1 else None
        self._ranked_by = type(acqf).__name__
        self._batch_by = None if acqf_rest is None else type(acqf_rest).__name__
        chosen, scores = greedy_discrete(
            acqf, Xt, min(q, int(ok.sum()) or q), X_pending=Xp, log_weight=lwt, lazy=self.config.lazy_greedy,
            acqf_rest=acqf_rest,
        )
        picks = [int(idx_map[i]) for i in chosen]
        pred = self.predict([pool[i] for i in picks])
        return [
            Selection(
                candidate_id=pool[i].id, score=float(sc), rank=r,
                predicted={k: (float(m[j]), float(s[j])) for k, (m, s) in pred.items()},
            )
            for j, (r, i, sc) in enumerate(zip(range(len(picks)), picks, scores, strict=True))
        ]

    def _batch_acqf(self, Xp: torch.Tensor | None, acqf):  # noqa: ANN001, ANN202
        """The acquisition of picks 2..q under ``batch_acquisition`` (``None``: ``acqf`` throughout).

        Only where the first pick's acquisition is an objective's qUCB or qLogEI; qLogNEI,
        qLogNEHVI and the goal or constraint probabilities already score the batch jointly.
        """
        rule = self.config.batch_acquisition
        if rule == "same" or type(acqf).__name__ not in ("qUpperConfidenceBound", "qLogExpectedImprovement"):
            return None
        if rule == self.config.acquisition:
            return None
        return self._acqf(Xp, acquisition=rule)

    def model_version(self) -> str:
        return f"{self.name}-{self.version}-n{self._n_fit}"

    def _acquisition_label(self) -> str:
        """The acquisition of the last model-based :meth:`select`, by name, with what it is over."""
        outputs = ", ".join(s.name for s in self._specs) or "nothing"
        kind = self._ranked_by
        if kind is None:
            return "no model-based selection yet"
        if kind == "qLogProbabilityFeasible":
            goal = self.goal_bounds() is not None
            what = "goal probability" if goal else "constraint probability"
            label = f"{what} log P(batch meets the {'goal' if goal else 'constraints'}) over {outputs}"
        else:
            short = _ACQUISITION_NAMES.get(kind, kind)
            label = f"{short} over {outputs}" + (f" (beta {self.config.ucb_beta:g})" if short == "qUCB" else "")
            if self._batch_by is not None:
                label += f", then {_ACQUISITION_NAMES.get(self._batch_by, self._batch_by)} for the rest of the batch"
        weights = [name for name, on in (("p_synth", self.prior.synth is not None),
                                         ("feasibility", self.prior.feasibility_active),
                                         ("phase evidence", self.prior.evidence is not None and self.prior.evidence.active)) if on]
        return label + (f" + log {' + log '.join(weights)}" if weights else "")

    def ranking_note(self) -> RankingNote:
        """The acquisition (or the fallback) of the last :meth:`select` and the outputs it skipped."""
        skipped = [f"{s['what']}: {s['reason']}" for s in self.skips if not s["what"].startswith(("candidate ", "observation "))]
        n_cands = sum(1 for s in self.skips if s["what"].startswith("candidate "))
        if n_cands:
            skipped.append(f"{n_cands} candidate(s) without finite features")
        if self._fallback_used is not None:
            return RankingNote(acquisition=f"{self.name} fallback", fallback=self._fallback_used, skipped=skipped)
        return RankingNote(acquisition=self._acquisition_label(), skipped=skipped)


_ACQUISITION_NAMES = {
    "qUpperConfidenceBound": "qUCB",
    "qLogExpectedImprovement": "qLogEI",
    "FastqLogNEI": "qLogNEI",
    "FastqLogNEHVI": "qLogNEHVI",
}
