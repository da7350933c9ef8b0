"""Grossman and Rossi-Hansberg (2008), "Task Trade between Similar Countries", NBER WP 14554.

Economics: docs/models/similar_countries.md. Equation tags read
(paper eq. n; sub-model SM-x). Two countries with the same manager/worker ratio (East, no star; West,
star, whose worker wage is the numeraire w* = 1) produce CES varieties from a unit continuum of
tasks. Task productivity A(X) rises with the national scale X of the task, and a task done abroad
needs beta t(i) times the local labour. A task-location game (SM-A) puts the easiest-to-offshore
tasks [0, a] in the low-wage country, (a, b] in the high-wage country and leaves (b, 1] dispersed.

Sub-models (SUBMODELS):

* SM-A `TaskLocationGame`: the assignment map (E, W, B) = G(w, Q, Q*) for given wages and outputs.
* SM-B `UnequalWage`: the general equilibrium with w != 1, on a chosen branch ("+": w > 1,
  "-": w < 1, "larger": the larger country has the higher wage) and either the piecewise system
  (`regime="auto"`, the regime is found) or one of the seven smooth regimes R0..R6 (`regime="R3"`
  etc., flagged out of regime where its validity conditions fail).
* SM-C `NoTrade`: the autarky-in-tasks equilibrium (closed form, regime R0).
* SM-D `EqualWage`: the knife-edge w = 1 equilibrium (only task measures are determined).

Tools for regimes and multiplicity: `REGIMES`, `regime_name`, `solve_any_regime`,
`one_sided_derivatives`, `all_equilibria`, `continuation`, `solve_many`, `shift_size`, `indexed`.
The regime option is called `regime_option` because `Model.regime` is the validity-check method.
`indexed(model)` gives the same SM-B model with branch and regime as traced numbers
(`branch_code` +1/-1, `regime_code` -1 or 0..6), so every branch and regime shares one compilation
under `jax.vmap`; `solve_many` solves any list of such models in fixed-size chunks.

Welfare (Fig. 9; the paper never defines it): the candidates are aggregate real income
V = Y/P (= the country's CES utility), per-head real income v = V/(L+H) and the real worker wage
w/P. All are outputs (`V`, `v`, `real_w`, and their `_star` versions). `welfare` is v, per-head
real income: it is a proper welfare measure (utility of the country's consumption, per person),
and it is the only candidate of the three that fits Fig. 9's 0-10 axis while being a utility
(V reaches 14.9 at beta = 1; w/P is a factor price, not welfare). The spec's ordering claims
(monotone decline, steeper for larger theta, West curves crossing near beta = 1.8285) hold for
V and v alike, since v = V/(2L) rescales V by a constant along a beta sweep.
"""
from __future__ import annotations

import warnings
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..blocks.task_assignment import A_FORMS, T_FORMS, TaskCost, assignment_cutoffs, log_spillover
from ..model import Model
from ..transforms import Free, Positive

FAMILY = "similar_countries"

