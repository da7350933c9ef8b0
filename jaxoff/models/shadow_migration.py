"""Baldwin and Robert-Nicoud (2007), "Offshoring: General Equilibrium Effects on Wages, Production
and Trade", NBER WP 12991.

Economics: docs/models/shadow_migration.md. Equation tags read (paper eq. n; id on that page). A 2x2x2
Heckscher-Ohlin model with Leontief technology A at Home and gamma*A in Foreign (a Hicks-neutral gap).
Home firms may perform task 1 of each sector (input matrix T, iceberg cost chi_J) in Foreign with Home
technology at Foreign factor prices. Foreign workers then work for Home firms as if they had migrated
("shadow migration" Delta = T q) and Home firms save S = T^T omega - C T^T omega* per unit of output:
offshoring is a Rybczynski shock on the world's effective endowment and a sector-biased technology
shock on Home's zero-profit conditions.

Sub-models (SUBMODELS keys are the spec ids):

* M0a autarky, M0b free trade without offshoring;
* M1 service-task offshoring (offshore units serve only their Home parent);
* M1-R the offshoring-pattern layer (which sectors offshore, with no-reshoring complementarity);
* M2 goods-task offshoring (offshore units also sell to Foreign firms);
* M3 two-way offshoring driven by mirror-image Ricardian task gaps (lam = 0 before, lam = 1 after);
* M4 Helpman-Krugman monopolistic competition wrapping M0b, M1 or M2.

Matrix parameters are stored as their scalar entries (a_LX, ..., a_KY1, chi_X, chi_Y) so that every
entry is a differentiable shock for `jo.statics`; the properties `A`, `T`, `chi` return the matrices and
`from_matrices(...)` builds a model from them. Factor prices and outputs are solved in levels
(`Free`): the system is linear apart from p (Y + Y*), so Newton converges in a step or two, and a point
outside the diversification cone or with a negative factor price is then reported as out of regime by
`regime()` instead of failing as NaN.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..blocks.heckscher_ohlin import (
    cost_of_living,
    det2,
    factor_prices,
    integrated_equilibrium,
    integrated_price,
    inv2,
    kappas,
    leontief_matrix,
    outputs_from_endowments,
    positivity_bounds,
    price_vector,
    rybczynski_elasticities,
    stolper_samuelson_elasticities,
)
from ..model import Model
from ..transforms import Free, Positive

FAMILY = "shadow_migration"

# S_J = 0 exactly at the neutral point chi_J = gamma; rounding must not push it out of regime.
_S_TOL = 1e-12

_TRADE_UNKNOWNS = {
    "w": Free(), "r": Free(), "w_star": Free(), "r_star": Free(), "p": Positive(),
    "X": Free(), "Y": Free(), "X_star": Free(), "Y_star": Free(),
}


def _vec(a, b):
    return jnp.stack([jnp.asarray(a, dtype=jnp.float64), jnp.asarray(b, dtype=jnp.float64)])


def _trade_residuals(u, H, F, G, e, e_star, alpha, foreign_q_uses_F=False):
    """The 9 trade equations shared by M0b, M1, M1-R, M2, M3 and M4.

    H: Home-located inputs per unit of Home output; F: Foreign inputs hired by Home firms' offshore
    units per unit of Home output; G: Foreign firms' input matrix. With foreign_q_uses_F the offshore
    units also supply Foreign firms, whose own requirement is then already inside G (goods case).
    """
    omega, omega_s = _vec(u["w"], u["r"]), _vec(u["w_star"], u["r_star"])
    q, q_s, p = _vec(u["X"], u["Y"]), _vec(u["X_star"], u["Y_star"]), u["p"]
    pi = price_vector(p)
    home_cost = H.T @ omega + F.T @ omega_s
    foreign_cost = G.T @ omega_s
    home_use = H @ q
    foreign_use = G @ q_s + F @ q
    return {
        # Home pricing: eq. 2 (F.1-2) / eq. 12 (S.1-2) / eq. 26 (G.1-2); divided by p_J
        "zero_profit_X": home_cost[0] / pi[0] - 1.0,
        "zero_profit_Y": home_cost[1] / pi[1] - 1.0,
        # Foreign pricing: eq. 2 (F.3-4) / eq. 12 (S.3-4) / eq. 26 (G.3-4)
        "zero_profit_X_star": foreign_cost[0] / pi[0] - 1.0,
        "zero_profit_Y_star": foreign_cost[1] / pi[1] - 1.0,
        # Home full employment: eq. 3 (F.5-6) / eq. 12 (S.5-6) / eq. 26 (G.5-6); divided by endowments
        "employment_L": home_use[0] / e[0] - 1.0,
        "employment_K": home_use[1] / e[1] - 1.0,
        # Foreign full employment, offshore units included: eq. 3 (F.7-8) / eq. 12 (S.7-8) / eq. 26 (G.7-8)
        "employment_L_star": foreign_use[0] / e_star[0] - 1.0,
        "employment_K_star": foreign_use[1] / e_star[1] - 1.0,
        # World goods market with Cobb-Douglas demand, in logs: eq. 4 (MC)
        "goods_market": jnp.log(p) + jnp.log(q[1] + q_s[1]) - jnp.log(q[0] + q_s[0])
        - jnp.log(alpha / (1.0 - alpha)),
    }


# =================================================================================================
# Parameters shared by every sub-model
# =================================================================================================
class _Economy(Model):
    """Home frontier technology A, the Foreign gap gamma, preferences and endowments (spec Sec. 3)."""

    a_LX: float = 2.0  # Home unit input requirements A (paper eq. 1), rows L, K; columns X, Y
    a_LY: float = 1.0
    a_KX: float = 0.5
    a_KY: float = 1.5
    gamma: float = 1.5  # Hicks-neutral Foreign technology gap: Foreign coefficients are gamma*A
    alpha: float = 0.5  # Cobb-Douglas expenditure share of Y
    L_H: float = 1.0
    K_H: float = 0.8
    L_F: float = 3.0
    K_F: float = 1.5

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("gamma", "alpha")

    @property
    def A(self):
        """Home unit-input matrix [[a_LX, a_LY], [a_KX, a_KY]]."""
        return leontief_matrix(self.a_LX, self.a_LY, self.a_KX, self.a_KY)

    @property
    def e(self):
        """Home endowments (L, K)."""
        return _vec(self.L_H, self.K_H)

    @property
    def e_star(self):
        """Foreign endowments (L*, K*)."""
        return _vec(self.L_F, self.K_F)

    def frontier(self):
        """The Home (frontier) matrix used in pricing; m*A in the monopolistic-competition wrapper."""
        return self.A

    def gamma_rule(self):
        """The admissible technology gap: gamma > 1 (C2); free trade also admits gamma = 1."""
        return {"gamma > 1 (C2)": self.gamma > 1}

    def domain(self):
        return {
            "a_LX, a_LY, a_KX, a_KY > 0": (self.a_LX > 0) & (self.a_LY > 0) & (self.a_KX > 0) & (self.a_KY > 0),
            "a_KY/a_LY > a_KX/a_LX (C1, no intensity reversal)": self.a_KY * self.a_LX > self.a_KX * self.a_LY,
            **self.gamma_rule(),
            "0 < alpha < 1": (self.alpha > 0) & (self.alpha < 1),
            "L_H, K_H, L_F, K_F > 0": (self.L_H > 0) & (self.K_H > 0) & (self.L_F > 0) & (self.K_F > 0),
        }


# =================================================================================================
# M0a: autarky
# =================================================================================================
class Autarky(_Economy):
    """M0a: each country alone (paper eqs. 2-4, solved in eq. 6); both countries in one system."""

    spec_id: ClassVar[str] = "M0a"
    description: ClassVar[str] = "Autarky in both countries (eqs. 2-4, 6)"
    unknowns: ClassVar[dict] = {
        "w": Free(), "r": Free(), "p": Positive(), "X": Free(), "Y": Free(),
        "w_star": Free(), "r_star": Free(), "p_star": Positive(), "X_star": Free(), "Y_star": Free(),
    }

    def guess(self):
        # the closed form (eqs. 5-6): Newton's first step is its last. Outside the diversification
        # cone the closed-form price is not positive; start such points at p = 1 instead.
        cf = autarky_closed_form(self)
        for k in ("p", "p_star"):
            cf[k] = jnp.where(jnp.isfinite(cf[k]) & (cf[k] > 0), cf[k], 1.0)
        return cf

    def residuals(self, u):
        out = {}
        log_ratio = jnp.log(self.alpha / (1 - self.alpha))
        # M = A at Home, gamma*A in Foreign; written entry by entry (scalar arithmetic is what a
        # batched sweep compiles best)
        for tag, g, L, K in (("", 1.0, self.L_H, self.K_H), ("_star", self.gamma, self.L_F, self.K_F)):
            w, r, p, X, Y = (u[k + tag] for k in ("w", "r", "p", "X", "Y"))
            out["zero_profit_X" + tag] = g * (self.a_LX * w + self.a_KX * r) - 1.0  # eq. 2; A.1 (p_X = 1)
            out["zero_profit_Y" + tag] = g * (self.a_LY * w + self.a_KY * r) / p - 1.0  # eq. 2; A.2
            out["employment_L" + tag] = g * (self.a_LX * X + self.a_LY * Y) / L - 1.0  # eq. 3; A.3
            out["employment_K" + tag] = g * (self.a_KX * X + self.a_KY * Y) / K - 1.0  # eq. 3; A.4
            # national goods market (1-alpha) p Y = alpha X, in logs: eq. 4; A.5
            out["goods_market" + tag] = jnp.log(p) + jnp.log(Y) - jnp.log(X) - log_ratio
        return out

    def outputs(self, u):
        out = {}
        for tag, e in (("", self.e), ("_star", self.e_star)):
            w, r, p = u["w" + tag], u["r" + tag], u["p" + tag]
            E = w * e[0] + r * e[1]
            P = cost_of_living(p, self.alpha)
            out.update({"skill_premium" + tag: r / w, "E" + tag: E, "P" + tag: P, "welfare" + tag: E / P,
                        "real_w" + tag: w / P, "real_r" + tag: r / P})
        return out

    def regime(self, u):
        return {
            "factor_prices_positive": (u["w"] > 0) & (u["r"] > 0) & (u["w_star"] > 0) & (u["r_star"] > 0),  # C4
            "home_diversified": (u["X"] > 0) & (u["Y"] > 0),  # C3
            "foreign_diversified": (u["X_star"] > 0) & (u["Y_star"] > 0),  # C3
        }


# =================================================================================================
# The trade systems M0b, M1, M1-R, M2, M4
# =================================================================================================
class _Trade(_Economy):
    """Two trading countries; the offshoring sub-models differ only in the matrices (H, F, G)."""

    unknowns: ClassVar[dict] = _TRADE_UNKNOWNS
    goods_case: ClassVar[bool] = False  # offshore units also sell task-1 output to Foreign firms

    # -- technology hooks ------------------------------------------------------------------------
    def task_matrix(self):
        """Home-technology coefficients of task 1 actually in use, lam*T (zero without offshoring)."""
        return jnp.zeros((2, 2))

    def chi_vector(self):
        return jnp.ones(2)

    def offshored_fraction(self, u):
        """phi_J, the fraction of task J1 done offshore (1 unless the pattern layer M1-R sets it)."""
        return jnp.ones(2)

    def is_goods_case(self) -> bool:
        return self.goods_case

    def task_in_use(self, u):
        """T diag(phi): the task-1 coefficients actually performed offshore."""
        return self.task_matrix() * self.offshored_fraction(u)[None, :]

    def matrices(self, u):
        """(H, F, G): Home-located inputs, Foreign inputs of Home firms, Foreign firms' matrix."""
        A, Tphi = self.frontier(), self.task_in_use(u)
        H = A - Tphi  # (A - T): the inputs that stay at Home
        F = Tphi * self.chi_vector()[None, :]  # T C: Foreign factors per unit of Home output
        G = self.gamma * A
        if self.is_goods_case():
            G = self.gamma * (A - Tphi) + F  # A*O = gamma (A - T) + T C (spec G.3-4)
        return H, F, G

    def served(self, u):
        """Home-firm outputs the offshore units work for: q (service case) or q + q* (goods case)."""
        q = _vec(u["X"], u["Y"])
        return q + _vec(u["X_star"], u["Y_star"]) if self.is_goods_case() else q

    def intermediates(self, u):
        """The cost saving S (eq. 14) and the Foreign factors hired by offshore units, which
        residuals (M1-R), outputs and regime (C5, C7) all use. Scalars, named like the outputs."""
        T, chi = self.task_matrix(), self.chi_vector()
        # cost saving per unit of offshorable task (eq. 14), defined with the full T even when phi < 1
        S = T.T @ _vec(u["w"], u["r"]) - chi * (T.T @ _vec(u["w_star"], u["r_star"]))
        hired = (self.task_in_use(u) * chi[None, :]) @ self.served(u)  # F q (or F (q + q*))
        return {"S_X": S[0], "S_Y": S[1], "hired_L": hired[0], "hired_K": hired[1]}

    def residuals(self, u):
        H, F, G = self.matrices(u)
        return _trade_residuals(u, H, F, G, self.e, self.e_star, self.alpha)

    def free_trade_point(self):
        """The no-offshoring free-trade equilibrium at the same parameters (paper eq. 5; spec 7.1)."""
        return free_trade_closed_form(self)

    def guess(self):
        return dict(self.free_trade_point())

    # -- derived outputs (spec Sec. 6) ------------------------------------------------------------
    def outputs(self, u):
        u = self.point(u)
        A, chi = self.frontier(), self.chi_vector()
        phi, Tphi, served = self.offshored_fraction(u), self.task_in_use(u), self.served(u)
        S, hired = _vec(u["S_X"], u["S_Y"]), _vec(u["hired_L"], u["hired_K"])
        g, alpha = self.gamma, self.alpha
        omega, omega_s = _vec(u["w"], u["r"]), _vec(u["w_star"], u["r_star"])
        q, q_s, p = _vec(u["X"], u["Y"]), _vec(u["X_star"], u["Y_star"]), u["p"]
        w, r, ws, rs = omega[0], omega[1], omega_s[0], omega_s[1]
        X, Y, Xs, Ys = q[0], q[1], q_s[0], q_s[1]

        Delta = Tphi @ q  # shadow immigration in Home-efficiency units (eq. 13)
        e_tilde = self.e + self.e_star / g + Tphi @ ((1.0 - chi / g) * served)  # world effective endowment

        P = cost_of_living(p, alpha)
        E = w * self.L_H + r * self.K_H
        E_s = ws * self.L_F + rs * self.K_F
        M_X, M_Y = (1 - alpha) * E - X, alpha * E / p - Y
        M_Xs, M_Ys = (1 - alpha) * E_s - Xs, alpha * E_s / p - Ys
        unit_task_cost = chi * (Tphi.T @ omega_s)  # [C T^T omega*]_J: Foreign value added per unit of J
        V_X, V_Y = unit_task_cost[0] * X, unit_task_cost[1] * Y
        V = V_X + V_Y
        ex_X, ex_Y = jnp.maximum(-M_X, 0.0), jnp.maximum(-p * M_Y, 0.0)
        EX = ex_X + ex_Y
        IM = jnp.maximum(M_X, 0.0) + jnp.maximum(p * M_Y, 0.0) + V
        IIT = 2 * jnp.minimum(ex_X, V_X) + 2 * jnp.minimum(ex_Y, V_Y)  # eq. 20, corrected (spec typo T3)
        s_X, s_Y = unit_task_cost[0], unit_task_cost[1] / p
        fva_exports = jnp.where(EX > 0, (s_X * ex_X + s_Y * ex_Y) / jnp.where(EX > 0, EX, 1.0), 0.0)
        foreign_exports = V + jnp.maximum(-M_Xs, 0.0) + jnp.maximum(-p * M_Ys, 0.0)

        ft = self.free_trade_point()
        Ainv_T = inv2(A.T)
        Delta_p = p - ft["p"]
        cost_saving = Ainv_T @ (phi * S)  # productivity effect (eq. 17)
        terms_of_trade = Ainv_T @ _vec(0.0, Delta_p)  # relative-price effect (eq. 17)
        ft_P = cost_of_living(ft["p"], alpha)
        out = {
            "skill_premium": r / w, "skill_premium_star": rs / ws,
            "w_gap": w / ws, "r_gap": r / rs,
            "P": P, "real_w": w / P, "real_r": r / P, "real_w_star": ws / P, "real_r_star": rs / P,
            "E": E, "E_star": E_s, "welfare": E / P, "welfare_star": E_s / P,
            "X_world": X + Xs, "Y_world": Y + Ys,
            "C_X": (1 - alpha) * E, "C_Y": alpha * E / p,
            "S_X": S[0], "S_Y": S[1], "S_ratio": S[0] / S[1],
            "Delta_L": Delta[0], "Delta_K": Delta[1], "Delta_ratio": Delta[1] / Delta[0],
            "hired_L": hired[0], "hired_K": hired[1],
            "hired_share_L_star": hired[0] / self.L_F, "hired_share_K_star": hired[1] / self.K_F,
            "L_O": self.L_H + Delta[0], "K_O": self.K_H + Delta[1],
            "k_O": (self.K_H + Delta[1]) / (self.L_H + Delta[0]),
            "L_tilde_O": e_tilde[0], "K_tilde_O": e_tilde[1], "k_tilde_O": e_tilde[1] / e_tilde[0],
            "k_tilde_w": (self.K_H + self.K_F / g) / (self.L_H + self.L_F / g),
            "cone_H": positivity_bounds(A, alpha)[0], "cone_M": positivity_bounds(A, alpha)[1],
            "M_X": M_X, "M_Y": M_Y, "M_X_star": M_Xs, "M_Y_star": M_Ys,
            "V_X": V_X, "V_Y": V_Y, "V_tasks": V,
            "trade_balance": M_X + p * M_Y + V,
            "EX": EX, "IM": IM, "openness": (EX + IM) / E,
            "IIT": IIT, "grubel_lloyd": IIT / (EX + IM),
            "s_X": s_X, "s_Y": s_Y,
            "fva_output_share": V / (X + p * Y), "fva_export_share": fva_exports,
            "foreign_intermediate_export_share": V / foreign_exports,
            "p_FT": ft["p"], "w_FT": ft["w"], "r_FT": ft["r"], "w_star_FT": ft["w_star"], "r_star_FT": ft["r_star"],
            "X_FT": ft["X"], "Y_FT": ft["Y"], "X_star_FT": ft["X_star"], "Y_star_FT": ft["Y_star"],
            "welfare_FT": (ft["w"] * self.L_H + ft["r"] * self.K_H) / ft_P,
            "welfare_star_FT": (ft["w_star"] * self.L_F + ft["r_star"] * self.K_F) / ft_P,
            "Delta_p": Delta_p,
            "dw_cost_saving": cost_saving[0], "dr_cost_saving": cost_saving[1],
            "dw_terms_of_trade": terms_of_trade[0], "dr_terms_of_trade": terms_of_trade[1],
            "dw_total": w - ft["w"], "dr_total": r - ft["r"],
            "dX": X - ft["X"], "dY": Y - ft["Y"], "dX_star": Xs - ft["X_star"], "dY_star": Ys - ft["Y_star"],
        }
        if self.is_goods_case():
            S_star = (g - chi) * (Tphi.T @ omega_s)  # Foreign firms' saving from buying task 1 locally
            Delta_star = Tphi @ ((g - chi) * q_s) - Tphi @ (chi * q)
            local = unit_task_cost * q_s  # offshore units' sales to Foreign firms (affiliate sales, not trade)
            out.update({"S_star_X": S_star[0], "S_star_Y": S_star[1],
                        "Delta_star_L": Delta_star[0], "Delta_star_K": Delta_star[1],
                        "V_X_star_local": local[0], "V_Y_star_local": local[1]})
        return out

    def regime(self, u):
        """The rules of every trade sub-model (C3, C4); the offshoring sub-models add theirs."""
        return {
            "factor_prices_positive": (u["w"] > 0) & (u["r"] > 0) & (u["w_star"] > 0) & (u["r_star"] > 0),  # C4
            "home_diversified": (u["X"] > 0) & (u["Y"] > 0),  # C3
            "foreign_diversified": (u["X_star"] > 0) & (u["Y_star"] > 0),  # C3
        }

    def no_reshoring(self, u):
        """C5 (IC_J of spec 5.4): no Home firm would bring its offshored task back, S >= 0."""
        u = self.point(u)
        return (u["S_X"] >= -_S_TOL) & (u["S_Y"] >= -_S_TOL)

    def foreign_factors_not_exhausted(self, u):
        """C7: offshore units leave Foreign factors for Foreign firms, e* - F q > 0."""
        u = self.point(u)
        return (self.L_F - u["hired_L"] > 0) & (self.K_F - u["hired_K"] > 0)


