"""Offshoring to the South with heterogeneous workers and technology choice (a Yeaple-2005 adaptation).

An untitled working-paper draft (c. 2006-07); economics: docs/models/skill_upgrading.md.
Equation tags read (paper (n); id on that page).

Northern firms pick a low-tech (L) or high-tech (H) headquarters technology; each HQ unit needs
one intermediate (M), made in the North or, after a fixed cost F_I, in the South at unit cost
theta_south. Workers of skill Z ~ G earn W(Z) = max_j C_j phi_j(Z) and sort into MF (Z < Z1),
L-HQ (Z1 < Z < Z2) and H-HQ (Z > Z2). Four sub-models, one per set of active firm options:

* A: closed economy {LD, HD}                       (paper Section 3)
* B: H firms offshore, L firms domestic {LD, HO}   (paper Sections 4-5)
* C: partial H offshoring {LD, HD, HO}             (spec 5.C, proposed)
* D: partial L offshoring {LD, LO, HO}             (spec 5.D, proposed)

`solve_regime` picks the one whose free-entry inequalities hold (spec 5.E) and works under
jit/vmap; `all_equilibria` finds every root of a sub-model (B can have two, or none);
`one_sided_derivatives` reports left/right derivatives at regime kinks; `wage_schedule` evaluates
W(Z); `welfare_decomposition` splits d ln(W/P) into wage, cost and variety channels.

Unknowns are Z1 > 0 and Z_gap = Z2 - Z1 > 0 (spec section 4: u1 = ln Z1, u2 = ln(Z2 - Z1)), plus
lam_H (C) or lam_L (D). The lambdas are solved in natural units (transform Free, where the spec
suggests a logit) so that C and D converge on both sides of their regime and exactly at its ends,
where lam = 0 or 1: that is what lets the selector test 0 <= lam < 1 and report one-sided
derivatives at the thresholds.
"""
from __future__ import annotations

import warnings
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._solution import CONVERGED, INVALID_PARAMETERS, OUT_OF_REGIME, Solution
from ..blocks.skills import (
    ExponentialProductivity,
    ExponentialSkills,
    LomaxSkills,
    PowerProductivity,
    crossing_skill,
    efficiency_units,
    efficiency_upper_limit,
    has_closed_form,
)
from ..model import Model, ParameterError, is_concrete
from ..solve import solve
from ..statics import total_derivatives
from ..transforms import Free, Positive

FAMILY = "skill_upgrading"

# Free-entry inequalities hold with equality at the regime thresholds: allow rounding there.
_TOL = 1e-9
OPTIONS = ("LD", "LO", "HD", "HO")


class MultipleEquilibriaWarning(UserWarning):
    """The selected sub-model has more than one equilibrium at these parameters (see all_equilibria)."""