# Regime ids (output "regime_id", a float64 holding an integer so that autodiff over all outputs
# works; NaN at masked points) and names. Names use the "+" branch labels (East = high wage);
# on branch "-" the same id means the mirror image (swap East and West, I and I*).
REGIMES = {
    -1: "none: outside the paper's seven regimes (e.g. I*_raw >= 1 or b = 1 with a = 0)",
    0: "R0: no task trade (B = [0,1])",
    1: "R1: one-way, only the low-wage country's firms offshore (W empty, E = (0,I])",
    2: "R2: one-way, only the high-wage country's firms offshore (W = [0,I*], E empty)",
    3: "R3: two-way, bounded by I* (W = [0,I*], E = (I*,I], B = (I,1])",
    4: "R4: two-way, bounded by J (W = [0,J], E = (J,I], B = (I,1])",
    5: "R5: full concentration bounded by I* (W = [0,I*], E = (I*,1], B empty)",
    6: "R6: full concentration bounded by J (W = [0,J], E = (J,1], B empty)",
}
REGIME_CODES = {"auto": -1, **{f"R{k}": k for k in range(7)}}
BRANCHES = ("+", "-", "larger")


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
class _Technology(Model):
    """Offshoring costs beta t(i) and the national external economy A(X) (spec 3, 5.0)."""

    beta: float = 1.5  # SHOCK: offshoring-cost shifter, labour for an offshored task = beta t(i)/A
    theta: float = 0.8  # elasticity of A(X) = X^theta
    t_param: float = 1.0  # shape of t(i) for t_form "power" (g) or "exponential" (k); else unused
    t_form: str = eqx.field(static=True, default="linear")  # t(i) = 1 + i (paper)
    A_form: str = eqx.field(static=True, default="power")  # A(X) = X^theta (paper)

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("beta",)

    def __check_init__(self):
        if self.t_form not in T_FORMS:
            raise ValueError(f"t_form must be one of {T_FORMS}, got {self.t_form!r}")
        if self.A_form not in A_FORMS:
            raise ValueError(f"A_form must be one of {A_FORMS}, got {self.A_form!r}")

    def schedule(self) -> TaskCost:
        return TaskCost(form=self.t_form, g=self.t_param)

    def lA(self, X):
        """ln A(X)."""
        return log_spillover(X, self.theta, self.A_form)

    def domain(self):
        return {
            "beta * t(0) >= 1": self.beta >= 1,  # every t form has t(0) = 1
            "0 <= theta < 1": (self.theta >= 0) & (self.theta < 1),
            "t_param > 0": self.t_param > 0,
        }

    def game(self, w, Q, Q_star, sign, code=-1):
        """Thresholds and cutoffs of the location game at (w, Q, Q*) (paper eqs. 1-3; spec 5.0-5.2).

        `sign` is +1 when East is the high-wage country, -1 otherwise. `code` is -1 for the
        piecewise assignment (clip/min/max, spec 5.1) or k in 0..6 for regime Rk's smooth
        formulas in raw thresholds (spec 5.2 table). Returns a dict of thresholds, cutoffs,
        task-set measures in East/West labels, the classified `regime_id` and the validity of
        regime `code`.
        """
        tc = self.schedule()
        plus = jnp.asarray(sign) > 0
        lAN = self.lA(Q + Q_star)
        lb = jnp.log(self.beta)
        # (1) beta t(I) = w* A(N)/(w A(Q*));  (2) beta t(I*) = w A(N)/(w* A(Q))
        I_raw = tc.tinv(jnp.exp(lAN - jnp.log(w) - self.lA(Q_star) - lb))
        Is_raw = tc.tinv(jnp.exp(jnp.log(w) + lAN - self.lA(Q) - lb))
        # (3) beta t(J) = (w Q - w* Q*)/(w* Q - w Q*); relevant only if Q_hi > (w_hi/w_lo) Q_lo (Claim 1)
        num, den = w * Q - Q_star, Q - w * Q_star
        # J is 0/0 at w = 1, Q = Q* (symmetric no-trade point): set J = 1 there (spec 11, J guard)
        tiny = 1e-9 * (Q + Q_star)
        relevant = jnp.where(plus, den > tiny, den < -tiny)
        den_safe = jnp.where(jnp.abs(den) > 1e-300, den, 1e-300)
        J_formula = tc.tinv(num / den_safe / self.beta)
        J_eff = jnp.where(relevant, J_formula, jnp.inf)  # raw J for comparisons (inf = never binds)
        J = jnp.where(relevant, jnp.clip(J_formula, 0.0, 1.0), 1.0)
        # high-wage (hi) / low-wage (lo) frame: branch "-" is the mirror image of "+"
        Ih = jnp.where(plus, I_raw, Is_raw)
        Il = jnp.where(plus, Is_raw, I_raw)
        a_auto, b_auto = assignment_cutoffs(jnp.clip(Ih, 0.0, 1.0), jnp.clip(Il, 0.0, 1.0), J)

        zero, one = jnp.zeros_like(Ih), jnp.ones_like(Ih)
        a_k = jnp.stack([zero, zero, Il, Il, J_formula, Il, J_formula])
        b_k = jnp.stack([zero, Ih, Il, Ih, Ih, one, one])
        valid_k = jnp.stack([
            (Ih <= 0) & (Il <= 0),                                           # R0
            (Ih > 0) & (Ih < 1) & (Ih > Il) & ((Il <= 0) | (J_eff <= 0)),    # R1
            (Il > 0) & (Il < 1) & (Ih <= Il),                                # R2
            (Il > 0) & (Il < J_eff) & (Il < Ih) & (Ih < 1),                  # R3
            relevant & (J_formula > 0) & (J_formula < Il) & (Il < Ih) & (Ih < 1),  # R4
            (Ih >= 1) & (Il > 0) & (Il < 1) & (Il < J_eff),                  # R5
            relevant & (Ih >= 1) & (J_formula > 0) & (J_formula < Il) & (Il < 1),  # R6
        ])
        # regime of a solution of the piecewise system: a decision tree over the same table
        a_zero = (Il <= 0) | (J_eff <= 0)
        rid = jnp.where(
            (Ih <= 0) & (Il <= 0), 0,
            jnp.where(jnp.clip(Ih, 0.0, 1.0) <= jnp.clip(Il, 0.0, 1.0), jnp.where(Il < 1, 2, -1),
                      jnp.where(a_zero, jnp.where(Ih < 1, 1, -1),
                                jnp.where(Il <= J_eff, jnp.where(Ih < 1, 3, 5), jnp.where(Ih < 1, 4, 6)))))
        code = jnp.asarray(code)
        idx = jnp.clip(jnp.round(code), 0, 6).astype(jnp.int32)
        fixed = code >= 0
        a = jnp.where(fixed, jnp.take(a_k, idx, axis=0), a_auto)
        b = jnp.where(fixed, jnp.take(b_k, idx, axis=0), b_auto)
        valid = jnp.where(fixed, jnp.take(valid_k, idx, axis=0), True)
        # Low-wage country hosts [0, a], high-wage country (a, b], B = (b, 1] (Proposition 1).
        # The piecewise system applies the game task by task (spec 5.1, "why the rule holds"):
        # below m = min(I_hi, I_lo) the cheaper aggregate location wins (low-wage below J), between
        # m and b only the country with the larger limit can host. This equals the interval rule
        # whenever Lemma 1 holds (always at an equilibrium) and, unlike it, stays continuous when
        # an iterate has J < I_hi <= I_lo.
        Ihc, Ilc = jnp.clip(Ih, 0.0, 1.0), jnp.clip(Il, 0.0, 1.0)
        m = jnp.minimum(Ihc, Ilc)
        cJ = jnp.minimum(m, J)
        lo_wins, hi_wins = (Ilc > Ihc).astype(Ih.dtype), (Ihc > Ilc).astype(Ih.dtype)
        M_lo_auto = cJ + lo_wins * (b_auto - m)
        M_hi_auto = (m - cJ) + hi_wins * (b_auto - m)
        T_lo_auto = tc.T(zero, cJ) + lo_wins * tc.T(m, b_auto)
        T_hi_auto = tc.T(cJ, m) + hi_wins * tc.T(m, b_auto)
        M_lo = jnp.where(fixed, a, M_lo_auto)
        M_hi = jnp.where(fixed, b - a, M_hi_auto)
        T_lo = jnp.where(fixed, tc.T(zero, a), T_lo_auto)
        T_hi = jnp.where(fixed, tc.T(a, b), T_hi_auto)
        # Reported thresholds: clipped on the piecewise system; on a fixed regime, the regime's own
        # smooth piece (e.g. I = I_raw in R3 even a hair past I = 0), so that the IFT derivative of
        # a fixed-regime system is that regime's one-sided derivative at its boundary.
        hi_k = jnp.stack([zero, Ih, Ihc, Ih, Ih, one, one])
        lo_k = jnp.stack([zero, Ilc, Il, Il, Il, Il, Il])
        J_k = jnp.stack([J, J, J, J, J_formula, J, J_formula])
        pick = lambda stack, auto: jnp.where(fixed, jnp.take(stack, idx, axis=0), auto)  # noqa: E731
        I_hi_out, I_lo_out = pick(hi_k, Ihc), pick(lo_k, Ilc)
        return {
            "I": jnp.where(plus, I_hi_out, I_lo_out), "I_star": jnp.where(plus, I_lo_out, I_hi_out),
            "J": pick(J_k, J),
            "I_raw": I_raw, "I_star_raw": Is_raw, "J_raw": J_eff, "J_relevant": relevant,
            "a": a, "b": b,
            "M_E": jnp.where(plus, M_hi, M_lo), "M_W": jnp.where(plus, M_lo, M_hi), "M_B": 1.0 - b,
            "T_E": jnp.where(plus, T_hi, T_lo), "T_W": jnp.where(plus, T_lo, T_hi),
            "regime_id": rid.astype(jnp.float64), "regime_valid": valid,
        }