class FreeTrade(_Trade):
    """M0b: free trade in goods without offshoring (paper eqs. 2-5); effective FPE w = gamma w*.

    gamma >= 1 is admitted here: gamma = 1 is the integrated world of extreme offshoring (spec 5.8, M1-E).
    """

    spec_id: ClassVar[str] = "M0b"
    description: ClassVar[str] = "Free trade in goods, no offshoring (eqs. 2-5)"

    def gamma_rule(self):
        return {"gamma >= 1": self.gamma >= 1}


class _Offshoring(_Trade):
    """Adds the offshorable task 1: matrix T, iceberg costs chi and the homotopy scale lam."""

    a_LX1: float = 0.6  # Home-technology input coefficients of task 1, T (paper eq. 10)
    a_LY1: float = 0.25
    a_KX1: float = 0.05
    a_KY1: float = 0.3
    chi_X: float = 1.0  # SHOCK: iceberg offshoring (coordination) cost of task X1
    chi_Y: float = 1.0  # SHOCK: iceberg offshoring cost of task Y1
    lam: float = 1.0  # SHOCK: scale of offshorable task content, T -> lam T; lam = 0 is M0b

    shocks: ClassVar[tuple[str, ...]] = ("chi_X", "chi_Y", "lam", "gamma")

    @property
    def T(self):
        """Task-1 matrix [[a_LX1, a_LY1], [a_KX1, a_KY1]] (before the lam scaling)."""
        return leontief_matrix(self.a_LX1, self.a_LY1, self.a_KX1, self.a_KY1)

    @property
    def chi(self):
        """(chi_X, chi_Y)."""
        return _vec(self.chi_X, self.chi_Y)

    def task_matrix(self):
        return self.lam * self.T

    def chi_vector(self):
        return self.chi

    @classmethod
    def from_matrices(cls, A=None, T=None, chi=None, theta=None, **params):
        """Build a model from matrices as the spec writes them.

        **Arguments:** `A`, `T` (2x2, rows L, K; columns X, Y), `chi` (length 2), or `theta` (T = theta*A
        elementwise); any other parameter by keyword.

        **Returns:** a validated model instance.
        """
        if A is not None:
            A = np.asarray(A, dtype=float)
            params.update(a_LX=A[0, 0], a_LY=A[0, 1], a_KX=A[1, 0], a_KY=A[1, 1])
        if theta is not None:
            if T is not None:
                raise ValueError("give T or theta, not both")
            base = A if A is not None else np.asarray(cls().A)
            T = np.asarray(theta, dtype=float) * base
        if T is not None:
            T = np.asarray(T, dtype=float)
            params.update(a_LX1=T[0, 0], a_LY1=T[0, 1], a_KX1=T[1, 0], a_KY1=T[1, 1])
        if chi is not None:
            params.update(chi_X=float(chi[0]), chi_Y=float(chi[1]))
        return cls(**params)

    def domain(self):
        lT = self.lam * self.T
        D = self.A - lT
        return {
            **super().domain(),
            "T >= 0": (self.a_LX1 >= 0) & (self.a_LY1 >= 0) & (self.a_KX1 >= 0) & (self.a_KY1 >= 0),
            "lam T < A elementwise": jnp.all(lT < self.A),
            "det(A - lam T) > 0 (pitfall 7)": det2(D) > 0,
            "chi_X, chi_Y >= 1": (self.chi_X >= 1) & (self.chi_Y >= 1),
            "0 <= lam <= 1": (self.lam >= 0) & (self.lam <= 1),
        }

    def regime(self, u):
        return {**super().regime(u), "no_reshoring": self.no_reshoring(u),
                "foreign_factors_not_exhausted": self.foreign_factors_not_exhausted(u),
                "offshoring_profitable_ex_ante": jnp.all(self.chi <= self.gamma)}  # C6, eq. 11 (weak)


