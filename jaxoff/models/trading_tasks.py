"""Grossman and Rossi-Hansberg (2008), "Trading Tasks: A Simple Theory of Offshoring", AER 98(5).

Economics (notation, equations, closed forms): docs/models/trading_tasks.md. Equation tags read
(paper eq. n; equation id Mk.j on that page). Offshoring L-task i costs beta t(i) foreign labor; the cutoff I balances
w = beta t(I) w*, and offshoring acts like L-augmenting technical progress: the L-task bundle costs
W = Omega(I) w.

Sub-models (`SUBMODELS`): M1 small HO economy, M1b industry-specific schedules, M1c immigration
contrast, M2 large two-country economy, M3 small economy specialized in X, M4 small HO with L- and
H-task offshoring, M5 large with L- and H-offshoring, M6 specialized with L- and H-offshoring,
M7 small specific-factors economy.

The offshoring margin (paper eq. 1) is written in complementarity form (spec pitfall P1):
I >= 0, ln(beta t(I) w*) - ln w >= 0, and one of them is zero, as min(I, ln(beta t(I) w*/w)) = 0.
Inside the offshoring regime this is exactly eq. 1 (same solution, same implicit derivatives); when
offshoring does not pay (beta t(0) w* >= W) it gives I = 0 and w = W, the correct no-offshoring
equilibrium, where a logit-I formulation would diverge. Cutoffs are therefore solved on
(-0.2, 1) rather than (0, 1), so that I = 0 is attainable.

The schedule family is a static option, `schedule_kind` in {"power", "exponential", "linear",
"general"} (the last with a static `t_fn(i, kappa, k)`), with `h_L` the power exponent and
`k_slope` the slope of the alternatives (spec section 5.0).
"""
from __future__ import annotations

from typing import Callable, ClassVar

import equinox as eqx
import jax.numpy as jnp

from ..blocks import (
    SCHEDULE_KINDS, ces_cost_share, ces_input_coefficients, ces_log_unit_cost, ces_price_index,
    make_schedule,
)
from ..model import Model
from ..transforms import Free, Interval, Positive

FAMILY = "trading_tasks"

# I = 0 must be reachable (complementarity form of eq. 1); tasks with i < 0 do not exist, but the
# schedules are smooth there, so Newton iterates may visit them.
CUTOFF = Interval(-0.2, 1.0)


def offshoring_margin(I, log_gap):
    """Complementarity form of the cutoff condition (paper eq. 1; spec P1).

    **Arguments:** `I` (cutoff), `log_gap` = ln(beta t(I) w*) - ln w.

    **Returns:** min(I, log_gap), zero iff I >= 0, log_gap >= 0 and I * log_gap = 0.
    """
    return jnp.minimum(I, log_gap)


def foreign_task_labor(beta, T):
    """beta T(I), with beta = inf (offshoring switched off, I = 0) giving 0 rather than inf*0."""
    finite = jnp.isfinite(beta)
    return jnp.where(finite, jnp.where(finite, beta, 0.0) * T, 0.0)


def _positive_part(v):
    return jnp.maximum(v, 0.0)


class _Core(Model):
    """Parameters shared by every sub-model: CES technologies and the L-task schedule."""

    beta: float = 2.0  # SHOCK: offshoring-cost shifter for L-tasks (beta_L)
    h_L: float = 2.0  # power-schedule exponent (the schedule's elasticity eta)
    k_slope: float = 3.0  # slope k of the exponential/linear schedules
    alpha_x: float = 0.4  # CES weight on the L-task bundle, skill-intensive X
    alpha_y: float = 0.7  # CES weight on the L-task bundle, labor-intensive Y
    sigma_x: float = 1.0  # elasticity of substitution between the L- and H-bundles
    sigma_y: float = 1.0
    A_x: float = 1.0
    A_y: float = 1.0
    L: float = 1.0
    gamma_Y: float = 0.5  # preference weight on Y
    eps_D: float = 1.0  # elasticity of substitution in consumption
    schedule_kind: str = eqx.field(static=True, default="power")
    t_fn: Callable | None = eqx.field(static=True, default=None)

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("beta",)

    def __check_init__(self):
        if self.schedule_kind not in SCHEDULE_KINDS:
            raise ValueError(f"{type(self).__name__}: schedule_kind must be one of {SCHEDULE_KINDS}, "
                             f"got {self.schedule_kind!r}")
        if self.schedule_kind == "general" and self.t_fn is None:
            raise ValueError(f"{type(self).__name__}: schedule_kind='general' needs t_fn(i, kappa, k)")

    # -- building blocks -----------------------------------------------------------------------
    def make_schedule(self, kappa, h, k):
        """The offshoring-cost schedule of the model's `schedule_kind` (spec 5.0)."""
        return make_schedule(self.schedule_kind, kappa, h, k, self.t_fn)

    def schedule(self):
        """The L-task schedule t(i)."""
        return self.make_schedule(self.kappa, self.h_L, self.k_slope)

    def technology(self, j: str):
        """(alpha_j, sigma_j, A_j) for industry j in {'x', 'y'}."""
        return getattr(self, f"alpha_{j}"), getattr(self, f"sigma_{j}"), getattr(self, f"A_{j}")

    def log_cost(self, j, W, S):
        return ces_log_unit_cost(W, S, *self.technology(j))

    def coefficients(self, j, W, S):
        return ces_input_coefficients(W, S, *self.technology(j))

    def theta_L(self, j, W, S):
        """Cost share of the L-task bundle in industry j."""
        return ces_cost_share(W, S, *self.technology(j))

    def price_index(self, p):
        return ces_price_index(p, self.gamma_Y, self.eps_D)

    def consumption(self, p, income, x, y):
        """Consumption, net exports and the foreign-value-added share of exports (spec section 6)."""
        share_Y = ces_cost_share(p, jnp.ones_like(p), self.gamma_Y, self.eps_D)
        C_X = (1.0 - share_Y) * income
        C_Y = share_Y * income / p
        NX_X, NX_Y = x - C_X, p * (y - C_Y)
        return {"C_X": C_X, "C_Y": C_Y, "NX_X": NX_X, "NX_Y": NX_Y}

    def export_measures(self, NX_X, NX_Y, Q, fva_x, fva_y):
        """Export share of output and foreign VA share of gross exports (industry-average techniques)."""
        ex_x, ex_y = _positive_part(NX_X), _positive_part(NX_Y)
        exports = ex_x + ex_y
        safe = jnp.where(exports > 0, exports, 1.0)
        return {
            "export_share": exports / Q,
            "foreign_va_share_exports": jnp.where(exports > 0, (fva_x * ex_x + fva_y * ex_y) / safe, 0.0),
        }

    def domain(self):
        return {
            "beta > 0": self.beta > 0,
            "h_L > 0": self.h_L > 0,
            "k_slope > 0": self.k_slope > 0,
            "0 < alpha_x < 1": (self.alpha_x > 0) & (self.alpha_x < 1),
            "0 < alpha_y < 1": (self.alpha_y > 0) & (self.alpha_y < 1),
            "sigma_x >= 0": self.sigma_x >= 0,
            "sigma_y >= 0": self.sigma_y >= 0,
            "A_x > 0": self.A_x > 0,
            "A_y > 0": self.A_y > 0,
            "L > 0": self.L > 0,
            "0 < gamma_Y < 1": (self.gamma_Y > 0) & (self.gamma_Y < 1),
            "eps_D > 0": self.eps_D > 0,
        }