class _Economy(_Technology):
    """Preferences, firms and endowments (spec 2, 3). Default: the Figs. 8-9 point at beta = 1.5."""

    sigma: float = 2.0  # CES elasticity between varieties
    f: float = 1.0  # managers per firm
    L_E: float = 1.1  # East workers (SHOCK: relative size)
    L_W: float = 0.9  # West workers
    H_E: float = 1.1  # East managers
    H_W: float = 0.9  # West managers

    shocks: ClassVar[tuple[str, ...]] = ("beta", "theta", "sigma")

    def domain(self):
        return {
            **super().domain(),
            "sigma > 1": self.sigma > 1,
            "f > 0": self.f > 0,
            "L_E > 0": self.L_E > 0,
            "L_W > 0": self.L_W > 0,
            "H_E > 0": self.H_E > 0,
            "H_W > 0": self.H_W > 0,
            "H_E / L_E == H_W / L_W (similar countries)":
                jnp.abs(self.H_E * self.L_W - self.H_W * self.L_E) <= 1e-9 * self.H_E * self.L_W,
        }

    def no_trade_guess(self):
        """The SM-C closed form for power A (paper Sec. 3; spec 5.3, O1)."""
        k = 1.0 / (1.0 - self.theta)
        Q, Qs = self.L_E**k, self.L_W**k
        w = (self.L_E / self.L_W) ** (self.theta * (self.sigma - 1) / (self.sigma * (1 - self.theta)))
        return w, Q, Qs

    def unit_costs(self, w, Q, Q_star, s):
        """Unit costs c, c* (paper eqs. 4, 5) given task-set measures/integrals `s`."""
        # 1/A as exp(-ln A): as theta -> 1 the outputs Q reach 1e180 and more, where dividing by A
        # (and differentiating the quotient) overflows although every term is of order one
        inv_AN = jnp.exp(-self.lA(Q + Q_star))
        c = (w * s["M_E"] + self.beta * s["T_W"]) * inv_AN + w * s["M_B"] * jnp.exp(-self.lA(Q))
        c_star = (self.beta * w * s["T_E"] + s["M_W"]) * inv_AN + s["M_B"] * jnp.exp(-self.lA(Q_star))
        return c, c_star

    def equilibrium_residuals(self, w, Q, Q_star, s):
        """F1-F3 (paper eqs. 6, 11, 12; spec SM-B) for given task sets `s`."""
        c, c_star = self.unit_costs(w, Q, Q_star, s)
        # Q/A(.) as exp(ln Q - ln A(.)): of order one even where Q and A overflow their product
        lQ, lQs, lAN = jnp.log(Q), jnp.log(Q_star), self.lA(Q + Q_star)
        east_labour = (s["M_E"] * jnp.exp(lQ - lAN) + self.beta * s["T_E"] * jnp.exp(lQs - lAN)
                       + s["M_B"] * jnp.exp(lQ - self.lA(Q)))
        west_labour = (self.beta * s["T_W"] * jnp.exp(lQ - lAN) + s["M_W"] * jnp.exp(lQs - lAN)
                       + s["M_B"] * jnp.exp(lQs - self.lA(Q_star)))
        return {
            # x/x* = (c/c*)^(-sigma), x/x* = (Q/Q*)(H*/H)  (eq. 6; SM-B F1)
            "relative_demand": lQ - lQs + jnp.log(self.H_W / self.H_E)
            + self.sigma * (jnp.log(c) - jnp.log(c_star)),
            # labour markets in logs: demand is a power law in (Q, Q*), so Newton in logs is near-linear
            "labour_E": jnp.log(east_labour / self.L_E),  # eq. 11; SM-B F2
            "labour_W": jnp.log(west_labour / self.L_W),  # eq. 12; SM-B F3
        }

    def derived(self, w, Q, Q_star, s):
        """Section-6 outputs: prices, incomes, welfare, task and goods trade, offshoring shares."""
        sig = self.sigma
        AN = jnp.exp(self.lA(Q + Q_star))
        n, n_star = self.H_E / self.f, self.H_W / self.f
        c, c_star = self.unit_costs(w, Q, Q_star, s)
        p, p_star = sig * c / (sig - 1), sig * c_star / (sig - 1)
        s_E = c * Q / (self.H_E * (sig - 1))  # eq. 7 with x = Q/n, n = H/f
        s_W = c_star * Q_star / (self.H_W * (sig - 1))  # eq. 8
        P = (n * p ** (1 - sig) + n_star * p_star ** (1 - sig)) ** (1 / (1 - sig))
        Y, Y_star = w * self.L_E + s_E * self.H_E, self.L_W + s_W * self.H_W
        V, V_star = Y / P, Y_star / P
        R, R_star = p * Q, p_star * Q_star
        emp_E_for_W = self.beta * s["T_E"] * Q_star / AN  # East labour in West firms' affiliates
        emp_W_for_E = self.beta * s["T_W"] * Q / AN
        X_task, X_task_star = w * emp_E_for_W, emp_W_for_E
        world = Y + Y_star
        exports, imports = R * Y_star / world, R_star * Y / world
        GX, GX_star = exports + X_task, imports + X_task_star
        phi = self.beta * s["T_W"] / (AN * c)
        phi_star = self.beta * w * s["T_E"] / (AN * c_star)
        return {
            "n": n, "n_star": n_star, "x": Q / n, "x_star": Q_star / n_star,
            "c": c, "c_star": c_star, "p": p, "p_star": p_star, "s": s_E, "s_star": s_W,
            "skill_premium": s_E / w, "skill_premium_star": s_W,
            "P": P, "Y": Y, "Y_star": Y_star, "V": V, "V_star": V_star,
            "v": V / (self.L_E + self.H_E), "v_star": V_star / (self.L_W + self.H_W),
            "welfare": V / (self.L_E + self.H_E), "welfare_star": V_star / (self.L_W + self.H_W),
            "real_w": w / P, "real_w_star": 1.0 / P, "real_s": s_E / P, "real_s_star": s_W / P,
            "R": R, "R_star": R_star,
            "X_task": X_task, "X_task_star": X_task_star,
            "goods_exports": exports, "goods_imports": imports,
            "current_account": exports - imports + X_task - X_task_star,
            "phi": phi, "phi_star": phi_star,
            "FVA_goods": phi * (sig - 1) / sig, "FVA_goods_star": phi_star * (sig - 1) / sig,
            "GX": GX, "GX_star": GX_star,
            "FVA_gross": X_task_star * Y_star / world / GX, "FVA_gross_star": X_task * Y / world / GX_star,
            "FWD": X_task * Y / world / GX,
            "task_share_GX": X_task / GX, "task_share_GX_star": X_task_star / GX_star,
            "employment_E_for_W": emp_E_for_W, "employment_W_for_E": emp_W_for_E,
            "foreign_employment_share": emp_E_for_W / self.L_E,
            "foreign_employment_share_star": emp_W_for_E / self.L_W,
            "A_N": AN, "A_Q": jnp.exp(self.lA(Q)), "A_Q_star": jnp.exp(self.lA(Q_star)),
        }