class ServiceTask(_Offshoring):
    """M1: service-task offshoring (paper Sec. 3, eqs. 12-14); offshore units serve their parent only.

    zero_profit_X/Y: eq. 12, S.1-2; zero_profit_*_star: eq. 12, S.3-4; employment_L/K: eq. 12, S.5-6;
    employment_*_star: eq. 12, S.7-8 (Foreign factors also staff the offshore units); goods_market: S.9.
    """

    spec_id: ClassVar[str] = "M1"
    description: ClassVar[str] = "Service-task offshoring (Sec. 3, eqs. 12-14)"


class GoodsTask(_Offshoring):
    """M2: goods-task offshoring (paper Sec. 4, eq. 26); offshore units also sell task 1 to Foreign firms.

    Foreign firms use A*O = gamma (A - T) + T C (G.3-4, G.7-8, with the paper's sign typo T1 corrected).
    """

    spec_id: ClassVar[str] = "M2"
    description: ClassVar[str] = "Goods-task offshoring (Sec. 4, eqs. 26-28)"
    goods_case: ClassVar[bool] = True

    def domain(self):
        Ahat = self.A - self.lam * self.T * (1.0 - self.chi / self.gamma)[None, :]
        return {**super().domain(), "det(A^) > 0 (pitfall 7)": det2(Ahat) > 0}


class OffshoringPattern(ServiceTask):
    """M1-R: the service case with the offshoring pattern phi_J endogenous (spec 5.4, not in the paper).

    T -> T diag(phi) and the complementarity phi_J = 1 if S_J > 0, 0 if S_J < 0, interior iff S_J = 0,
    written as the semismooth residual phi_J - clip(phi_J + S_J/p_J, phi_lo_J, phi_hi_J). The bounds
    are parameters: (0, 1) is the free choice; (1, 1) or (0, 0) force a corner; (-inf, inf) forces the
    interior branch S_J = 0 (used by `offshoring_patterns` to enumerate every pattern in one vmap).
    """

    phi_lo_X: float = 0.0
    phi_hi_X: float = 1.0
    phi_lo_Y: float = 0.0
    phi_hi_Y: float = 1.0

    spec_id: ClassVar[str] = "M1-R"
    description: ClassVar[str] = "Offshoring-pattern layer of the service case (spec 5.4)"
    unknowns: ClassVar[dict] = {**_TRADE_UNKNOWNS, "phi_X": Free(), "phi_Y": Free()}

    def domain(self):
        return {**super().domain(),
                "phi_lo_X <= phi_hi_X": self.phi_lo_X <= self.phi_hi_X,
                "phi_lo_Y <= phi_hi_Y": self.phi_lo_Y <= self.phi_hi_Y}

    def offshored_fraction(self, u):
        return _vec(u["phi_X"], u["phi_Y"])

    def guess(self):
        return {**super().guess(), "phi_X": jnp.clip(1.0, self.phi_lo_X, self.phi_hi_X),
                "phi_Y": jnp.clip(1.0, self.phi_lo_Y, self.phi_hi_Y)}

    def residuals(self, u):
        u = self.point(u)
        res = super().residuals(u)
        s = _vec(u["S_X"], u["S_Y"]) / price_vector(u["p"])  # saving as a share of the good's price: O(1) scaling
        res["pattern_X"] = u["phi_X"] - jnp.clip(u["phi_X"] + s[0], self.phi_lo_X, self.phi_hi_X)  # IC_X
        res["pattern_Y"] = u["phi_Y"] - jnp.clip(u["phi_Y"] + s[1], self.phi_lo_Y, self.phi_hi_Y)  # IC_Y
        return res

    def regime(self, u):
        # the pattern layer replaces C5 (S >= 0 at phi = 1) and C6 by the box complementarity itself
        u = self.point(u)
        S, phi = _vec(u["S_X"], u["S_Y"]), _vec(u["phi_X"], u["phi_Y"])
        lo, hi = _vec(self.phi_lo_X, self.phi_lo_Y), _vec(self.phi_hi_X, self.phi_hi_Y)
        # box complementarity: a strict gain (S > 0) only at the upper bound, a strict loss only at the lower
        at_hi, at_lo = phi >= hi - 1e-12, phi <= lo + 1e-12
        comp = (at_hi | (S <= 1e-9)) & (at_lo | (S >= -1e-9))
        return {**_Trade.regime(self, u),
                "foreign_factors_not_exhausted": self.foreign_factors_not_exhausted(u),
                "phi_in_unit_interval": jnp.all((phi >= -1e-12) & (phi <= 1 + 1e-12)),
                "complementarity": jnp.all(comp)}