class _HO(_Core):
    """Two goods, two factors (L, H), both goods produced at home."""

    H: float = 1.0

    def domain(self):
        return {**super().domain(), "H > 0": self.H > 0, "alpha_x < alpha_y": self.alpha_x < self.alpha_y}

    def feasible_p(self):
        """Strict bounds on p for a diversified economy when sigma_x = sigma_y != 1 (spec 5.0)."""
        same = jnp.abs(self.sigma_x - self.sigma_y) < 1e-12
        rho = 1.0 - self.sigma_x
        use = same & (jnp.abs(rho) > 1e-4)
        inv = 1.0 / jnp.where(use, rho, 1.0)
        scale = self.A_x / self.A_y
        b1 = scale * (self.alpha_y / self.alpha_x) ** inv
        b2 = scale * ((1.0 - self.alpha_y) / (1.0 - self.alpha_x)) ** inv
        lo = jnp.where(use, jnp.minimum(b1, b2), 0.0)
        hi = jnp.where(use, jnp.maximum(b1, b2), jnp.inf)
        return lo, hi

    def p_domain(self):
        lo, hi = self.feasible_p()
        return {"p inside the feasible range (A_x/A_y)((1-alpha_y)/(1-alpha_x))^(1/(1-sigma_x)) < p < "
                "(A_x/A_y)(alpha_y/alpha_x)^(1/(1-sigma_x)) (spec 5.0; sigma_x = sigma_y < 1)":
                (self.p > lo) & (self.p < hi)}

    def cd_bundle_costs(self, p):
        """W and S solving both zero-profit conditions under Cobb-Douglas (spec O2): a starting point."""
        d = self.alpha_y - self.alpha_x
        lpy = jnp.log(p * self.A_y)
        lW = ((1.0 - self.alpha_x) * lpy - (1.0 - self.alpha_y) * jnp.log(self.A_x)) / d
        lS = (self.alpha_y * jnp.log(self.A_x) - self.alpha_x * lpy) / d
        return jnp.exp(lW), jnp.exp(lS)

    def outputs_from_endowments(self, W, S, L_eff, H_eff):
        """x, y clearing L_eff and H_eff at bundle prices (W, S) (the 2x2 system of spec 5.1)."""
        a_Lx, a_Hx = self.coefficients("x", W, S)
        a_Ly, a_Hy = self.coefficients("y", W, S)
        det = a_Hx * a_Ly - a_Lx * a_Hy
        return (a_Ly * H_eff - a_Hy * L_eff) / det, (a_Hx * L_eff - a_Lx * H_eff) / det

    def integrated_economy_guess(self, Omega_L, Omega_H, I_L, I_H):
        """Reduced form of the large models under Cobb-Douglas (spec 5.4 and O6): a starting point.

        Adjusted FPE (W = A* w*, S = A* s*) makes the world one integrated economy with efficiency
        endowments Lbar = L/Omega_L + L*/A*, Hbar = H/Omega_H + H*/A*; world outputs follow from
        paper eqs. 12-13 and home outputs from home full employment. Exact for Cobb-Douglas
        technology and preferences, close otherwise.
        """
        theta = (1.0 - self.gamma_Y) * self.alpha_x + self.gamma_Y * self.alpha_y
        Lbar = self.L / Omega_L + self.L_star / self.A_star
        Hbar = self.H / Omega_H + self.H_star / self.A_star
        ratio = theta * Hbar / ((1.0 - theta) * Lbar)  # W/S
        S = self.A_x * ratio ** (-self.alpha_x)
        W = S * ratio
        p = W ** self.alpha_y * S ** (1.0 - self.alpha_y) / self.A_y
        X_w, Y_w = self.outputs_from_endowments(W, S, Lbar, Hbar)
        x, y = self.outputs_from_endowments(W, S, self.L / (1.0 - I_L), self.H / (1.0 - I_H))
        return {"W": W, "S": S, "p": p, "x": x, "y": y, "x_star": X_w - x, "y_star": Y_w - y}

    def mu1(self, W, S):
        """mu1 = theta_Hx/|theta|, |theta| = theta_Ly - theta_Lx (spec section 8)."""
        tx, ty = self.theta_L("x", W, S), self.theta_L("y", W, S)
        return (1.0 - tx) / (ty - tx)


def _cutoff_guess(schedule, rho):
    """Interior cutoff for tOmega(I) = rho t(0) where offshoring pays, else 0 (guesses only)."""
    sup = schedule.sup_tOmega() / schedule.t0()
    rho_in = jnp.clip(rho, 1.0 + 1e-9, jnp.where(jnp.isfinite(sup), 1.0 + 0.98 * (sup - 1.0), jnp.inf))
    I = schedule.inverse(rho_in)
    return jnp.where(rho > 1.0, jnp.clip(I, 0.0, 0.98), 0.0)


# ================================================================================================
class SmallOpenEconomy(_HO):
    """M1: small open Heckscher-Ohlin economy offshoring L-tasks (paper Sec. I-IIA).

    Parameters follow spec section 3 (defaults: beta = 2, w* = 0.25, p = 1, L = H = 1).
    """

    kappa: float = 1.0  # t(0)
    w_star: float = 0.25  # foreign low-skill wage
    p: float = 1.0  # world relative price of Y (terms of trade)

    spec_id: ClassVar[str] = "M1"
    description: ClassVar[str] = "Small open HO economy with L-task offshoring (Sec. I-IIA)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I": CUTOFF, "x": Free(), "y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star", "p")

    def domain(self):
        return {**super().domain(), "kappa > 0": self.kappa > 0, "beta * kappa >= 1": self.beta * self.kappa >= 1,
                "w_star > 0": self.w_star > 0, "p > 0": self.p > 0, **self.p_domain()}

    def guess(self):
        t = self.schedule()
        W, s = self.cd_bundle_costs(self.p)
        I = _cutoff_guess(t, W / (self.beta * self.w_star * t.t0()))
        x, y = self.outputs_from_endowments(W, s, self.L / (1.0 - I), self.H)
        return {"w": W / t.Omega(I), "s": s, "I": I, "x": x, "y": y}

    def intermediates(self, u):
        """Omega(I) and the L-task bundle cost W = Omega(I) w (eq. 2)."""
        Omega = self.schedule().Omega(u["I"])
        return {"Omega": Omega, "W": Omega * u["w"]}

    def residuals(self, u):
        u = self.point(u)
        w, s, I, x, y, W = u["w"], u["s"], u["I"], u["x"], u["y"], u["W"]
        t = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", W, s)
        a_Ly, a_Hy = self.coefficients("y", W, s)
        gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "cutoff": offshoring_margin(I, gap),  # eq. 1 (complementarity, P1); M1.1
            "zero_profit_x": self.log_cost("x", W, s),  # eq. 8; M1.2
            "zero_profit_y": self.log_cost("y", W, s) - jnp.log(self.p),  # eq. 9; M1.3
            "labor_market": (1 - I) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M1.4
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M1.5
        }

    def outputs(self, u):
        u = self.point(u)
        w, s, I, x, y, Omega, W = u["w"], u["s"], u["I"], u["x"], u["y"], u["Omega"], u["W"]
        t = self.schedule()
        E, g = t.E(I), t.g(I)
        P = self.price_index(self.p)
        income = w * self.L + s * self.H
        M_T = E * w * self.L  # = beta w* T(I) L/(1-I)
        Q = x + self.p * y
        th_x, th_y = self.theta_L("x", W, s), self.theta_L("y", W, s)
        cons = self.consumption(self.p, income, x, y)
        return {
            "W": W, "Omega": Omega, "E": E, "g": g,
            "skill_premium": s / w,
            "real_w": w / P, "real_s": s / P,
            "income": income, "welfare": income / P,
            "task_imports": M_T,
            "foreign_labor_hired": self.beta * t.T(I) * self.L / (1.0 - I),
            "offshored_task_volume": I * self.L / (1.0 - I),
            "offshoring_intensity_x": th_x * g, "offshoring_intensity_y": th_y * g,
            "task_import_ratio": M_T / Q,
            "Q": Q, "theta_Lx": th_x, "theta_Ly": th_y,
            **cons,
            **self.export_measures(cons["NX_X"], cons["NX_Y"], Q, th_x * g, th_y * g),
            "offshoring_active": jnp.where(W > self.beta * t.t0() * self.w_star, 1.0, 0.0),
            "beta_threshold": W / (t.t0() * self.w_star),  # offshoring starts below this beta
        }

    def regime(self, u):
        u = self.point(u)
        t = self.schedule()
        R = u["W"] / (self.beta * self.w_star)
        return {
            "cutoff_below_one": (R < t.sup_tOmega()) & (u["I"] < 1),  # (b)
            "diversified": (u["x"] > 0) & (u["y"] > 0),  # (c)
        }

    def decomposition_parts(self, u):
        u = self.point(u)
        return {"ln_Omega": jnp.log(u["Omega"]), "ln_p": jnp.log(self.p),
                "ell": -jnp.log1p(-u["I"]), "mu1": self.mu1(u["W"], u["s"]), "mu2": jnp.zeros(())}