class _Economy(Model):
    """Parameters, functional forms and derived outputs shared by sub-models A-D."""

    sigma: float = 3.0  # CES elasticity of substitution
    F_L: float = 1.0  # fixed cost of the low-tech HQ technology (normalization)
    F_H: float = 1.4  # fixed cost of the high-tech HQ technology
    F_I: float = 0.5  # SHOCK: extra fixed cost of offshoring intermediates
    theta_south: float = 0.8  # SHOCK: Southern unit cost of intermediates, C*_M = theta C_M
    mu: float = 1.0  # skill-distribution rate (tail index k with skill_dist="lomax")
    a_M: float = 0.10  # skill gradient of MF productivity (exponent b_M with prod_form="power")
    a_L: float = 0.45  # skill gradient of low-tech HQ productivity
    a_H: float = 0.55  # skill gradient of high-tech HQ productivity
    L_bar: float = 1.0  # mass of Northern workers

    skill_dist: str = eqx.field(static=True, default="exponential")  # "exponential" | "lomax"
    prod_form: str = eqx.field(static=True, default="exponential")  # "exponential" | "power"
    integration: str = eqx.field(static=True, default="auto")  # "auto" | "closed" | "quadrature"
    n_quad: int = eqx.field(static=True, default=64)

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("F_I", "theta_south", "F_H", "F_L", "sigma")
    active: ClassVar[tuple[str, ...]] = ()

    def __check_init__(self):
        if self.skill_dist not in ("exponential", "lomax"):
            raise ValueError(f"skill_dist must be 'exponential' or 'lomax', got {self.skill_dist!r}")
        if self.prod_form not in ("exponential", "power"):
            raise ValueError(f"prod_form must be 'exponential' or 'power', got {self.prod_form!r}")
        if self.prod_form == "exponential" and self.skill_dist == "lomax":
            raise ValueError("prod_form='exponential' with skill_dist='lomax' has infinite efficiency "
                             "units (exp(aZ) against a power tail); use prod_form='power'")
        if self.integration not in ("auto", "closed", "quadrature"):
            raise ValueError(f"integration must be 'auto', 'closed' or 'quadrature', got {self.integration!r}")

    def domain(self):
        return {
            "sigma > 1": self.sigma > 1,
            "F_L > 0": self.F_L > 0,
            "F_H > F_L": self.F_H > self.F_L,
            "F_I >= 0": self.F_I >= 0,
            "0 < theta_south < 1": (self.theta_south > 0) & (self.theta_south < 1),
            "0 < a_M < a_L < a_H": (self.a_M > 0) & (self.a_M < self.a_L) & (self.a_L < self.a_H),
            "mu > a_H": self.mu > self.a_H,
            "L_bar > 0": self.L_bar > 0,
        }

    # -- functional forms (blocks/skills) -------------------------------------------------------
    def dist(self):
        """The skill distribution G."""
        return ExponentialSkills(self.mu) if self.skill_dist == "exponential" else LomaxSkills(self.mu)

    def schedule(self, j: str):
        """The productivity schedule phi_j, j in {'M', 'L', 'H'}."""
        a = getattr(self, f"a_{j}")
        return ExponentialProductivity(a) if self.prod_form == "exponential" else PowerProductivity(a)

    def Lam(self, j: str, lo, hi=None):
        """Efficiency units of activity j supplied by skills in [lo, hi] (spec 5.0, Lam_j)."""
        return self.L_bar * efficiency_units(self.schedule(j), self.dist(), lo, hi,
                                             method=self.integration, n=self.n_quad)

    def log_S(self, Z):
        """ln S(Z) = ln phi_M/phi_L (spec 5.0)."""
        return self.schedule("M").log_phi(Z) - self.schedule("L").log_phi(Z)

    def log_A(self, Z):
        """ln A(Z) = ln phi_L/phi_H (spec 5.0)."""
        return self.schedule("L").log_phi(Z) - self.schedule("H").log_phi(Z)

    def costs(self, Z1, Z2):
        """(C_L, C_H) from the marginal workers' indifference (paper (7))."""
        C_L = jnp.exp(self.log_S(Z1))
        return C_L, C_L * jnp.exp(self.log_A(Z2))

    @property
    def F_I_0(self):
        """F_I at which Northern MF vanishes and the model ends (spec 5.D, 7 item 6)."""
        return self.F_L * ((2.0 / (1.0 + self.theta_south)) ** self.sigma - 1.0)

    # -- free-entry conditions c_o^sigma f_o >= K = (C_L+1)^sigma F_L, in logs (spec 5.0) -----------
    def option_cost(self, o, C_L, C_H, F_I=None):
        """(marginal cost c_o, fixed cost f_o) of firm option o (spec 5.0 table)."""
        F_I = self.F_I if F_I is None else F_I
        th = self.theta_south
        return {"LD": (C_L + 1.0, self.F_L), "LO": (C_L + th, self.F_L + F_I),
                "HD": (C_H + 1.0, self.F_H), "HO": (C_H + th, self.F_H + F_I)}[o]

    def entry_gap(self, o, C_L, C_H, F_I=None):
        """(1/sigma) ln(c_o^sigma f_o / K): zero for an active option, >= 0 for an unprofitable one."""
        c, f = self.option_cost(o, C_L, C_H, F_I)
        return jnp.log(c) - jnp.log(C_L + 1.0) + jnp.log(f / self.F_L) / self.sigma

    def _cutoffs(self, u):
        Z1 = u["Z1"]
        return Z1, Z1 + u["Z_gap"]

    def _guess_quantiles(self, q1, q2):
        G = self.dist()
        Z1, Z2 = G.quantile(q1), G.quantile(q2)
        return {"Z1": Z1, "Z_gap": Z2 - Z1}

    # -- derived outputs (spec section 6), for given cutoffs and offshoring shares ---------------
    def derived(self, Z1, Z2, lam_H, lam_L):
        """Every spec-section-6 output at cutoffs (Z1, Z2) and offshoring shares (lam_H, lam_L)."""
        sig, th = self.sigma, self.theta_south
        rho = (sig - 1.0) / sig
        G = self.dist()
        C_L, C_H = self.costs(Z1, Z2)
        Lam_M, Lam_L, Lam_H = self.Lam("M", 0.0, Z1), self.Lam("L", Z1, Z2), self.Lam("H", Z2)
        G1, G2 = G.cdf(Z1), G.cdf(Z2)
        L = self.L_bar

        W = Lam_M + C_L * Lam_L + C_H * Lam_H  # paper (10): the wage bill
        hq_bill = C_L * Lam_L + C_H * Lam_H
        W_M, W_Lq, W_Hq = Lam_M / (L * G1), C_L * Lam_L / (L * (G2 - G1)), C_H * Lam_H / (L * (1 - G2))
        W_HQ = hq_bill / (L * (1 - G1))

        lam = {"LD": 1.0 - lam_L, "LO": lam_L, "HD": 1.0 - lam_H, "HO": lam_H}
        units = {"LD": Lam_L, "LO": Lam_L, "HD": Lam_H, "HO": Lam_H}
        c, f, N, R = {}, {}, {}, {}
        for o in OPTIONS:
            c[o], f[o] = self.option_cost(o, C_L, C_H)
            N[o] = lam[o] * units[o] / (sig * f[o])  # paper (18), (31): HQ units sigma f_o per firm
            R[o] = sig * c[o] * f[o]  # zero profit with markup pricing (spec 7 item 2)
        N_L, N_H = N["LD"] + N["LO"], N["HD"] + N["HO"]
        N_tot = N_L + N_H
        rev = {o: N[o] * R[o] for o in OPTIONS}
        IM = th * (lam_L * Lam_L + lam_H * Lam_H)  # imports of intermediates = exports of final goods
        E = W + IM  # world spending on Northern varieties (spec Pitfall 6)
        P = (1.0 / rho) * sum(N[o] * c[o] ** (1 - sig) for o in OPTIONS) ** (1.0 / (1 - sig))  # paper (17)
        P_closed = (1.0 / rho) * (sig * self.F_L * (1 + C_L) ** sig / E) ** (1.0 / (sig - 1))
        V = (W / L) / P  # paper (35): aggregate welfare per worker

        lnW = lambda Z: self.log_wage(Z, C_L, C_H)  # noqa: E731
        decile = jnp.exp(lnW(G.quantile(0.9)) - lnW(G.quantile(0.1)))
        return {
            "Z2": Z2, "lam_H": lam_H, "lam_L": lam_L,
            "C_L": C_L, "C_H": C_H, "ln_C_L": jnp.log(C_L), "ln_C_H": jnp.log(C_H), "C_H_over_C_L": C_H / C_L,
            "G_Z1": G1, "G_Z2": G2, "share_MF": G1, "share_L_HQ": G2 - G1, "share_H_HQ": 1 - G2,
            "nonproduction_share": 1 - G1,
            "Lam_M": Lam_M, "Lam_L": Lam_L, "Lam_H": Lam_H, "Lam_tot": Lam_M + Lam_L + Lam_H,
            "mean_skill_MF": G.mean_below(Z1), "mean_skill_HQ": G.mean_above(Z1),
            "W": W, "W_per_worker": W / L, "W_M": W_M, "W_Lq": W_Lq, "W_Hq": W_Hq, "W_HQ": W_HQ,
            "skill_premium": W_HQ / W_M,  # non-production / production average wage
            "hq_premium": W_Hq / W_Lq,  # high-tech / low-tech HQ average wage
            "nonproduction_wage_bill_share": hq_bill / W,
            "decile_ratio": decile,  # W(G^-1(0.9)) / W(G^-1(0.1))
            **{f"p_{o}": c[o] / rho for o in OPTIONS},  # paper (11)
            **{f"N_{o}": N[o] for o in OPTIONS},
            **{f"R_{o}": R[o] for o in OPTIONS},
            "N_L": N_L, "N_H": N_H, "N": N_tot, "N_H_share": N_H / N_tot,
            "revenue_ratio_H_L": ((rev["HD"] + rev["HO"]) / N_H) / ((rev["LD"] + rev["LO"]) / N_L),
            "revenue_share_H": (rev["HD"] + rev["HO"]) / E,
            "revenue_share_offshorers": (rev["HO"] + rev["LO"]) / E,
            "offshoring_firm_share": (N["HO"] + N["LO"]) / N_tot,
            "revenue_identity": sum(rev.values()) / E,  # = 1 (spec 7 item 8)
            "Q": rho * (Lam_L + Lam_H),  # total quantity sold, sum N_o x_o
            "IM": IM, "E": E,
            "offshoring_intensity": IM / (Lam_M + IM),
            "offshored_quantity_share": (lam_L * Lam_L + lam_H * Lam_H) / (Lam_L + Lam_H),
            "FVA_share": IM / E, "export_share": IM / E,
            "P": P, "P_closed": P_closed, "V": V, "welfare": V,
            "Omega": (W / (rho * P)) ** (sig - 1),
            "X_N": W / P, "X_S": IM / P,
            "F_I_0": self.F_I_0,
            "F_sum_bound_23": 2.0 ** (sig / (sig - 1)) * self.F_L,  # paper (23): F_H + F_I below this
        }

    def log_wage(self, Z, C_L, C_H):
        """ln W(Z) = max(ln phi_M, ln C_L phi_L, ln C_H phi_H) (paper (6))."""
        return jnp.maximum(jnp.maximum(self.schedule("M").log_phi(Z), jnp.log(C_L) + self.schedule("L").log_phi(Z)),
                           jnp.log(C_H) + self.schedule("H").log_phi(Z))

    def slopes(self, Z1, Z2):
        """Objects of spec 8 at (Z1, Z2): S, S', A, A', g1, g2 and phi_j at the cutoffs."""
        G = self.dist()
        S, A = jnp.exp(self.log_S(Z1)), jnp.exp(self.log_A(Z2))
        eps_S = self.schedule("L").log_slope(Z1) - self.schedule("M").log_slope(Z1)
        eps_A = self.schedule("H").log_slope(Z2) - self.schedule("L").log_slope(Z2)
        phi = lambda j, Z: self.schedule(j).phi(Z)  # noqa: E731
        return dict(S=S, dS=-eps_S * S, A=A, dA=-eps_A * A, eps_S=eps_S, eps_A=eps_A,
                    g1=G.pdf(Z1), g2=G.pdf(Z2), phiM1=phi("M", Z1), phiL1=phi("L", Z1),
                    phiL2=phi("L", Z2), phiH2=phi("H", Z2))