class MonopolisticCompetition(_Offshoring):
    """M4: Helpman-Krugman monopolistic competition around M0b, M1 or M2 (paper Sec. 5.2, eq. 31).

    Free entry fixes output per firm at F(sigma - 1) and the markup m = sigma/(sigma - 1) turns every
    coefficient into m a_fJ: the residuals are those of `case` with A -> m A and T -> m T (fns. 17-19).
    """

    sigma: float = 4.0  # elasticity of substitution between varieties
    F: float = 1.0  # fixed cost in factor bundles
    case: str = eqx.field(static=True, default="service")

    spec_id: ClassVar[str] = "M4"
    description: ClassVar[str] = "Monopolistic competition wrapper of M0b/M1/M2 (Sec. 5.2, eq. 31)"
    shocks: ClassVar[tuple[str, ...]] = ("chi_X", "chi_Y", "lam", "sigma")

    @property
    def markup(self):
        return self.sigma / (self.sigma - 1.0)

    def frontier(self):
        return self.markup * self.A

    def task_matrix(self):
        if self.case == "free_trade":
            return jnp.zeros((2, 2))
        return self.markup * self.lam * self.T

    def is_goods_case(self) -> bool:
        return self.case == "goods"

    def domain(self):
        return {**super().domain(),
                "case in ('free_trade', 'service', 'goods')":
                    jnp.asarray(self.case in ("free_trade", "service", "goods")),
                "sigma > 1 (C9)": self.sigma > 1, "F > 0 (C9)": self.F > 0}

    def outputs(self, u):
        u = self.point(u)
        out = super().outputs(u)
        xbar = self.F * (self.sigma - 1.0)
        n = {k: u[k] / xbar for k in ("X", "Y", "X_star", "Y_star")}
        P_X = (n["X"] + n["X_star"]) ** (1.0 / (1.0 - self.sigma))
        P_Y = u["p"] * (n["Y"] + n["Y_star"]) ** (1.0 / (1.0 - self.sigma))
        a = self.alpha
        cd = a ** a * (1 - a) ** (1 - a)
        E, E_s = out["E"], out["E_star"]
        share_s, share = E_s / (E + E_s), E / (E + E_s)
        out.update({
            "xbar": xbar + 0.0 * u["p"], "markup": self.markup + 0.0 * u["p"],
            "n_X": n["X"], "n_Y": n["Y"], "n_X_star": n["X_star"], "n_Y_star": n["Y_star"],
            "welfare_variety": cd * E / (P_X ** (1 - a) * P_Y ** a),
            "welfare_variety_star": cd * E_s / (P_X ** (1 - a) * P_Y ** a),
            "exports_X": u["X"] * share_s, "imports_X": u["X_star"] * share,
            "exports_Y": u["p"] * u["Y"] * share_s, "imports_Y": u["p"] * u["Y_star"] * share,
            "exports_per_firm_X": xbar * share_s + 0.0 * u["p"], "exports_per_firm_Y": u["p"] * xbar * share_s,
        })
        return out


# =================================================================================================
# M3: two-way offshoring
# =================================================================================================
class TwoWay(Model):
    """M3: two-way intra-industry offshoring (paper Sec. 5.1, eqs. 29-30).

    Task-level frontier matrices A1f (Home best), A2f (equal) and A3f = c A1f (Foreign best), with
    c = (gamma1 - 1)/(gamma3 - 1) so that sector matrices are equal, B = B* = A + (gamma1 - 1) A1f.
    A fraction lam of the lagging tasks is offshored to the leader in both directions, so both
    countries use A(lam) = B - lam (gamma1 - 1) A1f: lam = 0 is eq. 29 (before), lam = 1 eq. 30 (after).
    Residuals are the M0b system with gamma -> 1 and A -> A(lam).
    """

    A1f_LX: float = 0.4
    A1f_LY: float = 0.1
    A1f_KX: float = 0.05
    A1f_KY: float = 0.2
    A2f_LX: float = 0.8
    A2f_LY: float = 0.7
    A2f_KX: float = 0.35
    A2f_KY: float = 0.9
    gamma1: float = 2.0  # Foreign gap in task 1
    gamma3: float = 1.5  # Home gap in task 3
    lam: float = 1.0  # SHOCK: fraction of lagging tasks offshored (0 before, 1 after)
    alpha: float = 0.5
    L_H: float = 1.0
    K_H: float = 0.6
    L_F: float = 2.0
    K_F: float = 1.2

    family: ClassVar[str] = FAMILY
    spec_id: ClassVar[str] = "M3"
    description: ClassVar[str] = "Two-way offshoring with mirror-image task gaps (Sec. 5.1, eqs. 29-30)"
    unknowns: ClassVar[dict] = _TRADE_UNKNOWNS
    shocks: ClassVar[tuple[str, ...]] = ("lam", "gamma1")

    @property
    def A1f(self):
        return leontief_matrix(self.A1f_LX, self.A1f_LY, self.A1f_KX, self.A1f_KY)

    @property
    def A2f(self):
        return leontief_matrix(self.A2f_LX, self.A2f_LY, self.A2f_KX, self.A2f_KY)

    @property
    def A3f(self):
        return (self.gamma1 - 1.0) / (self.gamma3 - 1.0) * self.A1f

    @property
    def A(self):
        """Frontier sector matrix A = A1f + A2f + A3f (used by both countries after offshoring)."""
        return self.A1f + self.A2f + self.A3f

    @property
    def B(self):
        """Pre-offshoring sector matrix B = B* = A + (gamma1 - 1) A1f."""
        return self.A + (self.gamma1 - 1.0) * self.A1f

    def technology(self):
        """A(lam) = B - lam (gamma1 - 1) A1f."""
        return self.B - self.lam * (self.gamma1 - 1.0) * self.A1f

    @property
    def e(self):
        return _vec(self.L_H, self.K_H)

    @property
    def e_star(self):
        return _vec(self.L_F, self.K_F)

    def domain(self):
        return {
            "A1f >= 0": (self.A1f_LX >= 0) & (self.A1f_LY >= 0) & (self.A1f_KX >= 0) & (self.A1f_KY >= 0),
            "A2f >= 0 (C8)": (self.A2f_LX >= 0) & (self.A2f_LY >= 0) & (self.A2f_KX >= 0) & (self.A2f_KY >= 0),
            "gamma1 > 1": self.gamma1 > 1, "gamma3 > 1": self.gamma3 > 1,
            "det(A) > 0 and det(B) > 0 (C1)": (det2(self.A) > 0) & (det2(self.B) > 0),
            "K_H/L_H = K_F/L_F (C8)": jnp.abs(self.K_H * self.L_F - self.K_F * self.L_H) <= 1e-12 * self.L_H * self.L_F,
            "0 <= lam <= 1": (self.lam >= 0) & (self.lam <= 1),
            "0 < alpha < 1": (self.alpha > 0) & (self.alpha < 1),
            "L_H, K_H, L_F, K_F > 0": (self.L_H > 0) & (self.K_H > 0) & (self.L_F > 0) & (self.K_F > 0),
        }

    def guess(self):
        return two_way_closed_form(self)["pre"]

    def residuals(self, u):
        M = self.technology()
        # eq. 29 (lam = 0) / eq. 30 (lam = 1): both countries on the same matrix, gamma -> 1
        return _trade_residuals(u, M, jnp.zeros((2, 2)), M, self.e, self.e_star, self.alpha)

    def outputs(self, u):
        omega, q, q_s, p = _vec(u["w"], u["r"]), _vec(u["X"], u["Y"]), _vec(u["X_star"], u["Y_star"]), u["p"]
        P = cost_of_living(p, self.alpha)
        E = omega @ self.e
        pre = two_way_closed_form(self)["pre"]
        P_pre = cost_of_living(pre["p"], self.alpha)
        task_exports = self.lam * (self.A1f.T @ omega) * q_s  # Home does task 1 for Foreign firms
        task_imports = self.lam * (self.A3f.T @ _vec(u["w_star"], u["r_star"])) * q  # Foreign does task 3 for Home
        c = (self.gamma1 - 1.0) / (self.gamma3 - 1.0)
        return {
            "P": P, "real_w": u["w"] / P, "real_r": u["r"] / P, "E": E, "welfare": E / P,
            "E_star": _vec(u["w_star"], u["r_star"]) @ self.e_star,
            "M_X": (1 - self.alpha) * E - q[0], "M_Y": self.alpha * E / p - q[1],
            "p_pre": pre["p"], "w_pre": pre["w"], "r_pre": pre["r"], "X_pre": pre["X"], "Y_pre": pre["Y"],
            "welfare_pre": (pre["w"] * self.L_H + pre["r"] * self.K_H) / P_pre,
            "dw": u["w"] - pre["w"], "dr": u["r"] - pre["r"], "dX": q[0] - pre["X"], "dY": q[1] - pre["Y"],
            "task_exports_X": task_exports[0], "task_exports_Y": task_exports[1],
            "task_imports_X": task_imports[0], "task_imports_Y": task_imports[1],
            # maximal arm's-length selection of the indeterminate task location (spec pitfall 11)
            "phi_selection": jnp.minimum(1.0, c * self.L_H / self.L_F),
            "psi_selection": jnp.maximum(0.0, 1.0 - self.L_F / (c * self.L_H)),
        }

    def regime(self, u):
        return {
            "factor_prices_positive": (u["w"] > 0) & (u["r"] > 0) & (u["w_star"] > 0) & (u["r_star"] > 0),
            "home_diversified": (u["X"] > 0) & (u["Y"] > 0),
            "foreign_diversified": (u["X_star"] > 0) & (u["Y_star"] > 0),
        }


SUBMODELS = {
    "M0a": Autarky,
    "M0b": FreeTrade,
    "M1": ServiceTask,
    "M1-R": OffshoringPattern,
    "M2": GoodsTask,
    "M3": TwoWay,
    "M4": MonopolisticCompetition,
}


# =================================================================================================
# Closed forms (spec Sec. 7): test oracles and starting points
# =================================================================================================
def _as_solution_dict(p, omega, omega_s, q, q_s, **extra):
    out = {"w": omega[0], "r": omega[1], "w_star": omega_s[0], "r_star": omega_s[1], "p": p,
           "X": q[0], "Y": q[1], "X_star": q_s[0], "Y_star": q_s[1]}
    out.update(extra)
    return out


def autarky_closed_form(model):
    """Autarky in each country (paper eqs. 5-6; spec 7.2).

    **Arguments:** `model`: any sub-model with A, gamma, alpha and endowments (e.g. `Autarky()`).

    **Returns:** dict with w, r, p, X, Y (Home) and w_star, r_star, p_star, X_star, Y_star (Foreign,
    technology gamma*A).
    """
    p, omega, q = integrated_equilibrium(model.A, model.e, model.alpha)
    p_s, omega_s, q_s = integrated_equilibrium(model.gamma * model.A, model.e_star, model.alpha)
    return {"w": omega[0], "r": omega[1], "p": p, "X": q[0], "Y": q[1],
            "w_star": omega_s[0], "r_star": omega_s[1], "p_star": p_s, "X_star": q_s[0], "Y_star": q_s[1]}