# ================================================================================================
class IndustrySchedules(_HO):
    """M1b: small HO economy with industry-specific schedules t_j = kappa_j (1-i)^(-h) (Sec. IIA, fn 18).

    `offshorable_x`/`offshorable_y` (static) switch an industry's offshoring off: its cutoff
    equation is replaced by I_j = 0, equivalent to dropping I_j and eq. 1 for industry j.
    """

    kappa_x: float = 1.2
    kappa_y: float = 1.0
    w_star: float = 0.25
    p: float = 1.0
    offshorable_x: bool = eqx.field(static=True, default=True)
    offshorable_y: bool = eqx.field(static=True, default=True)

    spec_id: ClassVar[str] = "M1b"
    description: ClassVar[str] = "Small HO economy with industry-specific offshoring schedules (Sec. IIA, fn 18)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I_x": CUTOFF, "I_y": CUTOFF,
                                "x": Free(), "y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star", "p")

    def schedule(self, j: str = "y"):
        return self.make_schedule(getattr(self, f"kappa_{j}"), self.h_L, self.k_slope)

    def domain(self):
        return {**super().domain(), "kappa_x > 0": self.kappa_x > 0, "kappa_y > 0": self.kappa_y > 0,
                "beta * kappa_x >= 1": self.beta * self.kappa_x >= 1,
                "beta * kappa_y >= 1": self.beta * self.kappa_y >= 1,
                "w_star > 0": self.w_star > 0, "p > 0": self.p > 0, **self.p_domain()}

    def guess(self):
        W, s = self.cd_bundle_costs(self.p)
        I = {}
        for j, on in (("x", self.offshorable_x), ("y", self.offshorable_y)):
            t = self.schedule(j)
            I[j] = _cutoff_guess(t, W / (self.beta * self.w_star * t.t0())) if on else jnp.zeros(())
        w = W / self.schedule("y").Omega(I["y"])
        x, y = self.outputs_from_endowments(W, s, self.L / (1.0 - 0.5 * (I["x"] + I["y"])), self.H)
        return {"w": w, "s": s, "I_x": I["x"], "I_y": I["y"], "x": x, "y": y}

    def intermediates(self, u):
        """Industry bundle costs W_j = Omega_j(I_j) w, cost shares, g_j and the stability index Gamma."""
        tx, ty = self.schedule("x"), self.schedule("y")
        Omega_x, Omega_y = tx.Omega(u["I_x"]), ty.Omega(u["I_y"])
        W_x, W_y = Omega_x * u["w"], Omega_y * u["w"]
        th_x, th_y = self.theta_L("x", W_x, u["s"]), self.theta_L("y", W_y, u["s"])
        g_x, g_y = tx.g(u["I_x"]), ty.g(u["I_y"])
        rx, ry = (1 - th_x) / th_x, (1 - th_y) / th_y
        return {"Omega_x": Omega_x, "Omega_y": Omega_y, "W_x": W_x, "W_y": W_y, "theta_Lx": th_x,
                "theta_Ly": th_y, "g_x": g_x, "g_y": g_y,
                "Gamma": (rx * g_y - ry * g_x) / (rx - ry)}  # stability index (spec 5.2)

    def residuals(self, u):
        u = self.point(u)
        w, s, Ix, Iy, x, y = u["w"], u["s"], u["I_x"], u["I_y"], u["x"], u["y"]
        tx, ty, W_x, W_y = self.schedule("x"), self.schedule("y"), u["W_x"], u["W_y"]
        a_Lx, a_Hx = self.coefficients("x", W_x, s)
        a_Ly, a_Hy = self.coefficients("y", W_y, s)

        def margin(I, t, on):
            gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(self.w_star) - jnp.log(w)
            return offshoring_margin(I, gap) if on else I  # industry that cannot offshore: I_j = 0

        return {
            "cutoff_x": margin(Ix, tx, self.offshorable_x),  # eq. 1, industry x; M1b.1
            "cutoff_y": margin(Iy, ty, self.offshorable_y),  # eq. 1, industry y; M1b.2
            "zero_profit_x": self.log_cost("x", W_x, s),  # eq. 3, j = x; M1b.3
            "zero_profit_y": self.log_cost("y", W_y, s) - jnp.log(self.p),  # eq. 3, j = y; M1b.4
            "labor_market": ((1 - Ix) * a_Lx * x + (1 - Iy) * a_Ly * y) / self.L - 1,  # eq. 4 gen.; M1b.5
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M1b.6
        }

    def outputs(self, u):
        u = self.point(u)
        w, s, Ix, Iy, x, y = u["w"], u["s"], u["I_x"], u["I_y"], u["x"], u["y"]
        tx, ty, W_x, W_y = self.schedule("x"), self.schedule("y"), u["W_x"], u["W_y"]
        a_Lx, _ = self.coefficients("x", W_x, s)
        a_Ly, _ = self.coefficients("y", W_y, s)
        th_x, th_y, g_x, g_y = u["theta_Lx"], u["theta_Ly"], u["g_x"], u["g_y"]
        P = self.price_index(self.p)
        income = w * self.L + s * self.H
        # M_T = sum_j beta w* T_j(I_j) a_Lj q_j = sum_j E_j w (1 - I_j) a_Lj q_j
        M_T = w * (tx.E(Ix) * (1 - Ix) * a_Lx * x + ty.E(Iy) * (1 - Iy) * a_Ly * y)
        Q = x + self.p * y
        cons = self.consumption(self.p, income, x, y)
        return {
            "W_x": W_x, "W_y": W_y, "Omega_x": u["Omega_x"], "Omega_y": u["Omega_y"],
            "E_x": tx.E(Ix), "E_y": ty.E(Iy), "g_x": g_x, "g_y": g_y,
            "Gamma": u["Gamma"],  # stability index (spec 5.2)
            "skill_premium": s / w, "real_w": w / P, "real_s": s / P,
            "income": income, "welfare": income / P, "task_imports": M_T,
            "offshoring_intensity_x": th_x * g_x, "offshoring_intensity_y": th_y * g_y,
            "task_import_ratio": M_T / Q, "Q": Q, "theta_Lx": th_x, "theta_Ly": th_y,
            **cons,
            **self.export_measures(cons["NX_X"], cons["NX_Y"], Q, th_x * g_x, th_y * g_y),
        }

    def regime(self, u):
        u = self.point(u)
        return {
            "cutoffs_below_one": (u["I_x"] < 1) & (u["I_y"] < 1),
            "diversified": (u["x"] > 0) & (u["y"] > 0),
            "Gamma < 1 (unique, stable equilibrium; spec P7)": u["Gamma"] < 1,
        }