# --------------------------------------------------------------------------------------------
# SM-A: the task-location game
# --------------------------------------------------------------------------------------------
class TaskLocationGame(_Technology):
    """SM-A: the assignment (E, W, B) = G(w, Q, Q*) for given wages and outputs (paper Sec. 3.3, 5.1).

    The unknowns are the raw thresholds of eqs. (1)-(3) (free reals; the equations are explicit,
    so Newton stops after one step). The branch is read from w: East is the high-wage country iff
    w > 1. At w = 1 the rule does not apply (see SM-D) and the point is flagged out of regime.
    """

    w: float = 1.2  # East wage (West = numeraire)
    Q: float = 2.0  # East aggregate output
    Q_star: float = 1.0  # West aggregate output

    spec_id: ClassVar[str] = "SM-A"
    description: ClassVar[str] = "Task-location game: thresholds I, I*, J and task sets for given (w, Q, Q*)"
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w", "Q", "Q_star")
    unknowns: ClassVar[dict] = {"I_raw": Free(), "I_star_raw": Free(), "J_raw": Free()}

    def domain(self):
        return {**super().domain(), "w > 0": self.w > 0, "Q > 0": self.Q > 0, "Q_star > 0": self.Q_star > 0}

    def _g(self):
        return self.game(self.w, self.Q, self.Q_star, jnp.where(self.w > 1, 1.0, -1.0))

    def guess(self):
        g = self._g()
        return {"I_raw": g["I_raw"], "I_star_raw": g["I_star_raw"],
                "J_raw": jnp.where(g["J_relevant"], g["J_raw"], 1.0)}

    def residuals(self, u):
        g = self._g()
        return {
            "east_limit": u["I_raw"] - g["I_raw"],  # paper eq. 1; spec 5.0
            "west_limit": u["I_star_raw"] - g["I_star_raw"],  # paper eq. 2
            # paper eq. 3 (J = 1 when Claim 1 makes it irrelevant)
            "aggregate_cost": u["J_raw"] - jnp.where(g["J_relevant"], g["J_raw"], 1.0),
        }

    def outputs(self, u):
        g = self._g()
        I, Is = jnp.clip(u["I_raw"], 0.0, 1.0), jnp.clip(u["I_star_raw"], 0.0, 1.0)
        J = jnp.clip(u["J_raw"], 0.0, 1.0)
        plus = self.w > 1
        a, b = assignment_cutoffs(jnp.where(plus, I, Is), jnp.where(plus, Is, I), J)
        AN = jnp.exp(self.lA(self.Q + self.Q_star))
        i_grid = jnp.array([0.0, 0.5, 1.0])
        delta = (self.w * self.Q - self.Q_star) - self.beta * self.schedule().t(i_grid) * (self.Q - self.w * self.Q_star)
        return {
            "I": I, "I_star": Is, "J": J, "a": a, "b": b,
            "M_E": g["M_E"], "M_W": g["M_W"], "M_B": g["M_B"], "T_E": g["T_E"], "T_W": g["T_W"],
            "regime_id": g["regime_id"],
            "Delta_0": delta[0], "Delta_half": delta[1], "Delta_1": delta[2],  # aggregate-cost gap
            "pi_d_0": delta[0] / AN,  # deviant supplier's profit at i = 0 (spec 5.0)
        }

    def regime(self, u):
        return {"w != 1 (the location rule needs unequal wages)": self.w != 1.0}


