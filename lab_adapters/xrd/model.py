"""The whole-pattern model: reference phases rendered on a measured grid, and its refinement.

For phase ``p`` with reflections ``k`` and emission lines ``l`` (wavelength ``lambda_l``,
relative intensity ``r_l``; Cu K-alpha1/K-alpha2 with ``r = 1, 0.5``):

    T_p(x) = sum_l r_l sum_k A_pk pV(x; c_pkl, H_pk, eta) / N_p,
    c_pkl  = 2 asin(lambda_l / (2 d_pk (1 + e_p))) + z + D cos(theta_pkl),
    H_pk^2 = H_inst^2 + (X_p / cos theta_pk)^2 + (Y_p tan theta_pk)^2,
    A_pk   = F2m_pk LP(theta_pk) P_pk(r_p),

with isotropic lattice strain ``e_p`` (the refined cell is the reference cell times
``1 + e_p``), zero shift ``z`` and sample displacement ``D = -(180/pi) 2 s / R`` (deg; ``s``
the height error, ``R`` the goniometer radius), Lorentzian fraction ``eta``, size and
micro-strain broadening ``X_p, Y_p``, and the March-Dollase factor ``P_pk`` (1 unless
preferred orientation is refined for the phase). The counts are modelled as

    m(x) = sum_j c_j B_j(x) + sum_p s_p T_p(x)

and refined by weighted least squares (``scipy.optimize.least_squares``, trust-region
reflective, analytic Jacobian), weights ``1 / sigma^2`` from the counting statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, lsq_linear

from lab_adapters.xrd.peaks import PhasePeaks, lorentz_polarization, two_theta_of
from lab_adapters.xrd.profile import SCHERRER_K, WINDOW, peak_terms
from lab_adapters.xrd.texture import R_BOUNDS, Texture

__all__ = [
    "FitState",
    "PhaseTemplate",
    "RefineBounds",
    "build_templates",
    "linear_fit",
    "refine",
    "render",
    "templates",
]

_RAD = 180.0 / math.pi


@dataclass
class PhaseTemplate:
    """A reference phase's reflections on one pattern, expanded over the emission lines."""

    ref: PhasePeaks
    d: np.ndarray  # (m L,) d-spacings, one per reflection and line
    lam: np.ndarray  # (m L,) wavelength of each entry
    amp: np.ndarray  # (m L,) F2m LP r_l / norm
    tan: np.ndarray
    cos: np.ndarray
    norm: float
    index: np.ndarray  # (m L,) reflection index into ref.d
    texture: Texture | None = None  # March-Dollase terms when preferred orientation is refined

    @property
    def name(self) -> str:
        return self.ref.name


@dataclass
class FitState:
    """Parameters of the model (per-phase arrays follow the template list)."""

    z: float
    disp: float
    eta: float
    bkg: np.ndarray
    s: np.ndarray
    e: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    r: np.ndarray | None = None  # March-Dollase r per phase (1: random powder)

    def __post_init__(self) -> None:
        if self.r is None:
            self.r = np.ones(len(self.s))

    def subset(self, keep: np.ndarray) -> FitState:
        return FitState(self.z, self.disp, self.eta, self.bkg.copy(), self.s[keep].copy(), self.e[keep].copy(),
                        self.X[keep].copy(), self.Y[keep].copy(), self.r[keep].copy())

    def append(self, s: float, e: float, xs: float, ys: float, r: float = 1.0) -> FitState:
        return FitState(self.z, self.disp, self.eta, self.bkg.copy(), np.r_[self.s, s], np.r_[self.e, e],
                        np.r_[self.X, xs], np.r_[self.Y, ys], np.r_[self.r, r])


@dataclass(frozen=True)
class RefineBounds:
    max_strain: float
    max_zero_shift: float
    max_displacement: float
    inst_fwhm: float
    max_size_fwhm: float
    max_strain_fwhm: float