# ================================================================================================
class Immigration(_HO):
    """M1c: immigration contrast (Sec. IIA): a mass N_m of potential migrants, migrant i keeps 1/(beta t(i)).

    No offshoring: W = w. I is the share of potential migrants who move (complementarity at I = 0).
    """

    kappa: float = 1.0
    w_star: float = 0.25
    p: float = 1.0
    N_migr: float = 1.0  # [spec-added] mass of potential immigrants

    spec_id: ClassVar[str] = "M1c"
    description: ClassVar[str] = "Small HO economy with immigration instead of offshoring (Sec. IIA)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I": CUTOFF, "x": Free(), "y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star", "p")

    def domain(self):
        return {**super().domain(), "kappa > 0": self.kappa > 0, "beta * kappa >= 1": self.beta * self.kappa >= 1,
                "w_star > 0": self.w_star > 0, "p > 0": self.p > 0, "N_migr > 0": self.N_migr > 0,
                **self.p_domain()}

    def guess(self):
        t = self.schedule()
        W, s = self.cd_bundle_costs(self.p)
        I = 0.5 * _cutoff_guess(t, W / (self.beta * self.w_star * t.t0()))
        x, y = self.outputs_from_endowments(W, s, self.L + self.N_migr * I, self.H)
        return {"w": W, "s": s, "I": I, "x": x, "y": y}

    def residuals(self, u):
        w, s, I, x, y = u["w"], u["s"], u["I"], u["x"], u["y"]
        t = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", w, s)
        a_Ly, a_Hy = self.coefficients("y", w, s)
        gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "marginal_migrant": offshoring_margin(I, gap),  # Sec. IIA, migrant indifferent; M1c.1
            "zero_profit_x": self.log_cost("x", w, s),  # eq. 8; M1c.2
            "zero_profit_y": self.log_cost("y", w, s) - jnp.log(self.p),  # eq. 9; M1c.3
            "labor_market": (a_Lx * x + a_Ly * y) / (self.L + self.N_migr * I) - 1,  # M1c.4
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M1c.5
        }

    def outputs(self, u):
        w, s, I, x, y = u["w"], u["s"], u["I"], u["x"], u["y"]
        P = self.price_index(self.p)
        income = w * self.L + s * self.H  # natives' factor income
        return {"W": w, "migrants": self.N_migr * I, "skill_premium": s / w, "real_w": w / P, "real_s": s / P,
                "income": income, "welfare": income / P, "Q": x + self.p * y}

    def regime(self, u):
        return {"cutoff_below_one": u["I"] < 1, "diversified": (u["x"] > 0) & (u["y"] > 0)}


# ================================================================================================
class LargeTwoCountry(_HO):
    """M2: two large countries, Foreign technologically inferior by A* (paper Sec. IIB)."""

    beta: float = 1.5
    kappa: float = 1.0
    A_star: float = 3.0  # foreign Hicks-neutral inferiority
    L_star: float = 6.0
    H_star: float = 3.0

    spec_id: ClassVar[str] = "M2"
    description: ClassVar[str] = "Large two-country economy with a technology gap (Sec. IIB)"
    unknowns: ClassVar[dict] = {
        "w": Positive(), "s": Positive(), "w_star": Positive(), "s_star": Positive(), "I": CUTOFF,
        "p": Positive(), "x": Free(), "y": Free(), "x_star": Free(), "y_star": Free(),
    }
    shocks: ClassVar[tuple[str, ...]] = ("beta", "A_star")

    def domain(self):
        return {
            **super().domain(),
            "kappa > 0": self.kappa > 0,
            "beta * kappa >= 1": self.beta * self.kappa >= 1,
            "A_star > 1": self.A_star > 1,
            "L_star > 0": self.L_star > 0,
            "H_star > 0": self.H_star > 0,
        }

    def guess(self):
        t = self.schedule()
        I = _cutoff_guess(t, self.A_star / (self.beta * t.t0()))
        g = self.integrated_economy_guess(t.Omega(I), 1.0, I, 0.0)
        return {"w": g["W"] / t.Omega(I), "s": g["S"], "w_star": g["W"] / self.A_star,
                "s_star": g["S"] / self.A_star, "I": I, "p": g["p"], "x": g["x"], "y": g["y"],
                "x_star": g["x_star"], "y_star": g["y_star"]}

    def intermediates(self, u):
        """Omega(I) and the L-task bundle cost W = Omega(I) w (eq. 2)."""
        Omega = self.schedule().Omega(u["I"])
        return {"Omega": Omega, "W": Omega * u["w"]}

    def residuals(self, u):
        u = self.point(u)
        w, s, ws, ss, I, p = u["w"], u["s"], u["w_star"], u["s_star"], u["I"], u["p"]
        x, y, xs, ys, W = u["x"], u["y"], u["x_star"], u["y_star"], u["W"]
        t = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", W, s)
        a_Ly, a_Hy = self.coefficients("y", W, s)
        b_Lx, b_Hx = self.coefficients("x", ws, ss)  # foreign: a*_fj = A* a_fj(w*, s*)
        b_Ly, b_Hy = self.coefficients("y", ws, ss)
        A = self.A_star
        demand = jnp.log(self.gamma_Y / (1 - self.gamma_Y)) - self.eps_D * jnp.log(p)
        gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(ws) - jnp.log(w)
        return {
            "cutoff": offshoring_margin(I, gap),  # eq. 1 (complementarity, P1); M2.1
            "zero_profit_x": self.log_cost("x", W, s),  # eq. 8; M2.2
            "zero_profit_y": self.log_cost("y", W, s) - jnp.log(p),  # eq. 9; M2.3
            "zero_profit_x_star": jnp.log(A) + self.log_cost("x", ws, ss),  # eq. 10; M2.4
            "zero_profit_y_star": jnp.log(A) + self.log_cost("y", ws, ss) - jnp.log(p),  # eq. 11; M2.5
            "labor_market": (1 - I) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M2.6
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M2.7
            "labor_market_star": (A * (b_Lx * xs + b_Ly * ys)
                                  + foreign_task_labor(self.beta, t.T(I)) * (a_Lx * x + a_Ly * y))
            / self.L_star - 1,  # M2.8
            "skill_market_star": A * (b_Hx * xs + b_Hy * ys) / self.H_star - 1,  # M2.9
            "goods_market": jnp.log((y + ys) / (x + xs)) - demand,  # M2.10
        }

    def outputs(self, u):
        u = self.point(u)
        t = self.schedule()
        w, s, I, p, x, y, Omega, W = u["w"], u["s"], u["I"], u["p"], u["x"], u["y"], u["Omega"], u["W"]
        E, g = t.E(I), t.g(I)
        P = self.price_index(p)
        income = w * self.L + s * self.H
        M_T = E * w * self.L
        Q = x + p * y
        th_x, th_y = self.theta_L("x", W, s), self.theta_L("y", W, s)
        Lbar = self.L / Omega + self.L_star / self.A_star
        Hbar = self.H + self.H_star / self.A_star
        cons = self.consumption(p, income, x, y)
        return {
            "W": W, "Omega": Omega, "E": E, "g": g,
            "skill_premium": s / w,
            "real_w": w / P, "real_s": s / P,
            "income": income, "welfare": income / P,
            "foreign_income": u["w_star"] * self.L_star + u["s_star"] * self.H_star,
            "task_imports": M_T,
            "foreign_labor_hired": self.beta * t.T(I) * self.L / (1.0 - I),
            "offshoring_intensity_x": th_x * g, "offshoring_intensity_y": th_y * g,
            "task_import_ratio": M_T / Q, "Q": Q, "theta_Lx": th_x, "theta_Ly": th_y,
            **cons,
            **self.export_measures(cons["NX_X"], cons["NX_Y"], Q, th_x * g, th_y * g),
            "terms_of_trade": jnp.where(cons["NX_Y"] > 0, p, 1.0 / p),
            "X_world": x + u["x_star"], "Y_world": y + u["y_star"],
            "Lbar": Lbar, "Hbar": Hbar,
            "lambda_L": (self.L / Omega) / Lbar, "lambda_H": self.H / Hbar,
        }

    def regime(self, u):
        t = self.schedule()
        return {
            "cutoff_below_one": (self.A_star / self.beta < t.sup_tOmega()) & (u["I"] < 1),
            "home_diversified": (u["x"] > 0) & (u["y"] > 0),
            "foreign_diversified": (u["x_star"] > 0) & (u["y_star"] > 0),
        }

    def decomposition_parts(self, u):
        u = self.point(u)
        return {"ln_Omega": jnp.log(u["Omega"]), "ln_p": jnp.log(u["p"]),
                "ell": -jnp.log1p(-u["I"]), "mu1": self.mu1(u["W"], u["s"]), "mu2": jnp.zeros(())}