def free_trade_closed_form(model):
    """Free trade without offshoring (paper eq. 5; spec 7.1): effective FPE, omega* = omega/gamma.

    The world is an integrated economy on A with effective endowments e + e*/gamma. For the
    monopolistic-competition wrapper the matrix is m*A (`model.frontier()`).

    **Arguments:** `model`: a trade sub-model (M0b, M1, M2, M1-R, M4).

    **Returns:** dict of the nine unknowns (w, r, w_star, r_star, p, X, Y, X_star, Y_star).
    """
    A, g = model.frontier(), model.gamma
    p, omega, _ = integrated_equilibrium(A, model.e + model.e_star / g, model.alpha)
    q = outputs_from_endowments(A, model.e)
    q_s = outputs_from_endowments(A, model.e_star) / g
    return _as_solution_dict(p, omega, omega / g, q, q_s)


def service_closed_form(model):
    """Service-task offshoring in closed form (paper Appendix eqs. 32-33 and eq. 15, general chi; spec 7.5).

    omega*_O = inv(A^T) pi(p_O)/gamma, q_O = inv(A - T) e,
    omega_O = inv((A - T)^T) [I - (T C)^T inv(A^T)/gamma] pi(p_O), q*_O = inv(A) (e* - T C q_O)/gamma,
    with p_O the integrated price on A at the world effective endowment e + e*/gamma + T (I - C/gamma) q_O.

    **Arguments:** `model`: an M1 (`ServiceTask`) or M4 (`case="service"`) instance.

    **Returns:** dict of the nine unknowns plus S_X, S_Y, Delta_L, Delta_K, k_tilde_O.
    """
    A, T, chi, g = model.frontier(), model.task_matrix(), model.chi_vector(), model.gamma
    TC = T * chi[None, :]
    q = inv2(A - T) @ model.e
    e_tilde = model.e + model.e_star / g + T @ ((1.0 - chi / g) * q)
    p = integrated_price(A, e_tilde, model.alpha)
    pi = price_vector(p)
    omega_s = factor_prices(A, pi) / g
    omega = inv2((A - T).T) @ (pi - TC.T @ (inv2(A.T) @ pi) / g)
    q_s = inv2(A) @ (model.e_star - TC @ q) / g
    S = T.T @ omega - chi * (T.T @ omega_s)
    Delta = T @ q
    return _as_solution_dict(p, omega, omega_s, q, q_s, S_X=S[0], S_Y=S[1], Delta_L=Delta[0],
                             Delta_K=Delta[1], k_tilde_O=e_tilde[1] / e_tilde[0])


def goods_closed_form(model):
    """Goods-task offshoring in closed form (derived in spec 7.7; the paper gives eqs. 27-28).

    With A^ = A - T (I - C/gamma), goods-task offshoring is worldwide sector-biased progress from A to
    A^: omega_O = gamma omega*_O = inv(A^^T) pi(p_O), world outputs inv(A^) (e + e*/gamma), p_O the
    integrated price on A^, q_O = inv(A - T) e.

    **Arguments:** `model`: an M2 (`GoodsTask`) or M4 (`case="goods"`) instance.

    **Returns:** dict of the nine unknowns plus S_X, S_Y (= S*) and the kappas of A^.
    """
    A, T, chi, g = model.frontier(), model.task_matrix(), model.chi_vector(), model.gamma
    Ahat = A - T * (1.0 - chi / g)[None, :]
    e_tilde = model.e + model.e_star / g
    p = integrated_price(Ahat, e_tilde, model.alpha)
    omega = factor_prices(Ahat, price_vector(p))
    q = inv2(A - T) @ model.e
    q_s = outputs_from_endowments(Ahat, e_tilde) - q
    S = (1.0 - chi / g) * (T.T @ omega)
    kX, kY = kappas(Ahat)
    return _as_solution_dict(p, omega, omega / g, q, q_s, S_X=S[0], S_Y=S[1], kappa_hat_X=kX, kappa_hat_Y=kY)


def grh_closed_form(model, s, chi=None):
    """The Grossman-Rossi-Hansberg special case (paper eq. 25; explicit solution derived in spec 7.6).

    Task 1 uses only L, in equal shares s of each sector's L-input: T = [[s a_LX, s a_LY], [0, 0]],
    common iceberg cost chi. Then Delta_K = 0, L_O = L/(1-s), r_O = r0(p_O) and
    w_O = w0(p_O) (1 - s chi/gamma)/(1 - s): at fixed p only the offshored factor gains.

    **Arguments:** `model`: an M1-type model (A, gamma, alpha, endowments are read from it);
    `s` in (0, 1); `chi` (default `model.chi_X`).

    **Returns:** dict of the nine unknowns plus T (the task matrix), S_X, S_Y, k_tilde_O, and the
    fixed-p wage changes dw_fixed_p = s (w_O - chi w*_O) > 0 and dr_fixed_p = 0.
    """
    A, g, L, K = model.A, model.gamma, model.L_H, model.K_H
    chi = model.chi_X if chi is None else chi
    L_tilde = L + model.L_F / g + (1.0 - chi / g) * s * L / (1.0 - s)
    K_tilde = K + model.K_F / g
    p = integrated_price(A, _vec(L_tilde, K_tilde), model.alpha)
    w0, r0 = factor_prices(A, price_vector(p))
    w = w0 * (1.0 - s * chi / g) / (1.0 - s)
    q = inv2(A) @ _vec(L / (1.0 - s), K)
    q_s = inv2(A) @ (model.e_star - _vec(chi * s * L / (1.0 - s), 0.0)) / g
    ws = w0 / g
    S = s * _vec(A[0, 0], A[0, 1]) * (w - chi * ws)
    T = jnp.array([[s * A[0, 0], s * A[0, 1]], [0.0, 0.0]])
    return _as_solution_dict(p, _vec(w, r0), _vec(w0, r0) / g, q, q_s, T=T, S_X=S[0], S_Y=S[1],
                             k_tilde_O=K_tilde / L_tilde, dw_fixed_p=s * (w - chi * ws), dr_fixed_p=0.0 * w)


def one_sector_closed_form(model, sector="X"):
    """Offshoring in one sector only (the Jones-Kierzkowski case, paper Sec. 3.3, eq. 24; spec 5.8).

    The other column of T is zero, so S_other = 0 and offshoring is sector-specific technical progress:
    at fixed p, offshoring in X gives dw = a_KY S_X/det A > 0, dr = -a_LY S_X/det A < 0; offshoring in
    Y gives dw = -a_KX S_Y/det A < 0, dr = a_LX S_Y/det A > 0 (the "Jones ambiguity").

    **Arguments:** `model`: an M1 instance (its T supplies the offshored column); `sector`: "X" or "Y".

    **Returns:** the `service_closed_form` dict of the one-sector model plus dw_fixed_p, dr_fixed_p
    (eq. 24) and the model used (`model_one_sector`).
    """
    if sector not in ("X", "Y"):
        raise ValueError(f"sector must be 'X' or 'Y', got {sector!r}")
    zero = {"X": ("a_LY1", "a_KY1"), "Y": ("a_LX1", "a_KX1")}[sector]
    one = model.with_params(**{k: 0.0 for k in zero})
    out = service_closed_form(one)
    A = one.frontier()
    d = det2(A)
    out["dw_fixed_p"] = (A[1, 1] * out["S_X"] - A[1, 0] * out["S_Y"]) / d
    out["dr_fixed_p"] = (A[0, 0] * out["S_Y"] - A[0, 1] * out["S_X"]) / d
    out["model_one_sector"] = one
    return out


def extreme_offshoring_closed_form(model):
    """Extreme offshoring M1-E (paper Sec. 3.1.1, stated verbally; spec 7.8).

    Every task is offshorable at chi = 1, so Home technology displaces Foreign's: an integrated world on
    A with actual endowments e + e*. This is M0b with gamma = 1, not a limit of M1 (A - T turns singular).

    **Arguments:** `model`: any model with A, alpha and endowments.

    **Returns:** dict of the nine unknowns (natural national split q = inv(A) e) plus k_w.
    """
    A = model.A
    p, omega, _ = integrated_equilibrium(A, model.e + model.e_star, model.alpha)
    return _as_solution_dict(p, omega, omega, inv2(A) @ model.e, inv2(A) @ model.e_star,
                             k_w=(model.K_H + model.K_F) / (model.L_H + model.L_F))


def two_way_closed_form(model):
    """Two-way offshoring before (eq. 29, matrix B) and after (eq. 30, matrix A) (spec 7.9).

    **Arguments:** `model`: a `TwoWay` (M3) instance.

    **Returns:** {"pre": dict, "post": dict, "current": dict at model.lam}; each has the nine unknowns
    (omega = omega*, since both countries share the technology and the endowment ratio).
    """
    out = {}
    for name, M in (("pre", model.B), ("post", model.A), ("current", model.technology())):
        p, omega, _ = integrated_equilibrium(M, model.e + model.e_star, model.alpha)
        out[name] = _as_solution_dict(p, omega, omega, inv2(M) @ model.e, inv2(M) @ model.e_star)
    return out


