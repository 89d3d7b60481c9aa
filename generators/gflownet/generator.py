"""The GFlowNet generator plug-in (kind ``gflownet``).

Samples crystals from the :class:`~generators.gflownet.env.CrystalEnv` with a conditional
forward policy and fine-tunes it by trajectory balance on the loop's score::

    s'(x) = s(x) - invalid_penalty * [x invalid] - duplicate_penalty * [x already observed]
                 - energy_weight * E_pot(x) / N_atoms          (only with a ``potential``)
    log R(x) = max(beta * s'(x), log_reward_min)     (the exact target: max(beta * s'(x), max_x' beta * s'(x') + log_reward_min))

where ``s`` is the :data:`~loop.interfaces.ScoreFn` passed to :meth:`update` (the ranker's
acquisition) and ``E_pot`` a single-point energy from the registered ``Potential`` named by
``potential`` (through the registry; this package imports no other stage). A NaN score
is recorded (:attr:`GFlowNetGenerator.nan_rewards`, a warning, ``metadata``) and counts
as ``min(finite scores) - nan_penalty``.

With ``templates`` (folders of known phases, any chemical system) the policy decorates the
known phases' primitive cells orbit by orbit (:mod:`generators.gflownet.templates`); by
default it then samples from the templates only (``from_scratch: null``): a GFlowNet samples
in proportion to its reward, and a reward that cannot tell structures apart (the ranker's
composition prior before anything is screened) sends the flow to the from-scratch branch,
which holds millions of terminal states against a few hundred decorations. Each :meth:`update` continues training from the
current weights (the loop stores :meth:`state_dict` per round and restores it on resume).

**Exact target on small template spaces.** A GFlowNet trained to convergence samples
``R(x) / Z``; with templates only and at most ``exact_max_terminals`` terminal states (the
known phases' decorations and their derivative structures: ~1,200-1,500 in the Li-Mn-Ti-O
worlds) the generator scores every terminal at each :meth:`update` and samples that target
exactly, without replacement within a round and never a terminal proposed in an earlier round
(Gumbel top-k), instead of approximating it with a few trajectory-balance steps a round: 20
steps of 32 trajectories left ``log Z`` 15 nats short of the target's in the Li-Mn-O world
(docs/benchmarks.md, "Session 12"). The reward is unchanged; the target is cooled
(``exact_spread``) where it is flatter than a few rounds can test: a reward of log
probabilities at ``beta`` 4 spread the Li-Mn-O target over ~170 of its 1,215 terminals
(perplexity), while a round proposes 8 (docs/benchmarks.md, "Session 13").
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from generators.gflownet.buffer import ReplayBuffer
from generators.gflownet.env import CrystalEnv, EnvConfig, State
from generators.gflownet.policy import GFlowNetPolicy
from generators.gflownet.sampler import LiveSpace, Trajectory, rollout
from generators.gflownet.trainer import TBTrainer, TrainConfig
from generators.gflownet.validity import structure_problem
from loop.errors import ConfigError
from loop.exact_target import ExactTarget, exact_draw
from loop.identity import structure_id
from loop.interfaces import Generator, PluginContext, Potential, ScoreFn, resolve_device
from loop.records import Candidate, Observation, Origin

__all__ = ["GFlowNetConfig", "GFlowNetGenerator"]

log = logging.getLogger(__name__)


class GFlowNetConfig(EnvConfig):
    """Options of the ``gflownet`` generator: the environment's limits plus training."""

    beta: float = Field(4.0, gt=0, description="reward sharpness: R = exp(beta * s)")
    invalid_penalty: float = Field(2.0, ge=0)
    duplicate_penalty: float = Field(1.0, ge=0)
    nan_penalty: float = Field(2.0, ge=0)
    log_reward_min: float = Field(-30.0, description="floor of log R")
    exact_floor: Literal["relative", "absolute"] = Field(
        "relative",
        description=(
            "exact target: log_reward_min below the best terminal's log R (relative) or below 0 (absolute, as the "
            "trained policy's reward). An absolute floor flattened the whole target once the ranker's goal "
            "probability fell below e^-7.5 everywhere (li-ti-o, docs/benchmarks.md 'Session 14'): every terminal "
            "at -30, proposals uniform"
        ),
    )
    condition: list[str] | None = Field(None, description="target names; None: the campaign objectives")
    condition_scales: dict[str, float] = Field(default_factory=dict, description="target -> divisor (default 1)")
    hidden: int = Field(256, ge=8)
    layers: int = Field(2, ge=1)
    train: TrainConfig = Field(default_factory=TrainConfig)
    steps_per_update: int = Field(
        20, ge=0, description="TB steps per update (was 50 with 64 trajectories a step: ~100 s a round on one core; "
        "20 x 32 costs ~20 s, so a 6-round campaign trains in minutes, docs/benchmarks.md)")
    seconds_per_update: float | None = Field(None, gt=0, description="stop an update's training early")
    buffer_size: int = Field(500, ge=0)
    sample_temperature: float = Field(1.0, gt=0)
    device: str = "auto"
    potential: str | None = Field(None, description="registered Potential for a fast energy term")
    potential_options: dict[str, Any] = Field(default_factory=dict)
    energy_weight: float = Field(0.0, ge=0, description="weight of the potential's eV/atom in s'")
    templates: list[str] = Field(
        default_factory=list,
        description="known phases (folders of CIFs, entry JSON or CSV; any chemical system) whose primitive cells "
        "the policy may decorate anew, orbit by orbit, beside building crystals from scratch; [] = from scratch only",
    )
    from_scratch: bool | None = Field(
        None,
        description="also build crystals from scratch when templates are given; None: only without templates (a "
        "reward that cannot tell structures apart sends the flow to the far larger from-scratch branch, "
        "docs/benchmarks.md)",
    )
    template_max_decorations: int = Field(
        200_000, ge=1, description="skip a template with more decorations than this to enumerate"
    )
    exact_max_terminals: int = Field(
        5000, ge=0,
        description="with templates only (no from-scratch branch) and at most this many terminal states: sample the "
        "GFlowNet's target R(x)/Z exactly instead of training a policy towards it (every update scores every terminal; "
        "a round's proposals are drawn without replacement and never repeat an earlier round's); 0: always train",
    )
    exact_spread: float | None = Field(
        3.0, gt=0,
        description="exact target only: cool it (never heat it) until its perplexity over the terminals not yet "
        "proposed is at most this many times the proposals asked for (3: a round's draw comes from about three "
        "rounds' worth of terminals); None: sample R(x)/Z at sample_temperature (docs/benchmarks.md, session 13)",
    )
    exact_per_parent: int | None = Field(
        None, ge=1,
        description="exact target only: at most this many of a round's proposals from one parent structure (a known "
        "phase with its derivative structures); None: no cap (docs/benchmarks.md, session 13)",
    )
    template_derivatives: int = Field(
        6, ge=0, description="with templates, also the derivative structures of the small known phases (orderings of "
        "two elements on one orbit of their supercells, Hart & Forcade 2008) up to this supercell index; 0 or 1: none. "
        "6 keeps rock salt at 81 binary orderings (8: 362; docs/benchmarks.md)",
    )