# --------------------------------------------------------------------------------------------
# SM-B: unequal-wage equilibrium
# --------------------------------------------------------------------------------------------
class UnequalWage(_Economy):
    """SM-B: general equilibrium with w != 1 (paper Sec. 3; spec 5.2).

    Options (static): `branch` "+" (w > 1), "-" (w < 1, the mirror image) or "larger" (the
    country with more workers has the higher wage); `regime` "auto" (piecewise system: the regime
    is found and reported as `regime_id`) or "R0".."R6" (that regime's smooth system; points where
    its validity conditions fail get status 3).
    """

    branch: str = eqx.field(static=True, default="+")
    regime_option: str = eqx.field(static=True, default="auto")

    spec_id: ClassVar[str] = "SM-B"
    description: ClassVar[str] = "Unequal-wage equilibrium with task trade (7 regimes, branch w>1 or w<1)"
    unknowns: ClassVar[dict] = {"w": Positive(), "Q": Positive(), "Q_star": Positive()}

    def __check_init__(self):
        super().__check_init__()
        if self.branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {self.branch!r}")
        if self.regime_option not in REGIME_CODES:
            raise ValueError(f"regime_option must be one of {tuple(REGIME_CODES)}, got {self.regime_option!r}")

    def sign(self):
        """+1 when East is the high-wage country on this branch, -1 otherwise."""
        if self.branch == "+":
            return jnp.asarray(1.0)
        if self.branch == "-":
            return jnp.asarray(-1.0)
        return jnp.where(self.L_E >= self.L_W, 1.0, -1.0)

    def code(self):
        return jnp.asarray(REGIME_CODES[self.regime_option])

    def guess(self):
        # The no-trade closed form in the high-wage (hi) frame of the requested branch, pulled
        # towards the trade equilibria: task trade caps the wage gap near beta t(0) and keeps the
        # low-wage country's output from collapsing; kept off the knife-edge w = 1.
        w0, Q0, Qs0 = self.no_trade_guess()
        plus = self.sign() > 0
        w_hi = jnp.where(plus, w0, 1.0 / w0)
        Q_hi, Q_lo = jnp.where(plus, Q0, Qs0), jnp.where(plus, Qs0, Q0)
        Q_bar = (0.5 * (self.L_E + self.L_W)) ** (1.0 / (1.0 - self.theta))
        w_hi = jnp.clip(w_hi, 1.05, 1.1 * self.beta)
        Q_hi = jnp.maximum(Q_hi, 2.0 * Q_bar)
        Q_lo = jnp.maximum(Q_lo, Q_hi / 20.0)
        return {"w": jnp.where(plus, w_hi, 1.0 / w_hi), "Q": jnp.where(plus, Q_hi, Q_lo),
                "Q_star": jnp.where(plus, Q_lo, Q_hi)}

    def _g(self, u):
        return self.game(u["w"], u["Q"], u["Q_star"], self.sign(), self.code())

    def residuals(self, u):
        return self.equilibrium_residuals(u["w"], u["Q"], u["Q_star"], self._g(u))

    def outputs(self, u):
        g = self._g(u)
        out = {k: v for k, v in g.items() if k not in ("regime_valid",)}
        out["branch_sign"] = self.sign()
        # the task sets as intervals: low-wage country [0, a], high-wage (a, b], B = (b, 1]
        plus, zero = self.sign() > 0, jnp.zeros_like(g["a"])
        out.update(E_lo=jnp.where(plus, g["a"], zero), E_hi=jnp.where(plus, g["b"], g["a"]),
                   W_lo=jnp.where(plus, zero, g["a"]), W_hi=jnp.where(plus, g["a"], g["b"]), B_lo=g["b"])
        out["J_relevant"] = g["J_relevant"].astype(jnp.float64)
        return {**out, **self.derived(u["w"], u["Q"], u["Q_star"], g)}

    def on_branch(self, u):
        # a no-trade point is valid on either branch (its assignment does not depend on the branch)
        lw = jnp.log(u["w"])
        return (self.sign() * lw > 0) | ((self._g(u)["regime_id"] == 0) & (jnp.abs(lw) < 1e-9))

    def regime(self, u):
        # the solver's fallbacks look for a root on the requested branch (hook `on_branch`); a root
        # only found off it is reported here
        return {"branch: sign(w - 1) as requested": self.on_branch(u),
                "fixed regime: validity conditions (spec 5.2 table)": self._g(u)["regime_valid"]}


class _IndexedUnequalWage(UnequalWage):
    """SM-B with branch and regime as traced numbers, so that one compilation serves all of them
    under `jax.vmap` (used by `solve_any_regime`, `all_equilibria`, `one_sided_derivatives`)."""

    branch_code: float = 1.0  # +1: East high-wage, -1: West high-wage
    regime_code: float = -1.0  # -1: piecewise (auto); k: regime Rk

    def sign(self):
        return jnp.where(self.branch_code > 0, 1.0, -1.0)

    def code(self):
        return self.regime_code


# --------------------------------------------------------------------------------------------
# SM-C: no task trade
# --------------------------------------------------------------------------------------------
class NoTrade(_Economy):
    """SM-C: equilibrium without task trade, B = [0, 1] (paper Sec. 3; spec 5.3, O1).

    With power A: Q = L^(1/(1-theta)), Q* = L*^(1/(1-theta)),
    w = (L/L*)^(theta(sigma-1)/(sigma(1-theta))). It is an equilibrium only where neither
    concentration limit is positive (regime check).
    """

    beta: float = 2.0  # default inside R0 (no task trade pays at beta = 2 for the default sizes)

    spec_id: ClassVar[str] = "SM-C"
    description: ClassVar[str] = "No-trade equilibrium (closed form; valid when beta t(0) >= max(R_I, R_I*))"
    unknowns: ClassVar[dict] = {"w": Positive(), "Q": Positive(), "Q_star": Positive()}

    def guess(self):
        w, Q, Qs = self.no_trade_guess()
        return {"w": w, "Q": Q, "Q_star": Qs}

    def _sets(self, u):
        g = self.game(u["w"], u["Q"], u["Q_star"], jnp.where(u["w"] >= 1, 1.0, -1.0))
        zero = jnp.zeros_like(u["w"])
        return g, {"M_E": zero, "M_W": zero, "M_B": zero + 1.0, "T_E": zero, "T_W": zero}

    def residuals(self, u):
        _, s = self._sets(u)
        r = self.equilibrium_residuals(u["w"], u["Q"], u["Q_star"], s)
        # with B = [0,1] the labour markets read Q/A(Q) = L: written in logs (spec 5.3)
        r["labour_E"] = jnp.log(u["Q"]) - self.lA(u["Q"]) - jnp.log(self.L_E)
        r["labour_W"] = jnp.log(u["Q_star"]) - self.lA(u["Q_star"]) - jnp.log(self.L_W)
        return r

    def outputs(self, u):
        g, s = self._sets(u)
        out = {k: g[k] for k in ("I", "I_star", "J", "I_raw", "I_star_raw", "J_raw")}
        out.update(s, a=jnp.zeros_like(u["w"]), b=jnp.zeros_like(u["w"]), regime_id=jnp.asarray(0.0))
        return {**out, **self.derived(u["w"], u["Q"], u["Q_star"], s)}

    def regime(self, u):
        g, _ = self._sets(u)
        return {"no trade: beta t(0) >= A(N)/(w A(Q*)) (I_raw <= 0)": g["I_raw"] <= 0,
                "no trade: beta t(0) >= w A(N)/A(Q) (I*_raw <= 0)": g["I_star_raw"] <= 0}