def build_templates(
    refs: tuple[PhasePeaks, ...], x: np.ndarray, lines: tuple[tuple[float, float], ...], margin: float
) -> list[PhaseTemplate]:
    """Templates of the phases with at least one reflection in ``[x0 - 1, x1 + 1]`` deg (strain margin included)."""
    out = []
    lam1 = lines[0][0]
    for ref in refs:
        tt = two_theta_of(ref.d, lam1)
        tt_lo = two_theta_of(ref.d * (1 + margin), lam1)
        tt_hi = two_theta_of(ref.d * (1 - margin), max(lam for lam, _ in lines))
        ok = np.isfinite(tt) & np.isfinite(tt_hi) & (tt_hi > x[0] - 1.0) & (tt_lo < x[-1] + 1.0)
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        base = ref.f2m[idx] * lorentz_polarization(tt[idx])
        norm = float(base.max())
        ds, lams, amps, index = [], [], [], []
        for lam, rel in lines:
            t_l = two_theta_of(ref.d[idx], lam)
            good = np.isfinite(t_l)
            ds.append(ref.d[idx][good])
            lams.append(np.full(int(good.sum()), lam))
            amps.append(rel * base[good] / norm)
            index.append(idx[good])
        d = np.concatenate(ds)
        lam_arr = np.concatenate(lams)
        th = np.arcsin(np.minimum(lam_arr / (2 * d), 1.0))
        out.append(PhaseTemplate(ref, d, lam_arr, np.concatenate(amps), np.tan(th), np.cos(th), norm,
                                 np.concatenate(index)))
    return out


def render(
    x: np.ndarray, ph: PhaseTemplate, e: float, z: float, disp: float, eta: float, xs: float, ys: float,
    inst_fwhm: float, jac: bool = False, window: float = WINDOW, r: float = 1.0,
) -> tuple[np.ndarray, ...]:
    """``T_p`` (``(n,)``) and, with ``jac``, its derivatives wrt e, X, Y, z, D, eta and the March-Dollase
    ``r`` (zero without texture) (``window``: FWHM per side)."""
    s = ph.lam / (2.0 * ph.d * (1.0 + e))
    c = np.degrees(2.0 * np.arcsin(np.minimum(s, 1.0))) + z + disp * ph.cos
    h = np.sqrt(inst_fwhm**2 + (xs / ph.cos) ** 2 + (ys * ph.tan) ** 2)
    textured = ph.texture is not None
    pk = ph.texture.factor(r)[ph.index] if textured else None
    val, dc, dh, de, point, peak = peak_terms(x, c, ph.amp * pk if textured else ph.amp, h, eta, window)
    n = len(x)
    t = np.bincount(point, weights=val, minlength=n)
    if not jac:
        return (t,)
    if textured:
        ratio = ph.texture.derivative(r)[ph.index] / np.maximum(pk, 1e-12)
        d_r = np.bincount(point, weights=val * ratio[peak], minlength=n)
    else:
        d_r = np.zeros(n)
    dcde = -2.0 * ph.tan / (1.0 + e) * _RAD
    dhdx = xs / ph.cos**2 / h
    dhdy = ys * ph.tan**2 / h
    return (
        t,
        np.bincount(point, weights=dc * dcde[peak], minlength=n),
        np.bincount(point, weights=dh * dhdx[peak], minlength=n),
        np.bincount(point, weights=dh * dhdy[peak], minlength=n),
        np.bincount(point, weights=dc, minlength=n),
        np.bincount(point, weights=dc * ph.cos[peak], minlength=n),
        np.bincount(point, weights=de, minlength=n),
        d_r,
    )


def templates(x: np.ndarray, phases: list[PhaseTemplate], st: FitState, inst_fwhm: float) -> np.ndarray:
    """``(n, P)`` matrix of the phase templates at the state's parameters."""
    cols = [render(x, ph, st.e[i], st.z, st.disp, st.eta, st.X[i], st.Y[i], inst_fwhm, r=st.r[i])[0]
            for i, ph in enumerate(phases)]
    return np.column_stack(cols) if cols else np.zeros((len(x), 0))


def linear_fit(a_bkg: np.ndarray, a_ph: np.ndarray, y: np.ndarray, sw: np.ndarray) -> tuple[np.ndarray, float]:
    """Bounded weighted LS: background coefficients free, phase scales >= 0. Returns ``(coef, chi2)``."""
    a = np.hstack([a_bkg, a_ph]) * sw[:, None]
    b = y * sw
    colnorm = np.linalg.norm(a, axis=0)
    colnorm[colnorm == 0] = 1.0
    lo = np.r_[np.full(a_bkg.shape[1], -np.inf), np.zeros(a_ph.shape[1])]
    res = lsq_linear(a / colnorm, b, bounds=(lo, np.full(len(lo), np.inf)), method="bvls", lsmr_tol="auto")
    coef = res.x / colnorm
    r = a @ coef - b
    return coef, float(r @ r)