# -- sub-models -------------------------------------------------------------------------------------
class ClosedEconomy(_Economy):
    """A: closed economy, low- and high-tech firms both domestic (paper Section 3; spec 5.A)."""

    F_I: float = 1.0  # default inside this sub-model's regime: above F_I_max = 0.8412: offshoring does not pay

    spec_id: ClassVar[str] = "A"
    description: ClassVar[str] = "Closed economy: LD and HD firms, no offshoring (paper Sec. 3)"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive()}
    active: ClassVar[tuple[str, ...]] = ("LD", "HD")

    def guess(self):
        return self._guess_quantiles(0.8, 0.95)  # spec section 4

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "free_entry_HD": self.entry_gap("HD", C_L, C_H),  # paper (14); spec A1
            # paper (15); spec A2: domestic intermediates = HQ units of all firms
            "MF_market": jnp.log(self.Lam("M", 0.0, Z1)) - jnp.log(self.Lam("L", Z1, Z2) + self.Lam("H", Z2)),
        }

    def outputs(self, u):
        Z1, Z2 = self._cutoffs(u)
        out = self.derived(Z1, Z2, 0.0, 0.0)
        k = self.slopes(Z1, Z2)
        m_A = (k["phiL2"] - k["phiH2"]) * k["g2"] / ((k["phiM1"] + k["phiL1"]) * k["g1"])  # paper (16); A-P1
        D_A = k["dS"] * (k["A"] - 1) * m_A / (k["S"] + 1) + k["S"] * k["dA"]  # spec A-P2
        th, sig, C_H = self.theta_south, self.sigma, out["C_H"]
        return {**out, "m_A": m_A, "D_A": D_A,
                "F_I_max": self.F_H * (((C_H + 1) / (C_H + th)) ** sig - 1)}  # spec 5.A, 7 item 6

    def regime(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "HO_unprofitable": self.entry_gap("HO", C_L, C_H) - self.entry_gap("HD", C_L, C_H) >= -_TOL,
            "LO_unprofitable": self.entry_gap("LO", C_L, C_H) >= -_TOL,
        }