# ================================================================================================
class SpecializedSmallEconomy(_Core):
    """M3: small economy producing only X (labor-supply effect; Sec. IIC, eqs. 1, 8, 14-16)."""

    kappa: float = 1.0
    w_star: float = 0.25
    p: float = 0.45  # world price of Y (not produced at home)
    H: float = 1.5

    spec_id: ClassVar[str] = "M3"
    description: ClassVar[str] = "Small economy specialized in X: offshoring frees labor (Sec. IIC)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I": CUTOFF, "x": Positive()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star")

    def domain(self):
        return {**super().domain(), "kappa > 0": self.kappa > 0, "beta * kappa >= 1": self.beta * self.kappa >= 1,
                "w_star > 0": self.w_star > 0, "p > 0": self.p > 0, "H > 0": self.H > 0,
                "sigma_x > 0 (both factor markets must clear with one good)": self.sigma_x > 0}

    def guess(self):
        t = self.schedule()
        # Cobb-Douglas I = 0 wage (spec O7): C = A_x [alpha_x H/((1-alpha_x) L)]^(1-alpha_x)
        C = self.A_x * (self.alpha_x * self.H / ((1 - self.alpha_x) * self.L)) ** (1 - self.alpha_x)
        I = 0.7 * _cutoff_guess(t, C / (self.beta * self.w_star * t.t0()))
        W = C * (1 - I) ** (1 - self.alpha_x)
        s = (self.A_x * W ** (-self.alpha_x)) ** (1 / (1 - self.alpha_x))
        x = self.H * s / (1 - self.alpha_x)
        return {"w": W / t.Omega(I), "s": s, "I": I, "x": x}

    def intermediates(self, u):
        """Omega(I), W = Omega(I) w and the unit cost c_y of the good not produced."""
        Omega = self.schedule().Omega(u["I"])
        W = Omega * u["w"]
        return {"Omega": Omega, "W": W, "c_y": jnp.exp(self.log_cost("y", W, u["s"]))}

    def residuals(self, u):
        u = self.point(u)
        w, s, I, x, W = u["w"], u["s"], u["I"], u["x"], u["W"]
        t = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", W, s)
        gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "cutoff": offshoring_margin(I, gap),  # eq. 1 (complementarity); M3.1
            "zero_profit_x": self.log_cost("x", W, s),  # eq. 8; M3.2
            "labor_market": jnp.log(a_Lx * x * (1 - I) / self.L),  # eq. 14; M3.3
            "skill_market": jnp.log(a_Hx * x / self.H),  # eq. 15; M3.4
        }

    def outputs(self, u):
        u = self.point(u)
        w, s, I, x, Omega, W = u["w"], u["s"], u["I"], u["x"], u["Omega"], u["W"]
        t = self.schedule()
        E, g = t.E(I), t.g(I)
        P = self.price_index(self.p)
        income = w * self.L + s * self.H
        th = self.theta_L("x", W, s)
        cons = self.consumption(self.p, income, x, jnp.zeros_like(x))
        M_T = E * w * self.L
        return {
            "W": W, "Omega": Omega, "E": E, "g": g, "eta": t.eta(I), "theta_Lx": th,
            "skill_premium": s / w, "real_w": w / P, "real_s": s / P,
            "income": income, "welfare": income / P, "task_imports": M_T, "Q": x,
            "foreign_labor_hired": self.beta * t.T(I) * self.L / (1.0 - I),
            "offshoring_intensity_x": th * g, "task_import_ratio": M_T / x,
            **cons, **self.export_measures(cons["NX_X"], cons["NX_Y"], x, th * g, 0.0),
            "c_y_minus_p": u["c_y"] - self.p,  # > 0: Y unprofitable (P3)
        }

    def regime(self, u):
        u = self.point(u)
        return {
            "cutoff_below_one": u["I"] < 1,
            "c_y - p > 0 (Y not produced)": u["c_y"] > self.p,
        }

    def decomposition_parts(self, u):
        u = self.point(u)
        th = self.theta_L("x", u["W"], u["s"])
        return {"ln_Omega": jnp.log(u["Omega"]), "ln_p": jnp.log(self.p), "ell": -jnp.log1p(-u["I"]),
                "mu1": jnp.zeros(()), "mu2": (1 - th) / self.sigma_x}


# ================================================================================================
class _HTasks(Model):
    """H-task offshoring parameters (Sec. III); beta_H = inf switches H-offshoring off."""

    beta_H: float = 2.0  # SHOCK: offshoring-cost shifter for H-tasks
    h_H: float = 2.0
    kappa_H: float = 1.0
    k_slope_H: float = 3.0  # slope of the alternative H schedules (spec-added, mirrors k_slope)

    def schedule_H(self):
        return self.make_schedule(self.kappa_H, self.h_H, self.k_slope_H)

    def h_domain(self):
        return {"beta_H > 0": self.beta_H > 0, "h_H > 0": self.h_H > 0, "kappa_H > 0": self.kappa_H > 0,
                "k_slope_H > 0": self.k_slope_H > 0, "beta_H * kappa_H >= 1": self.beta_H * self.kappa_H >= 1}

    def two_sided_intermediates(self, u):
        """Omega_L(I_L), Omega_H(I_H) and the bundle costs W = Omega_L w, S = Omega_H s (eqs. 19-20)."""
        Omega_L, Omega_H = self.schedule().Omega(u["I_L"]), self.schedule_H().Omega(u["I_H"])
        return {"Omega_L": Omega_L, "Omega_H": Omega_H, "W": Omega_L * u["w"], "S": Omega_H * u["s"]}

    def h_gap(self, I_H, s, s_star):
        return (jnp.log(self.beta_H) + jnp.log(self.schedule_H().t(I_H)) + jnp.log(s_star) - jnp.log(s))


class SmallTwoSidedOffshoring(_HO, _HTasks):
    """M4: small HO economy offshoring both L- and H-tasks (Sec. III, eqs. 17-20)."""

    kappa: float = 1.0
    w_star: float = 0.25
    s_star: float = 0.40  # foreign high-skill wage
    p: float = 1.0

    spec_id: ClassVar[str] = "M4"
    description: ClassVar[str] = "Small HO economy with L- and H-task offshoring (Sec. III)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I_L": CUTOFF, "I_H": CUTOFF,
                                "x": Free(), "y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "beta_H", "w_star", "s_star", "p")

    def domain(self):
        return {**super().domain(), **self.h_domain(), "kappa > 0": self.kappa > 0,
                "beta * kappa >= 1": self.beta * self.kappa >= 1, "w_star > 0": self.w_star > 0,
                "s_star > 0": self.s_star > 0, "p > 0": self.p > 0, **self.p_domain()}

    def guess(self):
        tL, tH = self.schedule(), self.schedule_H()
        W, S = self.cd_bundle_costs(self.p)
        I_L = _cutoff_guess(tL, W / (self.beta * self.w_star * tL.t0()))
        I_H = _cutoff_guess(tH, S / (self.beta_H * self.s_star * tH.t0()))
        x, y = self.outputs_from_endowments(W, S, self.L / (1 - I_L), self.H / (1 - I_H))
        return {"w": W / tL.Omega(I_L), "s": S / tH.Omega(I_H), "I_L": I_L, "I_H": I_H, "x": x, "y": y}

    def intermediates(self, u):
        return self.two_sided_intermediates(u)

    def residuals(self, u):
        u = self.point(u)
        w, s, I_L, I_H, x, y, W, S = u["w"], u["s"], u["I_L"], u["I_H"], u["x"], u["y"], u["W"], u["S"]
        tL = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", W, S)
        a_Ly, a_Hy = self.coefficients("y", W, S)
        gap_L = jnp.log(self.beta) + jnp.log(tL.t(I_L)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "cutoff_L": offshoring_margin(I_L, gap_L),  # eq. 17; M4.1
            "cutoff_H": offshoring_margin(I_H, self.h_gap(I_H, s, self.s_star)),  # eq. 18; M4.2
            "zero_profit_x": self.log_cost("x", W, S),  # eq. 19; M4.3
            "zero_profit_y": self.log_cost("y", W, S) - jnp.log(self.p),  # eq. 20; M4.4
            "labor_market": (1 - I_L) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M4.5
            "skill_market": (1 - I_H) * (a_Hx * x + a_Hy * y) / self.H - 1,  # H analogue of eq. 4; M4.6
        }

    def outputs(self, u):
        return _two_sided_outputs(self, u, self.p, self.w_star, self.s_star)

    def regime(self, u):
        u = self.point(u)
        return {
            "cutoffs_below_one": (u["I_L"] < 1) & (u["I_H"] < 1)
            & (u["W"] / (self.beta * self.w_star) < self.schedule().sup_tOmega()),
            "diversified (cone)": (u["x"] > 0) & (u["y"] > 0),
        }

    def decomposition_parts(self, u):
        u = self.point(u)
        return {"ln_Omega": jnp.log(u["Omega_L"]), "ln_p": jnp.log(self.p),
                "ell": -jnp.log1p(-u["I_L"]), "mu1": self.mu1(u["W"], u["S"]), "mu2": jnp.zeros(())}


