"""Grossman and Rossi-Hansberg (2008), "Task Trade between Similar Countries", NBER WP 14554.

Spec: shared/models/grossman_rossi_hansberg_similar_countries.md. Equation tags read
(paper eq. n; spec SM-x). Two countries with the same manager/worker ratio (East, no star; West,
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
`one_sided_derivatives`, `all_equilibria`, `continuation`, `shift_size`.

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

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..blocks.task_assignment import A_FORMS, T_FORMS, TaskCost, assignment_cutoffs, log_spillover
from ..model import Model
from ..transforms import Free, Positive

FAMILY = "similar_countries"

# Regime ids (output "regime_id") and names. Names use the "+" branch labels (East = high wage);
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
        relevant = jnp.where(plus, den > 0, den < 0)
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
            jnp.where(Ih <= Il, jnp.where(Il < 1, 2, -1),
                      jnp.where(a_zero, jnp.where(Ih < 1, 1, -1),
                                jnp.where(Il <= J_eff, jnp.where(Ih < 1, 3, 5), jnp.where(Ih < 1, 4, 6)))))
        code = jnp.asarray(code)
        idx = jnp.clip(jnp.round(code), 0, 6).astype(jnp.int32)
        fixed = code >= 0
        a = jnp.where(fixed, jnp.take(a_k, idx, axis=0), a_auto)
        b = jnp.where(fixed, jnp.take(b_k, idx, axis=0), b_auto)
        valid = jnp.where(fixed, jnp.take(valid_k, idx, axis=0), True)
        # low-wage country hosts [0, a], high-wage country (a, b], B = (b, 1] (Proposition 1)
        M_lo, M_hi = a, b - a
        T_lo, T_hi = tc.T(zero, a), tc.T(a, b)
        return {
            "I": jnp.clip(I_raw, 0.0, 1.0), "I_star": jnp.clip(Is_raw, 0.0, 1.0), "J": J,
            "I_raw": I_raw, "I_star_raw": Is_raw, "J_raw": J_eff, "J_relevant": relevant,
            "a": a, "b": b,
            "M_E": jnp.where(plus, M_hi, M_lo), "M_W": jnp.where(plus, M_lo, M_hi), "M_B": 1.0 - b,
            "T_E": jnp.where(plus, T_hi, T_lo), "T_W": jnp.where(plus, T_lo, T_hi),
            "regime_id": rid.astype(jnp.int32), "regime_valid": valid,
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
        AN = jnp.exp(self.lA(Q + Q_star))
        c = (w * s["M_E"] + self.beta * s["T_W"]) / AN + w * s["M_B"] / jnp.exp(self.lA(Q))
        c_star = (self.beta * w * s["T_E"] + s["M_W"]) / AN + s["M_B"] / jnp.exp(self.lA(Q_star))
        return c, c_star

    def equilibrium_residuals(self, w, Q, Q_star, s):
        """F1-F3 (paper eqs. 6, 11, 12; spec SM-B) for given task sets `s`."""
        AN = jnp.exp(self.lA(Q + Q_star))
        c, c_star = self.unit_costs(w, Q, Q_star, s)
        east_labour = (s["M_E"] * Q + self.beta * s["T_E"] * Q_star) / AN + s["M_B"] * Q / jnp.exp(self.lA(Q))
        west_labour = (self.beta * s["T_W"] * Q + s["M_W"] * Q_star) / AN + s["M_B"] * Q_star / jnp.exp(self.lA(Q_star))
        return {
            # x/x* = (c/c*)^(-sigma), x/x* = (Q/Q*)(H*/H)  (eq. 6; SM-B F1)
            "relative_demand": jnp.log(Q / Q_star) + jnp.log(self.H_W / self.H_E)
            + self.sigma * jnp.log(c / c_star),
            "labour_E": east_labour / self.L_E - 1.0,  # eq. 11; SM-B F2
            "labour_W": west_labour / self.L_W - 1.0,  # eq. 12; SM-B F3
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
        # the no-trade closed form, mirrored onto the requested branch and kept off w = 1
        w0, Q0, Qs0 = self.no_trade_guess()
        plus = self.sign() > 0
        flip = (w0 > 1) != plus
        w = jnp.where(flip, 1.0 / w0, w0)
        Q, Qs = jnp.where(flip, Qs0, Q0), jnp.where(flip, Q0, Qs0)
        w = jnp.where(plus, jnp.maximum(w, 1.05), jnp.minimum(w, 1 / 1.05))
        Q, Qs = jnp.where(plus, jnp.maximum(Q, 1.1 * Qs), Q), jnp.where(plus, Qs, jnp.maximum(Qs, 1.1 * Q))
        return {"w": w, "Q": Q, "Q_star": Qs}

    def _g(self, u):
        return self.game(u["w"], u["Q"], u["Q_star"], self.sign(), self.code())

    def residuals(self, u):
        return self.equilibrium_residuals(u["w"], u["Q"], u["Q_star"], self._g(u))

    def outputs(self, u):
        g = self._g(u)
        out = {k: v for k, v in g.items() if k not in ("regime_valid",)}
        out["branch_sign"] = self.sign()
        out["J_relevant"] = g["J_relevant"].astype(jnp.float64)
        return {**out, **self.derived(u["w"], u["Q"], u["Q_star"], g)}

    def regime(self, u):
        g = self._g(u)
        lw = jnp.log(u["w"])
        # a no-trade point is valid on either branch (its assignment does not depend on the branch)
        branch_ok = (self.sign() * lw > 0) | ((g["regime_id"] == 0) & (jnp.abs(lw) < 1e-9))
        return {"branch: sign(w - 1) as requested": branch_ok,
                "fixed regime: validity conditions (spec 5.2 table)": g["regime_valid"]}


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
        out.update(s, a=jnp.zeros_like(u["w"]), b=jnp.zeros_like(u["w"]), regime_id=jnp.asarray(0, jnp.int32))
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
               "regime_id": jnp.asarray(-1, jnp.int32)}
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
