"""Phase identification and quantification: screen, forward selection, refinement, evidence.

The model and its refinement are in :mod:`lab_adapters.xrd.model`; the tests that decide
whether a phase earns its place in :mod:`lab_adapters.xrd.evidence`; the unexplained peaks in
:mod:`lab_adapters.xrd.residual`. Steps for one pattern:

1. **Background and weights.** SNIP background; weights ``1 / sigma^2`` (the file's ESD, else
   Poisson counts with a floor).
2. **Screen** every reference (fast, no fit): a matched filter over the lattice strain and
   peak width gives each phase's best shift and width; the phase's own one-column fit to the
   net counts gives the chi^2 it could explain alone and its peak support. The
   ``max_candidates`` best-explaining phases with enough support go on.
3. **Forward selection** (linear fits with the screened shapes): add the candidate that lowers
   chi^2 most while it passes the F-test at ``alpha``, the detection limit and the support
   test; stop when none does.
4. **Refinement** of the chosen phases (zero shift, sample displacement, Lorentz fraction,
   background, and per phase scale, strain, size and strain widths); the background is
   re-estimated under the refined phases, and a second forward pass looks for minor phases
   in what is left.
5. **Backward check:** each phase is tested again against the refined fit; the weakest
   failing phase is dropped and the rest refined, until all pass.
6. **Unidentified residual:** peaks that the final fit leaves (see :mod:`lab_adapters.xrd.residual`).

Weight fractions (Hill & Howard, J. Appl. Cryst. 20, 467 (1987)):
``W_p = S_p (M V)_p / sum_q S_q (M V)_q`` with ``S_p = s_p / N_p``.
``Rwp = sqrt(sum w (y - m)^2 / sum w y^2)``; ``Rexp = sqrt((n - P) / sum w y^2)`` for counts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from threadpoolctl import threadpool_limits

from lab_adapters.xrd.background import chebyshev_basis, snip
from lab_adapters.xrd.evidence import Support, competitors, detection_ratio, effective_points, f_test, support
from lab_adapters.xrd.model import (
    FitState,
    PhaseTemplate,
    RefineBounds,
    build_templates,
    linear_fit,
    refine,
    render,
    size_fwhm_bound,
    templates,
)
from lab_adapters.xrd.pattern import XRDPattern
from lab_adapters.xrd.peaks import two_theta_of
from lab_adapters.xrd.references import ReferenceSet
from lab_adapters.xrd.residual import unidentified_residual
from lab_adapters.xrd.texture import Texture, distinct_directions, parse_direction
from loop.errors import InputDataError
from loop.records import PhaseAnalysis, PhaseFraction

__all__ = ["AnalysisConfig", "PhaseFit", "XRDAnalyzer", "XRDFit", "analyze_pattern"]

logger = logging.getLogger(__name__)
_SCREEN_WINDOW = 4.0  # FWHM per side of the quick renders that rank candidates (the fit uses profile.WINDOW)


class AnalysisConfig(BaseModel):
    """Settings of the phase analysis (defaults suit laboratory Cu K-alpha scans)."""

    model_config = ConfigDict(extra="forbid")

    two_theta_min: float | None = Field(None, description="ignore data below this angle, deg")
    two_theta_max: float | None = Field(None, description="ignore data above this angle, deg")
    max_strain: float = Field(0.015, ge=0, le=0.05, description="bound on |lattice strain| per phase (cell scaling)")
    strain_step: float = Field(0.0005, gt=0, description="grid step of the strain search in the screen")
    max_zero_shift: float = Field(0.1, ge=0, description="bound on |zero shift|, deg")
    max_displacement: float = Field(0.3, ge=0, description="bound on |sample displacement shift| at cos(theta)=1, deg")
    inst_fwhm: float = Field(0.05, gt=0, description="instrument FWHM, deg")
    min_size_nm: float = Field(4.0, gt=0, description="smallest crystallite size allowed")
    max_microstrain: float = Field(0.005, ge=0)
    background_window_deg: float = Field(3.0, gt=0, description="SNIP half-window of the first background, deg")
    background_degree: int = Field(3, ge=0, le=20, description="Chebyshev correction degree of the first fit")
    final_background_degree: int = Field(
        8, ge=0, le=20, description="Chebyshev correction degree once peaks are modelled (features >~ 7 deg wide)"
    )
    max_candidates: int = Field(16, ge=1, description="phases the screen passes on to the selection")
    alpha: float = Field(1e-3, gt=0, lt=1, description="significance level of the F-test for keeping a phase")
    min_support: float = Field(0.4, ge=0, le=1, description="distinct support a phase needs (evidence module)")
    min_weight_fraction: float = Field(0.01, ge=0, lt=1, description="smallest reported weight fraction")
    unknown_min_snr: float = Field(6.0, gt=0, description="matched-filter S/N of an unidentified peak")
    unknown_dominance: float = Field(0.5, ge=0, description="residual / modelled phase intensity at the peak")
    unknown_min_height: float = Field(0.02, ge=0, description="height relative to the tallest net peak")
    unknown_min_share: float = Field(0.01, ge=0, description="share of net intensity that makes the residual 'detected'")
    rebin_step: float | None = Field(
        0.03, ge=0, description="sum neighbouring points of finer scans up to this step, deg (None: keep all)")
    max_nfev: int = Field(40, ge=1, description="function evaluations per non-linear refinement")
    forward_tries: int = Field(3, ge=1, description="candidates tried per forward step before the selection stops")
    max_nfev_forward: int = Field(12, ge=1, description="function evaluations of the quick refinement of a candidate")
    preferred_orientation: dict[str, str] = Field(
        default_factory=dict,
        description="March-Dollase texture on request: phase name (or '*' for every identified phase) -> "
        "direction 'h,k,l', or 'auto' for the best low-index direction, kept only if the F-test at alpha "
        "supports its one extra parameter")

    @field_validator("preferred_orientation")
    @classmethod
    def _directions(cls, value: dict[str, str]) -> dict[str, str]:
        for name, direction in value.items():
            if direction != "auto":
                parse_direction(direction)  # raises InputDataError naming the direction
            if not name:
                raise ValueError("preferred_orientation: empty phase name")
        return value


@dataclass
class PhaseFit:
    """Refined state of one reference phase in a fit."""

    name: str
    formula: str
    scale: float
    strain: float
    size_fwhm: float
    strain_fwhm: float
    weight_fraction: float = 0.0
    confidence: float = 0.0
    kept_on_evidence: bool = True
    support: float = 0.0
    detection: float = 0.0
    lattice: list[float] | None = None
    texture: tuple[tuple[int, int, int], float] | None = None  # March-Dollase direction and r
    curve: np.ndarray | None = field(default=None, repr=False)


@dataclass
class XRDFit:
    """Result of fitting one pattern: the record plus the arrays needed for a plot."""

    analysis: PhaseAnalysis
    phases: list[PhaseFit]
    two_theta: np.ndarray
    observed: np.ndarray
    model: np.ndarray
    background: np.ndarray
    zero_shift: float
    displacement: float
    eta: float
    rwp: float
    rexp: float
    source: str | None = None


@dataclass
class _Data:
    x: np.ndarray
    y: np.ndarray
    sw: np.ndarray
    var: np.ndarray
    step: float
    lam: float


@dataclass
class _Evidence:
    p: float
    support: Support
    detection: float
    wf: float
    strain: float = 0.0

    def passes(self, cfg: AnalysisConfig) -> bool:
        """The phase earns its place (see :mod:`lab_adapters.xrd.evidence`); a lattice strain stuck at its
        bound means the phase's peaks were stretched onto another phase's, not matched."""
        return (self.p <= cfg.alpha and self.support.passes(cfg.min_support) and self.detection >= 1.0
                and self.wf >= cfg.min_weight_fraction and abs(self.strain) < 0.97 * cfg.max_strain)


class XRDAnalyzer:
    """Fits patterns against one :class:`ReferenceSet` (reuse it for many patterns).

    >>> analyzer = XRDAnalyzer(load_references("refs/"))              # doctest: +SKIP
    >>> fit = analyzer.fit(read_pattern("sample.xy"), target="LiMn2O4")  # doctest: +SKIP
    >>> fit.analysis.phases                                           # doctest: +SKIP
    """

    def __init__(self, references: ReferenceSet, config: AnalysisConfig | None = None) -> None:
        self.references = references
        self.config = config or AnalysisConfig()

    def fit(self, pattern: XRDPattern, target: str | None = None) -> XRDFit:
        """Identify and quantify the reference phases in ``pattern``.

        BLAS runs single-threaded here: the matrices are small and threads only contend.
        """
        if target is not None and target not in self.references.names:
            raise InputDataError(f"target {target!r} is not a reference phase; known: {', '.join(self.references.names)}")
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(pattern, target)

    # ----------------------------------------------------------------- helpers
    def _bounds(self, lam: float) -> RefineBounds:
        c = self.config
        return RefineBounds(c.max_strain, c.max_zero_shift, c.max_displacement, c.inst_fwhm,
                            size_fwhm_bound(lam, c.min_size_nm), 180.0 / math.pi * 4.0 * c.max_microstrain)

    def _data(self, pattern: XRDPattern) -> tuple[XRDPattern, _Data]:
        cfg = self.config
        lo = cfg.two_theta_min if cfg.two_theta_min is not None else -np.inf
        hi = cfg.two_theta_max if cfg.two_theta_max is not None else np.inf
        pat = pattern.cropped(lo, hi) if np.isfinite(lo) or np.isfinite(hi) else pattern
        if len(pat) < 20:
            raise InputDataError(f"only {len(pat)} points inside {cfg.two_theta_min}-{cfg.two_theta_max} deg",
                                 source=pattern.source)
        y = pat.intensity
        if y.max() <= 0:
            raise InputDataError("pattern has no counts", source=pattern.source)
        if pat.esd is not None and (pat.esd > 0).all():
            var = pat.esd**2
        else:
            pos = y[y > 0]
            floor = max(0.5 * float(np.percentile(pos, 5)) if len(pos) else 1.0, 1e-6 * float(y.max()))
            var = np.maximum(y, floor)
        x = pat.two_theta
        k = int(cfg.rebin_step / float(np.median(np.diff(x)))) if cfg.rebin_step else 1
        if k > 1:  # sum k neighbouring points: counts stay Poisson, the fit costs k times less
            m = len(x) // k * k
            x = x[:m].reshape(-1, k).mean(axis=1)
            y = y[:m].reshape(-1, k).sum(axis=1)
            var = var[:m].reshape(-1, k).sum(axis=1)
        return pat, _Data(x, y, 1.0 / np.sqrt(var), var, float(np.median(np.diff(x))), pat.emission[0][0])

    def _filtered(self, d: _Data, net: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
        """Weighted net counts convolved with pseudo-Voigt kernels of a few widths: ``[(X, H, g)]``."""
        f = net * d.sw * d.sw
        out = []
        for hw in (0.03, 0.1, 0.3, 0.9):
            h = math.hypot(hw, self.config.inst_fwhm)
            k = np.arange(-int(6 * h / d.step), int(6 * h / d.step) + 1) * d.step
            ker = 0.5 * (2 / math.pi / h) / (1 + 4 * (k / h) ** 2) + 0.5 * (
                2 / h * math.sqrt(math.log(2) / math.pi) * np.exp(-4 * math.log(2) * (k / h) ** 2))
            out.append((hw, h, np.convolve(f, ker * d.step, mode="same")))
        return out

    def _match(self, d: _Data, filtered: list[tuple[float, float, np.ndarray]], ph: PhaseTemplate) -> list[tuple[float, float]]:
        """For each kernel width, the strain ``e`` that maximises the matched-filter score: ``[(e, X)]``."""
        cfg = self.config
        strains = np.arange(-cfg.max_strain, cfg.max_strain + 1e-12, cfg.strain_step)
        first = ph.lam == ph.lam[0]
        dd, amp = ph.d[first], ph.amp[first]
        tt = np.nan_to_num(two_theta_of(np.outer(1.0 + strains, dd), ph.lam[0]), nan=-1e3)
        out = []
        for hw, _, g in filtered:
            num = np.interp(tt, d.x, g, left=0.0, right=0.0) @ amp
            out.append((float(strains[int(np.argmax(num))]), max(hw * 0.94, 0.005)))
        return out

    def _shape(self, d: _Data, net: np.ndarray, ph: PhaseTemplate, options: list[tuple[float, float]],
               st: FitState) -> tuple[float, float, float]:
        """The ``(e, X)`` option whose template alone explains most of ``net`` with support; ``(e, X, score)``."""
        cfg = self.config
        w = d.sw**2
        best = (options[0][0], options[0][1], 0.0)
        for e, xs in options:
            ti = render(d.x, ph, e, st.z, st.disp, st.eta, xs, 0.01, cfg.inst_fwhm, window=_SCREEN_WINDOW)[0]
            den = float(ti @ (w * ti))
            if den <= 0:
                continue
            s = max(float(ti @ (w * net)) / den, 0.0)
            win = max(1, int(round(2 * math.hypot(cfg.inst_fwhm, xs) / d.step)))
            sup = support(s * ti, net, np.zeros(len(net)), win).distinct
            score = s * s * den * sup if sup >= cfg.min_support else 0.0
            if score > best[2]:
                best = (e, xs, score)
        return best

    def _width(self, ph: PhaseTemplate, xs: float) -> float:
        """Median FWHM (deg) of the phase's peaks with size broadening ``xs``."""
        return float(np.median(np.hypot(self.config.inst_fwhm, xs / ph.cos)))

    def _wf(self, phases: list[PhaseTemplate], s: np.ndarray) -> np.ndarray:
        mass = np.array([max(si, 0.0) / ph.norm * ph.ref.mass_volume for si, ph in zip(s, phases, strict=True)])
        tot = mass.sum()
        return mass / tot if tot > 0 else mass

    def _evidence(self, d: _Data, a_bkg: np.ndarray, phases: list[PhaseTemplate], st: FitState) -> list[_Evidence]:
        """Significance, support, detection and weight fraction of each phase in the state's fit."""
        t = templates(d.x, phases, st, self.config.inst_fwhm)
        coef, chi2 = linear_fit(a_bkg, t, d.y, d.sw)
        nb = a_bkg.shape[1]
        st.bkg, st.s = coef[:nb], coef[nb:]
        model = np.hstack([a_bkg, t]) @ coef
        widths = [self._width(ph, st.X[i]) for i, ph in enumerate(phases)]
        n_par = 3 + nb + sum(_n_params(ph) for ph in phases)
        n_eff = effective_points(d.x, float(np.median(widths)) if widths else 2 * self.config.inst_fwhm)
        wf = self._wf(phases, st.s)
        out = []
        for i in range(len(phases)):
            keep = np.arange(len(phases)) != i
            _, chi2_i = linear_fit(a_bkg, t[:, keep], d.y, d.sw)
            _, p = f_test(chi2_i, chi2, n_eff, n_par, _n_params(phases[i]))
            curve = st.s[i] * t[:, i]
            own = d.y - model + curve  # counts minus background and the other phases
            others = t[:, competitors(np.array(widths), i)] @ st.s[competitors(np.array(widths), i)]
            win = max(1, int(round(2 * widths[i] / d.step)))
            out.append(_Evidence(p, support(curve, own, others, win, d.var), detection_ratio(
                curve, d.x, widths[i], np.maximum(d.var - curve, 1e-9)), wf[i], float(st.e[i])))
        return out

    # ----------------------------------------------------------------- selection
    def _screen(self, d: _Data, a_bkg: np.ndarray, net: np.ndarray, phases: list[PhaseTemplate]) -> tuple[list, FitState]:
        """Shapes of every phase and the ``max_candidates`` that best explain the counts alone."""
        cfg = self.config
        filt = self._filtered(d, net)
        st = FitState(0.0, 0.0, 0.5, np.zeros(a_bkg.shape[1]), np.zeros(len(phases)), np.zeros(len(phases)),
                      np.zeros(len(phases)), np.full(len(phases), 0.01))
        score = np.zeros(len(phases))
        for i, ph in enumerate(phases):
            st.e[i], st.X[i], score[i] = self._shape(d, net, ph, self._match(d, filt, ph), st)
        order = [int(i) for i in np.argsort(-score) if score[i] > 0][: cfg.max_candidates]
        logger.debug("screen: %s", [(phases[i].name, round(float(score[i]), 1)) for i in order])
        return order, st

    def _forward(
        self, d: _Data, a_bkg: np.ndarray, phases: list[PhaseTemplate], st: FitState, chosen: list[int],
        candidates: list[int], shapes: FitState,
    ) -> tuple[list[int], FitState]:
        """Add, one at a time, the supported candidate that lowers chi^2 most, while it passes the evidence tests."""
        cfg = self.config
        nb = a_bkg.shape[1]
        while True:
            current = [phases[i] for i in chosen]
            t_cur = templates(d.x, current, st, cfg.inst_fwhm)
            ranked = []
            for c in candidates:
                if c in chosen:
                    continue
                trial = st.append(0.0, shapes.e[c], shapes.X[c], shapes.Y[c])
                t_c = render(d.x, phases[c], trial.e[-1], st.z, st.disp, st.eta, trial.X[-1], trial.Y[-1],
                             cfg.inst_fwhm, window=_SCREEN_WINDOW)[0]
                a_ph = np.column_stack([t_cur, t_c])
                coef, chi2_c = linear_fit(a_bkg, a_ph, d.y, d.sw)
                curve = coef[-1] * t_c
                own = d.y - a_bkg @ coef[:nb] - a_ph[:, :-1] @ coef[nb:-1]
                widths = np.r_[[self._width(ph, st.X[j]) for j, ph in enumerate(current)],
                               self._width(phases[c], trial.X[-1])]
                rivals = competitors(widths, len(current))[:-1]
                others = a_ph[:, :-1][:, rivals] @ coef[nb:-1][rivals]
                win = max(1, int(round(2 * math.hypot(cfg.inst_fwhm, trial.X[-1]) / d.step)))
                sup = support(curve, own, others, win, d.var)
                if coef[-1] <= 0 or not sup.passes(cfg.min_support):
                    logger.debug("forward: %s unsupported (scale %.3g, support %s)", phases[c].name, coef[-1], sup)
                    continue
                ranked.append((chi2_c, c, trial))
            ranked.sort(key=lambda r: r[0])
            added = False
            for _, c, trial in ranked[: cfg.forward_tries]:
                trial = refine(d.x, d.y, d.sw, a_bkg, current + [phases[c]], trial, self._bounds(d.lam),
                               cfg.max_nfev_forward)
                ev = self._evidence(d, a_bkg, current + [phases[c]], trial)
                if ev[-1].passes(cfg):
                    logger.debug("forward: add %s (p %.2g, support %.2f, wf %.3f)", phases[c].name, ev[-1].p,
                                 ev[-1].support.distinct, ev[-1].wf)
                    chosen, st, added = chosen + [c], trial, True
                    break
                logger.debug("forward: %s fails (p %.2g, support %s, detection %.2f, wf %.3f)",
                             phases[c].name, ev[-1].p, ev[-1].support, ev[-1].detection, ev[-1].wf)
            if not added:
                return chosen, st

    def _backward(
        self, d: _Data, a_bkg: np.ndarray, phases: list[PhaseTemplate], chosen: list[int], st: FitState,
    ) -> tuple[list[int], FitState, list[_Evidence]]:
        """Drop the weakest phase that fails the evidence tests, refine, repeat."""
        cfg = self.config
        bounds = self._bounds(d.lam)
        while True:
            current = [phases[i] for i in chosen]
            ev = self._evidence(d, a_bkg, current, st)
            failing = [i for i, e in enumerate(ev) if not e.passes(cfg)]
            if not failing or len(chosen) <= 1:
                return chosen, st, ev
            worst = max(failing, key=lambda i: ev[i].p)
            logger.debug("backward: drop %s (p %.2g, support %s, detection %.2f, wf %.3f)", current[worst].name,
                         ev[worst].p, ev[worst].support, ev[worst].detection, ev[worst].wf)
            keep = np.arange(len(chosen)) != worst
            chosen = [c for c, k in zip(chosen, keep, strict=True) if k]
            st = refine(d.x, d.y, d.sw, a_bkg, [phases[i] for i in chosen], st.subset(keep), bounds, cfg.max_nfev)

    # ----------------------------------------------------------------- main
    def _fit(self, pattern: XRDPattern, target: str | None) -> XRDFit:
        cfg = self.config
        pat, d = self._data(pattern)
        phases = build_templates(self.references.phases, d.x, pat.emission, cfg.max_strain + 0.002)
        if not phases:
            raise InputDataError("no reference phase has reflections in the measured range", source=pattern.source)
        bounds = self._bounds(d.lam)
        bkg0 = snip(d.y, int(round(cfg.background_window_deg / d.step)))
        a_bkg = np.column_stack([bkg0, chebyshev_basis(d.x, cfg.background_degree)])
        candidates, shapes = self._screen(d, a_bkg, d.y - bkg0, phases)
        empty = FitState(0.0, 0.0, 0.5, np.zeros(a_bkg.shape[1]), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
        chosen, st = self._forward(d, a_bkg, phases, empty, [], candidates, shapes)
        if chosen:
            st = refine(d.x, d.y, d.sw, a_bkg, [phases[i] for i in chosen], st, bounds, cfg.max_nfev)
            a_bkg = self._background(d, phases, chosen, st)
            st.bkg = np.zeros(a_bkg.shape[1])
            st = refine(d.x, d.y, d.sw, a_bkg, [phases[i] for i in chosen], st, bounds, cfg.max_nfev)
            if cfg.preferred_orientation:
                st = self._texture(d, a_bkg, phases, chosen, st)
            # a second look for minor phases, re-matched against what the refined fit leaves
            t = templates(d.x, [phases[i] for i in chosen], st, cfg.inst_fwhm)
            left = d.y - (a_bkg @ st.bkg + t @ st.s)
            filt = self._filtered(d, left)
            for c in candidates:
                if c not in chosen:
                    shapes.e[c], shapes.X[c], _ = self._shape(d, left, phases[c],
                                                              self._match(d, filt, phases[c]), st)
            n_before = len(chosen)
            chosen, st = self._forward(d, a_bkg, phases, st, chosen, candidates, shapes)
            if len(chosen) > n_before:
                st = refine(d.x, d.y, d.sw, a_bkg, [phases[i] for i in chosen], st, bounds, cfg.max_nfev)
            chosen, st, ev = self._backward(d, a_bkg, phases, chosen, st)
        else:
            ev = []
            coef, _ = linear_fit(a_bkg, np.zeros((len(d.x), 0)), d.y, d.sw)
            st.bkg = coef
        return self._result(pattern, d, a_bkg, [phases[i] for i in chosen], st, ev, target)

    def _texture(self, d: _Data, a_bkg: np.ndarray, phases: list[PhaseTemplate], chosen: list[int],
                 st: FitState) -> FitState:
        """March-Dollase texture for the requested phases: the best direction by chi^2; an ``auto`` one
        stays only if the F-test at ``alpha`` supports its extra parameter."""
        cfg = self.config
        bounds = self._bounds(d.lam)
        current = [phases[i] for i in chosen]
        for j, ph in enumerate(current):
            request = cfg.preferred_orientation.get(ph.name, cfg.preferred_orientation.get("*"))
            if request is None:
                continue
            options = distinct_directions(ph.ref) if request == "auto" else [Texture.of(ph.ref, parse_direction(request))]
            _, chi2_0 = linear_fit(a_bkg, templates(d.x, current, st, cfg.inst_fwhm), d.y, d.sw)
            best: tuple[float, Texture | None, FitState] = (chi2_0, None, st)
            for tex in options:
                ph.texture = tex
                trial = refine(d.x, d.y, d.sw, a_bkg, current, st, bounds, cfg.max_nfev_forward)
                _, chi2 = linear_fit(a_bkg, templates(d.x, current, trial, cfg.inst_fwhm), d.y, d.sw)
                if chi2 < best[0]:
                    best = (chi2, tex, trial)
            ph.texture = best[1]
            if request == "auto" and best[1] is not None:
                widths = [self._width(q, st.X[i]) for i, q in enumerate(current)]
                n_par = 3 + a_bkg.shape[1] + sum(_n_params(q) for q in current)
                _, p = f_test(chi2_0, best[0], effective_points(d.x, float(np.median(widths))), n_par, 1)
                if p > cfg.alpha:
                    ph.texture = None
                    best = (chi2_0, None, st)
            st = best[2]
            if ph.texture is not None:
                logger.debug("texture: %s along %s, r %.3f", ph.name, ph.texture.direction, st.r[j])
        return st

    @staticmethod
    def _reflections(phases: list[PhaseTemplate], st: FitState) -> np.ndarray:
        """Angles of the identified phases' reflections that carry at least 0.5 % of the phase's strongest."""
        out = []
        for i, ph in enumerate(phases):
            strong = ph.amp >= 0.005
            s = ph.lam[strong] / (2.0 * ph.d[strong] * (1.0 + st.e[i]))
            out.append(np.degrees(2.0 * np.arcsin(np.minimum(s, 1.0))) + st.z + st.disp * ph.cos[strong])
        return np.concatenate(out) if out else np.zeros(0)

    def _background(self, d: _Data, phases: list[PhaseTemplate], chosen: list[int], st: FitState) -> np.ndarray:
        """Background basis re-estimated under the refined phases: SNIP of the rest plus Chebyshev terms."""
        cfg = self.config
        current = [phases[i] for i in chosen]
        t = templates(d.x, current, st, cfg.inst_fwhm)
        widest = max([float(np.max(np.hypot(st.X[i] / ph.cos, st.Y[i] * ph.tan))) for i, ph in enumerate(current)]
                     + [cfg.inst_fwhm])
        win = int(round(min(max(1.0, 3.0 * widest), 2 * cfg.background_window_deg) / d.step))
        bkg1 = snip(np.maximum(d.y - t @ st.s, 0.0), win)
        return np.column_stack([bkg1, chebyshev_basis(d.x, cfg.final_background_degree)])

    def _result(
        self, pattern: XRDPattern, d: _Data, a_bkg: np.ndarray, phases: list[PhaseTemplate], st: FitState,
        ev: list, target: str | None,
    ) -> XRDFit:
        cfg = self.config
        t = templates(d.x, phases, st, cfg.inst_fwhm)
        bkg = a_bkg @ st.bkg
        model = bkg + t @ st.s
        wf = self._wf(phases, st.s)
        sum_wy2 = float(np.sum((d.sw * d.y) ** 2))
        chi2 = float(np.sum((d.sw * (d.y - model)) ** 2))
        rwp = math.sqrt(chi2 / sum_wy2)
        n_par = 3 + a_bkg.shape[1] + sum(_n_params(ph) for ph in phases)
        rexp = math.sqrt(max(len(d.y) - n_par, 1) / sum_wy2)
        fits = []
        for i, ph in enumerate(phases):
            if wf[i] <= 0:
                continue
            e = ev[i] if i < len(ev) else None
            lat = ph.ref.structure.lattice
            scale = 1.0 + float(st.e[i])
            fits.append(PhaseFit(
                ph.name, ph.ref.formula, float(st.s[i] / ph.norm), float(st.e[i]), float(st.X[i]), float(st.Y[i]),
                float(wf[i]), confidence=(1.0 - e.p) if e else 0.0, kept_on_evidence=bool(e and e.passes(cfg)),
                support=e.support.distinct if e else 0.0, detection=e.detection if e else 0.0,
                lattice=[round(v * scale, 5) for v in lat.abc] + [round(v, 3) for v in lat.angles],
                texture=(ph.texture.direction, round(float(st.r[i]), 4)) if ph.texture is not None else None,
                curve=st.s[i] * t[:, i]))
        fits.sort(key=lambda f: -f.weight_fraction)
        width = float(np.median(np.hypot(cfg.inst_fwhm, st.X))) if len(st.X) else 2 * cfg.inst_fwhm
        residual = unidentified_residual(d.x, d.y, model, bkg, d.var, width, st.eta, cfg.unknown_min_snr,
                                         cfg.unknown_dominance, cfg.unknown_min_height, cfg.unknown_min_share,
                                         self._reflections(phases, st))
        phase_conf = min([f.confidence for f in fits] or [0.0])
        confidence = float(np.clip(min(1.0, rexp / max(rwp, 1e-12)) ** 0.5 * phase_conf, 0.0, 1.0))
        target_fraction = None
        if target is not None:
            target_fraction = next((round(f.weight_fraction, 6) for f in fits if f.name == target), 0.0)
        warnings = [str(pattern.metadata["warnings"])] if pattern.metadata.get("warnings") else []
        if pattern.wavelength_origin == "assumed":
            warnings.append("no wavelength in the file: Cu K-alpha1 + K-alpha2 assumed")
        for ph in phases:
            if ph.ref.disordered:
                warnings.append(f"reference {ph.name} has partial occupancies: it is fitted as the average "
                                "(disordered) structure, and its weight fraction assumes that composition")
        record = PhaseAnalysis(
            phases=[PhaseFraction(name=f.name, formula=f.formula, weight_fraction=round(f.weight_fraction, 6),
                                  confidence=round(f.confidence, 6), kept_on_evidence=f.kept_on_evidence,
                                  lattice=f.lattice,
                                  preferred_orientation=[*f.texture[0], f.texture[1]] if f.texture else None)
                    for f in fits],
            rwp=rwp, confidence=confidence, target_fraction=target_fraction, unidentified=residual, warnings=warnings,
        )
        return XRDFit(record, fits, d.x, d.y, model, bkg, float(st.z), float(st.disp), float(st.eta), rwp, rexp,
                      pattern.source)


def _n_params(ph: PhaseTemplate) -> int:
    """Refined parameters of a phase: scale, strain, two widths, and the March-Dollase r when textured."""
    return 5 if ph.texture is not None else 4


def analyze_pattern(
    pattern: XRDPattern, references: ReferenceSet, config: AnalysisConfig | None = None, target: str | None = None
) -> PhaseAnalysis:
    """Convenience: the :class:`PhaseAnalysis` of one pattern."""
    return XRDAnalyzer(references, config).fit(pattern, target).analysis