def _two_sided_outputs(m, u, p, w_star, s_star):
    """Derived outputs shared by M4 and M5 (spec section 6, with E_H s H added to task imports)."""
    u = m.point(u)
    tL, tH = m.schedule(), m.schedule_H()
    w, s, I_L, I_H, x, y = u["w"], u["s"], u["I_L"], u["I_H"], u["x"], u["y"]
    Om_L, Om_H, W, S = u["Omega_L"], u["Omega_H"], u["W"], u["S"]
    P = m.price_index(p)
    income = w * m.L + s * m.H
    M_T = tL.E(I_L) * w * m.L + tH.E(I_H) * s * m.H
    Q = x + p * y
    th_x, th_y = m.theta_L("x", W, S), m.theta_L("y", W, S)
    gL, gH = tL.g(I_L), tH.g(I_H)
    fva_x = th_x * gL + (1 - th_x) * gH
    fva_y = th_y * gL + (1 - th_y) * gH
    cons = m.consumption(p, income, x, y)
    return {
        "W": W, "S": S, "Omega_L": Om_L, "Omega_H": Om_H, "E_L": tL.E(I_L), "E_H": tH.E(I_H),
        "g_L": gL, "g_H": gH, "skill_premium": s / w, "real_w": w / P, "real_s": s / P,
        "income": income, "welfare": income / P, "task_imports": M_T,
        "offshoring_intensity_x": fva_x, "offshoring_intensity_y": fva_y,
        "task_import_ratio": M_T / Q, "Q": Q, "theta_Lx": th_x, "theta_Ly": th_y,
        **cons, **m.export_measures(cons["NX_X"], cons["NX_Y"], Q, fva_x, fva_y),
    }


# ================================================================================================
class LargeTwoSidedOffshoring(_HO, _HTasks):
    """M5: large two-country economy with L- and H-task offshoring (Sec. III, symmetric case)."""

    beta: float = 1.5
    beta_H: float = 1.5
    kappa: float = 1.0
    A_star: float = 3.0
    L_star: float = 6.0
    H_star: float = 3.0

    spec_id: ClassVar[str] = "M5"
    description: ClassVar[str] = "Large two-country economy with L- and H-task offshoring (Sec. III)"
    unknowns: ClassVar[dict] = {
        "w": Positive(), "s": Positive(), "w_star": Positive(), "s_star": Positive(), "I_L": CUTOFF,
        "I_H": CUTOFF, "p": Positive(), "x": Free(), "y": Free(), "x_star": Free(), "y_star": Free(),
    }
    shocks: ClassVar[tuple[str, ...]] = ("beta", "beta_H", "A_star")

    def domain(self):
        return {**super().domain(), **self.h_domain(), "kappa > 0": self.kappa > 0,
                "beta * kappa >= 1": self.beta * self.kappa >= 1, "A_star > 1": self.A_star > 1,
                "L_star > 0": self.L_star > 0, "H_star > 0": self.H_star > 0}

    def guess(self):
        tL, tH = self.schedule(), self.schedule_H()
        I_L = _cutoff_guess(tL, self.A_star / (self.beta * tL.t0()))
        I_H = _cutoff_guess(tH, self.A_star / (self.beta_H * tH.t0()))
        g = self.integrated_economy_guess(tL.Omega(I_L), tH.Omega(I_H), I_L, I_H)
        return {"w": g["W"] / tL.Omega(I_L), "s": g["S"] / tH.Omega(I_H), "w_star": g["W"] / self.A_star,
                "s_star": g["S"] / self.A_star, "I_L": I_L, "I_H": I_H, "p": g["p"], "x": g["x"],
                "y": g["y"], "x_star": g["x_star"], "y_star": g["y_star"]}

    def intermediates(self, u):
        return self.two_sided_intermediates(u)

    def residuals(self, u):
        u = self.point(u)
        w, s, ws, ss, I_L, I_H, p = u["w"], u["s"], u["w_star"], u["s_star"], u["I_L"], u["I_H"], u["p"]
        x, y, xs, ys, W, S = u["x"], u["y"], u["x_star"], u["y_star"], u["W"], u["S"]
        tL, tH = self.schedule(), self.schedule_H()
        a_Lx, a_Hx = self.coefficients("x", W, S)
        a_Ly, a_Hy = self.coefficients("y", W, S)
        b_Lx, b_Hx = self.coefficients("x", ws, ss)
        b_Ly, b_Hy = self.coefficients("y", ws, ss)
        A = self.A_star
        demand = jnp.log(self.gamma_Y / (1 - self.gamma_Y)) - self.eps_D * jnp.log(p)
        gap_L = jnp.log(self.beta) + jnp.log(tL.t(I_L)) + jnp.log(ws) - jnp.log(w)
        return {
            "cutoff_L": offshoring_margin(I_L, gap_L),  # eq. 17 = eq. 1; M5.1
            "cutoff_H": offshoring_margin(I_H, self.h_gap(I_H, s, ss)),  # eq. 18; M5.2
            "zero_profit_x": self.log_cost("x", W, S),  # eq. 19; M5.3
            "zero_profit_y": self.log_cost("y", W, S) - jnp.log(p),  # eq. 20; M5.4
            "zero_profit_x_star": jnp.log(A) + self.log_cost("x", ws, ss),  # eq. 10; M5.5
            "zero_profit_y_star": jnp.log(A) + self.log_cost("y", ws, ss) - jnp.log(p),  # eq. 11; M5.6
            "labor_market": (1 - I_L) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M5.7
            "skill_market": (1 - I_H) * (a_Hx * x + a_Hy * y) / self.H - 1,  # H analogue; M5.8
            "labor_market_star": (A * (b_Lx * xs + b_Ly * ys)
                                  + self.beta * tL.T(I_L) * (a_Lx * x + a_Ly * y)) / self.L_star - 1,  # M5.9
            "skill_market_star": (A * (b_Hx * xs + b_Hy * ys)
                                  + foreign_task_labor(self.beta_H, tH.T(I_H)) * (a_Hx * x + a_Hy * y))
            / self.H_star - 1,  # M5.10
            "goods_market": jnp.log((y + ys) / (x + xs)) - demand,  # M5.11
        }

    def outputs(self, u):
        u = self.point(u)
        Om_L, Om_H = u["Omega_L"], u["Omega_H"]
        Lbar = self.L / Om_L + self.L_star / self.A_star
        Hbar = self.H / Om_H + self.H_star / self.A_star
        out = _two_sided_outputs(self, u, u["p"], u["w_star"], u["s_star"])
        return {**out, "foreign_income": u["w_star"] * self.L_star + u["s_star"] * self.H_star,
                "terms_of_trade": jnp.where(out["NX_Y"] > 0, u["p"], 1.0 / u["p"]),
                "X_world": u["x"] + u["x_star"], "Y_world": u["y"] + u["y_star"], "Lbar": Lbar, "Hbar": Hbar,
                "lambda_L": (self.L / Om_L) / Lbar, "lambda_H": (self.H / Om_H) / Hbar}

    def regime(self, u):
        return {
            "cutoffs_below_one": (u["I_L"] < 1) & (u["I_H"] < 1)
            & (self.A_star / self.beta < self.schedule().sup_tOmega()),
            "home_diversified": (u["x"] > 0) & (u["y"] > 0),
            "foreign_diversified": (u["x_star"] > 0) & (u["y_star"] > 0),
        }

    def decomposition_parts(self, u):
        u = self.point(u)
        return {"ln_Omega": jnp.log(u["Omega_L"]), "ln_p": jnp.log(u["p"]),
                "ell": -jnp.log1p(-u["I_L"]), "mu1": self.mu1(u["W"], u["S"]), "mu2": jnp.zeros(())}