# --------------------------------------------------------------------------------------------
# SM-D: equal wages
# --------------------------------------------------------------------------------------------
class EqualWage(_Economy):
    """SM-D: the knife-edge equal-wage equilibrium, w = 1 and Q = Q* (paper Sec. 3; spec 5.4).

    I = I* solves beta t(I) = A(2Q)/A(Q); only the measure M_E = M(E) and cost integral
    T_E = T(E) of East's concentrated tasks are pinned down (which tasks go where is not). The
    unknowns are Q, M_E, T_E (free reals); the paper's feasibility constraints
    T(0, M_E) <= T_E <= T(0, I) - T(0, I - M_E), 0 <= M_E <= I are the regime conditions, so the
    equilibrium is flagged out of regime exactly where it does not exist.
    """

    # defaults inside SM-D's existence interval L in [0.960838, 1.039162] at beta = 1.1 (spec O4, Fig. 4)
    beta: float = 1.1
    L_E: float = 1.02
    L_W: float = 0.98
    H_E: float = 1.02
    H_W: float = 0.98

    spec_id: ClassVar[str] = "SM-D"
    description: ClassVar[str] = "Equal-wage (w = 1) equilibrium; unstable, task allocation indeterminate"
    unknowns: ClassVar[dict] = {"Q": Positive(), "M_E": Free(), "T_E": Free()}

    def _common(self, Q):
        tc = self.schedule()
        # beta t(I) = A(2Q)/A(Q)  (paper Sec. 3; SM-D)
        I = jnp.clip(tc.tinv(jnp.exp(self.lA(2 * Q) - self.lA(Q)) / self.beta), 0.0, 1.0)
        return tc, I, tc.T(0.0, I)

    def guess(self):
        # closed form of spec 5.4 for power A and t = 1 + i (a start point only)
        I = jnp.clip(2.0**self.theta / self.beta - 1.0, 0.0, 1.0)
        T_I = I + 0.5 * I * I
        Ls = self.L_E + self.L_W
        Q = (Ls / (2.0 ** (-self.theta) * (I + self.beta * T_I) + 2 * (1 - I))) ** (1 / (1 - self.theta))
        k = Q / (2 * Q) ** self.theta
        rho = (self.H_E / self.H_W) ** (1 / self.sigma)
        skew = Ls * (rho - 1) / (rho + 1)
        D_M = ((self.L_E - self.L_W) + skew) / (2 * k)
        D_T = ((self.L_E - self.L_W) - skew) / (2 * k * self.beta)
        return {"Q": Q, "M_E": (I + D_M) / 2, "T_E": (T_I + D_T) / 2}

    def _sets(self, u):
        tc, I, T_I = self._common(u["Q"])
        return I, T_I, {"M_E": u["M_E"], "M_W": I - u["M_E"], "M_B": 1.0 - I,
                        "T_E": u["T_E"], "T_W": T_I - u["T_E"]}

    def residuals(self, u):
        _, _, s = self._sets(u)
        w = jnp.ones_like(u["Q"])
        return self.equilibrium_residuals(w, u["Q"], u["Q"], s)  # D1-D3 = F1-F3 at w = 1, Q = Q*

    def outputs(self, u):
        I, T_I, s = self._sets(u)
        tc = self.schedule()
        one = jnp.ones_like(u["Q"])
        out = {"w": one, "Q_star": u["Q"], "I": I, "I_star": I, "J": one, "a": s["M_W"], "b": I,
               "M_W": s["M_W"], "M_B": s["M_B"], "T_W": s["T_W"], "T_I": T_I,
               "T_E_lower": tc.T(0.0, u["M_E"]), "T_E_upper": T_I - tc.T(0.0, s["M_W"]),
               "regime_id": jnp.asarray(-1.0)}
        return {**out, **self.derived(one, u["Q"], u["Q"], s)}

    def regime(self, u):
        I, T_I, s = self._sets(u)
        tc = self.schedule()
        tol = 1e-12
        return {
            "0 <= M_E <= I": (u["M_E"] >= -tol) & (u["M_E"] <= I + tol),
            "T(0, M_E) <= T_E": tc.T(0.0, u["M_E"]) <= u["T_E"] + tol,
            "T_E <= T(0, I) - T(0, M_W)": u["T_E"] <= T_I - tc.T(0.0, s["M_W"]) + tol,
        }


SUBMODELS = {
    "SM-A": TaskLocationGame,
    "SM-B": UnequalWage,
    "SM-C": NoTrade,
    "SM-D": EqualWage,
}


# --------------------------------------------------------------------------------------------
# Regimes, branches and multiplicity (numerical tools for this family; no loops in the models)
# --------------------------------------------------------------------------------------------
def regime_name(sol):
    """Readable regime of a solution (or of a regime id / array of ids).

    **Arguments:** `sol`: a `Solution` with output `regime_id` (batched or not), or ids directly.

    **Returns:** a str (or a NumPy array of str) from `REGIMES`; "failed" where the id is NaN
    (a masked point).
    """
    ids = sol["regime_id"] if hasattr(sol, "outputs") else sol
    ids = np.asarray(ids, dtype=float)

    def one(k):
        return "failed" if np.isnan(k) else REGIMES[int(k)]

    if ids.ndim == 0:
        return one(float(ids))
    return np.vectorize(one, otypes=[object])(ids)


def shift_size(model, L):
    """The model moved along the paper's size axis: L_E = L, L_W = (L_E + L_W) - L, H/L kept.

    With the paper's normalisation (L + L* = 2, H = L) this is "L = H = 2 - L* = 2 - H*" of
    Figs. 3, 4, 6, 7. Traceable (no validation; invalid points get status 2 in `jo.solve`).

    **Arguments:** `model`: any SM-B/C/D model; `L`: the new East labour force.

    **Returns:** the shifted model.
    """
    total = model.L_E + model.L_W
    hE, hW = model.H_E / model.L_E, model.H_W / model.L_W
    return model.with_params(L_E=L, L_W=total - L, H_E=hE * L, H_W=hW * (total - L))


def _set(model, wrt, value):
    return shift_size(model, value) if wrt == "L" else model.with_params(**{wrt: value})


def _get(model, wrt):
    return model.L_E if wrt == "L" else getattr(model, wrt)


def indexed(model, branch_code=None, regime_code=-1.0) -> _IndexedUnequalWage:
    """An SM-B model whose branch (+1/-1) and regime (-1 auto, 0..6) are traced numbers.

    **Arguments:** `model`: an `UnequalWage` (or any SM-B/C/D model, for its parameters);
    `branch_code`: +1/-1 (default: the model's branch, else "+"); `regime_code`: -1 or 0..6.

    **Returns:** an `_IndexedUnequalWage` (one compilation for every branch and regime).
    """
    if branch_code is None:
        branch_code = model.sign() if isinstance(model, UnequalWage) else 1.0
    params = {k: getattr(model, k) for k in _Economy.parameter_names()}
    return _IndexedUnequalWage(**params, t_form=model.t_form, A_form=model.A_form,
                               branch_code=branch_code, regime_code=regime_code)


def _pick_first_ok(sols):
    ok = sols.status == 0
    i = jnp.argmax(ok)  # first fine point, else index 0 (which then carries its failure status)
    return jax.tree_util.tree_map(lambda x: x[i], sols)