def marginal_offshoring(model):
    """Derivatives with respect to lam at lam = 0, i.e. the first unit of offshoring (spec 7.11).

    **Arguments:** `model`: an M1 (`ServiceTask`) or M2 (`GoodsTask`) instance (lam is ignored).

    **Returns:** dict dS (2,), dq (2,), dq_world (2,), dp, domega (2,), domega_star (2,), dq_star (2,).
    """
    goods = model.is_goods_case()
    m0 = model.with_params(lam=0.0)
    ft = free_trade_closed_form(m0)
    A, g, chi = m0.frontier(), m0.gamma, m0.chi_vector()
    T = m0.frontier() @ inv2(m0.A) @ m0.T if isinstance(m0, MonopolisticCompetition) else m0.T
    omega = _vec(ft["w"], ft["r"])
    q, q_s = _vec(ft["X"], ft["Y"]), _vec(ft["X_star"], ft["Y_star"])
    z = q + q_s if goods else q
    dS = (1.0 - chi / g) * (T.T @ omega)
    dq = inv2(A) @ (T @ q)
    dqw = inv2(A) @ (T @ ((1.0 - chi / g) * z))
    qw = q + q_s
    dp = ft["p"] * (dqw[0] / qw[0] - dqw[1] / qw[1])
    domega = inv2(A.T) @ _vec(dS[0], dS[1] + dp)
    domega_s = domega / g if goods else inv2(A.T) @ _vec(0.0, dp) / g
    return {"dS": dS, "dq": dq, "dq_world": dqw, "dp": dp, "domega": domega, "domega_star": domega_s,
            "dq_star": dqw - dq}


# =================================================================================================
# Partial-equilibrium blocks for the Stolper-Samuelson and Rybczynski theorems
# =================================================================================================
class _LeontiefBlock(Model):
    """Home technology A (2x2 Leontief, Y capital-intensive) shared by the theorem blocks below."""

    a_LX: float = 2.0
    a_LY: float = 1.0
    a_KX: float = 0.5
    a_KY: float = 1.5

    family: ClassVar[str] = FAMILY

    def domain(self):
        return {"a_KY/a_LY > a_KX/a_LX": self.a_KY * self.a_LX > self.a_KX * self.a_LY}

    def technology(self):
        return leontief_matrix(self.a_LX, self.a_LY, self.a_KX, self.a_KY)


class HomePricing(_LeontiefBlock):
    """Home zero-profit conditions at given goods prices and cost savings (paper eq. 14).

    A^T omega = pi + S: offshoring's cost saving S acts as a sector-biased price (or technology) shift.
    With S = 0 it is the textbook Stolper-Samuelson block (eq. 8); with S held at its equilibrium value
    its elasticities are the paper's eq. 22. Not a sub-model: a helper for `stolper_samuelson`.
    """

    p_X: float = 1.0
    p_Y: float = 9.0 / 7.0
    S_X: float = 0.0
    S_Y: float = 0.0

    spec_id: ClassVar[str] = "SS-block"
    description: ClassVar[str] = "Home pricing block A^T omega = pi + S (eq. 14)"
    unknowns: ClassVar[dict] = {"w": Free(), "r": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("p_X", "p_Y")

    def domain(self):
        return {**super().domain(), "p_X, p_Y > 0": (self.p_X > 0) & (self.p_Y > 0)}

    def guess(self):
        return {"w": 0.3, "r": 0.3}

    def residuals(self, u):
        A = self.technology()
        pi = _vec(self.p_X, self.p_Y)
        c = A.T @ _vec(u["w"], u["r"]) - _vec(self.S_X, self.S_Y)
        return {"zero_profit_X": c[0] / pi[0] - 1.0, "zero_profit_Y": c[1] / pi[1] - 1.0}  # eq. 14

    def regime(self, u):
        return {"factor_prices_positive": (u["w"] > 0) & (u["r"] > 0)}


class HomeEmployment(_LeontiefBlock):
    """Home full employment with shadow immigration held fixed (paper eq. 13): A q = e + Delta.

    With Delta = 0 it is the textbook Rybczynski block (eq. 9); with Delta at its equilibrium value its
    elasticities are the paper's eq. 23 (corrected, spec 7.5). A helper for `rybczynski`.
    """

    L_H: float = 1.0
    K_H: float = 0.8
    Delta_L: float = 0.0
    Delta_K: float = 0.0

    spec_id: ClassVar[str] = "Ryb-block"
    description: ClassVar[str] = "Home employment block A q = e + Delta (eq. 13)"
    unknowns: ClassVar[dict] = {"X": Free(), "Y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("L_H", "K_H")

    def domain(self):
        return {**super().domain(), "L_H, K_H > 0": (self.L_H > 0) & (self.K_H > 0)}

    def guess(self):
        return {"X": 0.3, "Y": 0.3}

    def residuals(self, u):
        A = self.technology()
        e_O = _vec(self.L_H + self.Delta_L, self.K_H + self.Delta_K)
        use = A @ _vec(u["X"], u["Y"])
        return {"employment_L": use[0] / e_O[0] - 1.0, "employment_K": use[1] / e_O[1] - 1.0}  # eq. 13

    def regime(self, u):
        return {"diversified": (u["X"] > 0) & (u["Y"] > 0)}


# =================================================================================================
# The four HO theorems with offshoring (paper Sec. 3.2, Prop. 6; spec P1-P6)
# =================================================================================================
def _f(x) -> float:
    return float(np.asarray(x))


def _solved(model, sol):
    from ..solve import solve

    if sol is None:
        sol = solve(model)
    return sol


def _frame(rows, index, columns, name=None):
    import pandas as pd

    df = pd.DataFrame(np.asarray(rows, dtype=float), index=index, columns=columns)
    if name:
        df.index.name = name
    return df


def _block_params(model):
    A = np.asarray(model.frontier())
    return dict(a_LX=A[0, 0], a_LY=A[0, 1], a_KX=A[1, 0], a_KY=A[1, 1])


def _home_outputs(model, u):
    return {"X": u["X"], "Y": u["Y"]}


def _sign_word(x, tol=1e-12):
    return "rises" if x > tol else ("falls" if x < -tol else "is unchanged")


@dataclasses.dataclass(frozen=True, repr=False)
class StolperSamuelson:
    """Stolper-Samuelson with offshoring (paper eqs. 17, 22, 24; spec P3, P6c).

    **Fields:** `elasticities` (dln(w, r)/dln(p_X, p_Y) at the offshoring equilibrium's prices with S
    held fixed, by the IFT on `HomePricing`), `elasticities_no_offshoring` (same prices, S = 0: eq. 8),
    `closed_form` (eqs. 22 and 8 for dln(w, r)/dln p), `fixed_p_effect` (inv(A^T) S: offshoring's own effect on
    Home rewards at given p, eq. 24), `S_ratio`, `thresholds` (a_KX/a_KY, a_LX/a_LY), `region`
    (Figure 1 right), `holds` (the magnification pattern dln r/dln p > 1 > 0 > dln w/dln p survives),
    `why`.
    """

    elasticities: object
    elasticities_no_offshoring: object
    closed_form: object
    fixed_p_effect: object
    S_ratio: float
    thresholds: tuple
    region: str
    holds: bool
    why: str

    def __repr__(self):
        return (f"Stolper-Samuelson with offshoring: holds={self.holds}\n  {self.why}\n"
                f"  S_X/S_Y = {self.S_ratio:.6g}, thresholds a_KX/a_KY = {self.thresholds[0]:.6g}, "
                f"a_LX/a_LY = {self.thresholds[1]:.6g}: {self.region}\n"
                f"Elasticities at fixed S (eq. 22):\n{self.elasticities.to_string()}\n"
                f"Without offshoring at the same prices (eq. 8):\n{self.elasticities_no_offshoring.to_string()}\n"
                f"Effect of offshoring at fixed p, inv(A^T) S (eq. 24):\n{self.fixed_p_effect.to_string()}")


def stolper_samuelson(model, sol=None):
    """The Stolper-Samuelson theorem with offshoring at a parameter point.

    Elasticities come from the implicit function theorem (`jo.statics(..., kind="elasticity")`) on the
    Home pricing block A^T omega = pi + S, evaluated at the equilibrium prices and cost savings.

    **Arguments:** `model`: a trade sub-model (M0b, M1, M1-R, M2, M4); `sol`: its solution (else solved).

    **Returns:** a `StolperSamuelson` record (readable repr).
    """
    import pandas as pd

    from ..statics import statics

    sol = _solved(model, sol)
    A = np.asarray(model.frontier())
    phi = np.asarray(model.offshored_fraction(sol.unknowns))
    S = phi * np.array([_f(sol["S_X"]), _f(sol["S_Y"])])
    p, w, r = _f(sol["p"]), _f(sol["w"]), _f(sol["r"])
    kw = dict(**_block_params(model), p_X=1.0, p_Y=p)
    cols = ["p_X", "p_Y"]
    el = statics(HomePricing(**kw, S_X=S[0], S_Y=S[1]), ["w", "r"], cols, kind="elasticity")
    el0 = statics(HomePricing(**kw), ["w", "r"], cols, kind="elasticity")
    d = A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]
    ew8, er8 = (float(x) for x in stolper_samuelson_elasticities(jnp.asarray(A), p))
    closed = pd.Series({"eq. 22: dln w/dln p": -A[1, 0] * p / (d * w), "eq. 22: dln r/dln p": A[0, 0] * p / (d * r),
                        "eq. 8: dln w/dln p": ew8, "eq. 8: dln r/dln p": er8}, name="closed forms")
    shift = np.linalg.solve(A.T, S)
    fixed = pd.Series({"w": shift[0], "r": shift[1]}, name="d reward at fixed p")
    lo, hi = A[1, 0] / A[1, 1], A[0, 0] / A[0, 1]
    ratio = S[0] / S[1] if S[1] != 0 else np.nan
    region = f"at fixed p, w {_sign_word(shift[0])} and r {_sign_word(shift[1])}"
    if shift[0] > 0 and shift[1] > 0:
        region += " (anti-Stolper-Samuelson: both Home factors gain)"
    ew, er = el.loc["w", "p_Y"], el.loc["r", "p_Y"]
    holds = bool(er > 1 > 0 > ew)
    why = (f"dln w/dln p = {ew:.4g} (no offshoring {el0.loc['w', 'p_Y']:.4g}), dln r/dln p = {er:.4g} "
           f"(no offshoring {el0.loc['r', 'p_Y']:.4g}); offshoring scales them by w0(p)/w = "
           f"{el.loc['w', 'p_Y'] / el0.loc['w', 'p_Y']:.4g} and r0(p)/r = "
           f"{el.loc['r', 'p_Y'] / el0.loc['r', 'p_Y']:.4g}"
           + ("" if holds else "; the magnification pattern r > p > w fails"))
    return StolperSamuelson(el, el0, closed, fixed, float(ratio), (lo, hi), region, holds, why)


@dataclasses.dataclass(frozen=True, repr=False)
class Rybczynski:
    """Rybczynski with offshoring (paper eqs. 16, 23, fn. 9; spec P2, P6d).

    **Fields:** `elasticities` (dln(X, Y)/dln(L, K) with shadow migration held fixed, eq. 23, IFT on
    `HomeEmployment`), `elasticities_no_offshoring` (Delta = 0, eq. 9), `ge_elasticities` (the full
    model, Delta endogenous), `closed_form` (eqs. 23, 9), `output_changes` (X_O - X_FT, Y_O - Y_FT =
    inv(A) Delta), `Delta_ratio`, `thresholds` (kappa_X, kappa_Y), `region` (Figure 1 left), `holds` (dln X/dln L > 1 and
    dln Y/dln L < 0 at fixed Delta), `why`.
    """

    elasticities: object
    elasticities_no_offshoring: object
    ge_elasticities: object
    closed_form: object
    output_changes: object
    Delta_ratio: float
    thresholds: tuple
    region: str
    holds: bool
    why: str

    def __repr__(self):
        return (f"Rybczynski with offshoring: holds={self.holds}\n  {self.why}\n"
                f"  Delta_K/Delta_L = {self.Delta_ratio:.6g}, kappa_X = {self.thresholds[0]:.6g}, "
                f"kappa_Y = {self.thresholds[1]:.6g}: {self.region}\n"
                f"Elasticities at fixed shadow migration (eq. 23):\n{self.elasticities.to_string()}\n"
                f"Without offshoring (eq. 9):\n{self.elasticities_no_offshoring.to_string()}\n"
                f"General equilibrium (Delta endogenous):\n{self.ge_elasticities.to_string()}\n"
                f"Output changes from shadow migration, inv(A) Delta (eq. 16):\n{self.output_changes.to_string()}")


def rybczynski(model, sol=None):
    """The Rybczynski theorem with offshoring at a parameter point.

    **Arguments:** `model`: a trade sub-model (M0b, M1, M1-R, M2, M4); `sol`: its solution (else solved).

    **Returns:** a `Rybczynski` record (readable repr).
    """
    import pandas as pd

    from ..statics import statics, total_derivatives

    sol = _solved(model, sol)
    kX, kY = (float(v) for v in kappas(model.frontier()))
    DL, DK = _f(sol["Delta_L"]), _f(sol["Delta_K"])
    kw = dict(**_block_params(model), L_H=_f(model.L_H), K_H=_f(model.K_H))
    cols = ["L_H", "K_H"]
    el = statics(HomeEmployment(**kw, Delta_L=DL, Delta_K=DK), ["X", "Y"], cols, kind="elasticity")
    el0 = statics(HomeEmployment(**kw), ["X", "Y"], cols, kind="elasticity")
    values, derivs = total_derivatives(model, cols, quantities=_home_outputs, sol=sol)
    ge = pd.DataFrame({c: {o: _f(derivs[o][c]) * _f(getattr(model, c)) / _f(values[o]) for o in ("X", "Y")}
                       for c in cols})[cols]
    ge.index.name = "dln(row)/dln(col)"
    changes = pd.Series({"X": _f(sol["dX"]), "Y": _f(sol["dY"])}, name="output change")
    A = np.asarray(model.frontier())
    d = A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0]
    L = _f(model.L_H)
    eX9, eY9 = (float(x) for x in rybczynski_elasticities(jnp.asarray(A), np.array([L, _f(model.K_H)])))
    closed = pd.Series({"eq. 23: dln X/dln L": A[1, 1] * L / (d * _f(sol["X"])),
                        "eq. 23: dln Y/dln L": -A[1, 0] * L / (d * _f(sol["Y"])),
                        "eq. 9: dln X/dln L": eX9, "eq. 9: dln Y/dln L": eY9}, name="closed forms")
    ratio = DK / DL if DL != 0 else np.nan
    region = f"X {_sign_word(changes['X'])} and Y {_sign_word(changes['Y'])}"
    if changes["X"] > 0 and changes["Y"] > 0:
        region += " (anti-Rybczynski: both outputs rise)"
    holds = bool(el.loc["X", "L_H"] > 1 and el.loc["Y", "L_H"] < 0)
    why = (f"dln X/dln L = {el.loc['X', 'L_H']:.4g} (no offshoring {el0.loc['X', 'L_H']:.4g}), "
           f"dln Y/dln L = {el.loc['Y', 'L_H']:.4g} (no offshoring {el0.loc['Y', 'L_H']:.4g}); "
           f"offshoring scales them by X_FT/X_O and Y_FT/Y_O")
    return Rybczynski(el, el0, ge, closed, changes, float(ratio), (kX, kY), region, holds, why)