# ================================================================================================
class SpecializedTwoSidedOffshoring(_Core, _HTasks):
    """M6: small economy specialized in X offshoring L- and H-tasks (Sec. III, last paragraphs; spec-derived)."""

    kappa: float = 1.0
    w_star: float = 0.25
    s_star: float = 0.40
    p: float = 0.45
    H: float = 1.5

    spec_id: ClassVar[str] = "M6"
    description: ClassVar[str] = "Specialized small economy with L- and H-task offshoring (Sec. III)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I_L": CUTOFF, "I_H": CUTOFF, "x": Positive()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "beta_H", "w_star", "s_star")

    def domain(self):
        return {**super().domain(), **self.h_domain(), "kappa > 0": self.kappa > 0,
                "beta * kappa >= 1": self.beta * self.kappa >= 1, "w_star > 0": self.w_star > 0,
                "s_star > 0": self.s_star > 0, "p > 0": self.p > 0, "H > 0": self.H > 0,
                "sigma_x > 0 (both factor markets must clear with one good)": self.sigma_x > 0}

    def guess(self):
        tL, tH = self.schedule(), self.schedule_H()
        C = self.A_x * (self.alpha_x * self.H / ((1 - self.alpha_x) * self.L)) ** (1 - self.alpha_x)
        s0 = (self.A_x * C ** (-self.alpha_x)) ** (1 / (1 - self.alpha_x))
        I_L = 0.7 * _cutoff_guess(tL, C / (self.beta * self.w_star * tL.t0()))
        I_H = 0.7 * _cutoff_guess(tH, s0 / (self.beta_H * self.s_star * tH.t0()))
        return {"w": C, "s": s0, "I_L": I_L, "I_H": I_H, "x": self.H * s0 / (1 - self.alpha_x)}

    def intermediates(self, u):
        """The two-sided bundle costs and the unit cost c_y of the good not produced."""
        out = self.two_sided_intermediates(u)
        return {**out, "c_y": jnp.exp(self.log_cost("y", out["W"], out["S"]))}

    def residuals(self, u):
        u = self.point(u)
        w, s, I_L, I_H, x, W, S = u["w"], u["s"], u["I_L"], u["I_H"], u["x"], u["W"], u["S"]
        tL = self.schedule()
        a_Lx, a_Hx = self.coefficients("x", W, S)
        gap_L = jnp.log(self.beta) + jnp.log(tL.t(I_L)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "cutoff_L": offshoring_margin(I_L, gap_L),  # eq. 17; M6.1
            "cutoff_H": offshoring_margin(I_H, self.h_gap(I_H, s, self.s_star)),  # eq. 18; M6.2
            "zero_profit_x": self.log_cost("x", W, S),  # eq. 19; M6.3
            "labor_market": jnp.log(a_Lx * x * (1 - I_L) / self.L),  # eq. 14; M6.4
            "skill_market": jnp.log(a_Hx * x * (1 - I_H) / self.H),  # eq. 15 with H-offshoring; M6.5
        }

    def outputs(self, u):
        u = self.point(u)
        tL, tH = self.schedule(), self.schedule_H()
        w, s, I_L, I_H, x, W, S = u["w"], u["s"], u["I_L"], u["I_H"], u["x"], u["W"], u["S"]
        th = self.theta_L("x", W, S)
        P = self.price_index(self.p)
        income = w * self.L + s * self.H
        M_T = tL.E(I_L) * w * self.L + tH.E(I_H) * s * self.H
        cons = self.consumption(self.p, income, x, jnp.zeros_like(x))
        fva = th * tL.g(I_L) + (1 - th) * tH.g(I_H)
        return {
            "W": W, "S": S, "Omega_L": u["Omega_L"], "Omega_H": u["Omega_H"], "E_L": tL.E(I_L),
            "E_H": tH.E(I_H), "g_L": tL.g(I_L), "g_H": tH.g(I_H), "theta_Lx": th,
            "skill_premium": s / w, "real_w": w / P, "real_s": s / P, "income": income,
            "welfare": income / P, "task_imports": M_T, "Q": x, "offshoring_intensity_x": fva,
            "task_import_ratio": M_T / x, **cons, **self.export_measures(cons["NX_X"], cons["NX_Y"], x, fva, 0.0),
            "c_y_minus_p": u["c_y"] - self.p,
        }

    def regime(self, u):
        u = self.point(u)
        return {"cutoffs_below_one": (u["I_L"] < 1) & (u["I_H"] < 1),
                "c_y - p > 0 (Y not produced)": u["c_y"] > self.p}

    def decomposition_parts(self, u):
        u = self.point(u)
        th = self.theta_L("x", u["W"], u["S"])
        # W_hat = -(theta_Hx/sigma_x)(iota_L - iota_H) (spec O11 derivation)
        return {"ln_Omega": jnp.log(u["Omega_L"]), "ln_p": jnp.log(self.p),
                "ell": -jnp.log1p(-u["I_L"]) + jnp.log1p(-u["I_H"]),
                "mu1": jnp.zeros(()), "mu2": (1 - th) / self.sigma_x}