def _mask(sol):
    fine = sol.status == 0
    nan = lambda x: jnp.where(fine, x, jnp.nan)  # noqa: E731
    return eqx.tree_at(lambda s: (s.unknowns, s.outputs), sol,
                       (jax.tree_util.tree_map(nan, sol.unknowns), jax.tree_util.tree_map(nan, sol.outputs)))


CHUNK = 32  # every batch of SM-B solves runs in chunks of this size: one compilation serves all tools


@eqx.filter_jit
def _solve_chunk(models, guesses, use_own_guess):
    from ..solve import solve

    def one(m, g, own):
        mg = m.guess()
        start = {k: jnp.where(own, jnp.asarray(mg[k], jnp.float64), g[k]) for k in g}
        return solve(m, start, mask=False)

    return jax.vmap(one)(models, guesses, use_own_guess)


def _stack_models(models) -> _IndexedUnequalWage:
    """A list of SM-B models (or one model with some batched parameters) as one stacked batch."""
    if isinstance(models, (list, tuple)):
        ms = [indexed(m) if not isinstance(m, _IndexedUnequalWage) else m for m in models]
        return jax.tree_util.tree_map(lambda *x: jnp.stack([jnp.asarray(v, jnp.float64) for v in x]), *ms)
    m = models if isinstance(models, _IndexedUnequalWage) else indexed(models)
    n = max(int(np.size(x)) for x in jax.tree_util.tree_leaves(m))
    return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float64), (n,)), m)


def solve_many(models, guesses=None, *, mask=True):
    """Solve many SM-B equilibria under `jax.vmap`, in chunks that share one compilation.

    **Arguments:** `models`: a list of `UnequalWage` / `indexed` models, or one such model whose
    parameters are arrays of equal length (e.g. `indexed(m).with_params(beta=betas)`);
    `guesses`: optional dict of arrays (natural units; NaN entries mean "use the model's own
    guess"); `mask`: NaN out points whose status is not 0.

    **Returns:** a batched `Solution` (one row per model).
    """
    stacked = _stack_models(models)
    n = int(np.size(stacked.beta))
    names = tuple(UnequalWage.unknowns)
    if guesses is None:
        guesses = {k: np.full(n, np.nan) for k in names}
    g = {k: np.broadcast_to(np.asarray(guesses[k], dtype=float), (n,)) for k in names}
    own = np.any([np.isnan(g[k]) for k in names], axis=0)
    g = {k: np.where(own, 1.0, g[k]) for k in names}
    pad = (-n) % CHUNK
    idx = np.concatenate([np.arange(n), np.full(pad, n - 1, dtype=int)])
    chunks = []
    for i in range(0, n + pad, CHUNK):
        sl = idx[i:i + CHUNK]
        mc = jax.tree_util.tree_map(lambda x: x[sl], stacked)
        chunks.append(_solve_chunk(mc, {k: jnp.asarray(g[k][sl]) for k in names}, jnp.asarray(own[sl])))
    sol = jax.tree_util.tree_map(lambda *x: jnp.concatenate(x)[:n], *chunks)
    return _mask(sol) if mask else sol


def solve_any_regime(model, guess=None):
    """Solve SM-B by trying each regime's smooth system (R0..R6) under `jax.vmap`.

    Every regime system is started from the piecewise (auto) solution and from `guess`; the first
    solution whose own validity conditions hold is returned, so the answer is never a point that
    fails its regime checks while claiming convergence (if no regime fits, status is non-zero).

    **Arguments:** `model`: an `UnequalWage` (its branch is used); `guess`: optional dict or
    `Solution` (default `model.guess()`).

    **Returns:** a `Solution` of the regime that holds (of the `indexed` model class, whose
    `regime_code` is that regime); `sol["regime_id"]` and `regime_name(sol)` name it, and
    `jo.derivative(sol.model, ...)` differentiates inside it.
    """
    base = indexed(model)
    g = {k: np.nan for k in model.unknowns}
    if guess is not None:
        g.update({k: float(np.asarray(v)) for k, v in
                  (guess.unknowns if hasattr(guess, "unknowns") else guess).items()})
    auto = solve_many([base], {k: np.array([v]) for k, v in g.items()}, mask=False)
    starts = [{k: float(np.asarray(auto.unknowns[k])[0]) for k in g}, g]
    models = [base.with_params(regime_code=float(k)) for k in range(7) for _ in starts]
    gs = {k: np.array([st[k] for _ in range(7) for st in starts]) for k in g}
    sols = solve_many(models, gs, mask=False)
    return _mask(_pick_first_ok(sols))


@eqx.filter_jit
def _continuation(models, guess):
    """Scan over a stacked batch of models (one compilation for any parameter path)."""
    from ..solve import solve

    def step(carry, m):
        fresh = m.guess()
        starts = {k: jnp.stack([carry[k], jnp.asarray(fresh[k], jnp.float64)]) for k in carry}
        sol = _pick_first_ok(jax.vmap(lambda g: solve(m, g, mask=False))(starts))
        new = {k: jnp.where(sol.status == 0, sol.unknowns[k], carry[k]) for k in carry}
        return new, sol

    _, sols = jax.lax.scan(step, guess, models)
    return _mask(sols)


def continuation(model, wrt, values, guess=None):
    """Trace an equilibrium branch along a parameter path, warm-starting each point (lax.scan).

    Each point is solved from the previous fine solution and, failing that, from the model's own
    guess. Points that fail or leave the model's regime (e.g. a branch "+" point whose w drops to
    1) come back with their status and NaN values. Paths in different parameters share one
    compilation (the scan runs over a stacked batch of models).

    **Arguments:** `model`: a model (any sub-model; SM-B with `regime_option="auto"` follows the
    regime changes); `wrt`: a parameter name, or "L" for the size axis (`shift_size`); `values`:
    1-d path (order matters: start where the branch is known to exist); `guess`: optional start.

    **Returns:** a batched `Solution` (one row per value); `regime_name(sol)` labels the rows.
    """
    values = jnp.asarray(values, dtype=jnp.float64)
    models = jax.vmap(lambda v: _set(model, wrt, v))(values)
    g = dict(_set(model, wrt, values[0]).guess())
    if guess is not None:
        g.update(dict(guess.unknowns) if hasattr(guess, "unknowns") else dict(guess))
    g = {k: jnp.asarray(v, jnp.float64) for k, v in g.items()}
    return _continuation(models, g)