class OpenEconomy(_Economy):
    """B: high-tech firms offshore M, low-tech firms stay domestic (paper Sections 4-5; spec 5.B)."""

    spec_id: ClassVar[str] = "B"
    description: ClassVar[str] = "Open economy: LD and HO firms, the paper's equilibrium (Sec. 4-5)"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive()}
    active: ClassVar[tuple[str, ...]] = ("LD", "HO")

    def domain(self):
        return {**super().domain(),
                "F_I > F_L*((2/(1+theta_south))**sigma - 1)": self.F_I > self.F_I_0}  # spec Pitfall 9

    def guess(self):
        return self._guess_quantiles(0.5, 0.85)  # spec section 4

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "free_entry_HO": self.entry_gap("HO", C_L, C_H),  # paper (26); spec B1
            "MF_market": jnp.log(self.Lam("M", 0.0, Z1)) - jnp.log(self.Lam("L", Z1, Z2)),  # paper (27); B2
        }

    def outputs(self, u):
        Z1, Z2 = self._cutoffs(u)
        out = self.derived(Z1, Z2, 1.0, 0.0)
        k = self.slopes(Z1, Z2)
        m_B = k["phiL2"] * k["g2"] / ((k["phiM1"] + k["phiL1"]) * k["g1"])  # paper (28)
        D_B = k["dS"] * (k["A"] - self.theta_south) * m_B / (k["S"] + 1) + k["S"] * k["dA"]  # spec 8.B
        return {**out, "m_B": m_B, "D_B": D_B,
                "kappa_B": ((self.F_H + self.F_I) / self.F_L) ** (-1.0 / self.sigma)}

    def regime(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "LO_unprofitable": self.entry_gap("LO", C_L, C_H) >= -_TOL,  # paper (22); spec 5.B.1
            "HD_unprofitable": self.entry_gap("HD", C_L, C_H) >= -_TOL,  # spec 5.B.2 (missing in paper)
        }


class PartialHighTechOffshoring(_Economy):
    """C: H firms indifferent between HD and HO, a share lam_H offshores (spec 5.C, proposed)."""

    F_I: float = 0.8  # default inside this sub-model's regime: in (F_I_low, F_I_max) = (0.7409, 0.8412), the spec's C reference point

    spec_id: ClassVar[str] = "C"
    description: ClassVar[str] = "Partial H offshoring: LD, HD and HO firms (spec 5.C)"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive(), "lam_H": Free()}
    active: ClassVar[tuple[str, ...]] = ("LD", "HD", "HO")

    def domain(self):
        return {**super().domain(),
                "F_I > F_L*((2/(1+theta_south))**sigma - 1)": self.F_I > self.F_I_0}

    def closed_form(self):
        """(C_L, C_H, Z1, Z2, lam_H) in closed form (spec 5.C); NaN where they do not exist."""
        sig, th = self.sigma, self.theta_south
        r = ((self.F_H + self.F_I) / self.F_H) ** (1 / sig)
        k = (self.F_H / self.F_L) ** (1 / sig)
        C_H = (1 - r * th) / (r - 1)
        C_L = k * (C_H + 1) - 1
        Z1 = crossing_skill(self.schedule("M"), self.schedule("L"), C_L)
        Z2 = crossing_skill(self.schedule("L"), self.schedule("H"), C_H / C_L)
        lam_H = 1 - (self.Lam("M", 0.0, Z1) - self.Lam("L", Z1, Z2)) / self.Lam("H", Z2)
        return C_L, C_H, Z1, Z2, lam_H

    def guess(self):
        _, _, Z1, Z2, lam = self.closed_form()
        ok = jnp.isfinite(Z1) & jnp.isfinite(Z2) & (Z2 > Z1) & (Z1 > 0) & jnp.isfinite(lam)
        q = self._guess_quantiles(0.7, 0.95)
        return {"Z1": jnp.where(ok, Z1, q["Z1"]), "Z_gap": jnp.where(ok, Z2 - Z1, q["Z_gap"]),
                "lam_H": jnp.where(ok, lam, 0.5)}

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        Lam_M = self.Lam("M", 0.0, Z1)
        return {
            "free_entry_HD": self.entry_gap("HD", C_L, C_H),  # spec C1 (= A1)
            "free_entry_HO": self.entry_gap("HO", C_L, C_H),  # spec C2 (= B1)
            "MF_market": (Lam_M - self.Lam("L", Z1, Z2) - (1 - u["lam_H"]) * self.Lam("H", Z2)) / Lam_M,  # C3
        }

    def outputs(self, u):
        Z1, Z2 = self._cutoffs(u)
        return self.derived(Z1, Z2, u["lam_H"], 0.0)

    def regime(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "0 <= lam_H <= 1": (u["lam_H"] >= -_TOL) & (u["lam_H"] <= 1 + _TOL),
            "LO_unprofitable": self.entry_gap("LO", C_L, C_H) >= -_TOL,
        }


