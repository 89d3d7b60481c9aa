"""Phase identification and quantification by whole-pattern fitting of reference profiles.

Model of the counts ``y`` (``(n,)``) at angles ``x``:

    m(x) = sum_j c_j B_j(x) + sum_p s_p T_p(x; z, eta, e_p, X_p, Y_p),
    T_p(x) = sum_k F2m_pk LP(theta_pk) pV(x; 2theta(d_pk (1 + e_p)) + z, H_pk, eta) / N_p,
    H_pk^2 = H_inst^2 + (X_p / cos theta_pk)^2 + (Y_p tan theta_pk)^2,

with a background basis ``B`` (a SNIP estimate and low-order Chebyshev terms, free signs),
phase scales ``s_p >= 0`` (a non-negative combination of reference profiles), per-phase
lattice strain ``e_p`` (peak shift), size and micro-strain widths ``X_p, Y_p``, a global
zero shift ``z`` and Lorentzian fraction ``eta``. Weighted least squares with Poisson
weights ``w = 1 / max(y, floor)``.

Steps:
1. SNIP background; per phase, a matched-filter grid search over ``e_p`` and width (the
   correlation of the net counts with the phase's peak comb) gives starting values; a bounded
   linear fit (NNLS on the scales) follows, then one backfitting pass re-matches each phase
   against the counts the others leave unexplained. A loose elimination prunes hopeless phases.
2. Joint non-linear refinement (``scipy.optimize.least_squares``, analytic Jacobian); the
   background is re-estimated by SNIP on ``y - phases`` plus Chebyshev terms up to
   ``final_background_degree`` (broad features: air scatter, amorphous humps), and refined again.
3. Model selection by backward elimination: a phase stays only if it carries at least
   ``min_weight_fraction``, its refined strain is not stuck at the bound, and removing it
   worsens the fit by a significant share of the misfit (``delta chi^2_p / chi^2 >=
   min_delta_chi2``) -- a relative test, so that systematic misfit (K-alpha2, an unlisted
   impurity, texture) cannot make a phase "significant" the way a plain chi^2 test would.

Weight fractions (Hill & Howard): ``W_p = S_p (M V)_p / sum_q S_q (M V)_q`` with ``S_p = s_p / N_p``.
``Rwp = sqrt(sum w (y - m)^2 / sum w y^2)``; ``Rexp = sqrt((n - P) s2 / sum w y^2)`` with the
noise scale ``s2 = median(w d2^2) / 1.5`` from second differences ``d2`` of the data (1 for counts).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import least_squares, lsq_linear
from threadpoolctl import threadpool_limits

from lab_adapters.xrd.background import chebyshev_basis, snip
from lab_adapters.xrd.pattern import XRDPattern
from lab_adapters.xrd.peaks import PhasePeaks, lorentz_polarization, two_theta_of
from lab_adapters.xrd.profile import SCHERRER_K, peak_terms
from lab_adapters.xrd.references import ReferenceSet
from loop.errors import InputDataError
from loop.records import PhaseAnalysis, PhaseFraction

__all__ = ["AnalysisConfig", "PhaseFit", "XRDAnalyzer", "XRDFit", "analyze_pattern"]

logger = logging.getLogger(__name__)
_RAD = 180.0 / math.pi


class AnalysisConfig(BaseModel):
    """Settings of the whole-pattern fit (defaults suit laboratory Cu K-alpha scans)."""

    model_config = ConfigDict(extra="forbid")

    two_theta_min: float | None = Field(None, description="ignore data below this angle, deg")
    two_theta_max: float | None = Field(None, description="ignore data above this angle, deg")
    max_strain: float = Field(0.01, ge=0, le=0.05, description="bound on |lattice strain| per phase")
    strain_step: float = Field(0.0004, gt=0, description="grid step of the initial strain search")
    max_zero_shift: float = Field(0.25, ge=0, description="bound on |zero shift|, deg")
    inst_fwhm: float = Field(0.05, gt=0, description="instrument FWHM, deg")
    min_size_nm: float = Field(4.0, gt=0, description="smallest crystallite size allowed")
    max_microstrain: float = Field(0.005, ge=0)
    background_window_deg: float = Field(3.0, gt=0, description="SNIP half-window of the first background, deg")
    background_degree: int = Field(3, ge=0, le=20, description="Chebyshev correction degree of the first fit")
    final_background_degree: int = Field(
        8, ge=0, le=20, description="Chebyshev correction degree once peaks are modelled (features >~ 7 deg wide)"
    )
    min_weight_fraction: float = Field(0.02, ge=0, lt=1, description="smallest reported weight fraction")
    min_delta_chi2: float = Field(0.03, ge=0, description="share of chi^2 a phase must explain to be kept")
    max_nfev: int = Field(40, ge=1, description="function evaluations per non-linear refinement")


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
    delta_chi2: float = 0.0
    delta_chi2_local: float = 0.0
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
    eta: float
    rwp: float
    rexp: float
    source: str | None = None


@dataclass
class _Phase:
    """Per-pattern precomputed view of a reference: reflections inside the range."""

    ref: PhasePeaks
    d: np.ndarray
    amp: np.ndarray  # F2m * LP / norm
    norm: float
    tan: np.ndarray
    cos: np.ndarray


class XRDAnalyzer:
    """Fits patterns against one :class:`ReferenceSet` (reuse it for many patterns).

    >>> analyzer = XRDAnalyzer(load_references("refs/"))              # doctest: +SKIP
    >>> fit = analyzer.fit(read_pattern("sample.xy"), target="LiMn2O4")  # doctest: +SKIP
    >>> fit.analysis.phases                                           # doctest: +SKIP
    """

    def __init__(self, references: ReferenceSet, config: AnalysisConfig | None = None) -> None:
        self.references = references
        self.config = config or AnalysisConfig()

    # ----------------------------------------------------------------- setup
    def _phases(self, x: np.ndarray, lam: float) -> list[_Phase]:
        out = []
        margin = self.config.max_strain + 0.002
        for ref in self.references.phases:
            tt = two_theta_of(ref.d, lam)
            tt_lo = two_theta_of(ref.d * (1 + margin), lam)
            tt_hi = two_theta_of(ref.d * (1 - margin), lam)
            ok = np.isfinite(tt) & np.isfinite(tt_hi) & (tt_hi > x[0] - 1.0) & (tt_lo < x[-1] + 1.0)
            if not ok.any():
                continue
            amp = ref.f2m[ok] * lorentz_polarization(tt[ok])
            norm = float(amp.max())
            th = np.radians(tt[ok] / 2)
            out.append(_Phase(ref, ref.d[ok], amp / norm, norm, np.tan(th), np.cos(th)))
        return out

    # ----------------------------------------------------------------- model
    def _render(
        self, x: np.ndarray, lam: float, ph: _Phase, e: float, z: float, eta: float, xs: float, ys: float, jac: bool
    ) -> tuple[np.ndarray, ...]:
        """Template ``T_p`` (``(n,)``) and, with ``jac``, its derivatives wrt e, X, Y, z, eta."""
        c = two_theta_of(ph.d * (1.0 + e), lam) + z
        c = np.nan_to_num(c, nan=-1e3)
        h = np.sqrt(self.config.inst_fwhm**2 + (xs / ph.cos) ** 2 + (ys * ph.tan) ** 2)
        val, dc, dh, de, point, peak = peak_terms(x, c, ph.amp, h, eta)
        n = len(x)
        t = np.bincount(point, weights=val, minlength=n)
        if not jac:
            return (t,)
        dcde = -2.0 * ph.tan / (1.0 + e) * _RAD
        dhdx = xs / ph.cos**2 / h
        dhdy = ys * ph.tan**2 / h
        return (
            t,
            np.bincount(point, weights=dc * dcde[peak], minlength=n),
            np.bincount(point, weights=dh * dhdx[peak], minlength=n),
            np.bincount(point, weights=dh * dhdy[peak], minlength=n),
            np.bincount(point, weights=dc, minlength=n),
            np.bincount(point, weights=de, minlength=n),
        )

    # ----------------------------------------------------------------- stage 1
    def _filtered(self, x: np.ndarray, net: np.ndarray, sw: np.ndarray) -> list[tuple[float, float, np.ndarray]]:
        """Weighted net counts convolved with pseudo-Voigt kernels of a few widths: ``[(X, H, g)]``."""
        step = float(np.median(np.diff(x)))
        f = net * sw * sw
        out = []
        for hw in (0.1, 0.3, 0.9):
            h = math.hypot(hw, self.config.inst_fwhm)
            k = np.arange(-int(6 * h / step), int(6 * h / step) + 1) * step
            ker = 0.5 * (2 / math.pi / h) / (1 + 4 * (k / h) ** 2) + 0.5 * (
                2 / h * math.sqrt(math.log(2) / math.pi) * np.exp(-4 * math.log(2) * (k / h) ** 2)
            )
            out.append((hw, h, np.convolve(f, ker * step, mode="same")))
        return out

    def _match(
        self, x: np.ndarray, filtered: list[tuple[float, float, np.ndarray]], sw: np.ndarray, lam: float, ph: _Phase
    ) -> tuple[float, float]:
        """``(e, X)`` maximising the matched-filter score ``sum_k a_k g(c_k(e)) / sqrt(sum_k a_k^2 w_k / 1.3H)``."""
        cfg = self.config
        strains = np.arange(-cfg.max_strain, cfg.max_strain + 1e-12, cfg.strain_step)
        tt = np.nan_to_num(two_theta_of(np.outer(1.0 + strains, ph.d), lam), nan=-1e3)  # (n_e, m)
        wk = np.interp(two_theta_of(ph.d, lam), x, sw * sw, left=0.0, right=0.0)
        best = (-np.inf, 0.0, 0.03)
        for hw, h, g in filtered:
            num = np.interp(tt, x, g, left=0.0, right=0.0) @ ph.amp  # (n_e,)
            den = math.sqrt(float(np.sum(ph.amp**2 * wk)) / (1.3 * h) + 1e-300)
            i = int(np.argmax(num))
            if num[i] / den > best[0]:
                best = (float(num[i] / den), float(strains[i]), hw)
        return best[1], max(best[2] * 0.94, 0.01)

    # ----------------------------------------------------------------- linear fit
    @staticmethod
    def _linear(a_bkg: np.ndarray, a_ph: np.ndarray, y: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, float]:
        """Bounded weighted LS: background coefficients free, phase scales >= 0. Returns (coef, chi2)."""
        a = np.hstack([a_bkg, a_ph]) * sw[:, None]
        b = y * sw
        colnorm = np.linalg.norm(a, axis=0)
        colnorm[colnorm == 0] = 1.0
        lo = np.r_[np.full(a_bkg.shape[1], -np.inf), np.zeros(a_ph.shape[1])]
        res = lsq_linear(a / colnorm, b, bounds=(lo, np.full(len(lo), np.inf)), method="bvls", lsmr_tol="auto")
        coef = res.x / colnorm
        r = a @ coef - b
        return coef, float(r @ r)

    # ----------------------------------------------------------------- refinement
    def _refine(
        self, x: np.ndarray, y: np.ndarray, sw: np.ndarray, lam: float, a_bkg: np.ndarray,
        phases: list[_Phase], state: dict,
    ) -> dict:
        cfg = self.config
        nb = a_bkg.shape[1]
        m = len(phases)
        max_x = _RAD * SCHERRER_K * (lam / 10.0) / cfg.min_size_nm
        max_y = _RAD * 4.0 * cfg.max_microstrain
        p0 = np.r_[state["z"], state["eta"], state["bkg"], np.ravel(np.column_stack(
            [state["s"], state["e"], state["X"], state["Y"]]))] if m else np.r_[state["z"], state["eta"], state["bkg"]]
        lo = np.r_[-cfg.max_zero_shift, 0.0, np.full(nb, -np.inf), np.tile([0.0, -cfg.max_strain, 0.0, 0.0], m)]
        hi = np.r_[cfg.max_zero_shift, 1.0, np.full(nb, np.inf), np.tile([np.inf, cfg.max_strain, max_x, max_y], m)]
        span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        p0 = np.clip(np.where(np.isfinite(p0), p0, 0.0), lo + 1e-9 * span, hi - 1e-9 * span)

        cache: dict = {}

        def model(p: np.ndarray, jac: bool) -> tuple[np.ndarray, np.ndarray | None]:
            z, eta = p[0], p[1]
            bk = p[2 : 2 + nb]
            mod = a_bkg @ bk
            jm = np.zeros((len(x), len(p))) if jac else None
            if jac:
                jm[:, 2 : 2 + nb] = a_bkg
            for i, ph in enumerate(phases):
                s, e, xs, ys = p[2 + nb + 4 * i : 6 + nb + 4 * i]
                parts = self._render(x, lam, ph, e, z, eta, xs, ys, jac)
                mod = mod + s * parts[0]
                if jac:
                    t, d_e, d_x, d_y, d_z, d_eta = parts
                    j0 = 2 + nb + 4 * i
                    jm[:, j0] = t
                    jm[:, j0 + 1] = s * d_e
                    jm[:, j0 + 2] = s * d_x
                    jm[:, j0 + 3] = s * d_y
                    jm[:, 0] += s * d_z
                    jm[:, 1] += s * d_eta
            return mod, jm

        def fun(p: np.ndarray) -> np.ndarray:
            mod, jm = model(p, True)
            cache["jac"] = jm * sw[:, None]
            cache["key"] = p.tobytes()
            return (mod - y) * sw

        def jac(p: np.ndarray) -> np.ndarray:
            if cache.get("key") != p.tobytes():
                fun(p)
            return cache["jac"]

        res = least_squares(fun, p0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=cfg.max_nfev)
        p = res.x
        out = {"z": p[0], "eta": p[1], "bkg": p[2 : 2 + nb]}
        block = p[2 + nb :].reshape(m, 4) if m else np.zeros((0, 4))
        out.update(s=block[:, 0], e=block[:, 1], X=block[:, 2], Y=block[:, 3])
        if "dloc" in state:
            out["dloc"] = state["dloc"]
        return out

    def _templates(self, x: np.ndarray, lam: float, phases: list[_Phase], st: dict) -> np.ndarray:
        cols = [
            self._render(x, lam, ph, st["e"][i], st["z"], st["eta"], st["X"][i], st["Y"][i], False)[0]
            for i, ph in enumerate(phases)
        ]
        return np.column_stack(cols) if cols else np.zeros((len(x), 0))

    # ----------------------------------------------------------------- main
    def fit(self, pattern: XRDPattern, target: str | None = None) -> XRDFit:
        """Identify and quantify the reference phases in ``pattern``.

        BLAS runs single-threaded here: the matrices are small (``n x ~40``) and threads
        only contend, by a factor of 100 on a busy machine.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(pattern, target)

    def _fit(self, pattern: XRDPattern, target: str | None) -> XRDFit:
        cfg = self.config
        if target is not None and target not in self.references.names:
            raise InputDataError(f"target {target!r} is not a reference phase; known: {', '.join(self.references.names)}")
        lo = cfg.two_theta_min if cfg.two_theta_min is not None else -np.inf
        hi = cfg.two_theta_max if cfg.two_theta_max is not None else np.inf
        pat = pattern.cropped(lo, hi) if np.isfinite(lo) or np.isfinite(hi) else pattern
        x, y, lam = pat.two_theta, pat.intensity, pat.wavelength
        if y.max() <= 0:
            raise InputDataError("pattern has no counts", source=pattern.source)
        pos = y[y > 0]
        floor = max(0.5 * float(np.percentile(pos, 5)) if len(pos) else 1.0, 1e-6 * float(y.max()))
        sw = 1.0 / np.sqrt(np.maximum(y, floor))
        step = float(np.median(np.diff(x)))
        phases = self._phases(x, lam)
        if not phases:
            raise InputDataError("no reference phase has reflections in the measured range", source=pattern.source)

        bkg0 = snip(y, int(round(cfg.background_window_deg / step)))
        cheb = chebyshev_basis(x, cfg.background_degree)
        a_bkg = np.column_stack([bkg0, cheb])
        filt = self._filtered(x, y - bkg0, sw)
        guess = [self._match(x, filt, sw, lam, ph) for ph in phases]
        st = {
            "z": 0.0, "eta": 0.5,
            "e": np.array([g[0] for g in guess]), "X": np.array([g[1] for g in guess]),
            "Y": np.full(len(phases), 0.02),
        }
        coef, _ = self._linear(a_bkg, self._templates(x, lam, phases, st), y, sw)
        st["bkg"], st["s"] = coef[: a_bkg.shape[1]], coef[a_bkg.shape[1] :]
        # backfitting: re-match each phase against the counts the other phases leave unexplained
        t = self._templates(x, lam, phases, st)
        fitted = a_bkg @ st["bkg"] + t @ st["s"]
        for i, ph in enumerate(phases):
            own = y - fitted + st["s"][i] * t[:, i]  # counts minus background minus the other phases
            st["e"][i], st["X"][i] = self._match(x, self._filtered(x, own, sw), sw, lam, ph)
        coef, _ = self._linear(a_bkg, self._templates(x, lam, phases, st), y, sw)
        st["bkg"], st["s"] = coef[: a_bkg.shape[1]], coef[a_bkg.shape[1] :]
        keep = self._wf(phases, st["s"]) >= 0.25 * cfg.min_weight_fraction
        phases, st = _subset(phases, st, keep)
        st, phases, _ = self._select(x, y, sw, lam, a_bkg, phases, st, loose=0.2)

        st = self._refine(x, y, sw, lam, a_bkg, phases, st)
        # background from the counts minus the phases, clipped with a window of a few peak widths
        t = self._templates(x, lam, phases, st)
        widest = max([float(np.max(np.hypot(st["X"][i] / ph.cos, st["Y"][i] * ph.tan))) for i, ph in enumerate(phases)]
                     + [cfg.inst_fwhm])
        win = int(round(min(max(1.0, 3.0 * widest), 2 * cfg.background_window_deg) / step))
        bkg1 = snip(np.maximum(y - t @ st["s"], 0.0), win)
        a_bkg = np.column_stack([bkg1, chebyshev_basis(x, cfg.final_background_degree)])
        coef, _ = self._linear(a_bkg, t, y, sw)
        st["bkg"], st["s"] = coef[: a_bkg.shape[1]], coef[a_bkg.shape[1] :]

        st = self._refine(x, y, sw, lam, a_bkg, phases, st)
        n_before = len(phases)
        st, phases, dchi = self._select(x, y, sw, lam, a_bkg, phases, st)
        if len(phases) < n_before:
            st = self._refine(x, y, sw, lam, a_bkg, phases, st)
        return self._result(pattern, pat, x, y, sw, lam, a_bkg, phases, st, dchi, target)

    def _wf(self, phases: list[_Phase], s: np.ndarray) -> np.ndarray:
        mass = np.array([max(si, 0.0) / ph.norm * ph.ref.mass_volume for si, ph in zip(s, phases, strict=True)])
        tot = mass.sum()
        return mass / tot if tot > 0 else mass

    def _select(
        self, x: np.ndarray, y: np.ndarray, sw: np.ndarray, lam: float, a_bkg: np.ndarray,
        phases: list[_Phase], st: dict, loose: float = 1.0,
    ) -> tuple[dict, list[_Phase], np.ndarray]:
        """Backward elimination of phases that carry too little weight or explain too little.

        ``loose`` scales both thresholds (a loose pass prunes before the costly refinement).
        """
        cfg = self.config
        while True:
            t = self._templates(x, lam, phases, st)
            coef, chi2 = self._linear(a_bkg, t, y, sw)
            nb = a_bkg.shape[1]
            st["bkg"], st["s"] = coef[:nb], coef[nb:]
            r_full = (np.hstack([a_bkg, t]) @ coef - y) * sw
            wf = self._wf(phases, st["s"])
            dchi = np.zeros(len(phases))
            dloc = np.zeros(len(phases))
            for i in range(len(phases)):
                mask = np.arange(len(phases)) != i
                c_i, chi2_i = self._linear(a_bkg, t[:, mask], y, sw)
                r_i = (np.hstack([a_bkg, t[:, mask]]) @ c_i - y) * sw
                dchi[i] = (chi2_i - chi2) / max(chi2, 1e-300)
                region = t[:, i] > 0.05 * t[:, i].max()
                loc = float(np.sum(r_full[region] ** 2))
                dloc[i] = (float(np.sum(r_i[region] ** 2)) - loc) / max(loc, 1e-300)
            st["dloc"] = dloc
            weak = (wf < loose * cfg.min_weight_fraction) | (dchi < loose * cfg.min_delta_chi2)
            if loose >= 1.0:  # a refined strain stuck at its bound: the phase's peaks were not matched
                weak |= np.abs(st["e"]) >= 0.98 * cfg.max_strain
            if len(phases) <= 1 or not weak.any():
                if len(phases) == 1 and weak.all() and wf[0] == 0:
                    logger.info("no reference phase explains the pattern")
                return st, phases, dchi
            # drop the least useful phase (smallest explained share) and refit
            worst = int(np.argmin(np.where(weak, dchi, np.inf)))
            logger.debug("dropping %s (wf %.3f, dchi2 %.4f)", phases[worst].ref.name, wf[worst], dchi[worst])
            keep = np.arange(len(phases)) != worst
            phases, st = _subset(phases, st, keep)

    def _result(
        self, pattern: XRDPattern, pat: XRDPattern, x: np.ndarray, y: np.ndarray, sw: np.ndarray, lam: float,
        a_bkg: np.ndarray, phases: list[_Phase], st: dict, dchi: np.ndarray, target: str | None,
    ) -> XRDFit:
        t = self._templates(x, lam, phases, st)
        bkg = a_bkg @ st["bkg"]
        model = bkg + t @ st["s"]
        wf = self._wf(phases, st["s"])
        sum_wy2 = float(np.sum((sw * y) ** 2))
        chi2 = float(np.sum((sw * (y - model)) ** 2))
        rwp = math.sqrt(chi2 / sum_wy2)
        n_par = 2 + a_bkg.shape[1] + 4 * len(phases)
        # expected Rwp from the noise seen in the data itself (robust second differences), so that
        # it holds for counts and for rescaled intensities alike: var(y_i - (y_i-1 + y_i+1)/2) = 1.5 sigma^2
        d2 = y[1:-1] - 0.5 * (y[:-2] + y[2:])
        noise = float(np.median((sw[1:-1] * d2) ** 2) / 1.5)
        rexp = math.sqrt(max(len(y) - n_par, 1) * noise / sum_wy2)
        fits = []
        for i, ph in enumerate(phases):
            if wf[i] <= 0:
                continue
            fits.append(PhaseFit(ph.ref.name, ph.ref.formula, float(st["s"][i] / ph.norm), float(st["e"][i]),
                                 float(st["X"][i]), float(st["Y"][i]), float(wf[i]),
                                 float(dchi[i]) if i < len(dchi) else 0.0, float(st.get("dloc", dchi)[i]),
                                 st["s"][i] * t[:, i]))
        fits.sort(key=lambda f: -f.weight_fraction)
        # confidence: fit quality (Rexp / Rwp) times the weakest phase's evidence
        evidence = min([1.0 - math.exp(-f.delta_chi2 / max(self.config.min_delta_chi2, 1e-6)) for f in fits] or [0.0])
        confidence = float(np.clip(min(1.0, rexp / max(rwp, 1e-12)) ** 0.5 * evidence, 0.0, 1.0))
        target_fraction = None
        if target is not None:
            target_fraction = next((round(f.weight_fraction, 6) for f in fits if f.name == target), 0.0)
        record = PhaseAnalysis(
            phases=[PhaseFraction(name=f.name, formula=f.formula, weight_fraction=round(f.weight_fraction, 6))
                    for f in fits],
            rwp=rwp, confidence=confidence, target_fraction=target_fraction,
        )
        return XRDFit(record, fits, x, y, model, bkg, float(st["z"]), float(st["eta"]), rwp, rexp, pattern.source)


def _subset(phases: list[_Phase], st: dict, keep: np.ndarray) -> tuple[list[_Phase], dict]:
    new = dict(st)
    for k in ("s", "e", "X", "Y", "dloc"):
        if k not in st:
            continue
        new[k] = np.asarray(st[k])[keep]
    return [p for p, k in zip(phases, keep, strict=True) if k], new


def analyze_pattern(
    pattern: XRDPattern, references: ReferenceSet, config: AnalysisConfig | None = None, target: str | None = None
) -> PhaseAnalysis:
    """Convenience: the :class:`PhaseAnalysis` of one pattern."""
    return XRDAnalyzer(references, config).fit(pattern, target).analysis