def _direction(model, wrt):
    """Tangent (a model-shaped pytree) of a unit move in `wrt` ("L": the size axis of shift_size)."""
    zero = jax.tree_util.tree_map(jnp.zeros_like, model)
    if wrt != "L":
        return eqx.tree_at(lambda m: getattr(m, wrt), zero, jnp.ones_like(getattr(model, wrt)))
    one = jnp.ones_like(model.L_E)
    vals = [one, -one, one * model.H_E / model.L_E, -one * model.H_W / model.L_W]
    return eqx.tree_at(lambda m: [m.L_E, m.L_W, m.H_E, m.H_W], zero, vals)


@eqx.filter_jit
def _ift(model, u, tangent):
    """dq/dp = -F_z^{-1} F_p (implicit function theorem) for every unknown and output q."""
    from .. import implicit
    from ..solve import Layout, residual_vector

    layout = Layout.of(model, u)
    z = layout.to_internal(model, u)
    lin = implicit.linearize(lambda zz: residual_vector(model, layout, zz), z)
    dz = implicit.tangents(lin, lambda m: residual_vector(m, layout, z), model, tangent)

    def q(zz, m):
        uu = layout.to_natural(m, zz)
        return {**uu, **m.outputs(uu)}

    _, dq = eqx.filter_jvp(q, (z, model), (dz, tangent))
    return dq


def one_sided_derivatives(model, output, wrt, *, rel_step=1e-6, guess=None) -> dict:
    """Left and right derivatives of an SM-B output, with a flag at regime boundaries.

    Inside a regime both sides are the implicit-function-theorem derivative of that regime's
    smooth system and coincide. At a boundary (the regimes just left and right of the point
    differ) each side is the IFT derivative of the regime on that side, evaluated at the point, and
    `at_boundary` is True: no two-sided derivative is reported (`derivative` is NaN).

    **Arguments:** `model`: an `UnequalWage`; `output`: an unknown or output name; `wrt`: a
    parameter name or "L" (the size axis of `shift_size`); `rel_step`: the distance used only to
    detect which regime lies on each side; `guess`: optional start.

    **Returns:** dict with `value`, `left`, `right`, `at_boundary`, `regime_left`,
    `regime_right` (names), `derivative` (= left when not at a boundary, else NaN).
    """
    sol0 = solve_any_regime(model, guess)
    u0 = {k: sol0.unknowns[k] for k in model.unknowns}
    p0 = float(np.asarray(_get(model, wrt)))
    h = rel_step * max(1.0, abs(p0))
    base = indexed(model)
    models = [base, _set(base, wrt, p0 - h), _set(base, wrt, p0 + h)]
    near = solve_many(models, {k: np.full(3, float(np.asarray(v))) for k, v in u0.items()})
    ids = np.asarray(near["regime_id"])
    sides = {}
    for name, k in (("left", ids[1]), ("right", ids[2])):
        m_k = base.with_params(regime_code=float(k))
        sides[name] = (k, _ift(m_k, u0, _direction(m_k, wrt))[output])
    at_boundary = bool(ids[1] != ids[2])
    return {
        "value": sol0[output],
        "left": sides["left"][1], "right": sides["right"][1], "at_boundary": at_boundary,
        "regime_left": regime_name(ids[1]), "regime_right": regime_name(ids[2]),
        "derivative": jnp.nan if at_boundary else sides["left"][1],
    }


def _multistart_guesses(model):
    """16 start points per branch in the high-wage frame around the world-average no-trade output."""
    Qbar = float(((model.L_E + model.L_W) / 2) ** (1 / (1 - model.theta)))
    w_hi = np.array([1.02, 1.2, 1.6, 2.3])
    pairs = np.array([[1.1, 0.9], [2.0, 1.0], [4.0, 0.6], [8.0, 0.5]])
    W, P = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    return w_hi[W.ravel()], Qbar * pairs[P.ravel(), 0], Qbar * pairs[P.ravel(), 1]


def all_equilibria(model, *, tol=1e-6) -> dict:
    """Every equilibrium at a parameter point: w > 1, w < 1 and w = 1 (paper Sec. 3; spec M1, M2).

    Multi-start (a grid of 16 starts per branch) of the piecewise SM-B system on both branches
    under `jax.vmap` (`solve_many`), plus the SM-D equal-wage system; converged in-regime solutions are
    de-duplicated (relative tolerance `tol` on w, Q, Q*).

    **Arguments:** `model`: any SM-B/C/D model (only its parameters are used).

    **Returns:** dict of NumPy arrays sorted by w (descending): `w`, `Q`, `Q_star`, `I`,
    `I_star`, `J`, `M_E`, `M_W`, `regime_id`, `kind` ("w>1", "w<1", "w=1"), and `count`.
    """
    from ..solve import solve

    w, Qh, Ql = _multistart_guesses(model)
    base = indexed(model)
    models = [base.with_params(branch_code=sg) for sg in (1.0, -1.0) for _ in w]
    g = {"w": np.concatenate([w, 1 / w]), "Q": np.concatenate([Qh, Ql]), "Q_star": np.concatenate([Ql, Qh])}
    sols = solve_many(models, g)
    params = {k: getattr(model, k) for k in _Economy.parameter_names()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol_d = solve(EqualWage(**params, t_form=model.t_form, A_form=model.A_form), mask=False, fallback=False)
    keys = ("w", "Q", "Q_star", "I", "I_star", "J", "M_E", "M_W", "regime_id")
    rows = []
    ok = np.asarray(sols.status) == 0
    for i in np.flatnonzero(ok):
        rows.append({k: float(np.asarray(sols[k])[i]) for k in keys})
    if int(np.asarray(sol_d.status)) == 0:
        rows.append({k: float(np.asarray(sol_d[k])) for k in keys})
    unique = []
    for r in rows:
        x = np.log([r["w"], r["Q"], r["Q_star"]])
        if not any(np.max(np.abs(x - np.log([u["w"], u["Q"], u["Q_star"]]))) < tol for u in unique):
            unique.append(r)
    unique.sort(key=lambda r: -r["w"])
    out = {k: np.array([r[k] for r in unique]) for k in keys}
    out["kind"] = np.array(["w>1" if r["w"] > 1 + 1e-9 else ("w<1" if r["w"] < 1 - 1e-9 else "w=1") for r in unique])
    out["count"] = len(unique)
    return out