class PartialLowTechOffshoring(_Economy):
    """D: all H firms and a share lam_L of L firms offshore (spec 5.D, proposed)."""

    F_I: float = 0.4  # default inside this sub-model's regime: in (F_I_0, F_I_L) = (0.3717, 0.4305), the spec's D reference point

    spec_id: ClassVar[str] = "D"
    description: ClassVar[str] = "Partial L offshoring: LD, LO and HO firms (spec 5.D)"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive(), "lam_L": Free()}
    active: ClassVar[tuple[str, ...]] = ("LD", "LO", "HO")

    def domain(self):
        return {**super().domain(),
                "F_I > F_L*((2/(1+theta_south))**sigma - 1)": self.F_I > self.F_I_0}

    def closed_form(self):
        """(C_L, C_H, Z1, Z2, lam_L) in closed form (spec 5.D); NaN where they do not exist."""
        sig, th = self.sigma, self.theta_south
        r_L = ((self.F_L + self.F_I) / self.F_L) ** (1 / sig)
        kappa_B = ((self.F_H + self.F_I) / self.F_L) ** (-1 / sig)
        C_L = (1 - r_L * th) / (r_L - 1)
        C_H = kappa_B * (C_L + 1) - th
        Z1 = crossing_skill(self.schedule("M"), self.schedule("L"), C_L)
        Z2 = crossing_skill(self.schedule("L"), self.schedule("H"), C_H / C_L)
        lam_L = 1 - self.Lam("M", 0.0, Z1) / self.Lam("L", Z1, Z2)
        return C_L, C_H, Z1, Z2, lam_L

    def guess(self):
        _, _, Z1, Z2, lam = self.closed_form()
        ok = jnp.isfinite(Z1) & jnp.isfinite(Z2) & (Z2 > Z1) & (Z1 > 0) & jnp.isfinite(lam)
        q = self._guess_quantiles(0.3, 0.8)
        return {"Z1": jnp.where(ok, Z1, q["Z1"]), "Z_gap": jnp.where(ok, Z2 - Z1, q["Z_gap"]),
                "lam_L": jnp.where(ok, lam, 0.5)}

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        Lam_M = self.Lam("M", 0.0, Z1)
        return {
            "free_entry_LO": self.entry_gap("LO", C_L, C_H),  # spec D1
            "free_entry_HO": self.entry_gap("HO", C_L, C_H),  # spec D2 (= B1)
            "MF_market": (Lam_M - (1 - u["lam_L"]) * self.Lam("L", Z1, Z2)) / Lam_M,  # spec D3
        }

    def outputs(self, u):
        Z1, Z2 = self._cutoffs(u)
        return self.derived(Z1, Z2, 1.0, u["lam_L"])

    def regime(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {
            "0 <= lam_L <= 1": (u["lam_L"] >= -_TOL) & (u["lam_L"] <= 1 + _TOL),
            "HD_unprofitable": self.entry_gap("HD", C_L, C_H) >= -_TOL,
            "MF_active": (Z1 > 0) & (C_L < 1),  # spec 5.D: the numeraire needs Northern MF
        }


SUBMODELS = {
    "A": ClosedEconomy,
    "B": OpenEconomy,
    "C": PartialHighTechOffshoring,
    "D": PartialLowTechOffshoring,
}
REGIME_NAMES = tuple(SUBMODELS)  # regime_id i <-> REGIME_NAMES[i]
_SELECTION_ORDER = ("A", "C", "B", "D")  # spec 5.E: the order in which F_I falls through regimes


# -- regime thresholds in F_I (spec 7: F_I_max, F_I_low, F_I_L, F_I_0) --------------------------------
class _LowThreshold(_Economy):
    """F_I_low: B with HD breaking even, i.e. C at lam_H = 1 (F_I is an unknown here)."""

    spec_id: ClassVar[str] = "F_I_low"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive(), "F_I_star": Positive()}

    def guess(self):
        # F_I_low lies between F_I_0 and F_I_max; 2 F_I_0 is a start inside that range at the benchmark
        return {**self._guess_quantiles(0.6, 0.93), "F_I_star": 2.0 * self.F_I_0}

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {"free_entry_HD": self.entry_gap("HD", C_L, C_H),
                "free_entry_HO": self.entry_gap("HO", C_L, C_H, u["F_I_star"]),
                "MF_market": jnp.log(self.Lam("M", 0.0, Z1)) - jnp.log(self.Lam("L", Z1, Z2))}


class _LThreshold(_Economy):
    """F_I_L: B with LO breaking even, i.e. D at lam_L = 0 (F_I is an unknown here)."""

    spec_id: ClassVar[str] = "F_I_L"
    unknowns: ClassVar[dict] = {"Z1": Positive(), "Z_gap": Positive(), "F_I_star": Positive()}

    def guess(self):
        return {**self._guess_quantiles(0.45, 0.85), "F_I_star": 1.2 * self.F_I_0}

    def residuals(self, u):
        Z1, Z2 = self._cutoffs(u)
        C_L, C_H = self.costs(Z1, Z2)
        return {"free_entry_LO": self.entry_gap("LO", C_L, C_H, u["F_I_star"]),
                "free_entry_HO": self.entry_gap("HO", C_L, C_H, u["F_I_star"]),
                "MF_market": jnp.log(self.Lam("M", 0.0, Z1)) - jnp.log(self.Lam("L", Z1, Z2))}


def _params_of(model: Model) -> dict:
    return {k: getattr(model, k) for k in (*_Economy.parameter_names(), *_Economy.option_names())}