def _encode_state(module: torch.nn.Module | torch.optim.Optimizer) -> str:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _decode_state(text: str) -> Any:
    return torch.load(io.BytesIO(base64.b64decode(text)), map_location="cpu", weights_only=True)


class GFlowNetGenerator(Generator):
    """Crystal-GFN-style conditional GFlowNet emitting full structures."""

    Config = GFlowNetConfig
    name = "gflownet"
    version = "1"

    def __init__(self, config: GFlowNetConfig | None = None, context: PluginContext | None = None) -> None:
        super().__init__(config, context)
        cfg: GFlowNetConfig = self.config  # type: ignore[assignment]
        templates = None
        if cfg.templates:
            from generators.gflownet.chemistry import ChargeRules
            from generators.gflownet.templates import load_templates

            templates = load_templates(
                cfg.templates,
                cfg.elements,
                ChargeRules(cfg.elements, "generator.options") if cfg.charge_neutral else None,
                max_atoms=cfg.max_atoms,
                min_elements=cfg.min_elements,
                max_decorations=cfg.template_max_decorations,
                derivative_index=cfg.template_derivatives,
            )
            if not templates:
                raise ConfigError(
                    "generator.options",
                    [("templates", f"no phase of {cfg.templates} can be decorated with {cfg.elements} "
                      f"within max_atoms {cfg.max_atoms} (charge-neutral, {cfg.min_elements}+ elements)")],
                )
        from_scratch = cfg.from_scratch if cfg.from_scratch is not None else not templates
        self.env = CrystalEnv(cfg, where="generator.options", templates=templates, from_scratch=from_scratch)
        self.space = LiveSpace(self.env)
        self.condition_names = list(
            cfg.condition if cfg.condition is not None else [o.name for o in self.context.objectives]
        )
        self.device = resolve_device(cfg.device if cfg.device != "auto" else self.context.device)
        torch.manual_seed(self.context.seed)
        self.policy = GFlowNetPolicy(
            self.env.feature_dim,
            len(self.condition_names),
            self.env.n_actions,
            self.env.n_bwd_actions,
            cfg.hidden,
            cfg.layers,
        ).to(self.device)
        self.trainer = TBTrainer(self.space, self.policy, cfg.train)
        self.buffer = ReplayBuffer(cfg.buffer_size)
        self.rng = np.random.default_rng(self.context.seed)
        self.cond = torch.zeros(len(self.condition_names), device=self.device)
        self.generated: dict[str, list[int]] = {}
        # terminal state -> (candidate id, structurally valid): the reward sees the same states again
        # and again (replay buffer, repeated samples), and the id (spglib) is most of its cost
        self._terminal_ids: dict[State, tuple[str, bool]] = {}
        self.observed: set[str] = set()
        self.exact_states = self._enumerable_terminals()
        self.exact_log_r: np.ndarray | None = None
        self.exact_parents = (None if self.exact_states is None
                              else [self.env.templates[st.template[0]].name.split("*")[0] for st in self.exact_states])
        self.proposed: set[int] = set()  # exact mode: terminals proposed in earlier rounds
        self.nan_rewards = 0
        self.rounds = 0
        self.potential: Potential | None = None
        if cfg.potential is not None:
            from loop import registry

            self.potential = registry.create(  # type: ignore[assignment]
                "potentials",
                {"kind": cfg.potential, "options": cfg.potential_options},
                self.context,
                where="generator.options.potential",
            )

    # ------------------------------------------------------------------ conditioning
    def condition_vector(self, condition: Mapping[str, Any] | None) -> torch.Tensor:
        """The target vector in :attr:`condition_names` order, each divided by its
        ``condition_scales`` entry (missing names are 0)."""
        values = []
        for name in self.condition_names:
            v = float((condition or {}).get(name, 0.0))
            if not np.isfinite(v):
                raise ConfigError("generator.condition", [(name, f"target must be finite, got {v}")])
            values.append(v / self.config.condition_scales.get(name, 1.0))
        unknown = sorted(set(condition or {}) - set(self.condition_names))
        if unknown:
            raise ConfigError(
                "generator.condition",
                [("", f"unknown targets {unknown}; the model is conditioned on {self.condition_names}")],
            )
        return torch.tensor(values, dtype=torch.float32, device=self.device)

    # ------------------------------------------------------------------ sampling
    def _candidate(self, traj: Trajectory) -> Candidate:
        s: State = traj.terminal
        structure = self.env.decode(s)
        problem = structure_problem(structure)
        meta = {**self.env.describe(s), "actions": list(traj.actions), "valid": problem is None}
        if problem:
            meta["invalid_reason"] = problem
        return Candidate.from_structure(structure, origin=Origin(generator=self.name, round=self.rounds), metadata=meta)

    def sample(self, n: int | None, condition: Mapping[str, Any] | None, rng: np.random.Generator) -> list[Candidate]:
        """``n`` candidates drawn from the forward policy (``n=None`` means 1: the space is not finite)."""
        if condition is not None:
            self.cond = self.condition_vector(condition)
        if self.exact_states is not None and self.exact_log_r is not None:
            return self._sample_exact(int(n or 1), rng)
        self.policy.eval()
        trajs = rollout(
            self.space,
            self.policy,
            int(n or 1),
            self.cond,
            rng,
            temperature=self.config.sample_temperature,
            epsilon=0.0,
        )
        out = []
        for t in trajs:
            cand = self._candidate(t)
            self.generated[cand.id] = list(t.actions)
            out.append(cand)
        if len(self.generated) > 20_000:  # the lab only ever makes recent proposals
            for key in list(self.generated)[: len(self.generated) - 20_000]:
                del self.generated[key]
        return out

    # ------------------------------------------------------------------ exact target
    def _enumerable_terminals(self) -> list[State] | None:
        """Every terminal state, when the space is the templates alone and small enough (``exact_max_terminals``)."""
        env = self.env
        if env.from_scratch or not env.T:
            return None
        total = sum(t.n_decorations for t in env.templates)
        if total > self.config.exact_max_terminals:
            return None
        root = env.initial_state()
        states = [root._replace(template=(i, *p)) for i, t in enumerate(env.templates)
                  for p in sorted(t.prefixes) if len(p) == t.n_orbits]
        log.info("gflownet: %d template terminals: the target R(x)/Z is sampled exactly", len(states))
        return states

    @property
    def exact(self) -> bool:
        """Whether the generator samples its enumerated target exactly (see :meth:`exact_target`)."""
        return self.exact_states is not None

    def exact_target(self) -> ExactTarget | None:
        """The enumerated target (every terminal's crystal, template and parent, and its ``log R`` once an
        update has scored it); ``None`` where the generator samples by its policy (a space built from scratch,
        or more terminals than ``exact_max_terminals``)."""
        if self.exact_states is None or self.exact_parents is None:
            return None
        names = [self.env.templates[st.template[0]].name for st in self.exact_states]
        structures = [self.env.decode(st) for st in self.exact_states]
        log_r = None if self.exact_log_r is None else np.asarray(self.exact_log_r, dtype=float).copy()
        return ExactTarget(structures=structures, names=names, parents=list(self.exact_parents), log_r=log_r)

    def _actions(self, s: State) -> list[int]:
        return [self.env.off_tmpl + s.template[0], *(self.env.off_orbit + e for e in s.template[1:])]

    def _sample_exact(self, n: int, rng: np.random.Generator) -> list[Candidate]:
        """``n`` terminals drawn without replacement with probability R(x)/Z (Gumbel top-k over
        ``log R / T``), none proposed in an earlier round; ``T`` is ``sample_temperature``, cooled
        with ``exact_spread`` (:func:`loop.exact_target.cooled_temperature`)."""
        assert self.exact_states is not None and self.exact_log_r is not None
        cfg = self.config
        order = exact_draw(self.exact_log_r, self.proposed, n, rng, cfg.sample_temperature, cfg.exact_spread,
                           self.exact_parents, cfg.exact_per_parent)
        out = []
        for i in order:
            self.proposed.add(i)
            traj = self._replay(self._actions(self.exact_states[i]))
            cand = self._candidate(traj)
            self.generated[cand.id] = list(traj.actions)
            out.append(cand)
        return out

    def _score_exact(self, score: ScoreFn) -> None:
        """log R of every terminal (the target's unnormalised log probabilities)."""
        assert self.exact_states is not None
        cfg = self.config
        relative = cfg.exact_floor == "relative"
        log_reward = self.log_reward_fn(score, floored=not relative)
        chunk = 256
        log_r = np.concatenate([
            np.asarray(log_reward(self.exact_states[i:i + chunk]), dtype=float)
            for i in range(0, len(self.exact_states), chunk)
        ])
        if relative:  # after every chunk is scored: one floor for the whole target
            log_r = np.maximum(log_r, float(log_r.max()) + cfg.log_reward_min)
        self.exact_log_r = log_r
        top = np.sort(self.exact_log_r)[::-1][:5]
        log.info("gflownet: exact target over %d terminals, log Z %.3g, top log R %s", len(self.exact_states),
                 float(np.logaddexp.reduce(self.exact_log_r)), np.round(top, 2).tolist())

    # ------------------------------------------------------------------ reward
    def _replay(self, actions: Sequence[int]) -> Trajectory:
        states = [self.env.initial_state()]
        for a in actions:
            states.append(self.env.step(states[-1], int(a)))
        return Trajectory(states=states, actions=[int(a) for a in actions])

    def log_reward_fn(self, score: ScoreFn, *, floored: bool = True):
        """``terminal states -> log R`` built from ``score`` (see the module docstring); ``floored``: at
        ``log_reward_min`` (off: the caller floors, as the exact target does relative to its best)."""
        cfg: GFlowNetConfig = self.config  # type: ignore[assignment]

        def log_reward(terminals: Sequence[State]) -> np.ndarray:
            cands = [self._terminal_candidate(s) for s in terminals]
            raw = np.asarray(score([c for c, _ in cands]), dtype=float).reshape(-1)
            if raw.shape != (len(cands),):
                raise ValueError(f"score returned shape {raw.shape}, expected ({len(cands)},)")
            bad = ~np.isfinite(raw)
            if bad.any():
                self.nan_rewards += int(bad.sum())
                log.warning("score returned %d non-finite values; penalised (%d so far)", bad.sum(), self.nan_rewards)
                floor = float(raw[~bad].min()) if (~bad).any() else 0.0
                raw = np.where(bad, floor - cfg.nan_penalty, raw)
            invalid = np.array([not ok for _, ok in cands])
            dup = np.array([c.id in self.observed for c, _ in cands])
            s_eff = raw - cfg.invalid_penalty * invalid - cfg.duplicate_penalty * dup
            if self.potential is not None and cfg.energy_weight > 0:
                s_eff = s_eff - cfg.energy_weight * self._energy_per_atom([c for c, _ in cands], s_eff)
            return np.maximum(cfg.beta * s_eff, cfg.log_reward_min) if floored else cfg.beta * s_eff

        return log_reward

    def _terminal_candidate(self, s: State) -> tuple[Candidate, bool]:
        """The candidate of a terminal state (as ``Candidate.from_structure``) and its structural validity; ids memoised."""
        structure = self.env.decode(s)
        known = self._terminal_ids.get(s)
        if known is None:
            if len(self._terminal_ids) >= 50_000:
                self._terminal_ids.clear()
            known = self._terminal_ids[s] = (structure_id(structure), structure_problem(structure) is None)
        cid, ok = known
        return Candidate(id=cid, structure=structure, formula=structure.composition.reduced_formula,
                         origin=Origin(generator="unknown")), ok

    def _energy_per_atom(self, cands: Sequence[Candidate], s_eff: np.ndarray) -> np.ndarray:
        """Potential energies per atom; a failed or NaN energy counts as the batch's worst (+ nan_penalty)."""
        assert self.potential is not None
        try:
            results = self.potential.predict([c.structure for c in cands])
            e = np.array([r.energy_per_atom for r in results], dtype=float)
        except Exception as exc:  # a potential failure must not stop training: penalise the batch
            log.warning("potential failed on a batch of %d: %s", len(cands), exc)
            e = np.full(len(cands), np.nan)
        bad = ~np.isfinite(e)
        if bad.any():
            self.nan_rewards += int(bad.sum())
            worst = float(e[~bad].max()) if (~bad).any() else 0.0
            e = np.where(bad, worst + self.config.nan_penalty / max(self.config.energy_weight, 1e-9), e)
        return e

    # ------------------------------------------------------------------ training
    def train(self, score: ScoreFn, steps: int | None = None, seconds: float | None = None) -> list[dict[str, float]]:
        """Trajectory-balance steps on ``score`` (``steps`` and/or ``seconds``, whichever ends first)."""
        cfg: GFlowNetConfig = self.config  # type: ignore[assignment]
        steps = cfg.steps_per_update if steps is None else steps
        seconds = cfg.seconds_per_update if seconds is None else seconds
        log_reward = self.log_reward_fn(score)
        self.buffer.rescore(log_reward)
        history, start = [], time.perf_counter()
        for _ in range(steps):
            stats = self.trainer.step(log_reward, self.cond, self.rng, replay=self.buffer.items())
            trajs, log_r = self.trainer.last_batch
            self.buffer.add(trajs, log_r)
            history.append(stats)
            if seconds is not None and time.perf_counter() - start > seconds:
                break
        if history:
            log.info(
                "gflownet: %d TB steps, loss %.4g, log Z %.3g", len(history), history[-1]["loss"], history[-1]["log_z"]
            )
        return history

    def update(self, observations: Sequence[Observation], score: ScoreFn | None = None) -> None:
        """Remember what the lab made, replay it, and continue training on the refreshed score."""
        made = []
        for obs in observations:
            self.observed.add(obs.candidate_id)
            if obs.success and obs.candidate_id in self.generated:
                made.append(self._replay(self.generated[obs.candidate_id]))
        if score is None:
            log.info("gflownet.update without a score: %d observations remembered, no training", len(observations))
            return
        if self.exact_states is not None:
            self._score_exact(score)
            self.rounds += 1
            return
        if made:
            log_r = self.log_reward_fn(score)([t.terminal for t in made])
            for t, r in zip(made, log_r, strict=True):
                self.buffer.add_lab(t, float(r))
        self.train(score)
        self.rounds += 1

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """JSON-able: base64 ``torch.save`` of policy and optimiser, buffer actions, bookkeeping."""
        return {
            "version": self.version,
            "policy": _encode_state(self.policy),
            "optimizer": _encode_state(self.trainer.optimizer),
            "buffer": self.buffer.state_dict(),
            "generated": self.generated,
            "observed": sorted(self.observed),
            "rounds": self.rounds,
            "steps": self.trainer.steps,
            "nan_rewards": self.nan_rewards,
            "condition": self.cond.cpu().tolist(),
            "rng": self.rng.bit_generator.state,
            "proposed": sorted(self.proposed),
            "exact_log_r": None if self.exact_log_r is None else self.exact_log_r.tolist(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (tensors loaded with ``weights_only=True``)."""
        self.policy.load_state_dict(_decode_state(state["policy"]))
        self.policy.to(self.device)
        self.trainer.optimizer.load_state_dict(_decode_state(state["optimizer"]))
        self.generated = {k: list(v) for k, v in state.get("generated", {}).items()}
        self.observed = set(state.get("observed", []))
        self.rounds = int(state.get("rounds", 0))
        self.trainer.steps = int(state.get("steps", 0))
        self.nan_rewards = int(state.get("nan_rewards", 0))
        self.cond = torch.tensor(state.get("condition", [0.0] * len(self.condition_names)), device=self.device)
        self.proposed = {int(i) for i in state.get("proposed", [])}
        if state.get("exact_log_r") is not None and self.exact_states is not None:
            self.exact_log_r = np.asarray(state["exact_log_r"], dtype=float)
        if "rng" in state:  # the training stream continues where it was, so a resume replays exactly
            self.rng.bit_generator.state = state["rng"]
        buf = state.get("buffer", {})
        self.buffer = ReplayBuffer(self.config.buffer_size)
        self.buffer.add([self._replay(a) for a in buf.get("high", [])], [0.0] * len(buf.get("high", [])))
        for a in buf.get("lab", []):
            self.buffer.add_lab(self._replay(a), 0.0)