# ================================================================================================
class SpecificFactors(_Core):
    """M7: small specific-factors economy with L-task offshoring (spec-constructed; Sec. IIC remark).

    Good j uses the L-task bundle (CES weight alpha_j) and its own factor K_j (return r_j).
    """

    kappa: float = 1.0
    w_star: float = 0.25
    p: float = 1.0
    L: float = 3.0
    K_x: float = 1.0
    K_y: float = 1.0

    spec_id: ClassVar[str] = "M7"
    description: ClassVar[str] = "Small specific-factors economy with L-task offshoring (spec-constructed)"
    unknowns: ClassVar[dict] = {"w": Positive(), "r_x": Positive(), "r_y": Positive(), "I": CUTOFF,
                                "x": Positive(), "y": Positive()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star", "p")

    def domain(self):
        return {**super().domain(), "kappa > 0": self.kappa > 0, "beta * kappa >= 1": self.beta * self.kappa >= 1,
                "w_star > 0": self.w_star > 0, "p > 0": self.p > 0, "K_x > 0": self.K_x > 0,
                "K_y > 0": self.K_y > 0,
                "sigma_x > 0 and sigma_y > 0 (labor demand must respond to W)": (self.sigma_x > 0) & (self.sigma_y > 0)}

    def _cd_labor_demand(self, W):
        """Cobb-Douglas l_j(W) and r_j(W) (spec O12): a starting point."""
        out = {}
        for j, pj, K in (("x", 1.0, self.K_x), ("y", self.p, self.K_y)):
            a, _, A = self.technology(j)
            out[j] = (K * a / (1 - a) * (pj * A / W) ** (1 / (1 - a)), (pj * A * W ** (-a)) ** (1 / (1 - a)))
        return out

    def guess(self):
        t = self.schedule()
        d = self._cd_labor_demand(1.0)
        I = 0.7 * _cutoff_guess(t, 1.0 / (self.beta * self.w_star * t.t0()))
        dd = self._cd_labor_demand(t.Omega(I))
        return {"w": 1.0, "r_x": dd["x"][1], "r_y": dd["y"][1], "I": I,
                "x": self.K_x * d["x"][1] / (1 - self.alpha_x), "y": self.K_y * d["y"][1] / (1 - self.alpha_y)}

    def intermediates(self, u):
        """Omega(I), W = Omega(I) w and the labor-demand elasticity e_L (outputs and decomposition)."""
        Omega = self.schedule().Omega(u["I"])
        W = Omega * u["w"]
        return {"Omega": Omega, "W": W, "e_L": self._labor_demand_elasticity(u, W)}

    def residuals(self, u):
        u = self.point(u)
        w, rx, ry, I, x, y, W = u["w"], u["r_x"], u["r_y"], u["I"], u["x"], u["y"], u["W"]
        t = self.schedule()
        a_Lx, a_Kx = self.coefficients("x", W, rx)
        a_Ly, a_Ky = self.coefficients("y", W, ry)
        gap = jnp.log(self.beta) + jnp.log(t.t(I)) + jnp.log(self.w_star) - jnp.log(w)
        return {
            "cutoff": offshoring_margin(I, gap),  # eq. 1 (complementarity); M7.1
            "zero_profit_x": self.log_cost("x", W, rx),  # M7.2
            "zero_profit_y": self.log_cost("y", W, ry) - jnp.log(self.p),  # M7.3
            "labor_market": (1 - I) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M7.4
            "K_x_market": a_Kx * x / self.K_x - 1,  # M7.5
            "K_y_market": a_Ky * y / self.K_y - 1,  # M7.6
        }

    def labor_demand_elasticity(self, u):
        """e_L = sum_j lambda_j sigma_j/theta_Kj (spec O12), lambda_j = industry j's share of labor."""
        return self.point(u)["e_L"]

    def _labor_demand_elasticity(self, u, W):
        a_Lx, _ = self.coefficients("x", W, u["r_x"])
        a_Ly, _ = self.coefficients("y", W, u["r_y"])
        lx, ly = a_Lx * u["x"], a_Ly * u["y"]
        th_Kx = 1 - self.theta_L("x", W, u["r_x"])
        th_Ky = 1 - self.theta_L("y", W, u["r_y"])
        return (lx * self.sigma_x / th_Kx + ly * self.sigma_y / th_Ky) / (lx + ly)

    def outputs(self, u):
        u = self.point(u)
        w, rx, ry, I, x, y, Omega, W = u["w"], u["r_x"], u["r_y"], u["I"], u["x"], u["y"], u["Omega"], u["W"]
        t = self.schedule()
        E, g = t.E(I), t.g(I)
        P = self.price_index(self.p)
        income = w * self.L + rx * self.K_x + ry * self.K_y
        M_T = E * w * self.L
        Q = x + self.p * y
        th_x, th_y = self.theta_L("x", W, rx), self.theta_L("y", W, ry)
        cons = self.consumption(self.p, income, x, y)
        return {
            "W": W, "Omega": Omega, "E": E, "g": g, "eta": t.eta(I),
            "e_L": u["e_L"], "theta_Lx": th_x, "theta_Ly": th_y,
            "real_w": w / P, "real_r_x": rx / P, "real_r_y": ry / P,
            "income": income, "welfare": income / P, "task_imports": M_T, "Q": Q,
            "foreign_labor_hired": self.beta * t.T(I) * self.L / (1.0 - I),
            "offshoring_intensity_x": th_x * g, "offshoring_intensity_y": th_y * g,
            "task_import_ratio": M_T / Q, **cons,
            **self.export_measures(cons["NX_X"], cons["NX_Y"], Q, th_x * g, th_y * g),
        }

    def regime(self, u):
        return {"cutoff_below_one": u["I"] < 1}

    def decomposition_parts(self, u):
        u = self.point(u)
        return {"ln_Omega": jnp.log(u["Omega"]), "ln_p": jnp.log(self.p), "ell": -jnp.log1p(-u["I"]),
                "mu1": jnp.zeros(()), "mu2": 1.0 / u["e_L"]}


# ================================================================================================
def _decomposition_quantities(m, u):
    # module-level (not a closure) so that the jitted statics compile once per sub-model
    return {**m.decomposition_parts(u), "ln_w": jnp.log(u["w"])}


def decompose_wage(model, wrt: str = "beta", *, sol=None, **solve_kwargs) -> dict:
    """The pieces of `wage_decomposition` as a dict of arrays (traceable: usable under jit/vmap).

    **Arguments:** as `wage_decomposition`, plus `sol` (a solution of `model` to reuse).

    **Returns:** dict with `productivity`, `relative_price`, `labor_supply`, `total`, `mu1`, `mu2`.
    """
    from ..statics import total_derivatives

    if not model.has_hook("decomposition_parts"):
        raise NotImplementedError(f"{model.label()}: no productivity/price/labor-supply decomposition "
                                  "(defined for M1, M2, M3, M4, M5, M6 and M7)")
    values, d = total_derivatives(model, [wrt], quantities=_decomposition_quantities, sol=sol, **solve_kwargs)
    x = getattr(model, wrt)
    return {
        "productivity": x * d["ln_Omega"][wrt],
        "relative_price": -values["mu1"] * x * d["ln_p"][wrt],
        "labor_supply": values["mu2"] * x * d["ell"][wrt],
        "total": -x * d["ln_w"][wrt],
        "mu1": values["mu1"], "mu2": values["mu2"],
    }


def wage_decomposition(model, wrt: str = "beta", **solve_kwargs):
    """Productivity, relative-price and labor-supply effects on the low-skill wage (paper eqs. 6-7).

    Per 1% fall in the parameter `wrt` (spec section 6 "Decomposition pieces", section 8 mu table):

    * productivity PE = d ln Omega/d ln wrt,
    * relative price RPE = -mu1 d ln p/d ln wrt,
    * labor supply LSE = mu2 d ell/d ln wrt, with d ell = dI/(1-I) (M6: iota_L - iota_H),

    and PE + RPE + LSE = -d ln w/d ln wrt exactly. Every derivative is a total derivative from one
    implicit-function-theorem solve (`jo.total_derivatives`); the mu's are evaluated at the solution.

    **Arguments:**

    - `model`: a sub-model instance of M1, M2, M3, M4, M5, M6 or M7.
    - `wrt`: the parameter shocked (default "beta"; e.g. "beta_H", "w_star", "A_star", "p").
    - `solve_kwargs`: passed to `jo.solve` (or `sol=` to reuse a solution).

    **Returns:** a pandas Series with `productivity`, `relative_price`, `labor_supply`, `total`
    (= -d ln w/d ln wrt), `mu1` and `mu2` (NaN if the solve failed or left its regime).
    """
    import numpy as np
    import pandas as pd

    out = decompose_wage(model, wrt, **solve_kwargs)
    s = pd.Series({k: float(np.asarray(v)) for k, v in out.items()}, name=f"-dln w/dln {wrt}")
    s.attrs["model"] = model.label()
    return s


SUBMODELS = {
    "M1": SmallOpenEconomy,
    "M1b": IndustrySchedules,
    "M1c": Immigration,
    "M2": LargeTwoCountry,
    "M3": SpecializedSmallEconomy,
    "M4": SmallTwoSidedOffshoring,
    "M5": LargeTwoSidedOffshoring,
    "M6": SpecializedTwoSidedOffshoring,
    "M7": SpecificFactors,
}