def _solve_quiet(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve(model, mask=False)


def regime_thresholds(model: _Economy) -> dict:
    """The F_I thresholds between regimes at the model's other parameters (spec 5, 7 item 6).

    **Arguments:** `model`: any sub-model of this family (its F_I is ignored).

    **Returns:** dict with `F_I_max` (A -> C), `F_I_low` (C -> B), `F_I_L` (B -> D) and `F_I_0`
    (end of the model), each a float64 array (NaN if that threshold's system did not converge).
    """
    kw = _params_of(model)
    sol_A = _solve_quiet(ClosedEconomy(**kw))  # A does not depend on F_I: its regime flags are moot here
    low = solve(_LowThreshold(**kw), mask=True)
    lowL = solve(_LThreshold(**kw), mask=True)
    F_I_max = jnp.where(sol_A.converged, sol_A.outputs["F_I_max"], jnp.nan)
    return {"F_I_max": F_I_max, "F_I_low": low["F_I_star"], "F_I_L": lowL["F_I_star"],
            "F_I_0": model.F_I_0}


# -- multiplicity in B: the 1-D reduction (spec 5.B) ---------------------------------------------------
def b_locus_scan(model: _Economy, n: int = 2001):
    """The (B1) residual along the MF-clearing locus (B2), on a grid of Z1 (spec 5.B, 1-D reduction).

    Along (B2), Z2 is explicit in Z1 for the closed-form pairs (exponential/exponential,
    power/Lomax), so (B1) becomes a function of Z1 alone; each sign change brackets one root of B.

    **Arguments:** `model` (any sub-model; its parameters are used), `n` grid points in G(Z1).

    **Returns:** dict with `Z1`, `Z2`, `f` (B1 residual, NaN off the locus) and `in_regime` (B's free-entry
    inequalities), each of shape (n,).
    """
    m = OpenEconomy(**_params_of(model))
    if not has_closed_form(m.schedule("L"), m.dist()):
        raise NotImplementedError("the 1-D reduction needs closed-form efficiency units; use all_equilibria")
    G = m.dist()
    q = jnp.linspace(0.0, 1.0, n + 2)[1:-1]
    Z1 = G.quantile(q)
    Z2 = efficiency_upper_limit(m.schedule("L"), G, Z1, m.Lam("M", 0.0, Z1) / m.L_bar)
    Z2s = jnp.where(jnp.isfinite(Z2), Z2, Z1 + 1.0)
    C_L, C_H = m.costs(Z1, Z2s)
    f = jnp.where(jnp.isfinite(Z2), m.entry_gap("HO", C_L, C_H), jnp.nan)
    ok = (m.entry_gap("LO", C_L, C_H) >= -_TOL) & (m.entry_gap("HD", C_L, C_H) >= -_TOL)
    return {"Z1": Z1, "Z2": Z2, "f": f, "in_regime": ok & jnp.isfinite(Z2)}


def _b_brackets(scan):
    f = scan["f"]
    change = jnp.isfinite(f[:-1]) & jnp.isfinite(f[1:]) & (jnp.sign(f[:-1]) != jnp.sign(f[1:]))
    # a root exactly at a regime threshold has one bracket end on each side of it: either end counts
    return change & (scan["in_regime"][:-1] | scan["in_regime"][1:])


def count_b_equilibria(model: _Economy, n: int = 2001):
    """Number of equilibria of sub-model B (roots of the 1-D reduction inside B's regime).

    **Arguments:** `model` (any sub-model; closed-form pair needed), `n` grid points.

    **Returns:** an int32 array (traceable; works under vmap).
    """
    return jnp.sum(_b_brackets(b_locus_scan(model, n))).astype(jnp.int32)


# -- every equilibrium of a sub-model ------------------------------------------------------------
def all_equilibria(model: _Economy, *, n_starts: int = 8, n_scan: int = 2001, tol: float = 1e-7) -> list:
    """Every equilibrium of a sub-model, by multi-start Newton under vmap plus de-duplication.

    Starts: an n_starts x n_starts grid of cutoff quantiles (and, for sub-model B with closed-form
    efficiency units, one start in each bracket of the 1-D reduction, so no root is missed). Only
    converged, in-regime points are kept; roots closer than `tol` in (Z1, Z2) are merged.
    An empty list means the sub-model has no equilibrium at these parameters.

    **Arguments:** `model` (a concrete sub-model instance), `n_starts`, `n_scan`, `tol`.

    **Returns:** a list of `Solution`s sorted by Z1 (for B each carries `D_B`: < 0 is the regular
    branch on which the paper's signs hold).
    """
    G = model.dist()
    qs = np.linspace(0.05, 0.95, n_starts)
    q1, q2 = np.meshgrid(qs, qs, indexing="ij")
    q2 = q1 + (1 - q1) * q2  # q1 < q2 < 1
    Z1 = np.asarray(G.quantile(jnp.asarray(q1.ravel())))
    Z2 = np.asarray(G.quantile(jnp.asarray(q2.ravel())))
    if isinstance(model, OpenEconomy) and has_closed_form(model.schedule("L"), G):
        scan = b_locus_scan(model, n_scan)
        idx = np.flatnonzero(np.asarray(_b_brackets(scan)))[:_MAX_BRACKETS]
        # pad to a fixed number of starts so that one compilation serves every parameter point
        idx = np.concatenate([idx, np.full(_MAX_BRACKETS - idx.size, idx[0] if idx.size else n_scan // 2)])
        z1b = 0.5 * (np.asarray(scan["Z1"])[idx] + np.asarray(scan["Z1"])[idx + 1])
        z2b = 0.5 * (np.asarray(scan["Z2"])[idx] + np.asarray(scan["Z2"])[idx + 1])
        Z1, Z2 = np.concatenate([z1b, Z1]), np.concatenate([z2b, Z2])
    guesses = {"Z1": jnp.asarray(Z1), "Z_gap": jnp.asarray(Z2 - Z1)}
    for lam in ("lam_H", "lam_L"):
        if lam in model.unknowns:
            guesses[lam] = jnp.full(Z1.shape, 0.5)
    sols = _multistart(model, guesses)
    ok = np.asarray(sols.status) == CONVERGED
    roots = []
    for i in np.flatnonzero(ok):
        z = np.array([float(sols["Z1"][i]), float(sols["Z2"][i])])
        if all(np.max(np.abs(z - r[0])) > tol * max(1.0, np.max(np.abs(z))) for r in roots):
            roots.append((z, i))
    roots.sort(key=lambda r: r[0][0])
    return [jax.tree_util.tree_map(lambda x, i=i: x[i] if jnp.ndim(x) else x, sols) for _, i in roots]


_MAX_BRACKETS = 4


@eqx.filter_jit
def _multistart(model, guesses):
    return jax.vmap(lambda g: solve(model, guess=g, mask=True))(guesses)


# -- regime selection (spec 5.E) ----------------------------------------------------------------------
class RegimeSolution(eqx.Module):
    """The equilibrium of whichever sub-model's free-entry inequalities hold (spec 5.E).

    Index by name (`rs["skill_premium"]`) for the selected regime's outputs (every key that all four
    sub-models share, including Z1, Z2, lam_H, lam_L). Works under jit/vmap: then `regime_id` and
    `status` are arrays and points outside the model have status 2 (F_I <= F_I_0) or 3 (no regime
    holds) and NaN outputs.

    **Fields:** `outputs`, `regime_id` (index into REGIME_NAMES, -1 if none), `status`, `valid`
    (dict: regime -> its conditions hold here), `solutions` (dict: regime -> that sub-model's
    unmasked `Solution` at these parameters; eagerly only those solved up to the selected one, in
    the order A, C, B, D), `n_equilibria_B` (roots of B, -1 if not counted),
    `multiple` (the selected regime is B and B has several roots), `model`.
    """

    outputs: dict
    regime_id: jax.Array
    status: jax.Array
    valid: dict
    solutions: dict
    n_equilibria_B: jax.Array
    multiple: jax.Array
    model: Model

    def __getitem__(self, name):
        if name in self.outputs:
            return self.outputs[name]
        raise KeyError(f"'{name}' is not an output shared by all regimes; shared: {sorted(self.outputs)}")

    def keys(self):
        return list(self.outputs)

    @property
    def regime(self):
        """The selected regime's name ('A'...'D', or 'none'); an array of names when batched."""
        names = np.array([*REGIME_NAMES, "none"])
        r = np.asarray(self.regime_id)
        return str(names[int(r)]) if r.ndim == 0 else names[r]

    @property
    def solution(self) -> Solution:
        """The selected sub-model's `Solution` (unbatched results only)."""
        r = self.regime
        if not isinstance(r, str) or r == "none":
            raise ValueError("solution is defined for a single point inside the model")
        return self.solutions[r]

    @property
    def ok(self):
        return self.status == CONVERGED

    def __repr__(self):
        if np.ndim(self.status) != 0:
            return f"RegimeSolution(batched {np.shape(self.status)})"
        vals = ", ".join(f"{k}={float(self.outputs[k]):.6g}" for k in ("Z1", "Z2", "C_L", "C_H", "V"))
        return f"RegimeSolution(regime {self.regime}: {vals})"


_COMMON_KEYS: list = []


def _common_keys():
    """Output names every sub-model reports (the derived outputs of spec section 6 plus Z1, Z_gap)."""
    if not _COMMON_KEYS:
        _COMMON_KEYS.extend(["Z1", "Z_gap", *jax.eval_shape(lambda: ClosedEconomy().derived(1.0, 2.0, 0.0, 0.0))])
    return tuple(_COMMON_KEYS)


def _select_impl(base):
    kw = _params_of(base)
    # C and D start from their closed forms (spec 5.C, 5.D), where Newton needs no fallback
    sols = {k: solve(cls(**kw), mask=False, fallback=k in ("A", "B")) for k, cls in SUBMODELS.items()}
    return _assemble(base, sols)


def _assemble(base, sols):
    """Pick the regime from the four sub-models' solutions (traceable; no solving here)."""
    kw = _params_of(base)
    valid = {k: sols[k].status == CONVERGED if k in sols else jnp.asarray(False) for k in SUBMODELS}
    outside = ~(base.F_I > base.F_I_0) | ~ClosedEconomy(**kw).domain_ok()
    rid = jnp.select([valid[k] for k in _SELECTION_ORDER], [REGIME_NAMES.index(k) for k in _SELECTION_ORDER], -1)
    rid = jnp.where(outside, -1, rid).astype(jnp.int32)
    status = jnp.where(outside, INVALID_PARAMETERS, jnp.where(rid < 0, OUT_OF_REGIME, CONVERGED)).astype(jnp.int32)
    outputs = {}
    present = [k for k in REGIME_NAMES if k in sols]
    for key in _common_keys():
        vals = [sols[k][key] for k in present]
        outputs[key] = jnp.select([rid == REGIME_NAMES.index(k) for k in present], vals, jnp.nan)
    if has_closed_form(OpenEconomy(**kw).schedule("L"), OpenEconomy(**kw).dist()):
        n_B = count_b_equilibria(OpenEconomy(**kw))
    else:
        n_B = jnp.asarray(-1, dtype=jnp.int32)
    multiple = (rid == REGIME_NAMES.index("B")) & (n_B > 1)
    return RegimeSolution(outputs=outputs, regime_id=rid, status=status, valid=valid, solutions=sols,
                          n_equilibria_B=n_B, multiple=multiple, model=base)


_select_jit = eqx.filter_jit(_select_impl)


def solve_regime(model: _Economy | None = None, **params) -> RegimeSolution:
    """Solve the model in whichever regime its parameters imply (spec 5.E): A, C, B or D.

    Sub-models are solved (all four under jit/vmap; eagerly, in order until one holds) and the
    first whose equilibrium satisfies its free-entry inequalities, in the order A, C, B, D (the
    order F_I falls through them), is selected: the
    choice happens outside the implicit-differentiation path, so derivatives are those of one
    regime. Works under jit/vmap (build the parameters from tracers). Eagerly, a point outside the
    model raises `ParameterError`, and several equilibria of B raise a `MultipleEquilibriaWarning`.

    **Arguments:** `model`: any sub-model instance of this family (its parameters are used), and/or
    parameter keywords (spec python names), e.g. `solve_regime(F_I=0.6)`.

    **Returns:** a `RegimeSolution` (`rs.regime` is 'A'...'D', `rs["C_L"]`, `rs.solution`).
    """
    kw = _params_of(model) if model is not None else {}
    kw.update(params)
    base = ClosedEconomy(**kw)  # validates the shared domain eagerly
    if is_concrete(base) and not bool(base.F_I > base.F_I_0):
        raise ParameterError(
            f"{FAMILY}: F_I = {float(base.F_I):.6g} <= F_I_0 = F_L*((2/(1+theta_south))**sigma - 1) = "
            f"{float(base.F_I_0):.6g}: offshoring would replace all Northern intermediate production "
            "(Z1 -> 0), so the numeraire C_M = 1 and theta_south lose their anchor and the model is "
            "undefined (spec 5.D, Pitfall 9)."
        )
    if is_concrete(base):
        # eager: solve sub-models in selection order through jo.solve's own compiled cache (shared
        # with every other eager use of them) and stop at the first whose conditions hold
        sols = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in _SELECTION_ORDER:
                sols[k] = solve(SUBMODELS[k](**_params_of(base)), mask=False)
                if int(sols[k].status) == CONVERGED:
                    break
        rs = _assemble(base, sols)
    else:
        rs = _select_jit(base)
    if is_concrete(rs.status) and np.ndim(rs.status) == 0:
        if int(rs.status) != CONVERGED:
            why = "; ".join(f"{k}: {rs.solutions[k].message()}" for k in _SELECTION_ORDER)
            raise ParameterError(f"{FAMILY}: no regime's free-entry conditions hold at these parameters "
                                 f"(outside the model domain, spec 5.E step 4). {why}")
        if bool(rs.multiple):
            warnings.warn(
                f"{FAMILY}: sub-model B has {int(rs.n_equilibria_B)} equilibria here "
                "(F_H + F_I > theta_south^-sigma F_L allows it, spec Pitfall 2); the selected one has "
                f"D_B = {float(rs.solutions['B']['D_B']):.4g}. Use all_equilibria(OpenEconomy(...)) for all.",
                MultipleEquilibriaWarning, stacklevel=2)
    return rs


# -- user-facing evaluations -------------------------------------------------------------------------
def wage_schedule(sol, Z):
    """W(Z) = max_j C_j phi_j(Z) (paper (6)): the wage of a worker of skill Z.

    **Arguments:** `sol`: a `Solution` of any sub-model or a `RegimeSolution`; `Z`: skills (array).

    **Returns:** wages at Z in units of the MF efficiency wage (broadcast of Z against the batch).
    """
    model = sol.model
    return jnp.exp(model.log_wage(jnp.asarray(Z, dtype=jnp.float64), sol["C_L"], sol["C_H"]))


def one_sided_derivatives(model: _Economy, output: str, wrt: str, *, rel_step: float = 1e-6) -> dict:
    """Left and right derivatives of an output w.r.t. a parameter, exact within each regime.

    The regime on each side is found by classifying the points wrt -/+ rel_step*max(1, |wrt|); each
    side's derivative is the implicit-function derivative of that side's sub-model at the point
    itself (at a threshold both adjacent sub-models hold there with identical values). Derivatives
    are never taken through the regime choice (spec 5.E, Pitfall 1).

    **Arguments:** `model` (any sub-model instance), `output` (a name shared by all regimes),
    `wrt` (a parameter name), `rel_step`.

    **Returns:** dict with `left`, `right` (floats), `regime_left`, `regime_right`, `kink` (True
    where the two sides are different regimes) and `derivative` (the common value, NaN at a kink).
    """
    kw = _params_of(model)
    x = float(getattr(model, wrt))
    h = rel_step * max(1.0, abs(x))
    rs = solve_regime(**kw)
    side = {}
    for name, xs in (("left", x - h), ("right", x + h)):
        try:
            reg = solve_regime(**{**kw, wrt: xs}).regime
        except ParameterError:  # this side is outside the model: no derivative there
            side[name] = ("none", float("nan"))
            continue
        sub = SUBMODELS[reg](**kw)
        sol = rs.solutions[reg] if reg in rs.solutions else _solve_quiet(sub)
        _, d = total_derivatives(sub, [wrt], sol=sol)
        side[name] = (reg, float(d[output][wrt]))
    kink = side["left"][0] != side["right"][0]
    return {"left": side["left"][1], "right": side["right"][1], "regime_left": side["left"][0],
            "regime_right": side["right"][0], "kink": kink,
            "derivative": float("nan") if kink else side["left"][1]}


def _welfare_quantities(m, u):
    # module level, so that total_derivatives compiles once per sub-model
    out = m.outputs(u)
    d = {"lnW": jnp.log(out["W"]), "lnP": jnp.log(out["P"]), "lnV": jnp.log(out["V"]),
         "lnE": jnp.log(out["E"]), "ln1CL": jnp.log1p(out["C_L"])}
    for o in m.active:
        d[f"lnc_{o}"] = jnp.log(out[f"p_{o}"])
        d[f"lnN_{o}"] = jnp.log(out[f"N_{o}"])
        d[f"s_{o}"] = out[f"N_{o}"] * out[f"R_{o}"] / out["E"]
    return d


def welfare_decomposition(model: _Economy, wrt: str = "F_I", *, sol: Solution | None = None) -> dict:
    """d ln V split into the wage, cost and variety channels, within the model's regime.

    d ln V = d ln W - d ln P and d ln P = sum_o s_o d ln c_o - (1/(sigma-1)) sum_o s_o d ln N_o over
    active options o, with revenue shares s_o = N_o R_o / E (spec B-P7, [RECON]). The second form
    d ln P = (sigma/(sigma-1)) d ln(1+C_L) - (1/(sigma-1)) d ln E is returned as a check.

    **Arguments:** `model`: a sub-model instance (use `solve_regime(...).regime` to pick it);
    `wrt`: parameter name; `sol`: its solution, if already solved.

    **Returns:** dict of floats: `dlnV`, `dlnW`, `dlnP`, `cost_channel`, `variety_channel`,
    `dlnP_alt`.
    """
    act = model.active
    vals, der = total_derivatives(model, [wrt], quantities=_welfare_quantities, sol=sol)
    d = {k: float(der[k][wrt]) for k in der}
    s = {o: float(vals[f"s_{o}"]) for o in act}
    sig = float(model.sigma)
    cost = sum(s[o] * d[f"lnc_{o}"] for o in act)
    variety = -sum(s[o] * d[f"lnN_{o}"] for o in act) / (sig - 1)
    return {"dlnV": d["lnV"], "dlnW": d["lnW"], "dlnP": d["lnP"], "cost_channel": cost,
            "variety_channel": variety,
            "dlnP_alt": sig / (sig - 1) * d["ln1CL"] - d["lnE"] / (sig - 1)}
