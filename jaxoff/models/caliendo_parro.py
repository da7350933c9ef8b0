"""Caliendo and Parro (2015, Review of Economic Studies 82(1), "Estimates of the Trade and Welfare
Effects of NAFTA"): a multi-country, multi-sector Ricardian (Eaton-Kortum) model with trade in
intermediate goods, full input-output linkages and tariffs, solved in changes ("exact hat algebra")
from an observed baseline.

Sub-model `CP` (class `CaliendoParro`): the counterfactual equilibrium in changes as one residual
system F(u, theta) = 0 with unknowns

* `w_hat` (N,): wage change (= value-added change); the numeraire is world value added;
* `P_hat` (J, N): sectoral price-index changes;
* `X_hat` (J, N): absorption changes X'/X (tariff-inclusive spending on each sector's composite).

Equations (one line each, see `residuals`): input-bundle cost, sectoral price index (Eaton-Kortum,
trade elasticity `theta[j]`), goods-market clearing (intermediate plus final demand, tariff revenue
rebated lump sum), trade balance with the given surpluses (one replaced by the numeraire: Walras'
law makes it redundant). The authors' nested fixed point (price loop, goods-market loop, damped
wage update on the trade balance) is the `fixed_point` hook.

Array conventions: trade, share and tariff cubes are [sector, importer, exporter]; sector-by-country
arrays are [sector, country]; `io_share` is [country, input sector, using sector]. Tariffs given by
users are in percent on the tradable sectors, shape (JT, N, N); the model holds gross factors.

Two welfare measures (percent):

* `welfare_exact`: the exact change in real income of the representative household, nominal income
  (value added plus rebated tariff revenue minus the surplus) deflated by the Cobb-Douglas price
  index. This is the utility change the solved equilibrium implies.
* `welfare_paper`: the authors' one-step first-order decomposition, terms of trade (`tot`) plus
  volume of trade (`vot`), with (hat - 1) changes weighted by baseline flows. This is what the
  paper's welfare table reports (Mexico +1.31% for NAFTA).

They differ because of tariff revenue: the one-step formula values the whole increase in import
volumes at the *initial* tariff wedge (about 12.5% on Mexican imports from the US in 1993), while the
wedge shrinks to almost nothing as tariffs fall, so the revenue the household loses is not counted.
Chaining the same first-order formula along the tariff path (or integrating the exact derivative,
`welfare_path`) converges to the exact change; for Mexico it is +0.007%, not +1.31%.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..solve import Layout, SolverOptions, assemble, differentiable_root
from ..solve import solve as _jo_solve
from ..solvers import Newton
from .. import implicit
from ..blocks import input_output as io_block
from ..blocks.quadrature import gauss_legendre
from ..model import Model
from ..transforms import Positive
from . import _caliendo_parro_data as cpdata

__all__ = ["CaliendoParro", "SUBMODELS", "Baseline", "Result", "baseline", "counterfactual", "nafta_tariffs",
           "welfare_gradient", "trade_elasticities", "welfare_path", "solve_fixed_point", "solve_wages", "wage_jacobian",
           "SchurWages", "solve_differentiable", "equilibrium", "EXPERIMENTS", "NAFTA"]

NAFTA = ("USA", "CAN", "MEX")
THETA_NONTRADABLE = 8.22
ROW_SUM_TOL = 1e-10
RESIDUAL_TOL = 1e-8     # max |scaled residual| of a converged equilibrium (as jo.solve)
MAX_LOG_WAGE_STEP = 0.3  # largest quasi-Newton step in ln w_hat
WAGE_ACCEPT = 100        # converged: max |reduced residual| <= WAGE_ACCEPT * tol after a final exact evaluation
INEXACT_INNER = 1e-3     # inner tolerances of the quasi-Newton solver: this times max |reduced residual|
WAGE_JACOBIAN_SWEEPS = 200
BLOCK_KRYLOV = 0           # GMRES steps before the Richardson sweeps in the price and goods blocks (0: sweeps only; GMRES saves ~10% run time but doubles compile time)


def _paper_default(name: str):
    return getattr(baseline().model, name)


def _fac(name):
    return eqx.field(default_factory=lambda: _paper_default(name))


def _trade_plain(lnc, lnP, Xc, pi, theta, lnkh, inv_tau):
    """Price indices implied by costs, tariff-exclusive spending shares F' and sales Y' (CP.2-CP.4).

    Returns `(lnP_implied (J,N), F (J,N), Y (J,N))` at log costs `lnc`, log price indices `lnP` (which
    enter the shares CP.3) and absorption `Xc`; `lnkh` = ln(tau'/tau), `inv_tau` = 1/tau'.
    """
    pos = pi > 0
    a = -theta[:, None, None] * (lnkh + lnc[:, None, :])
    amax = jax.lax.stop_gradient(jnp.max(jnp.where(pos, a, -jnp.inf), axis=2, keepdims=True))
    amax = jnp.where(jnp.isfinite(amax), amax, 0.0)
    ssum = jnp.sum(jnp.where(pos, pi * jnp.exp(a - amax), 0.0), axis=2)
    lnP_implied = -(jnp.log(ssum) + amax[..., 0]) / theta[:, None]
    q = jnp.where(pos, pi * jnp.exp(a + theta[:, None, None] * lnP[:, :, None]), 0.0) * inv_tau
    return lnP_implied, jnp.sum(q, axis=2), jnp.einsum("jni,jn->ji", q, Xc)


_trade_core = jax.custom_jvp(_trade_plain)


@functools.partial(_trade_core.defjvp, symbolic_zeros=True)
def _trade_core_jvp(primals, tangents):
    """Tangents of the trade block as (N x N)-per-sector matrix products, never forming a tangent of
    the (J, N, N) share cube: this makes the forward-mode Jacobian of the 2,511 residuals cheap."""
    lnc, lnP, Xc, pi, theta, lnkh, inv_tau = primals
    dlnc, dlnP, dXc, *dpar = tangents
    pos = pi > 0
    a = -theta[:, None, None] * (lnkh + lnc[:, None, :])
    amax = jnp.max(jnp.where(pos, a, -jnp.inf), axis=2, keepdims=True)
    amax = jnp.where(jnp.isfinite(amax), amax, 0.0)
    e = jnp.where(pos, pi * jnp.exp(a - amax), 0.0)
    ssum = jnp.sum(e, axis=2)
    soft = e / ssum[..., None]                                          # price-index weights
    lnP_implied = -(jnp.log(ssum) + amax[..., 0]) / theta[:, None]
    q = jnp.where(pos, pi * jnp.exp(a + theta[:, None, None] * lnP[:, :, None]), 0.0) * inv_tau
    F = jnp.sum(q, axis=2)
    Y = jnp.einsum("jni,jn->ji", q, Xc)
    th = theta[:, None]
    zero = lambda t: isinstance(t, jax.custom_derivatives.SymbolicZero)  # noqa: E731
    d_p = jnp.zeros_like(lnP_implied)
    d_F = jnp.zeros_like(F)
    d_Y = jnp.zeros_like(Y)
    if not zero(dlnc):
        d_p = d_p + jnp.einsum("jni,ji->jn", soft, dlnc)
        d_F = d_F - th * jnp.einsum("jni,ji->jn", q, dlnc)
        d_Y = d_Y - th * Y * dlnc
    if not zero(dlnP):
        d_F = d_F + th * F * dlnP
        d_Y = d_Y + jnp.einsum("jni,jn->ji", q, th * Xc * dlnP)
    if not zero(dXc):
        d_Y = d_Y + jnp.einsum("jni,jn->ji", q, dXc)
    if not all(zero(t) for t in dpar):
        par = primals[3:]
        dpar = [jnp.zeros_like(p) if zero(t) else t for p, t in zip(par, dpar)]
        _, extra = jax.jvp(lambda *pp: _trade_plain(lnc, lnP, Xc, *pp), tuple(par), tuple(dpar))
        d_p, d_F, d_Y = d_p + extra[0], d_F + extra[1], d_Y + extra[2]
    return (lnP_implied, F, Y), (d_p, d_F, d_Y)


class CaliendoParro(Model):
    """The Caliendo-Parro counterfactual equilibrium in changes (spec CP.1-CP.8).

    Parameters are the baseline objects (`theta`, `va_share`, `io_share`, `alpha`, `tariff`, `pi`, `X`,
    `VA`, `S`) and the shock (`tariff_cf` gross factors, `S_cf` surpluses, `shock_scale`): the tariffs
    applied are `tariff + shock_scale * (tariff_cf - tariff)`. Build it with `baseline()`; with no
    arguments it is the paper's zero-deficit 1993 baseline at zero shock.
    """

    theta: Any = _fac("theta")          # (J,) trade elasticities
    va_share: Any = _fac("va_share")    # (J,N) value-added share of gross output
    io_share: Any = _fac("io_share")    # (N,J,J) [country, input, using] intermediate-input shares
    alpha: Any = _fac("alpha")          # (J,N) final-demand shares
    tariff: Any = _fac("tariff")        # (J,N,N) baseline gross tariff factors
    tariff_cf: Any = _fac("tariff_cf")  # (J,N,N) counterfactual gross tariff factors
    pi: Any = _fac("pi")                # (J,N,N) baseline expenditure shares (rows sum to 1)
    X: Any = _fac("X")                  # (J,N) baseline absorption
    VA: Any = _fac("VA")                # (N,) baseline value added
    S: Any = _fac("S")                  # (N,) baseline trade surplus
    S_cf: Any = _fac("S_cf")            # (N,) counterfactual trade surplus
    shock_scale: float = 1.0            # fraction of the tariff change applied
    vfactor: float = -0.2               # damping of the authors' wage update (fixed-point hook only)

    family: ClassVar[str] = "caliendo_parro"
    spec_id: ClassVar[str] = "CP"
    description: ClassVar[str] = "Caliendo-Parro (2015): N regions, J sectors, input-output linkages, tariffs"
    shocks: ClassVar[tuple] = ("tariff_cf", "shock_scale", "theta")
    unknowns: ClassVar[dict] = {"w_hat": Positive(), "P_hat": Positive(), "X_hat": Positive()}
    differentiable_fixed_point: ClassVar[bool] = False  # the authors' map nests a while_loop

    # -- parameters ---------------------------------------------------------------------------------
    def domain(self):
        N = self.VA.shape[0]
        eye = jnp.eye(N, dtype=bool)[None]
        colsum = self.io_share.sum(axis=1)
        return {
            "theta > 0": self.theta > 0,
            "0 < va_share <= 1": (self.va_share > 0) & (self.va_share <= 1),
            "io_share >= -0.001 (source rounding)": self.io_share >= -cpdata.IO_NEG_TOL,
            "io_share columns sum to 1 (or 0 where va_share = 1)":
                (jnp.abs(colsum - 1) <= cpdata.IO_TOL) | ((colsum == 0) & (self.va_share.T == 1)),
            "alpha >= 0 and columns of alpha sum to 1": (self.alpha >= 0).all(axis=0)
                & (jnp.abs(self.alpha.sum(axis=0) - 1) < 1e-9),
            "tariff >= 1 with 1 at home": (self.tariff >= 1) & jnp.where(eye, self.tariff == 1, True),
            "tariff_cf >= 1 with 1 at home": (self.tariff_cf >= 1) & jnp.where(eye, self.tariff_cf == 1, True),
            "pi >= 0 and rows of pi sum to 1": (self.pi >= 0).all(axis=2)
                & (jnp.abs(self.pi.sum(axis=2) - 1) < ROW_SUM_TOL),
            "X > 0": self.X > 0,
            "VA > 0": self.VA > 0,
            "sum(S) = 0 and sum(S_cf) = 0": (jnp.abs(self.S.sum()) <= 1e-9 * self.VA.sum())
                & (jnp.abs(self.S_cf.sum()) <= 1e-9 * self.VA.sum()),
            "vfactor < 0": self.vfactor < 0,
        }

    def guess(self):
        J, N = self.X.shape
        return {"w_hat": jnp.ones(N), "P_hat": jnp.ones((J, N)), "X_hat": jnp.ones((J, N))}

    # -- building blocks ------------------------------------------------------------------------------
    def applied_tariff(self):
        """Gross tariff factors applied in the counterfactual: tariff + shock_scale (tariff_cf - tariff)."""
        return self.tariff + self.shock_scale * (self.tariff_cf - self.tariff)

    def _gamma3(self):
        # [n, input j, using k] = (1 - va_share[k,n]) * G[n,j,k]
        return (1 - self.va_share.T)[:, None, :] * self.io_share

    def _log_cost(self, lnw, lnP):
        """CP.1: ln c_hat[j,n] = gamma[j,n] ln w_hat[n] + (1 - gamma[j,n]) sum_k G[n,k,j] ln P_hat[k,n]."""
        return self.va_share * lnw[None, :] + (1 - self.va_share) * jnp.einsum("nkj,kn->jn", self.io_share, lnP)

    def _share_exponent(self, lnc, tau_cf):
        """-theta[j] (ln kappa_hat[j,n,i] + ln c_hat[j,i]) for every (j, n, i)."""
        return -self.theta[:, None, None] * (jnp.log(tau_cf / self.tariff) + lnc[:, None, :])

    def _log_price(self, a):
        """CP.2 as a pi-weighted log-sum-exp over exporters: ln P_hat = -(1/theta) ln sum_i pi exp(a)."""
        pos = self.pi > 0
        amax = jax.lax.stop_gradient(jnp.max(jnp.where(pos, a, -jnp.inf), axis=2, keepdims=True))
        amax = jnp.where(jnp.isfinite(amax), amax, 0.0)
        s = jnp.sum(jnp.where(pos, self.pi * jnp.exp(a - amax), 0.0), axis=2)
        return -(jnp.log(s) + amax[..., 0]) / self.theta[:, None]

    def _flows(self, w, lnP, Xc, lnc, tau_cf):
        """CP.3-CP.5: shares pi', tariff-exclusive share F', sales Y', income I' given (w, P, X')."""
        a = self._share_exponent(lnc, tau_cf)
        ratio = jnp.exp(a + self.theta[:, None, None] * lnP[:, :, None])      # pi'/pi where pi > 0
        pic = jnp.where(self.pi > 0, self.pi * ratio, 0.0)
        Fc = jnp.sum(pic / tau_cf, axis=2)
        Yc = jnp.einsum("jni,jn->ji", pic / tau_cf, Xc)
        Ic = w * self.VA + jnp.sum((1 - Fc) * Xc, axis=0) - self.S_cf
        return dict(a=a, ratio=ratio, pi_cf=pic, F_cf=Fc, Y_cf=Yc, I_cf=Ic)

    def _demand(self, Yc, Ic):
        """CP.6 right-hand side: intermediate demand plus final demand for each sector's composite."""
        return jnp.einsum("njk,kn->jn", self._gamma3(), Yc) + self.alpha * Ic[None, :]

    def baseline_income(self):
        """Baseline income I = VA + tariff revenue - S (N,)."""
        F = jnp.sum(self.pi / self.tariff, axis=2)
        return self.VA + jnp.sum((1 - F) * self.X, axis=0) - self.S

    # -- the equilibrium ------------------------------------------------------------------------------
    def _state(self, u):
        w, P, Xh = u["w_hat"], u["P_hat"], u["X_hat"]
        lnw, lnP = jnp.log(w), jnp.log(P)
        tau_cf = self.applied_tariff()
        lnc = self._log_cost(lnw, lnP)
        Xc = self.X * Xh
        st = self._flows(w, lnP, Xc, lnc, tau_cf)
        st.update(w=w, lnP=lnP, lnc=lnc, Xc=Xc, tau_cf=tau_cf)
        return st

    def residuals(self, u):
        w, P, Xh = u["w_hat"], u["P_hat"], u["X_hat"]
        lnP = jnp.log(P)
        tau_cf = self.applied_tariff()
        lnc = self._log_cost(jnp.log(w), lnP)                           # CP.1
        Xc = self.X * Xh
        lnP_implied, F_cf, Y_cf = _trade_core(lnc, lnP, Xc, self.pi, self.theta, jnp.log(tau_cf / self.tariff),
                                              1 / tau_cf)               # CP.2-CP.4
        I_cf = w * self.VA + jnp.sum((1 - F_cf) * Xc, axis=0) - self.S_cf   # CP.5
        excess = (jnp.sum(Y_cf, axis=0) - jnp.sum(F_cf * Xc, axis=0) - self.S_cf) / self.VA
        numeraire = jnp.log(jnp.sum(self.VA * w) / jnp.sum(self.VA))
        return {
            # CP.2 sectoral price index given CP.1 input-bundle costs
            "price_index": lnP - lnP_implied,
            # CP.6 goods-market clearing (absorption = intermediate + final demand), in logs
            "goods_market": jnp.log(Xc) - jnp.log(self._demand(Y_cf, I_cf)),
            # CP.7 trade balance for regions 1..N-1 (relative to VA) and CP.8 numeraire in place of the last
            "trade_balance": jnp.concatenate([excess[:-1], numeraire[None]]),
        }

    def walras(self, u):
        """The dropped trade balance (last region): zero at a solution by Walras' law."""
        st = self._state(u)
        excess = (jnp.sum(st["Y_cf"], axis=0) - jnp.sum(st["F_cf"] * st["Xc"], axis=0) - self.S_cf) / self.VA
        return {"trade_balance_last_region": excess[-1]}

    def outputs(self, u):
        st = self._state(u)
        w, Xc, tau_cf = st["w"], st["Xc"], st["tau_cf"]
        c_hat = jnp.exp(st["lnc"])
        P_index = jnp.exp(jnp.sum(self.alpha * st["lnP"], axis=0))
        I0 = self.baseline_income()
        Z = self.X[:, :, None] * self.pi / self.tariff                     # baseline tariff-exclusive flows
        Zc = Xc[:, :, None] * st["pi_cf"] / tau_cf
        growth = (Xc / self.X)[:, :, None] * st["ratio"] * self.tariff / tau_cf  # Z'/Z where Z > 0
        # authors' welfare decomposition (O7), by sector
        tot_js = (jnp.einsum("jin,jn->jn", Z, c_hat - 1) - jnp.einsum("jni,ji->jn", Z, c_hat - 1)) / I0
        vot_term = jnp.where(self.pi > 0, (self.tariff - 1) * Z * (growth - c_hat[:, None, :]), 0.0)
        vot_js = jnp.sum(vot_term, axis=2) / I0
        tot, vot = tot_js.sum(axis=0), vot_js.sum(axis=0)
        revenue_cf = jnp.sum((1 - st["F_cf"]) * Xc, axis=0)
        return {
            "c_hat": c_hat,
            "P_index": P_index,
            "real_wage": 100 * (w / P_index - 1),
            "income_hat": st["I_cf"] / I0,
            "welfare_exact": 100 * (st["I_cf"] / I0 / P_index - 1),
            "welfare_paper": 100 * (tot + vot),
            "tot": 100 * tot,
            "vot": 100 * vot,
            "tot_by_sector": 100 * tot_js,
            "vot_by_sector": 100 * vot_js,
            "X_cf": Xc,
            "Y_cf": st["Y_cf"],
            "pi_cf": st["pi_cf"],
            "trade_cf": Zc,
            "tariff_revenue_share": revenue_cf / st["I_cf"],
            # CP.9, implied by CP.6-CP.7 up to the rounding of the IO columns (diagnostic)
            "labor_market": (w * self.VA - jnp.sum(self.va_share * st["Y_cf"], axis=0)) / self.VA,
        }

    # -- inner markets given wages (shared by the authors' algorithm and the quasi-Newton solver) --------
    def clear_markets(self, lnw, lnP0, Xc0, *, price_tol: float = 1e-13, goods_tol: float = 1e-14,
                      max_inner: int = 5000, min_inner: int = 0) -> dict:
        """Given log wage changes, clear every market but the labour markets (spec FP.1-FP.3).

        Iterates the price system CP.1-CP.2 to convergence (warm-started at `lnP0`), forms the
        shares CP.3, then iterates the goods-market system CP.5-CP.6 for absorption (warm-started at
        `Xc0`, levels). Both are contractions. `min_inner` forces that many iterations of each loop
        (forward-mode derivatives through the loops need the tangents to converge too).

        **Returns:** dict with `lnP` (J,N), `Xc` (J,N), `excess` (N,: trade-balance excess over value
        added, CP.7), `iterations` (inner iterations, price + goods).
        """
        w = jnp.exp(lnw)
        tau_cf = self.applied_tariff()
        th = self.theta[:, None]
        # CP.2 as sum_i B[j,n,i] c_hat[j,i]^-theta[j]: the tariff part B is fixed in the loop, so each
        # iteration takes J*N exponentials (not J*N*N) and one batched matrix-vector product
        B = jnp.where(self.pi > 0, self.pi * (tau_cf / self.tariff) ** -self.theta[:, None, None], 0.0)

        def p_step(lnP):
            e = -th * self._log_cost(lnw, lnP)
            shift = jnp.max(e, axis=1, keepdims=True)
            return -(jnp.log(jnp.einsum("jni,ji->jn", B, jnp.exp(e - shift))) + shift) / th

        def p_cond(c):
            lnP, lnP_old, k = c
            return ((jnp.max(jnp.abs(jnp.exp(lnP) - jnp.exp(lnP_old))) >= price_tol) | (k < min_inner)) & (k < max_inner)

        lnP, _, kp = jax.lax.while_loop(p_cond, lambda c: (p_step(c[0]), c[0], c[2] + 1), (p_step(lnP0), lnP0, 1))
        lnc = self._log_cost(lnw, lnP)
        st = self._flows(w, lnP, self.X, lnc, tau_cf)
        sh = st["pi_cf"] / tau_cf
        g3 = self._gamma3()

        def x_step(Xc):
            Yc = jnp.einsum("jni,jn->ji", sh, Xc)
            Ic = w * self.VA + jnp.sum((1 - st["F_cf"]) * Xc, axis=0) - self.S_cf
            return jnp.einsum("njk,kn->jn", g3, Yc) + self.alpha * Ic[None, :]

        def x_cond(c):
            Xn, Xo, k = c
            return ((jnp.max(jnp.abs(Xn - Xo) / Xn) >= goods_tol) | (k < min_inner)) & (k < max_inner)

        Xc, _, kx = jax.lax.while_loop(x_cond, lambda c: (x_step(c[0]), c[0], c[2] + 1), (x_step(Xc0), Xc0, 1))
        Yc = jnp.einsum("jni,jn->ji", sh, Xc)
        excess = (jnp.sum(Yc, axis=0) - jnp.sum(st["F_cf"] * Xc, axis=0) - self.S_cf) / self.VA
        return {"lnP": lnP, "Xc": Xc, "excess": excess, "iterations": kp + kx}

    def wage_residual(self, lnw, lnP0, Xc0, min_inner: int = 0, inner_tol=None):
        """The system reduced to wages: trade balances of regions 1..N-1 and the numeraire (the
        `trade_balance` residual of the full system, with prices and absorption cleared by
        `clear_markets`; `inner_tol` loosens both inner tolerances to max(default, inner_tol)).
        **Returns:** `(r (N,), clear_markets dict)`."""
        tols = {} if inner_tol is None else {"price_tol": jnp.maximum(1e-13, inner_tol),
                                              "goods_tol": jnp.maximum(1e-14, inner_tol)}
        st = self.clear_markets(lnw, lnP0, Xc0, min_inner=min_inner, **tols)
        numeraire = jnp.log(jnp.sum(self.VA * jnp.exp(lnw)) / jnp.sum(self.VA))
        return jnp.concatenate([st["excess"][:-1], numeraire[None]]), st

    # -- the authors' algorithm -----------------------------------------------------------------------
    def fixed_point(self, u: dict) -> dict:
        """One outer step of the authors' algorithm (spec FP.1-FP.4); its fixed point is the equilibrium.

        Given wages, clear prices and absorption (`clear_markets`, warm-started at `u`), then update
        wages on the trade-balance excess: w <- w + vfactor * Z / VA with Z = imports - exports +
        target surplus (this preserves world value added, the numeraire).

        **Arguments:** `u` with `w_hat` (N,), `P_hat` (J,N), `X_hat` (J,N) (natural units).

        **Returns:** the updated dict with the same names and shapes.
        """
        w = jnp.asarray(u["w_hat"])
        st = self.clear_markets(jnp.log(w), jnp.log(jnp.asarray(u["P_hat"])), self.X * jnp.asarray(u["X_hat"]))
        return {"w_hat": w - self.vfactor * st["excess"], "P_hat": jnp.exp(st["lnP"]), "X_hat": st["Xc"] / self.X}


class SchurWages(implicit.StructuredSolver):
    """Solves F_z x = b (and F_z^T x = b) of the Caliendo-Parro system by block elimination.

    Unknowns (internal) are ordered (ln w (N), ln P (JN), ln X_hat (JN)) and residuals (price index
    (JN), goods market (JN), trade balance (N)). The price block does not depend on absorption, so
    the (P, X) block B is block-triangular; its diagonal blocks, I - (a contraction), are solved by
    GMRES on linearizations restricted to the block (each sweep computes one block's
    tangents only). What remains is the N x N Schur complement on wages (the Jacobian of the
    system reduced to wages), formed by N batched applications and solved densely. Nothing of size
    (JN)^2 is formed. With a `preconditioner` (the quasi-Newton solver's final inverse Jacobian),
    the Schur system is solved by preconditioned GMRES instead: a few single-vector applications in
    place of N batched ones.
    """

    N: int = eqx.field(static=True)
    JN: int = eqx.field(static=True)
    preconditioner: Any = None      # approximate inverse of the Schur complement (N x N), e.g. Broyden's
    rtol: float = eqx.field(static=True, default=1e-13)
    max_sweeps: int = eqx.field(static=True, default=2000)
    krylov: int = eqx.field(static=True, default=BLOCK_KRYLOV)

    def _split_u(self, v):
        return v[:self.N], v[self.N:self.N + self.JN], v[self.N + self.JN:]

    def _block_solve(self, op, b):
        """x with op(x) = b for op = I - (a contraction): GMRES (at most `BLOCK_KRYLOV` steps), then
        Richardson sweeps x <- x + (b - op(x)) until the residual is below `rtol` |b| (a safeguard:
        usually there is nothing left to do)."""
        scale = jnp.max(jnp.abs(b))
        x0 = implicit.small_gmres(op, b, rtol=self.rtol, max_iter=self.krylov)[0] if self.krylov else jnp.zeros_like(b)

        def cond(c):
            _, r, k = c
            return (jnp.max(jnp.abs(r)) > self.rtol * scale) & (k < self.max_sweeps)

        def body(c):
            x, r, k = c
            x = x + r
            return x, b - op(x), k + 1

        x, _, _ = jax.lax.while_loop(cond, body, (x0, b - op(x0), 0))
        return x

    def _blocks(self, residual, z):
        """Linear maps of the blocks: (equations <- unknowns)."""
        N, JN = self.N, self.JN
        zw, zP, zX = self._split_u(z)

        def rows(w, P, X):
            r = residual(jnp.concatenate([w, P, X]))
            return r[2 * JN:], r[:JN], r[JN:2 * JN]            # (trade, price, goods)

        lin = lambda f, *x: jax.linearize(f, *x)[1]  # noqa: E731
        return {
            "PP": lin(lambda P: rows(zw, P, zX)[1], zP),
            "XP": lin(lambda P: rows(zw, P, zX)[2], zP),
            "XX": lin(lambda X: rows(zw, zP, X)[2], zX),
            "w": lin(lambda w: rows(w, zP, zX), zw),              # -> (trade, price, goods)
            "T": lin(lambda P, X: rows(zw, P, X)[0], zP, zX),    # trade rows <- (P, X)
        }, (jnp.zeros(N), jnp.zeros(JN))

    def solve(self, residual, z, b, transpose):
        blk, (zN, zJ) = self._blocks(residual, z)
        rich = self._block_solve
        if not transpose:
            def B_inv(bP, bX):
                xP = rich(blk["PP"], bP)
                return xP, rich(blk["XX"], bX - blk["XP"](xP))

            bT, bP, bX = b[2 * self.JN:], b[:self.JN], b[self.JN:2 * self.JN]

            def schur(v):
                Tv, Pv, Xv = blk["w"](v)
                return Tv - blk["T"](*B_inv(Pv, Xv))

            dw = self._schur_solve(schur, bT - blk["T"](*B_inv(bP, bX)))
            _, Pw, Xw = blk["w"](dw)
            xP, xX = B_inv(bP - Pw, bX - Xw)
            return jnp.concatenate([dw, xP, xX])
        # transpose: F_z^T y = c, with y in equation space (trade, price, goods) and c in unknown space
        tr = {k: jax.linear_transpose(f, *p) for k, f, p in (
            ("PP", blk["PP"], (zJ,)), ("XP", blk["XP"], (zJ,)), ("XX", blk["XX"], (zJ,)), ("w", blk["w"], (zN,)),
            ("T", blk["T"], (zJ, zJ)))}
        PPt = lambda y: tr["PP"](y)[0]  # noqa: E731
        XPt = lambda y: tr["XP"](y)[0]  # noqa: E731
        XXt = lambda y: tr["XX"](y)[0]  # noqa: E731
        wt = lambda T, P, X: tr["w"]((T, P, X))[0]  # noqa: E731

        def Bt_inv(cP, cX):
            yX = rich(XXt, cX)
            return rich(PPt, cP - XPt(yX)), yX

        cw, cP, cX = self._split_u(b)

        def schur_t(v):
            TP, TX = tr["T"](v)
            return wt(v, zJ, zJ) - wt(zN, *Bt_inv(TP, TX))

        yT = self._schur_solve(schur_t, cw - wt(zN, *Bt_inv(cP, cX)), transpose=True)
        TP, TX = tr["T"](yT)
        yP, yX = Bt_inv(cP - TP, cX - TX)
        return jnp.concatenate([yP, yX, yT])

    def _schur_solve(self, op, b, transpose=False):
        """Solve the N x N Schur system S x = b, given x -> S x."""
        if self.preconditioner is None:
            # formed column by column (one batched pass over the N unit vectors) and LU-solved
            S = jax.vmap(op, in_axes=1, out_axes=1)(jnp.eye(self.N, dtype=b.dtype))
            return jnp.linalg.solve(S, b)
        H = jnp.asarray(self.preconditioner, dtype=b.dtype)
        return implicit.small_gmres(op, b, H.T if transpose else H, rtol=1e-13)[0]


SUBMODELS = {"CP": CaliendoParro}


def solve_fixed_point(model: CaliendoParro, guess: dict | None = None, tol: float = 1e-14, max_iter: int = 5000):
    """Solve by iterating the authors' fixed point (`CaliendoParro.fixed_point`) in a compiled loop.

    Stops when sum_n |trade-balance excess| / world value added < `tol` (the authors' criterion).

    **Arguments:** `model`; `guess` (natural units, default the model's guess); `tol`; `max_iter`.

    **Returns:** `(u, n_iter, converged)`: the unknowns dict, outer iterations, a bool.
    """
    u0 = dict(model.guess() if guess is None else guess)
    return _fp_loop(model, u0, tol, max_iter)


@eqx.filter_jit
def _fp_loop(model, u0, tol, max_iter):
    def gap(u_old, u_new):
        return jnp.sum(jnp.abs(u_new["w_hat"] - u_old["w_hat"]) * model.VA) / (-model.vfactor) / jnp.sum(model.VA)

    def cond(c):
        _, g, k = c
        return (g >= tol) & (k < max_iter)

    def body(c):
        u, _, k = c
        un = model.fixed_point(u)
        return un, gap(u, un), k + 1

    u, g, k = jax.lax.while_loop(cond, body, (u0, jnp.asarray(jnp.inf), 0))
    return u, k, g < tol


def wage_jacobian(model: CaliendoParro, lnw=None) -> jax.Array:
    """d(reduced residual)/d ln w (N x N) at `lnw` (default: no wage change), by forward mode
    through `clear_markets` (the inner loops forced long enough for the tangents to converge).
    It starts the quasi-Newton solver; a `Baseline` computes it once at zero shock."""
    return _wage_jacobian_jit(model, jnp.zeros(model.VA.shape[0]) if lnw is None else lnw)


@eqx.filter_jit
def _wage_jacobian_jit(model, lnw):
    J, N = model.X.shape
    lnP0 = jnp.zeros((J, N))
    return jax.jacfwd(lambda x: model.wage_residual(x, lnP0, model.X, min_inner=WAGE_JACOBIAN_SWEEPS)[0])(lnw)


def solve_wages(model: CaliendoParro, wage_jacobian_inverse=None, tol: float = 1e-12, max_iter: int = 200):
    """Solve by a quasi-Newton method on the N wages (the fast method; traceable, vmap-able).

    The system is reduced to wages: for given wages, prices and absorption clear by their inner
    contractions (`clear_markets`, warm-started from the previous iterate) and the residual is the
    trade balance plus the numeraire (`wage_residual`). Broyden's method ("good" update of the
    inverse Jacobian) starts from the inverse of `wage_jacobian` and takes steps of at most 0.3
    in ln w with a backtracking line search on ||r||; a failed step shrinks the next one.

    **Arguments:** `model`; `wage_jacobian_inverse` (N x N; default: computed at the model's own
    tariffs, about as costly as the solve itself, so `Baseline` passes its cached one); `tol`
    (max |reduced residual|); `max_iter` (outer iterations).

    The inner loops run to a tolerance of 1e-3 max |r| (at least their defaults), so early steps are
    cheap; the final point is evaluated again at full inner accuracy.

    **Returns:** `(u, n_iter, converged)`: the unknowns dict (natural units), outer iterations, a bool
    (max |r| <= 100 `tol` at that final evaluation; the full residual check, max |F| <= 1e-8, follows
    in `solve_differentiable`).
    """
    H0 = jnp.linalg.inv(wage_jacobian(model)) if wage_jacobian_inverse is None else jnp.asarray(wage_jacobian_inverse)
    return _broyden(model, H0, tol, max_iter)[:3]


@eqx.filter_jit
def _broyden(model, H0, tol, max_iter):
    J, N = model.X.shape
    lnw = jnp.zeros(N)
    r, st = model.wage_residual(lnw, jnp.zeros((J, N)), model.X, inner_tol=INEXACT_INNER * 1e-2)

    def norm(v):
        return jnp.sqrt(jnp.sum(v * v))

    def cond(c):
        return (jnp.max(jnp.abs(c[1])) > tol) & (c[6] < max_iter)

    def body(c):
        lnw, r, excess, H, lnP, Xc, k, t = c
        # a quasi-Newton step, or after two failed line searches one step of the authors' update
        # (always a descent step for the trade balance) with the inverse Jacobian reset
        fp_step = t < 0.1
        dx = -H @ r
        dx = dx * jnp.minimum(1.0, MAX_LOG_WAGE_STEP / jnp.max(jnp.abs(dx))) * t
        dx = jnp.where(fp_step, jnp.log1p(-model.vfactor * excess * jnp.exp(-lnw)), dx)
        H = jnp.where(fp_step, H0, H)
        r2, st = model.wage_residual(lnw + dx, lnP, Xc, inner_tol=INEXACT_INNER * jnp.max(jnp.abs(r)))
        finite = jnp.all(jnp.isfinite(r2))
        ok = finite & ((norm(r2) <= (1 - 1e-4 * t) * norm(r)) | fp_step)
        dr = r2 - r
        Hdr = H @ dr
        H2 = H + jnp.outer(dx - Hdr, dx @ H) / (dx @ Hdr)
        H2 = jnp.where(jnp.all(jnp.isfinite(H2)), H2, H0)
        keep = lambda new, old: jnp.where(ok, new, old)  # noqa: E731
        return (keep(lnw + dx, lnw), keep(r2, r), keep(st["excess"], excess), keep(H2, H), keep(st["lnP"], lnP),
                keep(st["Xc"], Xc), k + 1, jnp.where(ok, 1.0, jnp.where(fp_step, 0.5 * t, 0.25 * t)))

    init = (lnw, r, st["excess"], H0, st["lnP"], st["Xc"], 0, jnp.asarray(1.0))
    lnw, r, _, H, lnP, Xc, k, _ = jax.lax.while_loop(cond, body, init)
    # the last evaluation at full inner accuracy (the inexact tolerances only steer the steps)
    r, st = model.wage_residual(lnw, lnP, Xc)
    lnP, Xc = st["lnP"], st["Xc"]
    u = {"w_hat": jnp.exp(lnw), "P_hat": jnp.exp(lnP), "X_hat": Xc / model.X}
    return u, k, jnp.max(jnp.abs(r)) <= WAGE_ACCEPT * tol, H


# ---------------------------------------------------------------------------------------------------
# Baseline construction
# ---------------------------------------------------------------------------------------------------
@dataclass
class Baseline:
    """A baseline equilibrium: labels, tariffs, and the model at zero shock.

    **Fields:** `regions` (N ISO3 codes, rest of the world last), `sectors` (J names, tradables first),
    `JT` (number of tradable sectors), `tariffs` / `tariffs_2005` (percent, (JT, N, N): sector,
    importer, exporter), `model` (a `CaliendoParro` with `tariff_cf = tariff`), `deficits`
    ('zero', 'data' or 'raw'), `steps` (the baseline re-solves: status, w_hat range), `n_clipped_alpha`.
    """

    regions: list
    sectors: list
    JT: int
    tariffs: np.ndarray
    tariffs_2005: np.ndarray | None
    model: CaliendoParro
    deficits: str
    steps: list = field(default_factory=list)
    n_clipped_alpha: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def N(self) -> int:
        return len(self.regions)

    @property
    def J(self) -> int:
        return len(self.sectors)

    def gross(self, pct) -> jax.Array:
        """Tariffs in percent (JT,N,N) -> gross factors (J,N,N) (traceable; home and services = 1)."""
        pct = jnp.asarray(pct, dtype=jnp.float64)
        if pct.shape[-3:] != (self.JT, self.N, self.N):
            raise ValueError(f"tariffs must have shape (tradable sectors, importer, exporter) = "
                             f"({self.JT}, {self.N}, {self.N}), in percent; got {pct.shape}")
        off = 1.0 - jnp.eye(self.N)
        goods = 1 + off * pct / 100
        return jnp.concatenate([goods, jnp.ones((self.J - self.JT, self.N, self.N))], axis=0)

    def wage_jacobian_inverse(self) -> np.ndarray:
        """Inverse of the reduced (wage) Jacobian at the baseline, computed once: the quasi-Newton
        solver's start for every counterfactual from this baseline (N x N)."""
        if "H0" not in self._cache:
            with jax.ensure_compile_time_eval():
                self._cache["H0"] = np.linalg.inv(np.asarray(wage_jacobian(self.model)))
        return self._cache["H0"]

    def solve(self, model: CaliendoParro, method: str = "quasi_newton", **options):
        """`solve_differentiable(model, ...)` started from this baseline's wage Jacobian (traceable)."""
        if method == "quasi_newton":
            options.setdefault("wage_jacobian_inverse", self.wage_jacobian_inverse())
        return solve_differentiable(model, method=method, **options)

    def region(self, code: str) -> int:
        """Position of a region code (ValueError listing the codes if unknown)."""
        if code not in self.regions:
            raise ValueError(f"unknown region {code!r}; regions: {', '.join(self.regions)}")
        return self.regions.index(code)


def _model_from(obj: dict, theta, tau, io_share, va_share, S_cf=None) -> CaliendoParro:
    return CaliendoParro(theta=theta, va_share=va_share, io_share=io_share, alpha=obj["alpha"], tariff=tau,
                         tariff_cf=tau, pi=obj["pi"], X=obj["X"], VA=obj["VA"], S=obj["S"],
                         S_cf=obj["S"] if S_cf is None else S_cf)


def _rebuild(model: CaliendoParro, sol, zero_S: bool) -> dict:
    """Spec BL.1/BL.2: the solved equilibrium's flows become the new baseline (alpha kept)."""
    Xc = np.asarray(sol["X_cf"])
    pic = np.asarray(sol["pi_cf"])
    tau = np.asarray(model.tariff)
    Xb = Xc[:, :, None] * pic
    GO = (Xb / tau).sum(axis=1)
    return cpdata.objects(Xb, tau, np.asarray(model.io_share), np.asarray(model.va_share), GO,
                          alpha=np.asarray(model.alpha), zero_S=zero_S)


def _fp_solution(model: CaliendoParro, what: str, steps: list) -> dict:
    """Solve by the authors' fixed point, check it, record diagnostics; unknowns and outputs by name."""
    sol = _solve_jit(model, method="fixed_point", mask=False)
    if not bool(sol.converged):
        raise RuntimeError(f"caliendo_parro: the {what} did not converge ({int(sol.steps)} iterations, "
                           f"max |residual| {float(sol.residual_norm):.3g})")
    w = np.asarray(sol["w_hat"])
    steps.append({"step": what, "iterations": int(sol.steps), "residual_norm": float(sol.residual_norm),
                  "w_hat_min": float(w.min()), "w_hat_max": float(w.max())})
    return sol.values()


def baseline(data=None, deficits: str = "zero", theta_nontradable: float = THETA_NONTRADABLE) -> Baseline:
    """The baseline equilibrium the counterfactuals start from (spec sections 4.2-4.3).

    The raw data are made an exact equilibrium in two solves, as the authors do: (1) solve with the
    data's trade deficits and zero shock, rebuild flows from the solution; (2) solve again with zero
    deficits and rebuild (the paper's baseline). Final-demand shares are calibrated once from the raw
    data (negative values set to 0 and renormalized) and then held fixed.

    **Arguments:**

    - `data`: None (the shipped 1993 tables of Caliendo and Parro), a folder with the six tables, or a
      dict of DataFrames (keys `countries`, `bilateral_trade`, `tariffs`, `io_coefficients`,
      `value_added`, `theta`; same columns as the shipped files). Any number of regions and sectors.
    - `deficits`: 'zero' (the paper), 'data' (stop after step 1; keep the data's surpluses) or 'raw'
      (no re-solve; a diagnostic, not an equilibrium).
    - `theta_nontradable`: trade elasticity assigned to services (irrelevant: they are not traded).

    **Returns:** a `Baseline`. Tables that break a rule raise `TableError` (a ValueError) naming the
    table, the row and the rule.
    """
    if deficits not in ("zero", "data", "raw"):
        raise ValueError(f"deficits must be 'zero', 'data' or 'raw'; got {deficits!r}")
    if data is None:
        return _shipped_baseline(deficits, float(theta_nontradable))
    return _build_baseline(data, deficits, float(theta_nontradable))


@functools.lru_cache(maxsize=None)
def _shipped_baseline(deficits: str, theta_nontradable: float) -> Baseline:
    return _build_baseline(None, deficits, theta_nontradable)


def _build_baseline(data, deficits: str, theta_nontradable: float) -> Baseline:
    raw = cpdata.parse(cpdata.read_tables(data))
    J = len(raw.sectors)
    theta = np.full(J, theta_nontradable)
    theta[:raw.JT] = raw.theta_tradable
    tau = cpdata.gross_tariffs(raw.tariffs, J)
    obj = cpdata.objects(raw.imports * tau, tau, raw.io_share, raw.va_share, raw.gross_output)
    n_clipped = obj["n_clipped_alpha"]
    model = _model_from(obj, theta, tau, raw.io_share, raw.va_share)
    steps = []
    if deficits != "raw":
        sol = _fp_solution(model, "base-year solve with data deficits", steps)
        obj = _rebuild(model, sol, zero_S=False)
        model = _model_from(obj, theta, tau, raw.io_share, raw.va_share)
    if deficits == "zero":
        sol = _fp_solution(model.replace(S_cf=np.zeros(len(raw.regions))), "zero-deficit solve", steps)
        obj = _rebuild(model, sol, zero_S=True)
        model = _model_from(obj, theta, tau, raw.io_share, raw.va_share)
    return Baseline(raw.regions, raw.sectors, raw.JT, raw.tariffs, raw.tariffs_2005, model, deficits, steps, n_clipped)


def nafta_tariffs(base: Baseline, members=NAFTA) -> np.ndarray:
    """The paper's experiment: 2005 tariffs among the members (both directions, every tradable
    sector), the baseline (1993) tariffs everywhere else.

    **Arguments:** `base` (needs `tariffs_2005`), `members` (region codes; default USA, CAN, MEX).

    **Returns:** tariffs in percent, shape (JT, N, N).
    """
    if base.tariffs_2005 is None:
        raise ValueError("this baseline has no 2005 tariffs (column tariff_2005_pct of table 'tariffs')")
    idx = [base.region(r) for r in members]
    pct = np.array(base.tariffs, dtype=float)
    for n in idx:
        for i in idx:
            if n != i:
                pct[:, n, i] = base.tariffs_2005[:, n, i]
    return pct


# ---------------------------------------------------------------------------------------------------
# Counterfactuals and results
# ---------------------------------------------------------------------------------------------------
def _model_for(base: Baseline, tariffs=None, S_cf=None, shock_scale=1.0, validate=True, model=None) -> CaliendoParro:
    # `model`: base.model passed in as a traced argument by the compiled helpers below (closing over
    # its arrays would make them constants of the program, and XLA then takes twice as long to compile)
    m = base.model if model is None else model
    tau_cf = m.tariff if tariffs is None else base.gross(tariffs)
    S_new = m.S if S_cf is None else jnp.asarray(S_cf, dtype=jnp.float64)
    if validate:
        if tariffs is not None:
            p = np.asarray(tariffs, dtype=float)
            if not np.all(np.isfinite(p)) or (p < 0).any():
                k = np.unravel_index(np.argmax(~np.isfinite(p) | (p < 0)), p.shape)
                raise ValueError(f"tariffs must be finite and >= 0 percent; entry (sector {base.sectors[k[0]]}, "
                                 f"importer {base.regions[k[1]]}, exporter {base.regions[k[2]]}) is {p[k]}")
        return m.replace(tariff_cf=tau_cf, S_cf=S_new, shock_scale=shock_scale)
    return m.with_params(tariff_cf=tau_cf, S_cf=S_new, shock_scale=shock_scale)


class Result:
    """A solved counterfactual with tidy tables (percent changes unless a column says `_hat`).

    **Attributes:** `base`, `model`, `solution` (a jaxoff `Solution`), `values` (its unknowns and
    outputs by name, NumPy), `converged`, `residual_norm` (max |scaled residual|), `iterations`,
    `method`, `tariffs` (percent). Tables: `welfare`, `real_wage`,
    `wages`, `prices`, `trade`; methods `bloc_trade`, `welfare_decomposition`, `offshoring`, `summary`.
    """

    def __init__(self, base: Baseline, model: CaliendoParro, solution, method: str, tariffs=None):
        self.base, self.model, self.solution, self.method, self.tariffs = base, model, solution, method, tariffs
        self.values = {k: np.asarray(v) for k, v in solution.values().items()}
        self.converged = bool(solution.converged)
        self.residual_norm = float(solution.residual_norm)
        self.iterations = int(solution.steps)

    def _a(self, name):
        return self.values[name]

    def __getitem__(self, name):
        return self.values[name]

    @property
    def welfare(self) -> pd.DataFrame:
        """By region: `exact` (real income), `paper_formula` (= tot + vot, the paper's table), `tot`, `vot`."""
        return pd.DataFrame({"exact": self._a("welfare_exact"), "paper_formula": self._a("welfare_paper"),
                             "tot": self._a("tot"), "vot": self._a("vot")},
                            index=pd.Index(self.base.regions, name="region"))

    @property
    def real_wage(self) -> pd.DataFrame:
        """By region: `w_hat`, `P_hat` (consumer price index change), `real_wage` (percent)."""
        return pd.DataFrame({"w_hat": self._a("w_hat"), "P_hat": self._a("P_index"),
                             "real_wage": self._a("real_wage")}, index=pd.Index(self.base.regions, name="region"))

    @property
    def wages(self) -> pd.DataFrame:
        """By region: `w_hat` (wage = value-added change, numeraire world value added), `income_hat`."""
        return pd.DataFrame({"w_hat": self._a("w_hat"), "income_hat": self._a("income_hat"),
                             "tariff_revenue_share": self._a("tariff_revenue_share")},
                            index=pd.Index(self.base.regions, name="region"))

    @property
    def prices(self) -> pd.DataFrame:
        """Tidy (sector, region): `P_hat` (sectoral price index), `c_hat` (input-bundle cost)."""
        J, N = len(self.base.sectors), len(self.base.regions)
        return pd.DataFrame({"sector": np.repeat(self.base.sectors, N), "region": np.tile(self.base.regions, J),
                             "P_hat": self._a("P_hat").ravel(), "c_hat": self._a("c_hat").ravel()})

    @property
    def trade(self) -> pd.DataFrame:
        """Tidy tariff-exclusive bilateral flows of the tradable sectors (domestic sales excluded), in
        1e10 USD: `baseline`, `counterfactual`, `growth` (percent, NaN where the baseline flow is 0)."""
        b, JT, N = self.base, self.base.JT, self.base.N
        m = b.model
        Z0 = (np.asarray(m.X)[:, :, None] * np.asarray(m.pi) / np.asarray(m.tariff))[:JT]
        Z1 = self._a("trade_cf")[:JT]
        j, n, i = np.meshgrid(np.arange(JT), np.arange(N), np.arange(N), indexing="ij")
        off = (n != i).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            g = 100 * (Z1 / Z0 - 1)
        df = pd.DataFrame({"sector": np.asarray(b.sectors)[j.ravel()], "importer": np.asarray(b.regions)[n.ravel()],
                           "exporter": np.asarray(b.regions)[i.ravel()], "baseline": Z0.ravel(),
                           "counterfactual": Z1.ravel(), "growth": np.where(Z0 > 0, g, np.nan).ravel()})
        return df[off].reset_index(drop=True)

    def bloc_trade(self, members=NAFTA) -> pd.DataFrame:
        """Growth (percent) of each member's imports from, exports to, and total trade with the other
        members (tariff-exclusive, tradable sectors); the last row is the whole bloc."""
        b = self.base
        idx = [b.region(r) for r in members]
        m = b.model
        Z0 = (np.asarray(m.X)[:, :, None] * np.asarray(m.pi) / np.asarray(m.tariff))[:b.JT].sum(axis=0)
        Z1 = self._a("trade_cf")[:b.JT].sum(axis=0)
        rows = {}
        for n in idx:
            o = [i for i in idx if i != n]
            imp0, imp1 = Z0[n, o].sum(), Z1[n, o].sum()
            ex0, ex1 = Z0[o, n].sum(), Z1[o, n].sum()
            rows[b.regions[n]] = {"imports": 100 * (imp1 / imp0 - 1), "exports": 100 * (ex1 / ex0 - 1),
                                  "total": 100 * ((imp1 + ex1) / (imp0 + ex0) - 1)}
        sub = np.ix_(idx, idx)
        off = ~np.eye(len(idx), dtype=bool)
        tot = 100 * (Z1[sub][off].sum() / Z0[sub][off].sum() - 1)
        rows["bloc"] = {"imports": tot, "exports": tot, "total": tot}
        return pd.DataFrame(rows).T.rename_axis("region")

    def welfare_decomposition(self, region: str) -> pd.DataFrame:
        """The paper's ToT and VoT welfare terms of one region by sector (percent; they add up to
        `welfare.loc[region, ["tot", "vot"]]`)."""
        k = self.base.region(region)
        return pd.DataFrame({"tot": self._a("tot_by_sector")[:, k], "vot": self._a("vot_by_sector")[:, k]},
                            index=pd.Index(self.base.sectors, name="sector"))

    def offshoring(self) -> pd.DataFrame:
        """Offshoring measures of the baseline and the counterfactual, by region (percent).

        `fva`: foreign value-added share of gross exports (world Leontief inverse; tariffs a sector pays
        on its inputs count as value added of the using country); `imported_inputs`: imported share of
        intermediate purchases at purchasers' prices; `imported_inputs_producer`: the same from the world
        table at producers' prices. Suffixes `_base` and `_cf`.
        """
        out = {}
        for tag, tab in (("base", offshoring_measures(self.base.model, None)),
                         ("cf", offshoring_measures(self.model, self.values))):
            for k, v in tab.items():
                out[f"{k}_{tag}"] = np.asarray(v)
        return pd.DataFrame(out, index=pd.Index(self.base.regions, name="region"))

    def summary(self, regions=None) -> pd.DataFrame:
        """One row per region: welfare (exact, paper formula, ToT, VoT), real wage, w_hat, P_hat, and for
        NAFTA members the growth of imports from the other members. `regions` selects rows."""
        df = self.welfare.join(self.real_wage)
        members = [r for r in NAFTA if r in self.base.regions]
        if len(members) > 1:
            g = self.bloc_trade(members)["imports"]
            df["imports_from_partners"] = g.reindex(df.index)
        return df if regions is None else df.loc[list(regions)]

    def __repr__(self):
        return (f"caliendo_parro.Result(converged={self.converged}, method={self.method!r}, "
                f"residual_norm={self.residual_norm:.2g}, regions={len(self.base.regions)})")


def counterfactual(base: Baseline, tariffs=None, *, S_cf=None, shock_scale: float = 1.0, method: str = "quasi_newton",
                   guess=None, **solve_options) -> Result:
    """Solve a counterfactual from a baseline.

    **Arguments:**

    - `base`: from `baseline()`.
    - `tariffs`: new tariffs in percent, shape (JT, N, N) (sector, importer, exporter); home entries
      are ignored. Default: the baseline tariffs.
    - `S_cf`: counterfactual trade surpluses (N,), in units of the baseline money (default: baseline).
    - `shock_scale`: fraction of the tariff change applied (1 = all of it).
    - `method`: "quasi_newton" (default: Broyden on the N wages with nested inner contractions,
      started from the baseline's wage Jacobian; see `solve_wages`; if it fails, the authors'
      algorithm runs instead and `result.method` says so), "fixed_point" (the authors' algorithm,
      compiled) or "newton" (`jo.solve` with dense Newton on all 2,511 unknowns; or pass
      `solver=...`). All attach implicit derivatives at the root (`solve_differentiable`).
    - `guess`: a previous `Result` or dict of unknowns to start from (method "newton").
    - `**solve_options`: passed to `jo.solve` (method "newton").

    **Returns:** a `Result` (`result.converged`: status converged, max |residual| <= 1e-8).
    """
    model = _model_for(base, tariffs, S_cf, shock_scale)
    pct = None if tariffs is None else np.asarray(tariffs, dtype=float)
    if method == "quasi_newton":
        sol = _solve_jit(model, method=method, wage_jacobian_inverse=base.wage_jacobian_inverse())
        if not bool(sol.converged):
            method = "quasi_newton (failed) -> fixed_point"
            sol = _solve_jit(model, method="fixed_point")
    elif method == "fixed_point":
        sol = _solve_jit(model, method=method)
    elif method == "newton":
        if isinstance(guess, Result):
            guess = guess.solution
        if not any(k in solve_options for k in ("solver", "fallback", "backend", "homotopy_steps")):
            solve_options["solver"] = Newton()    # dense Newton: F_z is cheap here (custom JVP)
        sol = _jo_solve(model, guess, **solve_options)
    else:
        raise ValueError(f"method must be 'quasi_newton', 'fixed_point' or 'newton'; got {method!r}")
    return Result(base, model, sol, method, pct)


# ---------------------------------------------------------------------------------------------------
# Offshoring measures (world input-output table of the equilibrium)
# ---------------------------------------------------------------------------------------------------
def world_table(model: CaliendoParro, solution=None) -> dict:
    """The world input-output table implied by an equilibrium (baseline if `solution` is None).

    Rows/columns are (country, sector), country-major. Intermediate flows at producers' prices
    Z[(i,k),(n,s)] = (1 - va_share[s,n]) G[n,k,s] pi[k,n,i] / tau[k,n,i] * Y[s,n]; final demand
    F[(i,k), d] = pi[k,d,i] / tau[k,d,i] * alpha[k,d] I[d]; gross output Y.

    **Returns:** dict with `Z` (NJ,NJ), `F` (NJ,N), `X` (NJ,) for `jaxoff.blocks.input_output`.
    """
    if solution is None:
        pi, tau, X = model.pi, model.tariff, model.X
        I = model.baseline_income()
    else:
        pi, tau, X = solution["pi_cf"], model.applied_tariff(), solution["X_cf"]
        I = solution["income_hat"] * model.baseline_income()
    J, N = X.shape
    sh = pi / tau                                   # [k, n, i]
    Y = jnp.einsum("kni,kn->ki", sh, X)             # gross output [k, i]
    use = (1 - model.va_share.T)[:, None, :] * model.io_share * Y.T[:, None, :]   # [n, k, s] input k used by s in n
    Z = jnp.einsum("kni,nks->ikns", sh, use).reshape(N * J, N * J)
    F = jnp.einsum("kdi,kd->ikd", sh, model.alpha * I[None, :]).reshape(N * J, N)
    return {"Z": Z, "F": F, "X": Y.T.reshape(N * J)}


def offshoring_measures(model: CaliendoParro, solution=None) -> dict:
    """FVA share of gross exports and imported-input shares by region (percent).

    **Returns:** dict of (N,) arrays: `fva`, `imported_inputs` (purchasers' prices, weighted by
    intermediate spending), `imported_inputs_producer` (world table, producers' prices).
    """
    pi = model.pi if solution is None else solution["pi_cf"]
    X = model.X if solution is None else solution["X_cf"]
    t = world_table(model, solution)
    J, N = X.shape
    fva = io_block.fva_share_of_gross_exports(t["Z"], t["F"], t["X"], N)
    # purchasers' prices: all users in n source input k with the shares pi[k,n,.]
    dom = jnp.diagonal(pi, axis1=1, axis2=2)                              # [k, n]
    imp = jnp.einsum("nks,kn->sn", model.io_share, 1 - dom)               # [s, n]
    Y = t["X"].reshape(N, J).T                                            # [s, n]
    wgt = (1 - model.va_share) * Y * (model.io_share.sum(axis=1).T > 0)
    agg = jnp.sum(wgt * imp, axis=0) / jnp.sum(wgt, axis=0)
    prod = io_block.imported_input_shares(t["Z"], N)                      # (N, J)
    totZ = t["Z"].reshape(N * J, N, J).sum(axis=0)                        # (N, J) total input purchases
    agg_prod = jnp.nansum(prod * totZ, axis=1) / jnp.sum(totZ, axis=1)
    return {"fva": 100 * fva, "imported_inputs": 100 * agg, "imported_inputs_producer": 100 * agg_prod}


def offshoring_by_sector(model: CaliendoParro, solution=None) -> dict:
    """Sector-level measures (J, N), percent: `fva` (foreign value added per unit of exports),
    `imported_inputs` (purchasers' prices), `vertical_specialization` ((1 - va_share) * imported_inputs)."""
    pi = model.pi if solution is None else solution["pi_cf"]
    t = world_table(model, solution)
    J, N = model.X.shape
    _, fva_s = io_block.fva_share_of_gross_exports(t["Z"], t["F"], t["X"], N, by_sector=True)
    dom = jnp.diagonal(pi, axis1=1, axis2=2)
    imp = jnp.einsum("nks,kn->sn", model.io_share, 1 - dom)
    return {"fva": 100 * fva_s.T, "imported_inputs": 100 * imp, "vertical_specialization": 100 * (1 - model.va_share) * imp}


# ---------------------------------------------------------------------------------------------------
# Derivatives
# ---------------------------------------------------------------------------------------------------
def solve_differentiable(model: CaliendoParro, *, method: str = "quasi_newton", wage_jacobian_inverse=None,
                         tol: float | None = None, max_iter: int | None = None, mask: bool = True,
                         linear_solver=None):
    """Solve and return a `Solution` that carries implicit derivatives.

    The root is found without derivative tracking, by `solve_wages` (method "quasi_newton": Broyden
    on the N wages with nested inner contractions, the fast method) or `solve_fixed_point`
    ("fixed_point": the authors' algorithm). jaxoff's implicit-function rule is then attached at that
    root (`differentiable_root`), so `jax.grad` (one adjoint solve), `jax.jvp`, `jax.vmap` and
    `jax.jit` go through it. The linear solves use `SchurWages` (block elimination down to an N x N
    system; never forms the 2,511 x 2,511 Jacobian); pass `linear_solver=lineax.LU()` for the dense
    alternative.
    The status is "converged" only if the method converged and max |residual| <= 1e-8.

    **Arguments:** `model`; `method`; `wage_jacobian_inverse` (quasi-Newton start, see `solve_wages`);
    `tol`, `max_iter` of the method (defaults: 1e-12 and 200 for quasi-Newton, 1e-14 and 5000 for the
    fixed point); `mask` (NaN for failed points); `linear_solver` (for the implicit derivative).

    **Returns:** a `Solution`.
    """
    frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, model)
    if method == "quasi_newton":
        H0 = (jnp.linalg.inv(wage_jacobian(frozen)) if wage_jacobian_inverse is None
              else jax.lax.stop_gradient(jnp.asarray(wage_jacobian_inverse)))
        u, k, ok, H = _broyden(frozen, H0, 1e-12 if tol is None else tol, 200 if max_iter is None else max_iter)
    elif method == "fixed_point":
        u, k, ok = _fp_loop(frozen, frozen.guess(), 1e-14 if tol is None else tol, 5000 if max_iter is None else max_iter)
        H = None
    else:
        raise ValueError(f"method must be 'quasi_newton' or 'fixed_point'; got {method!r}")
    layout = Layout.of(model, u)
    if linear_solver is None:
        J, N = model.X.shape
        linear_solver = SchurWages(N=N, JN=J * N, preconditioner=H)
    z = differentiable_root(model, layout, layout.to_internal(frozen, u), linear_solver)
    return assemble(model, layout, z, ok, k, SolverOptions(residual_tol=RESIDUAL_TOL, mask=mask))


_solve_jit = eqx.filter_jit(solve_differentiable)


def equilibrium(base: Baseline, tariffs=None, *, S_cf=None, shock_scale=1.0):
    """The counterfactual equilibrium as a traceable function of tariffs (percent): use it inside
    `jax.jit`, `jax.vmap` (batches of scenarios), `jax.grad` and `jax.jvp`. No input checks.

    **Arguments:** as `counterfactual` (`tariffs` (JT,N,N) percent, may be traced; `shock_scale` too).

    **Returns:** a `Solution` (outputs `welfare_exact`, `welfare_paper`, `real_wage`, `trade_cf`, ...).
    """
    return base.solve(_model_for(base, tariffs, S_cf, shock_scale, validate=False))


def _welfare_fn(base: Baseline, region: str, measure: str, S_cf=None):
    k = base.region(region)
    key = {"exact": "welfare_exact", "paper": "welfare_paper", "real_wage": "real_wage"}.get(measure)
    if key is None:
        raise ValueError(f"measure must be 'exact', 'paper' or 'real_wage'; got {measure!r}")

    def f(pct, model):
        sol = base.solve(_model_for(base, pct, S_cf, 1.0, validate=False, model=model))
        return sol[key][k]
    return f


def welfare_gradient(base: Baseline, region: str, tariffs=None, *, measure: str = "exact"):
    """Welfare of one region and its gradient with respect to every tariff, by one reverse pass
    (implicit differentiation of the equilibrium).

    **Arguments:** `base`; `region` (ISO3 code); `tariffs` (percent, (JT,N,N); default baseline);
    `measure`: 'exact', 'paper' or 'real_wage'.

    **Returns:** `(value, grad)`: welfare change in percent and d welfare / d tariff (percentage points
    per percentage point of tariff), shape (JT,N,N); home entries are 0.
    """
    pct = jnp.asarray(base.tariffs if tariffs is None else tariffs, dtype=jnp.float64)
    key = ("grad", region, measure)
    if key not in base._cache:
        base._cache[key] = eqx.filter_jit(jax.value_and_grad(_welfare_fn(base, region, measure)))
    v, g = base._cache[key](pct, base.model)
    return float(v), np.asarray(g)


def trade_elasticities(base: Baseline, importer: str, exporter: str, tariffs=None):
    """Elasticities of the (tariff-exclusive, all tradable sectors) imports of `importer` from
    `exporter` with respect to every gross tariff factor: d ln M / d ln(1 + t[j,n,i]), by one reverse pass.

    **Returns:** `(imports, elasticities)`: the counterfactual flow (1e10 USD) and a (JT,N,N) array.
    """
    n, i = base.region(importer), base.region(exporter)
    pct = jnp.asarray(base.tariffs if tariffs is None else tariffs, dtype=jnp.float64)
    key = ("trade", n, i)
    if key not in base._cache:
        def lnM(lntau, model):
            p = 100 * (jnp.exp(lntau) - 1)
            sol = base.solve(_model_for(base, p, None, 1.0, validate=False, model=model))
            return jnp.log(jnp.sum(sol["trade_cf"][:base.JT, n, i]))
        base._cache[key] = eqx.filter_jit(jax.value_and_grad(lnM))
    v, g = base._cache[key](jnp.log1p(pct / 100), base.model)
    return float(jnp.exp(v)), np.asarray(g)


def welfare_path(base: Baseline, tariffs, *, nodes: int = 8, old=None) -> pd.DataFrame:
    """Integrate the exact derivative of welfare along the straight tariff path
    tau(t) = old + t (new - old), t in [0, 1], by Gauss-Legendre quadrature.

    d ln W / dt (W = real income) comes from the implicit-function theorem at each node (forward mode,
    all nodes in one `vmap`); 100 (exp(integral) - 1) recovers the exact welfare change, whereas the
    paper's one-step formula does not.

    **Arguments:** `base`, `tariffs` (new, percent), `nodes` (quadrature points), `old` (default baseline).

    **Returns:** DataFrame by region: `integrated`, `exact` (solved at t = 1), `paper_formula`.
    """
    old = base.tariffs if old is None else old
    new = jnp.asarray(tariffs, dtype=jnp.float64)
    old = jnp.asarray(old, dtype=jnp.float64)
    x, wq = gauss_legendre(nodes)
    t = 0.5 * (jnp.asarray(x) + 1)
    wq = 0.5 * jnp.asarray(wq)

    def dlnW(s, model, old, new):
        def lnW(s):
            sol = base.solve(_model_for(base, old + s * (new - old), None, 1.0, validate=False, model=model))
            return jnp.log1p(sol["welfare_exact"] / 100)
        return jax.jvp(lnW, (s,), (jnp.ones_like(s),))[1]

    d = eqx.filter_jit(jax.vmap(dlnW, in_axes=(0, None, None, None)))(t, base.model, old, new)
    integral = jnp.sum(wq[:, None] * d, axis=0)
    end = counterfactual(base, np.asarray(new)) if old is base.tariffs or np.array_equal(np.asarray(old), base.tariffs) \
        else None
    df = pd.DataFrame({"integrated": np.asarray(100 * (jnp.exp(integral) - 1))},
                      index=pd.Index(base.regions, name="region"))
    if end is not None:
        df["exact"] = end.welfare["exact"]
        df["paper_formula"] = end.welfare["paper_formula"]
    return df


# ---------------------------------------------------------------------------------------------------
# Experiments (CLI: jaxoff counterfactual caliendo_parro --experiment nafta)
# ---------------------------------------------------------------------------------------------------
def nafta() -> Result:
    """The paper's NAFTA experiment on the zero-deficit 1993 baseline (2005 tariffs among USA, CAN, MEX)."""
    base = baseline()
    return counterfactual(base, tariffs=nafta_tariffs(base))


EXPERIMENTS = {"nafta": nafta}