@dataclasses.dataclass(frozen=True, repr=False)
class FactorPriceEqualization:
    """Effective factor-price equalisation w = gamma w*, r = gamma r* (paper Sec. 3.2; spec P6a, 7.7).

    **Fields:** `gaps` (w/w*, r/r*, gamma and the log gaps ln(w/(gamma w*)), ln(r/(gamma r*))),
    `rent_decomposition` (Home rewards: free trade, cost saving inv(A^T) S, terms of trade, total; eq. 17),
    `holds`, `why`.
    """

    gaps: object
    rent_decomposition: object
    holds: bool
    why: str

    def __repr__(self):
        return (f"Effective factor-price equalisation: holds={self.holds}\n  {self.why}\n"
                f"{self.gaps.to_string()}\nRent decomposition (eq. 17):\n{self.rent_decomposition.to_string()}")


def factor_price_equalization(model, sol=None, tol=1e-10):
    """Whether effective FPE (w/w* = r/r* = gamma) survives offshoring at a parameter point.

    **Arguments:** `model`: a trade sub-model; `sol`: its solution; `tol`: tolerance on the log gaps.

    **Returns:** a `FactorPriceEqualization` record.
    """
    import pandas as pd

    sol = _solved(model, sol)
    g = _f(model.gamma)
    wg, rg = _f(sol["w_gap"]), _f(sol["r_gap"])
    gaps = pd.Series({"w/w*": wg, "r/r*": rg, "gamma": g, "ln(w/(gamma w*))": np.log(wg / g),
                      "ln(r/(gamma r*))": np.log(rg / g)}, name="FPE")
    holds = bool(abs(np.log(wg / g)) <= tol and abs(np.log(rg / g)) <= tol)
    rents = _decomposition_table(sol)
    if holds:
        why = ("the offshored technology is available to both countries' producers (goods case, or no "
               "offshoring), so both face the same effective prices")
    else:
        why = (f"Home rewards carry offshoring rents (cost saving {rents.loc['w', 'cost saving']:.4g} on w, "
               f"{rents.loc['r', 'cost saving']:.4g} on r) that Foreign producers do not share")
    return FactorPriceEqualization(gaps, rents, holds, why)


def _decomposition_table(sol):
    import pandas as pd

    rows = {}
    for f in ("w", "r"):
        rows[f] = {"free trade": _f(sol[f"{f}_FT"]), "cost saving": _f(sol[f"d{f}_cost_saving"]),
                   "terms of trade": _f(sol[f"d{f}_terms_of_trade"]), "total change": _f(sol[f"d{f}_total"]),
                   "with offshoring": _f(sol[f])}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "reward"
    return df


@dataclasses.dataclass(frozen=True, repr=False)
class HeckscherOhlin:
    """The Heckscher-Ohlin trade pattern with offshoring (paper eqs. 7, 19-21; spec P4, P5, P6b).

    **Fields:** `prediction` (the textbook HO prediction from k vs k~w), `trade` (per sector: net imports
    of final goods in value, task imports V_J, intra-industry overlap), `eq21` (the first, shadow-endowment
    term and the -(1 - alpha) V term of eq. 21, service case), `IIT`, `grubel_lloyd`, `holds` (Home's net
    final-goods trade has the predicted sign), `why`.
    """

    prediction: str
    trade: object
    eq21: object
    IIT: float
    grubel_lloyd: float
    holds: bool
    why: str

    def __repr__(self):
        return (f"Heckscher-Ohlin with offshoring: holds={self.holds}\n  prediction: {self.prediction}\n"
                f"  {self.why}\n{self.trade.to_string()}\n  IIT = {self.IIT:.6g}, Grubel-Lloyd = "
                f"{self.grubel_lloyd:.6g}\n" + ("" if self.eq21 is None else f"eq. 21:\n{self.eq21.to_string()}"))


def heckscher_ohlin(model, sol=None, tol=1e-10):
    """The HO trade pattern at a parameter point: textbook prediction vs what offshoring produces.

    **Arguments:** `model`: a trade sub-model; `sol`: its solution; `tol`: below this |net trade| is zero.

    **Returns:** a `HeckscherOhlin` record.
    """
    import pandas as pd

    sol = _solved(model, sol)
    k, kw = _f(model.K_H / model.L_H), _f(sol["k_tilde_w"])
    if abs(k - kw) <= tol:
        pred, want = "no final-goods trade (k = k~w)", 0
    elif k > kw:
        pred, want = "Home (K-abundant) exports Y and imports X (k > k~w)", 1
    else:
        pred, want = "Home (L-abundant) exports X and imports Y (k < k~w)", -1
    p = _f(sol["p"])
    M_X, pM_Y = _f(sol["M_X"]), p * _f(sol["M_Y"])
    V = {"X": _f(sol["V_X"]), "Y": _f(sol["V_Y"])}
    net = {"X": M_X, "Y": pM_Y}
    trade = pd.DataFrame({
        "net imports of final goods": net,
        "task imports V_J": V,
        "intra-industry overlap": {j: 2 * min(max(-net[j], 0.0), V[j]) for j in ("X", "Y")},
    })
    trade.index.name = "sector"
    got = 0 if abs(M_X) <= tol else (1 if M_X > 0 else -1)
    holds = got == want
    exports = [j for j in ("X", "Y") if net[j] < -tol]
    why = (f"Home net-imports X worth {M_X:.4g} and Y worth {pM_Y:.4g}; net exports: "
           f"{', '.join(exports) if exports else 'none'}; task imports {V['X'] + V['Y']:.4g} are paid for by a "
           "final-goods surplus (M_X + p M_Y + V = 0)")
    eq21 = None
    if not model.is_goods_case():
        A = np.asarray(model.frontier())
        kX = A[1, 0] / A[0, 0]
        L_O, k_O, kt = _f(sol["L_O"]), _f(sol["k_O"]), _f(sol["k_tilde_O"])
        first = _f(model.alpha) * L_O / A[0, 0] * (k_O - kt) / (kt - kX)
        second = -(1 - _f(model.alpha)) * _f(sol["V_tasks"])
        eq21 = pd.Series({"shadow-endowment HO term": first, "-(1-alpha) V": second, "sum": first + second,
                          "M_X": M_X}, name="eq. 21")
    return HeckscherOhlin(pred, trade, eq21, _f(sol["IIT"]), _f(sol["grubel_lloyd"]), bool(holds), why)