def size_fwhm_bound(wavelength: float, min_size_nm: float) -> float:
    """Largest size broadening ``X`` (deg) for crystallites no smaller than ``min_size_nm``."""
    return _RAD * SCHERRER_K * (wavelength / 10.0) / min_size_nm


def refine(
    x: np.ndarray, y: np.ndarray, sw: np.ndarray, a_bkg: np.ndarray, phases: list[PhaseTemplate], st: FitState,
    bounds: RefineBounds, max_nfev: int,
) -> FitState:
    """Joint refinement of z, D, eta, the background coefficients, each phase's s, e, X, Y and, for the
    phases with a texture, the March-Dollase ``r``."""
    nb = a_bkg.shape[1]
    m = len(phases)
    b = bounds
    tex = [i for i, ph in enumerate(phases) if ph.texture is not None]
    coef, _ = linear_fit(a_bkg, templates(x, phases, st, b.inst_fwhm), y, sw)  # linear parameters first
    st = FitState(st.z, st.disp, st.eta, coef[:nb], coef[nb:], st.e, st.X, st.Y, st.r)
    p0 = np.r_[st.z, st.disp, st.eta, st.bkg, np.ravel(np.column_stack([st.s, st.e, st.X, st.Y])) if m else [],
               st.r[tex]]
    lo = np.r_[-b.max_zero_shift, -b.max_displacement, 0.0, np.full(nb, -np.inf),
               np.tile([0.0, -b.max_strain, 0.0, 0.0], m), np.full(len(tex), R_BOUNDS[0])]
    hi = np.r_[b.max_zero_shift, b.max_displacement, 1.0, np.full(nb, np.inf),
               np.tile([np.inf, b.max_strain, b.max_size_fwhm, b.max_strain_fwhm], m), np.full(len(tex), R_BOUNDS[1])]
    span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    p0 = np.clip(np.where(np.isfinite(p0), p0, 0.0), lo + 1e-9 * span, hi - 1e-9 * span)
    cache: dict = {}
    n0 = 3 + nb
    n_r = n0 + 4 * m  # first March-Dollase r

    def fun(p: np.ndarray) -> np.ndarray:
        z, disp, eta = p[0], p[1], p[2]
        r = np.ones(m)
        r[tex] = p[n_r:]
        mod = a_bkg @ p[3:n0]
        jm = np.zeros((len(x), len(p)))
        jm[:, 3:n0] = a_bkg
        for i, ph in enumerate(phases):
            s, e, xs, ys = p[n0 + 4 * i : n0 + 4 * i + 4]
            t, d_e, d_x, d_y, d_z, d_d, d_eta, d_r = render(x, ph, e, z, disp, eta, xs, ys, b.inst_fwhm, True, r=r[i])
            mod = mod + s * t
            j0 = n0 + 4 * i
            jm[:, j0] = t
            jm[:, j0 + 1] = s * d_e
            jm[:, j0 + 2] = s * d_x
            jm[:, j0 + 3] = s * d_y
            jm[:, 0] += s * d_z
            jm[:, 1] += s * d_d
            jm[:, 2] += s * d_eta
            if ph.texture is not None:
                jm[:, n_r + tex.index(i)] = s * d_r
        cache["jac"] = jm * sw[:, None]
        cache["key"] = p.tobytes()
        return (mod - y) * sw

    def jac(p: np.ndarray) -> np.ndarray:
        if cache.get("key") != p.tobytes():
            fun(p)
        return cache["jac"]

    res = least_squares(fun, p0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=max_nfev)
    p = res.x
    block = p[n0:n_r].reshape(m, 4) if m else np.zeros((0, 4))
    r = np.ones(m)
    r[tex] = p[n_r:]
    return FitState(float(p[0]), float(p[1]), float(p[2]), p[3:n0].copy(), block[:, 0].copy(), block[:, 1].copy(),
                    block[:, 2].copy(), block[:, 3].copy(), r)