@dataclasses.dataclass(frozen=True, repr=False)
class HOTheorems:
    """The four HO theorems at one parameter point (paper Prop. 6). `summary` is a one-row-per-theorem table."""

    factor_price_equalization: FactorPriceEqualization
    heckscher_ohlin: HeckscherOhlin
    stolper_samuelson: StolperSamuelson
    rybczynski: Rybczynski
    summary: object

    def __repr__(self):
        import pandas as pd

        with pd.option_context("display.max_colwidth", 200, "display.width", 250):
            return "The four HO theorems with offshoring\n" + self.summary.to_string()


def ho_theorems(model, sol=None):
    """Evaluate FPE, HO, Stolper-Samuelson and Rybczynski at a parameter point (paper Prop. 6).

    **Arguments:** `model`: a trade sub-model (M0b, M1, M1-R, M2, M4); `sol`: its solution (else solved).

    **Returns:** an `HOTheorems` record with the four results and a `summary` DataFrame
    (theorem, holds, why).
    """
    import pandas as pd

    sol = _solved(model, sol)
    fpe = factor_price_equalization(model, sol)
    ho = heckscher_ohlin(model, sol)
    ss = stolper_samuelson(model, sol)
    ry = rybczynski(model, sol)
    summary = pd.DataFrame(
        [("factor-price equalisation", fpe.holds, fpe.why), ("Heckscher-Ohlin", ho.holds, ho.why),
         ("Stolper-Samuelson", ss.holds, ss.region + "; " + ss.why),
         ("Rybczynski", ry.holds, ry.region + "; " + ry.why)],
        columns=["theorem", "holds", "why"]).set_index("theorem")
    return HOTheorems(fpe, ho, ss, ry, summary)


# =================================================================================================
# Offshoring-pattern enumeration (spec 5.4)
# =================================================================================================
_PATTERN_BOUNDS = {"full": (1.0, 1.0), "none": (0.0, 0.0), "interior": (-np.inf, np.inf)}


@eqx.filter_jit
def _solve_patterns(base, bounds):
    from ..solve import solve

    def one(b):
        m = base.with_params(phi_lo_X=b[0], phi_hi_X=b[1], phi_lo_Y=b[2], phi_hi_Y=b[3])
        # the system is piecewise linear in levels: Newton needs no Levenberg-Marquardt fallback
        return solve(m, mask=False, fallback=False)

    return jax.vmap(one)(bounds)


def solve_with_bounds(model, bounds):
    """Solve M1-R for a batch of offshoring-fraction bounds in one vmap.

    **Arguments:** `model`: an M1 or M1-R instance (its other parameters are kept); `bounds`: array of
    rows (phi_lo_X, phi_hi_X, phi_lo_Y, phi_hi_Y); (0, 1) is the free choice, equal bounds force phi,
    (-inf, inf) forces the interior branch S_J = 0.

    **Returns:** a batched `Solution` (unmasked: check `.status`).
    """
    base = OffshoringPattern(**{k: getattr(model, k) for k in ServiceTask.parameter_names()})
    return _solve_patterns(base, jnp.asarray(bounds, dtype=jnp.float64))


def offshoring_patterns(model=None):
    """Solve every offshoring pattern of the service case and keep the equilibria (spec 5.4 algorithm).

    Each sector's task 1 is fully offshored, not offshored, or interior (S_J = 0); the nine patterns are
    solved in one `jax.vmap` of M1-R with the pattern bounds as parameters. A pattern is an equilibrium
    when it converges inside the regime and satisfies the no-reshoring complementarity. Uniqueness is
    not established by the paper, so every equilibrium is reported.

    **Arguments:** `model`: an M1 or M1-R instance (default: M1-R defaults).

    **Returns:** a pandas DataFrame, one row per pattern (pattern_X, pattern_Y, phi_X, phi_Y, S_X, S_Y,
    p, w, r, status, equilibrium).
    """
    import itertools

    import pandas as pd

    model = OffshoringPattern() if model is None else model
    combos = list(itertools.product(_PATTERN_BOUNDS, _PATTERN_BOUNDS))
    sols = solve_with_bounds(model, [[*_PATTERN_BOUNDS[a], *_PATTERN_BOUNDS[b]] for a, b in combos])
    df = pd.DataFrame({"pattern_X": [a for a, _ in combos], "pattern_Y": [b for _, b in combos]})
    for k in ("phi_X", "phi_Y", "S_X", "S_Y", "p", "w", "r"):
        df[k] = np.asarray(sols[k])
    df["status"] = sols.status_name
    phi, S = df[["phi_X", "phi_Y"]].to_numpy(), df[["S_X", "S_Y"]].to_numpy()
    # free choice on [0, 1]: offshore fully where S > 0, not at all where S < 0
    free_choice = np.all(((S <= 1e-9) | (phi >= 1 - 1e-12)) & ((S >= -1e-9) | (phi <= 1e-12)), axis=1)
    df["equilibrium"] = (np.asarray(sols.status) == 0) & free_choice
    return df


# =================================================================================================
# The Jones ambiguity (paper Sec. 3.3, eq. 24; Jones and Kierzkowski 1998)
# =================================================================================================
@dataclasses.dataclass(frozen=True, repr=False)
class JonesCase:
    """Offshoring in one sector only: the decomposition of Home reward changes (eq. 17).

    **Fields:** `sector`, `table` (rows w, r; columns free trade, cost saving, terms of trade, total
    change, with offshoring), `S` (S_X, S_Y), `Delta_p`, `fixed_p_sign` (sign of dw at fixed p, eq. 24),
    `model`.
    """

    sector: str
    table: object
    S: tuple
    Delta_p: float
    model: object

    @property
    def dw_fixed_p(self):
        return float(self.table.loc["w", "cost saving"])

    @property
    def dw_total(self):
        return float(self.table.loc["w", "total change"])

    def __repr__(self):
        return (f"Offshoring of task {self.sector}1 only: S = ({self.S[0]:.6g}, {self.S[1]:.6g}), "
                f"p - p_FT = {self.Delta_p:.6g}\n{self.table.to_string()}")


@dataclasses.dataclass(frozen=True, repr=False)
class JonesAmbiguity:
    """Two offshoring experiments moving the same workers' tasks: in the L-intensive sector X they gain,
    in the K-intensive sector Y they lose (paper Sec. 3.3). `summary` compares them."""

    X: JonesCase
    Y: JonesCase
    summary: object

    def __repr__(self):
        return ("Jones ambiguity: the same workers' tasks move offshore\n"
                f"{self.summary.to_string()}\n\n{self.X!r}\n\n{self.Y!r}")


def jones_ambiguity(model=None, *, theta_L=0.3, theta_K=0.0):
    """The "Jones ambiguity": offshoring the tasks of the same workers raises or lowers their wage.

    Task 1 of a sector uses theta_L of its L-input and theta_K of its K-input (theta_K = 0: only
    L-workers' tasks move). Offshoring it in the L-intensive sector X alone is like X-biased technical
    progress and raises w at fixed p (eq. 24: dw = a_KY S_X/det A); offshoring it in the K-intensive
    sector Y alone lowers w (dw = -a_KX S_Y/det A). Each case reports the eq. 17 decomposition of the
    wage change into the cost-saving (productivity) part and the terms-of-trade part.

    **Arguments:** `model`: an M1 (`ServiceTask`) instance supplying A, gamma, chi, alpha, endowments
    (default M1 defaults); `theta_L`, `theta_K`: task-1 shares of the sector's L and K inputs.

    **Returns:** a `JonesAmbiguity` with the two `JonesCase`s (`.X`, `.Y`) and a `summary` DataFrame.
    """
    import pandas as pd

    from ..solve import solve

    model = ServiceTask() if model is None else model
    A = np.asarray(model.A)
    cases = {}
    for sector in ("X", "Y"):
        j = 0 if sector == "X" else 1
        T = np.zeros((2, 2))
        T[0, j], T[1, j] = theta_L * A[0, j], theta_K * A[1, j]
        m = model.replace(lam=1.0, a_LX1=T[0, 0], a_LY1=T[0, 1], a_KX1=T[1, 0], a_KY1=T[1, 1])
        sol = solve(m)
        cases[sector] = JonesCase(sector, _decomposition_table(sol), (_f(sol["S_X"]), _f(sol["S_Y"])),
                                  _f(sol["Delta_p"]), m)
    summary = pd.DataFrame({
        f"offshore {s}1 only": {
            "dw at fixed p (cost saving)": c.dw_fixed_p,
            "dw from terms of trade": float(c.table.loc["w", "terms of trade"]),
            "dw total": c.dw_total,
            "dr total": float(c.table.loc["r", "total change"]),
            "L-workers": "gain" if c.dw_total > 0 else "lose",
        } for s, c in cases.items()})
    return JonesAmbiguity(cases["X"], cases["Y"], summary)
