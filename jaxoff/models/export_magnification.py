"""Kleinert and Zorell (2012), "The export-magnification effect of offshoring", ECB WP 1430.

The economics, with the paper's equations: docs/models/export_magnification.md. Equation tags read (paper eq. n; Fk / Ok as numbered there).

n+1 symmetric advanced economies trade differentiated X varieties (Melitz 2003, iceberg tau, fixed
export cost f_ex per market) and buy a homogeneous intermediate I from a workbench country W, paying with
the numeraire Y. A firm of productivity phi sources I at home (price p_d) or offshores it (c.i.f. price
p_off = tau_I p_w, fixed cost f_I). With x = (phi/phi_0)^(sigma-1), every strategy's profit is linear in x
(spec 5.3), so each regime is a list of strategies ordered by productivity, entered at thresholds
phi_c = lambda_c phi_0 whose ratios lambda_c depend on parameters only:

    regime  strategies by productivity            sub-model   when (A.3 assumed)
    A       D < DO < DXO                          SM-A        p1_tilde < q < p2_tilde (paper A.1-A.3)
    B       D < DX < DXO                          SM-B        q < 1, phat < f_I/(f_I + f_ex(tau^(sigma-1)+n))
    C       D < DXO (joint threshold)             SM-C        between B and A (not in the paper)
    D       D < DX (no offshoring)                SM-D        q >= 1 (A.1 fails)
    E       DO < DXO (all offshore)               SM-E        q <= p1_tilde (A.2 lower bound fails)
    F       as A, W fully specialized in I        SM-F        interior L_Iw would exceed L_w (not in paper)

When A.3 fails (f_ex tau^(sigma-1) <= f_p + f_I; paper Sec. 4.2) offshore-only (DO) is never chosen: every
offshorer exports. The profit envelope of the four strategies then gives (derivation in `OnlyExportersOffshoreA3`):

    G       D < DX < DXO                          SM-G        q < 1, a > 1, phat < f_I/(f_I + f_ex(tau^(sigma-1)+n))
    J       D < DXO (joint threshold)             SM-J        q < 1, a > 1, between G and I
    I       DXO (every survivor exports+offshores) SM-I       q < 1, low q (or a <= 1 and phat >= f_I/(f_I+f_p+n f_ex))
    H       DX < DXO (every survivor exports)     SM-H        q < 1, a <= 1, phat < f_I/(f_I + f_p + n f_ex)
    K       D < DX (no offshoring)                SM-K        q >= 1, a > 1 (as SM-D)
    L       DX (every survivor exports)           SM-L        q >= 1, a <= 1

with a = f_ex tau^(sigma-1)/f_p. In G (the paper's case: domestic < exporter < exporter-and-offshorer) and H a
lower tau_I RAISES the export cutoff (d ln phi_ex/d ln tau_I = -alpha s_off < 0), as the paper states.
`submodel_for`/`build`/`regime_index` cover every parameter point: A..E where A.3 holds, G..L where it fails.

(D = domestic only, DO = offshore only, DX = export with domestic inputs, DXO = offshore and export.)

Each sub-model solves the spec's core system (cutoff indifference conditions, free entry F3, zero cutoff
profit F4, price index F5) together with the labor-market/workbench block F6-F11, written once here on the
regime's strategy list. The productivity distribution is a `jaxoff.blocks.distributions` object chosen by
the static option `distribution` ("pareto" default, "truncated_pareto", "lognormal" closed form,
"lognormal_quadrature"); subclass and override `productivity()` for any other density (e.g. a
`Density(pdf, ...)`).

Helpers: `regime_index`/`firm_ordering`/`submodel_for`/`build` (regime detection from parameters),
`margins` (export decomposition into entry/intensive/extensive margins, as IFT derivatives or finite
changes), `firm_outcomes` (firm-level revenues by productivity).

    from jaxoff.models import export_magnification as em
    m = em.SUBMODELS["SM-A"]()                      # or em.build(tau_I=1.95): the sub-model of that regime
    em.margins(m, wrt="tau_I")                      # d X_exp/d tau_I split into entry/intensive/extensive
    em.margins(m, wrt="tau_I", change=-0.1)         # the same for a finite change, checked by two solves

Trade outputs (spec O16), per advanced economy: `exports` = X_exp + T_I (final goods to the n partners
plus Y to W, which equals the intermediate imports T_I); `exports_gdp` = exports/(w L) (GDP = value added
= w L); `fva_share` = W's value added embodied in gross exports / gross exports = alpha rho X_exp^off /
(X_exp + T_I), where X_exp^off are the X exports of offshoring firms (all exporters in A, C, E, so it is
the spec's alpha rho X_exp/(X_exp + T_I); in B the home-sourcing exporters carry none; Y has none).
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..blocks.distributions import Density, Distribution, Lognormal, Pareto, TruncatedPareto, lognormal_pdf
from ..model import Model, ParameterError, is_concrete
from ..transforms import Free, Positive

FAMILY = "export_magnification"

# strategy -> (offshores, exports)
STRATEGIES = {"D": (False, False), "DO": (True, False), "DX": (False, True), "DXO": (True, True)}
STRATEGY_NAMES = {"D": "domestic", "DO": "offshore", "DX": "export (domestic sourcing)",
                  "DXO": "offshore-and-export"}
DISTRIBUTIONS = ("pareto", "truncated_pareto", "lognormal", "lognormal_quadrature")


def _ln_phat(ln_q, e):
    """ln phat = ln(1 - q^e) with e = alpha(sigma-1), accurate for q near 1 (spec 11, pitfall 10)."""
    return jnp.log(-jnp.expm1(e * ln_q))


class _Economy(Model):
    """Parameters and equations shared by every sub-model (spec sections 2-6)."""

    sigma: float = 3.0  # elasticity of substitution between X varieties
    alpha: float = 0.6  # intermediate cost share in X variable cost
    beta: float = 0.4  # expenditure share of X
    n: float = 4.0  # number of OTHER advanced economies (export markets); real for autodiff
    tau: float = 1.8  # SHOCK: iceberg cost of X among advanced economies
    tau_I: float = 1.6  # HEADLINE SHOCK: iceberg cost of offshored intermediates from W
    f_p: float = 1.0  # fixed production cost (labor)
    f_I: float = 0.5  # SHOCK: fixed offshoring cost (labor)
    f_ex: float = 1.0  # SHOCK: fixed export cost per market (labor)
    f_e: float = 0.2  # sunk entry cost (labor)
    A_Y: float = 1.0  # labor productivity in Y, advanced economy
    A_I: float = 1.0  # labor productivity in I, advanced economy
    A_Yw: float = 0.1  # labor productivity in Y, workbench
    A_Iw: float = 0.2  # labor productivity in I, workbench
    L: float = 1.0  # labor force of each advanced economy
    L_w: float = 20.0  # labor force of W
    pareto_b: float = 1.0  # Pareto lower bound of phi
    pareto_k: float = 5.0  # Pareto shape (> sigma - 1)
    ln_mu: float = 0.0  # lognormal: mean of ln phi
    ln_s: float = 0.5  # lognormal: std of ln phi
    pareto_bmax: float = float("inf")  # truncated Pareto upper bound (only with distribution="truncated_pareto")
    distribution: str = eqx.field(static=True, default="pareto")
    quadrature_nodes: int = eqx.field(static=True, default=96)

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("tau_I", "f_I", "tau", "f_ex", "n", "A_Iw", "A_Yw", "A_I", "A_Y")
    regime_name: ClassVar[str] = ""
    strategies: ClassVar[tuple[str, ...]] = ()  # by increasing productivity
    thresholds: ClassVar[tuple[str, ...]] = ()  # unknown where each strategy starts
    workbench_specialized: ClassVar[bool] = False
    requires_A3: ClassVar[bool] = True  # SM-A..SM-F assume A.3; SM-G..SM-L assume it fails (paper Sec. 4.2)

    # -- block 0: wages and prices (paper eq. 4-6; spec 5.2) ----------------------------------------
    def rho(self):
        return (self.sigma - 1.0) / self.sigma

    def p_w(self, u):
        """Workbench price of I (f.o.b.): A_Yw/A_Iw while W also produces Y."""
        return self.A_Yw / self.A_Iw

    def w_w(self, u):
        return self.A_Yw

    def prices(self, u=None):
        """w, w_w, p_d, p_w, p_off, q and the offshoring gain Q = q^(-alpha(sigma-1)) (spec 5.2, O1-O2)."""
        u = {} if u is None else u
        e = self.alpha * (self.sigma - 1.0)
        w = self.A_Y
        p_d = self.A_Y / self.A_I
        p_w = self.p_w(u)
        ln_q = jnp.log(self.tau_I) + jnp.log(p_w) - jnp.log(p_d)
        return {
            "w": w, "w_w": self.w_w(u), "p_d": p_d, "p_w": p_w, "p_off": self.tau_I * p_w,
            "q": jnp.exp(ln_q), "ln_q": ln_q, "Q": jnp.exp(-e * ln_q), "phat": -jnp.expm1(e * ln_q),
            "p1_tilde": jnp.exp(jnp.log(self.f_p / (self.f_p + self.f_I)) / e),  # paper A.2
            "p2_tilde": jnp.exp(jnp.log1p(-self.f_I / (self.f_ex * self.tau ** (self.sigma - 1.0))) / e),
        }

    def t(self):
        """n tau^(1-sigma): export revenue from all n markets relative to domestic revenue."""
        return self.n * self.tau ** (1.0 - self.sigma)

    # -- productivity distribution (spec 5.1) -----------------------------------------------------
    def productivity(self) -> Distribution:
        """The distribution G of firm productivity phi (override for any other density)."""
        if self.distribution == "pareto":
            return Pareto(self.pareto_k, self.pareto_b)
        if self.distribution == "truncated_pareto":
            return TruncatedPareto(self.pareto_k, self.pareto_b, self.pareto_bmax)
        if self.distribution == "lognormal":
            return Lognormal(self.ln_mu, self.ln_s)
        if self.distribution == "lognormal_quadrature":
            return Density(lognormal_pdf, (self.ln_mu, self.ln_s), lower=0.0, scale=jnp.exp(self.ln_mu),
                           n=self.quadrature_nodes)
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {self.distribution!r}")

    # -- firm strategies as steps (spec 5.3) --------------------------------------------------------
    def segments(self, u, pr=None):
        """The regime's strategies with their entry thresholds, revenue multipliers and fixed costs.

        m = r_tot/(sigma f_p w x) = (1 + n tau^(1-sigma) 1[exports]) Q^1[offshores]; FC = the fixed costs
        paid (in units of w). The step at a threshold is (F_c, Delta_c) = differences of (FC, m).
        """
        pr = self.prices(u) if pr is None else pr
        out, m_prev, fc_prev = [], 0.0, 0.0
        for name, thr in zip(self.strategies, self.thresholds):
            off, exp = STRATEGIES[name]
            m = (1.0 + (self.t() if exp else 0.0)) * (pr["Q"] if off else 1.0)
            fc = self.f_p + (self.f_I if off else 0.0) + (self.n * self.f_ex if exp else 0.0)
            out.append({"strategy": name, "threshold": thr, "phi": u.get(thr), "off": off, "exp": exp,
                        "m": m, "FC": fc, "F": fc - fc_prev, "Delta": m - m_prev})
            m_prev, fc_prev = m, fc
        return out

    def cutoff_residuals(self, u, pr):
        raise NotImplementedError

    def domain(self):
        e = "alpha*(sigma-1)"  # noqa: F841 - the rule texts spell the formulas out for the error message
        rules = {
            "sigma > 1": self.sigma > 1,
            "0 < alpha < 1": (self.alpha > 0) & (self.alpha < 1),
            "0 < beta < 1": (self.beta > 0) & (self.beta < 1),
            "n > 0": self.n > 0,
            "tau >= 1": self.tau >= 1,
            "tau_I >= 1": self.tau_I >= 1,
            "f_p > 0": self.f_p > 0, "f_I > 0": self.f_I > 0, "f_ex > 0": self.f_ex > 0, "f_e > 0": self.f_e > 0,
            "A_Y > 0": self.A_Y > 0, "A_I > 0": self.A_I > 0, "A_Yw > 0": self.A_Yw > 0, "A_Iw > 0": self.A_Iw > 0,
            "L > 0": self.L > 0, "L_w > 0": self.L_w > 0,
        }
        a3 = self.f_ex * self.tau ** (self.sigma - 1) > self.f_p + self.f_I
        if self.requires_A3:
            rules[RULE_A3] = a3
        else:
            rules[RULE_A3_FAILS] = ~a3
        if self.distribution in ("pareto", "truncated_pareto"):
            rules["pareto_b > 0"] = self.pareto_b > 0
        if self.distribution == "pareto":
            rules["pareto_k > sigma - 1 (finite (sigma-1)-th moment)"] = self.pareto_k > self.sigma - 1
        if self.distribution == "truncated_pareto":
            rules["pareto_k > 0"] = self.pareto_k > 0
            rules["pareto_b < pareto_bmax < inf"] = (self.pareto_bmax > self.pareto_b) & jnp.isfinite(self.pareto_bmax)
        if self.distribution in ("lognormal", "lognormal_quadrature"):
            rules["ln_s > 0"] = self.ln_s > 0
        return rules

    def check_domain(self) -> None:
        """As `Model.check_domain`, and name the sub-model whose regime the parameters are in."""
        try:
            super().check_domain()
        except ParameterError as err:
            hint = ""
            try:
                letter = REGIME_LETTERS[int(np.asarray(regime_index(self)))]
                if letter:
                    hint = (f" At these parameters the firm ordering is regime {letter} "
                            f"({REGIMES[letter]['ordering']}): use SUBMODELS['{REGIMES[letter]['submodel']}'].")
            except Exception:  # pragma: no cover - the basic rules failed too
                pass
            raise ParameterError(f"{err}{hint}") from None

    # -- the equilibrium system (spec 5.4-5.9) ----------------------------------------------------------
    def guess(self):
        pr = self.prices({"p_w": self._p_w_guess()})
        segs = self.segments({}, pr)
        s1 = self.sigma - 1.0
        ln_lam = [(jnp.log(g["F"]) - jnp.log(self.f_p * g["Delta"])) / s1 for g in segs]
        if self.distribution in ("pareto", "truncated_pareto"):
            # Pareto closed form (spec 7.3, other regimes): exact for SM-A..E with distribution="pareto"
            k, b = self.pareto_k, self.pareto_b
            S = sum(g["F"] * jnp.exp(-k * ll) for g, ll in zip(segs, ln_lam))
            phi_0 = b * (s1 * S / ((k - s1) * self.f_e)) ** (1.0 / k)
        else:
            phi_0 = 2.0 * self.productivity().scale()
        u = {"phi_0": phi_0}
        for g, ll in zip(segs, ln_lam):
            u[g["threshold"]] = phi_0 * jnp.exp(ll)
        if self.workbench_specialized:
            u["p_w"] = pr["p_w"]
        dist = self.productivity()
        kappa = sum(g["F"] * dist.K(u[g["threshold"]], s=s1) for g in segs)
        u["M_e"] = self.beta * self.L / (self.sigma * kappa)  # R_X = sigma w M_e kappa = beta w L (spec 8)
        u["P_X"] = jnp.exp(self._ln_P_X_zcp(u["phi_0"], pr))
        agg = self._aggregates(u, pr)
        lab = self._labor_targets(u, pr, agg)
        return {**u, **{k: v for k, v in lab.items() if k in self.unknowns}}

    def _p_w_guess(self):
        return self.A_Yw / self.A_Iw

    def _ln_P_X_zcp(self, phi_0, pr):
        """ln P_X from the zero-cutoff-profit condition (paper eq. 11; spec F4, O4)."""
        return ((1 - self.alpha) * jnp.log(pr["w"]) + self.alpha * jnp.log(pr["p_d"]) - jnp.log(self.rho())
                - jnp.log(phi_0) + jnp.log(self.sigma * self.f_p / (self.beta * self.L)) / (self.sigma - 1.0))

    def _aggregates(self, u, pr):
        """Masses, revenues and fixed costs by strategy, from one upper-tail moment H(phi_c) and one
        survival value per threshold (never from group averages, which are 0/0 near regime boundaries;
        spec pitfall 11)."""
        dist = self.productivity()
        s1 = self.sigma - 1.0
        segs = self.segments(u, pr)
        S = [dist.survival(g["phi"]) for g in segs]
        Ht = [dist.H(g["phi"], s=s1) for g in segs]
        scale = self.sigma * self.f_p * pr["w"] * u["M_e"] * u["phi_0"] ** (-s1)  # r_tot/(x m) times M_e
        rows = []
        for i, g in enumerate(segs):
            last = i + 1 == len(segs)
            H = Ht[i] if last else Ht[i] - Ht[i + 1]
            mass = S[i] if last else S[i] - S[i + 1]
            K = g["phi"] ** (-s1) * Ht[i]
            rows.append({**g, "H": H, "mass": u["M_e"] * mass, "R": scale * g["m"] * H, "S": S[i],
                         "K": K, "J": K - S[i]})
        R_X = sum(r["R"] for r in rows)
        R_d = sum((r["R"] for r in rows if not r["off"]), jnp.zeros(()))
        share_exp = self.t() / (1.0 + self.t())
        return {
            "rows": rows, "dist": dist, "R_X": R_X, "R_d": R_d, "R_off": R_X - R_d,
            "X_exp": sum((r["R"] * share_exp for r in rows if r["exp"]), jnp.zeros(())),
            "X_exp_off": sum((r["R"] * share_exp for r in rows if r["exp"] and r["off"]), jnp.zeros(())),
            "FC": pr["w"] * u["M_e"] * sum(r["F"] * r["S"] for r in rows),
            "kappa": {r["threshold"]: r["F"] * r["K"] for r in rows},
            "J": {r["threshold"]: r["J"] for r in rows},
            "Psi": sum(r["Delta"] * h for r, h in zip(rows, Ht)),
        }

    def _labor_targets(self, u, pr, agg):
        """Labor demands of the extended block (spec 5.5, F6-F11; 5.9 for SM-F)."""
        ar = self.alpha * self.rho()
        L_e = u["M_e"] * self.f_e  # F6 (the paper's "L_e = M f_e" is a typo; spec 11.3)
        L_X = (1 - self.alpha) * self.rho() * self.beta * self.L + agg["FC"] / pr["w"]  # F7
        L_I = ar * agg["R_d"] / pr["w"]  # F8: A_I L_I = alpha rho R_d / p_d
        L_Y = self.L - L_X - L_e - L_I  # F9
        L_Iw = (self.n + 1) * ar * agg["R_off"] / pr["w_w"]  # F10: A_Iw L_Iw = (n+1) alpha rho R_off / p_w
        return {"L_e": L_e, "L_X": L_X, "L_I": L_I, "L_Y": L_Y, "L_Iw": L_Iw, "L_Yw": self.L_w - L_Iw}  # F11

    def residuals(self, u):
        pr = self.prices(u)
        agg = self._aggregates(u, pr)
        s1 = self.sigma - 1.0
        res = dict(self.cutoff_residuals(u, pr))
        free_entry = sum(g["F"] * agg["J"][g["threshold"]] for g in self.segments(u, pr))
        res["free_entry"] = jnp.log(free_entry) - jnp.log(self.f_e)  # paper (18)+(19), (C.3) corrected; F3
        res["zero_cutoff_profit"] = jnp.log(u["P_X"]) - self._ln_P_X_zcp(u["phi_0"], pr)  # paper (11); F4
        res["price_index"] = (-s1 * jnp.log(u["P_X"]) + s1 * jnp.log(pr["w"] ** (1 - self.alpha) / self.rho())
                              + self.alpha * s1 * jnp.log(pr["p_d"]) - jnp.log(u["M_e"])
                              - jnp.log(agg["Psi"]))  # paper (3), (16); F5 with Psi_A..Psi_E
        lab = self._labor_targets(u, pr, agg)
        for name in ("L_e", "L_X", "L_I", "L_Iw"):  # F6, F7, F8, F10: positive demands, in logs
            if name in self.unknowns:
                res[f"labor_{name}"] = jnp.log(u[name]) - jnp.log(lab[name])
        res["labor_market"] = (u["L_Y"] - lab["L_Y"]) / self.L  # F9
        if "L_Yw" in self.unknowns:
            res["labor_market_W"] = (u["L_Yw"] - lab["L_Yw"]) / self.L_w  # F11
        if self.workbench_specialized:  # F12: W sells all its labor as I (spec 5.9)
            res["world_I_market"] = (jnp.log((self.n + 1) * self.alpha * self.rho() * agg["R_off"])
                                     - jnp.log(u["p_w"] * self.A_Iw * self.L_w))
        return res

    # -- outputs (spec section 6) -----------------------------------------------------------------
    def outputs(self, u):
        pr = self.prices(u)
        agg = self._aggregates(u, pr)
        lab = self._labor_targets(u, pr, agg)
        rows, dist = agg["rows"], agg["dist"]
        w, s1, rho, t = pr["w"], self.sigma - 1.0, self.rho(), self.t()
        ar = self.alpha * rho
        phi_0, M_e = u["phi_0"], u["M_e"]
        zero = jnp.zeros(())
        first = lambda pred: next((r for r in rows if pred(r)), None)  # noqa: E731
        exp_row, off_row = first(lambda r: r["exp"]), first(lambda r: r["off"])
        M = sum(r["mass"] for r in rows)
        M_ex = sum((r["mass"] for r in rows if r["exp"]), zero)
        M_O = sum((r["mass"] for r in rows if r["off"]), zero)
        by = {s: sum((r["mass"] for r in rows if r["strategy"] == s), zero) for s in STRATEGIES}
        R_X, R_off, X_exp = agg["R_X"], agg["R_off"], agg["X_exp"]
        T_I = ar * R_off  # O16
        EXP = X_exp + T_I
        P_X = u["P_X"]
        beta_hat = self.beta ** self.beta * (1 - self.beta) ** (1 - self.beta)
        P = P_X ** self.beta / beta_hat  # O5
        kappa = sum(agg["kappa"].values())
        # average efficiencies from H (O13): sum over strategies of M_e Q^off H(segment) / mass
        dom = sum(r["H"] * (pr["Q"] if r["off"] else 1.0) for r in rows)
        eff_tilde = (M_e * pr["p_d"] ** (-self.alpha * s1) * dom / M) ** (1 / s1)
        M_t = M + self.n * M_ex
        eff_t_tilde = (M_e * pr["p_d"] ** (-self.alpha * s1) * agg["Psi"] / M_t) ** (1 / s1)
        L_I = u.get("L_I", lab["L_I"])
        L_Iw = u.get("L_Iw", self.L_w if self.workbench_specialized else lab["L_Iw"])
        L_Yw = u.get("L_Yw", zero if self.workbench_specialized else lab["L_Yw"])
        out = {k: pr[k] for k in ("w", "w_w", "p_d", "p_w", "p_off", "q", "Q", "phat", "p1_tilde", "p2_tilde")}
        out.update({
            "relative_wage": w / pr["w_w"],
            "survival_cutoff": rows[0]["phi"],
            "export_cutoff": exp_row["phi"],
            "offshoring_cutoff": off_row["phi"] if off_row is not None else jnp.inf,
        })
        for r in rows:
            if r["threshold"] != "phi_0":
                out["lambda_" + r["threshold"][4:]] = r["phi"] / phi_0
            out["omega_" + r["threshold"][4:]] = agg["kappa"][r["threshold"]] / kappa
        out.update({
            # masses and shares (O11, O12)
            "nu_in": rows[0]["S"], "M": M, "M_d": by["D"], "M_off": by["DO"],
            "M_dx": by["DX"], "M_xo": by["DXO"], "M_ex": M_ex, "M_O": M_O, "M_t": M_t,
            "nu_ex": M_ex / M, "nu_O": M_O / M,
            # prices, welfare (O4, O5, O17)
            "P": P, "W": w / P, "W_w": pr["w_w"],
            "eff_tilde": eff_tilde, "eff_t_tilde": eff_t_tilde,
            # aggregates and trade (O14-O16)
            "R_X": R_X, "R_d": agg["R_d"], "R_off": R_off, "s_off": R_off / R_X,
            "X_exp": X_exp, "X_exp_share": X_exp / R_X, "X_imp": X_exp, "T_I": T_I,
            "exports": EXP, "world_trade": (self.n + 1) * (X_exp + 2 * T_I),
            "int_share_world_trade": T_I / (X_exp + 2 * T_I), "int_share_imports": T_I / EXP,
            "imported_intermediate_share": R_off / R_X,  # = s_off in value (O14)
            "exports_gdp": EXP / (w * self.L),
            # imported (W) value added embodied in exports: offshorers' X exports carry alpha rho of
            # their value as W's intermediates; Y exports have none (O16; equals the spec's
            # alpha rho X_exp/(X_exp+T_I) whenever all exporters offshore, as in A, C, E)
            "fva_share": ar * agg["X_exp_off"] / EXP,
            "export_intensity": t / (1 + t), "import_intensity": ar,  # O10
            # export margins (O19-O21)
            "extensive_margin": M_ex, "intensive_margin": X_exp / M_ex,
            "exports_per_exporter": X_exp / M_ex,
            "avg_exports_per_exporter_market": X_exp / (self.n * M_ex),
            # labor and outputs (O18)
            "L_I": L_I, "L_Iw": L_Iw, "L_Yw": L_Yw,
            "L_X_variable": (1 - self.alpha) * rho * R_X / w, "L_X_fixed": agg["FC"] / w,
            "Y": self.A_Y * u["L_Y"], "I_d": self.A_I * L_I, "I_w": self.A_Iw * L_Iw, "Y_w": self.A_Yw * L_Yw,
            "X_index": self.beta * w * self.L / P_X,
            # Walras' law checks (paper eq. 21): world Y market and W's trade balance, both ~ 0
            "walras_residual": ((self.n + 1) * (1 - self.beta) * w * self.L + pr["w_w"] * self.L_w
                                - (self.n + 1) * self.A_Y * u["L_Y"] - self.A_Yw * L_Yw) / (w * self.L),
            "trade_balance_W": (pr["p_w"] * self.A_Iw * L_Iw - (pr["w_w"] * self.L_w - self.A_Yw * L_Yw)
                                ) / (w * self.L),
            "revenue_identity": R_X / (self.beta * w * self.L) - 1.0,  # F5 in its R_X = beta w L form
        })
        return out

    def firm(self, u, phi):
        """Firm-level outcomes at productivity phi (spec O3, O6-O9); phi may be an array.

        **Arguments:** `u` (unknowns of a solved equilibrium), `phi` (productivity).

        **Returns:** a dict: `active`, `offshores`, `exports` (bools), `r_H` (domestic revenue),
        `r_F` (export revenue per market), `r_tot`, `profit`, `p_H` (domestic price), `x_H`, `x_F`
        (quantities), `labor`, `intermediates`.
        """
        pr = self.prices(u)
        segs = self.segments(u, pr)
        phi = jnp.asarray(phi, dtype=jnp.float64)
        x = (phi / u["phi_0"]) ** (self.sigma - 1.0)
        m, fc = jnp.zeros_like(phi), jnp.zeros_like(phi)
        off, exp, active = (jnp.zeros(phi.shape, bool) for _ in range(3))
        for g in segs:  # thresholds increase, so the last one passed wins
            above = phi >= g["phi"]
            m = jnp.where(above, g["m"], m)
            fc = jnp.where(above, g["FC"], fc)
            off = jnp.where(above, g["off"], off)
            exp = jnp.where(above, g["exp"], exp)
            active = active | above
        w = pr["w"]
        r_tot = self.sigma * self.f_p * w * x * m
        r_H = self.sigma * self.f_p * w * x * jnp.where(off, pr["Q"], 1.0)
        r_F = jnp.where(exp, self.tau ** (1 - self.sigma) * r_H, 0.0)
        p_I = jnp.where(off, pr["p_off"], pr["p_d"])
        p_H = w ** (1 - self.alpha) * p_I ** self.alpha / (self.rho() * phi)
        return {
            "active": active, "offshores": off & active, "exports": exp & active,
            "r_H": r_H * active, "r_F": r_F * active, "r_tot": r_tot * active,
            "profit": jnp.where(active, r_tot / self.sigma - w * fc, 0.0),
            "p_H": p_H, "x_H": r_H * active / p_H, "x_F": r_F * active / (self.tau * p_H),
            "labor": jnp.where(active, (1 - self.alpha) * self.rho() * r_tot / w + fc, 0.0),
            "intermediates": self.alpha * self.rho() * r_tot * active / p_I,
        }

    def regime(self, u):
        """Ordering of the solved thresholds, the Pareto corner and the workbench interior (spec 5.10)."""
        phis = [u[t] for t in self.thresholds]
        order = " < ".join(self.thresholds)
        ok = jnp.asarray(True)
        for lo, hi in zip(phis[:-1], phis[1:]):
            ok = ok & (lo < hi)
        out = {f"ordering: {order}": ok}
        if self.distribution == "pareto":
            out["lowest active cutoff >= pareto_b (no corner)"] = phis[0] >= self.pareto_b
        if self.distribution == "truncated_pareto":
            out["lowest active cutoff >= pareto_b (no corner)"] = phis[0] >= self.pareto_b
            out["thresholds < pareto_bmax"] = phis[-1] < self.pareto_bmax
        if not self.workbench_specialized:
            pr = self.prices(u)
            lab = self._labor_targets(u, pr, self._aggregates(u, pr))
            out["L_Yw > 0 (W produces Y; else SM-F)"] = lab["L_Yw"] > 0
        out["L_Y > 0"] = u["L_Y"] > 0
        return out


# ---------------------------------------------------------------------------------------------------
# Rule texts of the regime conditions (shown in ParameterError messages; they name the assumption)
# ---------------------------------------------------------------------------------------------------
_Q = "q = tau_I*(A_Yw/A_Iw)*(A_I/A_Y)"
_PHAT = "phat = 1 - q^(alpha*(sigma-1))"
RULE_A1 = f"A.1: {_Q} < 1 (offshored intermediates cheaper than domestic)"
RULE_A2_LOW = (f"A.2: q > p1_tilde = (f_p/(f_p + f_I))^(1/(alpha*(sigma-1))) with {_Q} "
               "(else all firms offshore: regime E, SM-E)")
RULE_A2_HIGH = (f"A.2: q < p2_tilde = (1 - f_I/(f_ex*tau^(sigma-1)))^(1/(alpha*(sigma-1))) with {_Q} "
                "(else the marginal exporter does not offshore: regime C or B)")
RULE_A3 = "A.3: f_ex*tau^(sigma-1) > f_p + f_I"
RULE_A3_FAILS = ("A.3 violated: f_ex*tau^(sigma-1) <= f_p + f_I (paper Sec. 4.2; where A.3 holds use "
                 "SM-A..SM-E, see submodel_for)")
RULE_SOME_DOMESTIC = ("f_ex*tau^(sigma-1) > f_p (the least productive survivors do not export; "
                      "else every survivor exports: SM-H, SM-I or SM-L)")
RULE_ALL_EXPORT = ("f_ex*tau^(sigma-1) <= f_p (every survivor exports; else SM-G, SM-J, SM-I or SM-K)")


def _regime_conditions(m, pr=None):
    """Parameter-only regime tests (spec 5.3 table; SM-G..SM-L: the envelope when A.3 fails), as named
    booleans. With a = f_ex tau^(sigma-1)/f_p, t = n tau^(1-sigma), Q = 1/(1 - phat), the profit lines
    of section 5.3 cross at x = (phi/phi_0)^(sigma-1) equal to: D|DX a; DX|DXO f_I/(f_p (1+t)(Q-1));
    D|DXO (f_I + n f_ex)/(f_p ((1+t)Q - 1)); 0|DX (1 + a t)/(1+t). The edges below are these crossings
    rewritten as bounds on phat (derivation: `OnlyExportersOffshoreA3`, SM-G)."""
    pr = m.prices() if pr is None else pr
    s1 = m.sigma - 1.0
    phat, q = pr["phat"], pr["q"]
    fI = m.f_I
    fx = m.f_ex * m.tau ** s1  # f_ex tau^(sigma-1): fixed cost of exporting per unit of export gain
    nfex = m.n * m.f_ex
    b_edge = fI / (fI + m.f_ex * (m.tau ** s1 + m.n))  # DX|DXO crossing = D|DX crossing
    c_edge = fI / fx
    e_edge = fI / (m.f_p + fI)
    h_edge = fI / (fI + m.f_p + nfex)  # DX|DXO crossing = 0|DX crossing (every survivor exports)
    j_edge = 1.0 - m.f_p * (1.0 + m.t()) / (m.f_p + fI + nfex)  # D|DXO crossing = 0|D crossing (x = 1)
    A1, A3, allx = q < 1, fx > m.f_p + fI, fx <= m.f_p
    v = A1 & ~A3  # offshoring happens and A.3 fails
    return {"A1": A1, "E": A1 & (phat >= e_edge), "A_low": phat < e_edge, "A_high": phat > c_edge,
            "B": A1 & (phat < b_edge), "C": A1 & (phat >= b_edge) & (phat <= c_edge), "A3": A3,
            "all_export": allx,
            "G": v & ~allx & (phat < b_edge),
            "J": v & ~allx & (phat >= b_edge) & (phat < j_edge),
            "I": v & jnp.where(allx, phat >= h_edge, (phat >= b_edge) & (phat >= j_edge)),
            "H": v & allx & (phat < h_edge),
            "K": ~A1 & ~A3 & ~allx, "L": ~A1 & allx,
            "b_edge": b_edge, "h_edge": h_edge, "j_edge": j_edge}


def _index_from_conditions(c):
    """Regime index (position in REGIME_LETTERS) from `_regime_conditions`; -1 if none (NaN input)."""
    held = jnp.where(~c["A1"], 3, jnp.where(c["E"], 4, jnp.where(c["B"], 1, jnp.where(c["C"], 2, 0))))
    fails = jnp.where(c["G"], 5, jnp.where(c["H"], 6, jnp.where(c["I"], 7, jnp.where(
        c["J"], 8, jnp.where(c["K"], 9, jnp.where(c["L"], 10, -1))))))
    return jnp.where(c["A3"], held, fails).astype(jnp.int32)


# ---------------------------------------------------------------------------------------------------
# Sub-models
# ---------------------------------------------------------------------------------------------------
_LABOR = {"L_Y": Free(), "L_I": Positive(), "L_X": Positive(), "L_e": Positive(), "L_Iw": Positive(),
          "L_Yw": Free()}


class Baseline(_Economy):
    """SM-A: the paper's baseline, domestic < offshore < offshore-and-export (paper Sec. 3; A.1-A.3)."""

    spec_id: ClassVar[str] = "SM-A"
    description: ClassVar[str] = "Baseline: domestic < offshore < offshore-and-export (Sec. 3, A.1-A.3)"
    regime_name: ClassVar[str] = "A"
    strategies: ClassVar[tuple[str, ...]] = ("D", "DO", "DXO")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_0", "phi_off", "phi_ex")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_off": Positive(), "phi_ex": Positive(),
                                "M_e": Positive(), "P_X": Positive(), **_LABOR}

    def domain(self):
        c = _regime_conditions(self)
        return {**super().domain(), RULE_A1: c["A1"], RULE_A2_LOW: c["A1"] & c["A_low"],
                RULE_A2_HIGH: c["A_high"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        u0 = jnp.log(u["phi_0"])
        ln_phat = _ln_phat(pr["ln_q"], self.alpha * s1)
        return {
            "offshoring_indifference": (jnp.log(u["phi_off"]) - u0 - self.alpha * pr["ln_q"]
                                        - (jnp.log(self.f_I) - jnp.log(self.f_p) - ln_phat) / s1),  # (12); F1
            "export_indifference": (jnp.log(u["phi_ex"]) - u0 - jnp.log(self.tau) - self.alpha * pr["ln_q"]
                                    - (jnp.log(self.f_ex) - jnp.log(self.f_p)) / s1),  # (14); F2
        }


class OnlyExportersOffshore(_Economy):
    """SM-B: domestic < export (domestic inputs) < offshore-and-export (paper Sec. 4.2)."""

    spec_id: ClassVar[str] = "SM-B"
    description: ClassVar[str] = "Only exporters offshore: domestic < export < export-and-offshore (Sec. 4.2)"
    regime_name: ClassVar[str] = "B"
    tau_I: float = 1.95  # default inside this regime (spec 9.2: regime B at tau_I = 1.95)
    strategies: ClassVar[tuple[str, ...]] = ("D", "DX", "DXO")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_0", "phi_ex", "phi_off")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_ex": Positive(), "phi_off": Positive(),
                                "M_e": Positive(), "P_X": Positive(), **_LABOR}

    def domain(self):
        c = _regime_conditions(self)
        return {**super().domain(), RULE_A1: c["A1"],
                f"regime B: phat < f_I/(f_I + f_ex*(tau^(sigma-1) + n)) with {_PHAT}, {_Q} "
                "(the marginal exporter sources at home)": c["B"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        u0 = jnp.log(u["phi_0"])
        ln_phat = _ln_phat(pr["ln_q"], self.alpha * s1)
        return {
            "offshoring_indifference": (jnp.log(u["phi_off"]) - u0 - self.alpha * pr["ln_q"]
                                        - (jnp.log(self.f_I) - jnp.log(self.f_p) - ln_phat
                                           - jnp.log1p(self.t())) / s1),  # Sec. 4.2; F1B
            "export_indifference": (jnp.log(u["phi_ex"]) - u0 - jnp.log(self.tau)
                                    - (jnp.log(self.f_ex) - jnp.log(self.f_p)) / s1),  # F2B
        }


class JointThreshold(_Economy):
    """SM-C: one threshold above which firms export and offshore together (spec 5.7; not in the paper)."""

    spec_id: ClassVar[str] = "SM-C"
    description: ClassVar[str] = "Joint entry into exporting and offshoring: domestic < offshore-and-export"
    regime_name: ClassVar[str] = "C"
    tau_I: float = 1.8  # default inside this regime (spec 9.2: regime C at tau_I = 1.80)
    strategies: ClassVar[tuple[str, ...]] = ("D", "DXO")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_0", "phi_j")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_j": Positive(), "M_e": Positive(),
                                "P_X": Positive(), **_LABOR}

    def domain(self):
        c = _regime_conditions(self)
        return {**super().domain(), RULE_A1: c["A1"],
                f"regime C: f_I/(f_I + f_ex*(tau^(sigma-1) + n)) <= phat <= f_I/(f_ex*tau^(sigma-1)) "
                f"with {_PHAT}, {_Q} (joint threshold)": c["C"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        gain = (1.0 + self.t()) * pr["Q"] - 1.0
        return {"joint_indifference": (jnp.log(u["phi_j"]) - jnp.log(u["phi_0"])
                                       - jnp.log((self.f_I + self.n * self.f_ex) / (self.f_p * gain)) / s1)}  # F1C


class NoOffshoring(_Economy):
    """SM-D: q >= 1, nobody offshores; Melitz with a domestic intermediate (paper Sec. 3.3)."""

    spec_id: ClassVar[str] = "SM-D"
    description: ClassVar[str] = "No offshoring (A.1 fails): domestic < export (Melitz)"
    regime_name: ClassVar[str] = "D"
    tau_I: float = 2.1  # default inside this regime (spec 9.2: regime D at tau_I = 2.10)
    strategies: ClassVar[tuple[str, ...]] = ("D", "DX")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_0", "phi_ex")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_ex": Positive(), "M_e": Positive(),
                                "P_X": Positive(), **{k: v for k, v in _LABOR.items() if k != "L_Iw"}}

    def domain(self):
        c = _regime_conditions(self)
        return {**super().domain(), f"q >= 1 with {_Q} (A.1 fails: no offshoring)": ~c["A1"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        return {"export_indifference": (jnp.log(u["phi_ex"]) - jnp.log(u["phi_0"]) - jnp.log(self.tau)
                                        - (jnp.log(self.f_ex) - jnp.log(self.f_p)) / s1)}  # F2D = F2B


class UniversalOffshoring(_Economy):
    """SM-E: q <= p1_tilde, every survivor offshores; phi_0 is the virtual domestic cutoff (spec 5.8)."""

    spec_id: ClassVar[str] = "SM-E"
    description: ClassVar[str] = "All firms offshore (A.2 lower bound fails): offshore < offshore-and-export"
    regime_name: ClassVar[str] = "E"
    tau_I: float = 1.4  # default inside this regime (spec 9.2: regime E at tau_I = 1.40)
    strategies: ClassVar[tuple[str, ...]] = ("DO", "DXO")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_s", "phi_ex")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_s": Positive(), "phi_ex": Positive(),
                                "M_e": Positive(), "P_X": Positive(),
                                **{k: v for k, v in _LABOR.items() if k != "L_I"}}

    def domain(self):
        c = _regime_conditions(self)
        return {**super().domain(),
                f"q <= p1_tilde = (f_p/(f_p + f_I))^(1/(alpha*(sigma-1))) with {_Q} "
                "(A.2 lower bound fails: all firms offshore)": c["E"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        u0 = jnp.log(u["phi_0"])
        return {
            "survival_indifference": (jnp.log(u["phi_s"]) - u0 - self.alpha * pr["ln_q"]
                                      - jnp.log((self.f_p + self.f_I) / self.f_p) / s1),  # F1E
            "export_indifference": (jnp.log(u["phi_ex"]) - u0 - jnp.log(self.tau) - self.alpha * pr["ln_q"]
                                    - (jnp.log(self.f_ex) - jnp.log(self.f_p)) / s1),  # F2E = F2
        }


class WorkbenchSpecialized(Baseline):
    """SM-F: regime-A firms; W fully specialized in I with an endogenous price p_w (spec 5.9; not in paper).

    W's wage is w_w = p_w A_Iw and q = tau_I p_w/p_d is endogenous, so the firm regime is checked after
    solving (in `regime()`), not from parameters.
    """

    spec_id: ClassVar[str] = "SM-F"
    description: ClassVar[str] = "Workbench fully specialized in I (endogenous p_w); regime-A firms"
    regime_name: ClassVar[str] = "F"
    workbench_specialized: ClassVar[bool] = True
    L_w: float = 5.0  # a small workbench (interior L_Iw would be 5.34), so that it specializes
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_off": Positive(), "phi_ex": Positive(),
                                "M_e": Positive(), "P_X": Positive(), "p_w": Positive(),
                                **{k: v for k, v in _LABOR.items() if k not in ("L_Iw", "L_Yw")}}

    def p_w(self, u):
        return u["p_w"]

    def w_w(self, u):
        return u["p_w"] * self.A_Iw

    def _p_w_guess(self):
        # the interior price scaled by the excess labor demand, dampened by s_off's elasticity (~ -5 in q)
        interior = Baseline.__new__(Baseline)
        for f in dataclasses.fields(self):
            object.__setattr__(interior, f.name, getattr(self, f.name))
        u = Baseline.guess(interior)
        excess = jnp.maximum(Baseline.outputs(interior, u)["L_Iw"] / self.L_w, 1.0)
        return self.A_Yw / self.A_Iw * excess ** 0.2

    def domain(self):
        return _Economy.domain(self)  # the firm regime depends on the endogenous q: see regime()

    def regime(self, u):
        pr = self.prices(u)
        c = _regime_conditions(self, pr)
        return {**super().regime(u),
                "A.1 at the endogenous q": c["A1"], "A.2 lower at the endogenous q": c["A_low"],
                "A.2 upper at the endogenous q": c["A_high"],
                "p_w > A_Yw/A_Iw (W fully specialized; else SM-A)": u["p_w"] > self.A_Yw / self.A_Iw}


# ---------------------------------------------------------------------------------------------------
# Sub-models with A.3 violated (paper Sec. 4.2): SM-G..SM-L
# ---------------------------------------------------------------------------------------------------
_LOG_T = lambda m: jnp.log1p(m.t())  # noqa: E731 - ln(1 + n tau^(1-sigma))


class OnlyExportersOffshoreA3(OnlyExportersOffshore):
    """SM-G: A.3 violated (paper Sec. 4.2): domestic < exporter < exporter-and-offshorer.

    Derivation (the four strategies' profit envelope, spec 5.3). With x = (phi/phi_0)^(sigma-1),
    a = f_ex tau^(sigma-1)/f_p, t = n tau^(1-sigma) and Q = q^(-alpha(sigma-1)) = 1/(1 - phat), profits in
    units of w f_p are

        D: x - 1      DO: Q x - 1 - f_I/f_p      DX: (1+t) x - 1 - a t      DXO: (1+t) Q x - 1 - f_I/f_p - a t.

    DXO - DO = t (Q x - a) >= 0 iff x >= a/Q, while DO pays (DO >= 0) only for x >= (1 + f_I/f_p)/Q. When
    A.3 fails (f_ex tau^(sigma-1) <= f_p + f_I, i.e. a <= 1 + f_I/f_p) the second bound is above the first:
    wherever offshoring alone pays, offshoring and exporting pays more. So offshore-only is never chosen
    and every offshorer exports ("only exporting firms offshore"). The envelope max(0, D, DX, DXO) has
    slopes 0 < 1 < 1+t < (1+t)Q, and a firm climbs through a subset of these lines in this order. The lines
    cross at x = 1 (0|D), a (D|DX), x_o = f_I/(f_p (1+t)(Q-1)) (DX|DXO), x_j = (f_I + n f_ex)/(f_p((1+t)Q - 1))
    (D|DXO) and x_s = (1 + a t)/(1+t) (0|DX). Hence, for q < 1:

        a > 1, a < x_o  <=>  phat < f_I/(f_I + f_ex (tau^(sigma-1) + n))        D < DX < DXO   SM-G (here)
        a > 1, a >= x_o, x_j > 1  <=>  phat < 1 - f_p(1+t)/(f_p + f_I + n f_ex) D < DXO        SM-J
        a <= 1, x_s < x_o  <=>  phat < f_I/(f_I + f_p + n f_ex)                 DX < DXO       SM-H
        otherwise (x_j <= 1, or a <= 1 and x_s >= x_o)                          DXO            SM-I

    and for q >= 1 (nobody offshores) D < DX if a > 1 (SM-K), DX alone if a <= 1 (SM-L). At every threshold
    a fixed cost F_c starts and the revenue multiplier rises by Delta_c, so phi_c = lambda_c phi_0 with
    lambda_c^(sigma-1) = F_c/(f_p Delta_c). The rest of the system (free entry F3, zero cutoff profit F4
    that defines phi_0, price index F5, labor block F6-F11) is the common one, written on the strategy list.

    Here (SM-G) the steps are (f_p, 1), (n f_ex, t) and (f_I, (1+t)(Q-1)): the same equations as SM-B,

        lambda_ex  = tau (f_ex/f_p)^(1/(sigma-1))                                   (F2B)
        lambda_off = q^alpha (f_I/(f_p phat (1+t)))^(1/(sigma-1))                    (F1B)

    so phi_ex moves with phi_0 only: d ln phi_ex/d ln tau_I = d ln phi_0/d ln tau_I = -alpha s_off < 0. A
    lower tau_I (or f_I) raises the export cutoff, as the paper states for this case: the marginal exporter
    sources at home, gains nothing from cheaper offshoring and only meets tougher competition.
    """

    spec_id: ClassVar[str] = "SM-G"
    description: ClassVar[str] = ("A.3-violated regime of paper Sec. 4.2: domestic < export < export-and-offshore "
                                  "(only exporters offshore)")
    regime_name: ClassVar[str] = "G"
    requires_A3: ClassVar[bool] = False
    tau_I: float = 1.6  # default inside this regime: f_I = 2.5 violates A.3 (f_ex tau^2 = 3.24 < 3.5)
    f_I: float = 2.5

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), RULE_A1: c["A1"], RULE_SOME_DOMESTIC: ~c["all_export"],
                f"regime G: phat < f_I/(f_I + f_ex*(tau^(sigma-1) + n)) with {_PHAT}, {_Q} "
                "(the marginal exporter sources at home; else SM-J or SM-I)": c["G"]}


class AllExportSomeOffshore(_Economy):
    """SM-H: A.3-violated regime of paper Sec. 4.2 in which every surviving firm exports: exporter <
    exporter-and-offshorer.

    Derivation (see SM-G for the envelope): when f_ex tau^(sigma-1) <= f_p (a <= 1, which implies that A.3
    fails) the export line DX breaks even at x_s = (1 + a t)/(1+t) <= 1, where it already beats D, so no
    survivor is domestic only. Offshoring is added at x_o = f_I/(f_p (1+t)(Q-1)) > x_s, i.e.
    phat < f_I/(f_I + f_p + n f_ex). Steps: (f_p + n f_ex, 1+t) at phi_s, (f_I, (1+t)(Q-1)) at phi_off:

        lambda_s   = ((f_p + n f_ex)/(f_p (1+t)))^(1/(sigma-1))        (<= 1: phi_0 is a virtual cutoff)
        lambda_off = q^alpha (f_I/(f_p phat (1+t)))^(1/(sigma-1))

    phi_s is both the survival and the export cutoff; d ln phi_s/d ln tau_I = -alpha s_off < 0 (a lower
    tau_I raises it, as in SM-G: the marginal exporter does not offshore).
    """

    spec_id: ClassVar[str] = "SM-H"
    description: ClassVar[str] = ("A.3-violated regime of paper Sec. 4.2, every survivor exports: "
                                  "export < export-and-offshore")
    regime_name: ClassVar[str] = "H"
    requires_A3: ClassVar[bool] = False
    f_ex: float = 0.25  # default inside this regime: f_ex tau^2 = 0.81 < f_p, every survivor exports
    tau_I: float = 1.7
    strategies: ClassVar[tuple[str, ...]] = ("DX", "DXO")
    thresholds: ClassVar[tuple[str, ...]] = ("phi_s", "phi_off")
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_s": Positive(), "phi_off": Positive(),
                                "M_e": Positive(), "P_X": Positive(), **_LABOR}

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), RULE_A1: c["A1"], RULE_ALL_EXPORT: c["all_export"],
                f"regime H: phat < f_I/(f_I + f_p + n*f_ex) with {_PHAT}, {_Q} "
                "(the least productive exporters source at home; else SM-I)": c["H"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        u0 = jnp.log(u["phi_0"])
        ln_phat = _ln_phat(pr["ln_q"], self.alpha * s1)
        return {
            "survival_indifference": (jnp.log(u["phi_s"]) - u0 - (jnp.log(self.f_p + self.n * self.f_ex)
                                                                   - jnp.log(self.f_p) - _LOG_T(self)) / s1),
            "offshoring_indifference": (jnp.log(u["phi_off"]) - u0 - self.alpha * pr["ln_q"]
                                        - (jnp.log(self.f_I) - jnp.log(self.f_p) - ln_phat - _LOG_T(self)) / s1),
        }

    def regime(self, u):
        return {**super().regime(u), "every survivor exports: phi_s <= phi_0": u["phi_s"] <= u["phi_0"]}


class AllExportAllOffshore(_Economy):
    """SM-I: A.3-violated regime of paper Sec. 4.2 in which every surviving firm exports and offshores.

    Derivation (see SM-G for the envelope): the DXO line breaks even at x_0 = (1 + f_I/f_p + a t)/((1+t)Q)
    before D does (x_0 <= 1 <=> x_j <= 1 <=> phat >= 1 - f_p(1+t)/(f_p + f_I + n f_ex)) and before DX takes
    over (when a <= 1: phat >= f_I/(f_I + f_p + n f_ex)). One step (f_p + f_I + n f_ex, (1+t)Q) at phi_s:

        lambda_s = q^alpha ((f_p + f_I + n f_ex)/(f_p (1+t)))^(1/(sigma-1))      (<= 1: phi_0 is virtual)

    As in SM-E (all firms offshore under A.3), s_off = 1 and the firm margins do not depend on tau_I:
    d ln phi_s/d ln tau_I = alpha - alpha s_off = 0; only prices move (d ln W/d ln tau_I = -alpha beta).
    """

    spec_id: ClassVar[str] = "SM-I"
    description: ClassVar[str] = ("A.3-violated regime of paper Sec. 4.2, every survivor exports and offshores")
    regime_name: ClassVar[str] = "I"
    requires_A3: ClassVar[bool] = False
    f_ex: float = 0.25  # default inside this regime (phat = 0.235 >= f_I/(f_I + f_p + n f_ex) = 0.2)
    strategies: ClassVar[tuple[str, ...]] = ("DXO",)
    thresholds: ClassVar[tuple[str, ...]] = ("phi_s",)
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_s": Positive(), "M_e": Positive(), "P_X": Positive(),
                                **{k: v for k, v in _LABOR.items() if k != "L_I"}}

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), RULE_A1: c["A1"],
                f"regime I: every survivor exports and offshores: phat >= f_I/(f_I + f_p + n*f_ex) if "
                f"f_ex*tau^(sigma-1) <= f_p, else phat >= 1 - f_p*(1 + n*tau^(1-sigma))/(f_p + f_I + n*f_ex); "
                f"with {_PHAT}, {_Q}": c["I"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        F = self.f_p + self.f_I + self.n * self.f_ex
        return {"survival_indifference": (jnp.log(u["phi_s"]) - jnp.log(u["phi_0"]) - self.alpha * pr["ln_q"]
                                          - (jnp.log(F) - jnp.log(self.f_p) - _LOG_T(self)) / s1)}

    def regime(self, u):
        return {**super().regime(u), "every survivor exports: phi_s <= phi_0": u["phi_s"] <= u["phi_0"]}


class JointThresholdA3(JointThreshold):
    """SM-J: A.3-violated regime of paper Sec. 4.2 with a joint threshold: domestic < export-and-offshore.

    Derivation (see SM-G for the envelope): f_ex tau^(sigma-1) > f_p, but DX|DXO comes before D|DX
    (phat >= f_I/(f_I + f_ex(tau^(sigma-1) + n))), so DX is skipped; D still breaks even first
    (x_j > 1 <=> phat < 1 - f_p(1+t)/(f_p + f_I + n f_ex)). Steps (f_p, 1) and (f_I + n f_ex, (1+t)Q - 1):

        lambda_j = ((f_I + n f_ex)/(f_p ((1+t)Q - 1)))^(1/(sigma-1))              (F1C)

    the same equations as SM-C. Here the marginal exporter offshores, so a lower tau_I LOWERS the export
    cutoff (d ln phi_j/d ln tau_I = alpha/(1 - 1/((1+t)Q)) - alpha s_off > 0), unlike SM-G and SM-H.
    """

    spec_id: ClassVar[str] = "SM-J"
    description: ClassVar[str] = ("A.3-violated regime of paper Sec. 4.2, joint threshold: domestic < "
                                  "export-and-offshore")
    regime_name: ClassVar[str] = "J"
    requires_A3: ClassVar[bool] = False
    tau_I: float = 1.5  # default inside this regime (f_I = 2.5 violates A.3)
    f_I: float = 2.5

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), RULE_A1: c["A1"], RULE_SOME_DOMESTIC: ~c["all_export"],
                f"regime J: f_I/(f_I + f_ex*(tau^(sigma-1) + n)) <= phat < 1 - f_p*(1 + n*tau^(1-sigma))/"
                f"(f_p + f_I + n*f_ex) with {_PHAT}, {_Q} (joint threshold; else SM-G or SM-I)": c["J"]}


class NoOffshoringA3(NoOffshoring):
    """SM-K: no offshoring (q >= 1) with A.3 violated: domestic < exporter (Melitz).

    Derivation: Q <= 1, so DO and DXO are dominated by D and DX; with f_ex tau^(sigma-1) > f_p the export
    step (n f_ex, t) lies above survival (f_p, 1): lambda_ex = tau (f_ex/f_p)^(1/(sigma-1)) > 1. The same
    equations as SM-D; A.3 only matters once firms offshore, so SM-K is SM-D on the A.3-violated side
    (tau_I and f_I are locally irrelevant).
    """

    spec_id: ClassVar[str] = "SM-K"
    description: ClassVar[str] = "A.3-violated regime of paper Sec. 4.2 without offshoring (q >= 1): domestic < export"
    regime_name: ClassVar[str] = "K"
    requires_A3: ClassVar[bool] = False
    f_I: float = 2.5  # default inside this regime (tau_I = 2.1: q = 1.05)

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), f"q >= 1 with {_Q} (A.1 fails: no offshoring)": ~c["A1"],
                RULE_SOME_DOMESTIC: ~c["all_export"]}


class AllExportNoOffshoring(_Economy):
    """SM-L: no offshoring (q >= 1) and every surviving firm exports (f_ex tau^(sigma-1) <= f_p; A.3 fails).

    Derivation: DO and DXO are dominated (Q <= 1); DX breaks even at x_s = (1 + a t)/(1+t) <= 1, where it
    beats D. One step (f_p + n f_ex, 1+t) at phi_s:

        lambda_s = ((f_p + n f_ex)/(f_p (1+t)))^(1/(sigma-1))            (<= 1: phi_0 is virtual)

    tau_I and f_I are locally irrelevant.
    """

    spec_id: ClassVar[str] = "SM-L"
    description: ClassVar[str] = ("A.3-violated regime of paper Sec. 4.2 without offshoring (q >= 1), every "
                                  "survivor exports")
    regime_name: ClassVar[str] = "L"
    requires_A3: ClassVar[bool] = False
    f_ex: float = 0.25  # default inside this regime: f_ex tau^2 = 0.81 < f_p
    tau_I: float = 2.1  # q = 1.05
    strategies: ClassVar[tuple[str, ...]] = ("DX",)
    thresholds: ClassVar[tuple[str, ...]] = ("phi_s",)
    unknowns: ClassVar[dict] = {"phi_0": Positive(), "phi_s": Positive(), "M_e": Positive(), "P_X": Positive(),
                                **{k: v for k, v in _LABOR.items() if k != "L_Iw"}}

    def domain(self):
        c = _regime_conditions(self)
        return {**_Economy.domain(self), f"q >= 1 with {_Q} (A.1 fails: no offshoring)": ~c["A1"],
                RULE_ALL_EXPORT: c["all_export"]}

    def cutoff_residuals(self, u, pr):
        s1 = self.sigma - 1.0
        return {"survival_indifference": (jnp.log(u["phi_s"]) - jnp.log(u["phi_0"])
                                          - (jnp.log(self.f_p + self.n * self.f_ex) - jnp.log(self.f_p)
                                             - _LOG_T(self)) / s1)}

    def regime(self, u):
        return {**super().regime(u), "every survivor exports: phi_s <= phi_0": u["phi_s"] <= u["phi_0"]}


SUBMODELS = {
    "SM-A": Baseline,
    "SM-B": OnlyExportersOffshore,
    "SM-C": JointThreshold,
    "SM-D": NoOffshoring,
    "SM-E": UniversalOffshoring,
    "SM-F": WorkbenchSpecialized,
    # A.3 violated (paper Sec. 4.2): offshore-only is never chosen, every offshorer exports
    "SM-G": OnlyExportersOffshoreA3,
    "SM-H": AllExportSomeOffshore,
    "SM-I": AllExportAllOffshore,
    "SM-J": JointThresholdA3,
    "SM-K": NoOffshoringA3,
    "SM-L": AllExportNoOffshoring,
}

REGIMES = {
    "A": {"submodel": "SM-A", "strategies": Baseline.strategies, "ordering": "phi_0 < phi_off < phi_ex",
          "description": "domestic < offshore < offshore-and-export (paper baseline, A.1-A.3)"},
    "B": {"submodel": "SM-B", "strategies": OnlyExportersOffshore.strategies,
          "ordering": "phi_0 < phi_ex < phi_off",
          "description": "domestic < export (domestic inputs) < offshore-and-export (only exporters offshore)"},
    "C": {"submodel": "SM-C", "strategies": JointThreshold.strategies, "ordering": "phi_0 < phi_j",
          "description": "domestic < offshore-and-export (joint threshold)"},
    "D": {"submodel": "SM-D", "strategies": NoOffshoring.strategies, "ordering": "phi_0 < phi_ex",
          "description": "domestic < export (no offshoring; A.1 fails)"},
    "E": {"submodel": "SM-E", "strategies": UniversalOffshoring.strategies, "ordering": "phi_s < phi_ex",
          "description": "offshore < offshore-and-export (all firms offshore; A.2 lower bound fails)"},
    # A.3 violated (paper Sec. 4.2)
    "G": {"submodel": "SM-G", "strategies": OnlyExportersOffshoreA3.strategies,
          "ordering": "phi_0 < phi_ex < phi_off",
          "description": "domestic < export (domestic inputs) < offshore-and-export (A.3 violated: only "
                         "exporters offshore)"},
    "H": {"submodel": "SM-H", "strategies": AllExportSomeOffshore.strategies, "ordering": "phi_s < phi_off",
          "description": "export (domestic inputs) < offshore-and-export (A.3 violated: every survivor exports)"},
    "I": {"submodel": "SM-I", "strategies": AllExportAllOffshore.strategies, "ordering": "phi_s",
          "description": "offshore-and-export only (A.3 violated: every survivor exports and offshores)"},
    "J": {"submodel": "SM-J", "strategies": JointThresholdA3.strategies, "ordering": "phi_0 < phi_j",
          "description": "domestic < offshore-and-export (A.3 violated: joint threshold)"},
    "K": {"submodel": "SM-K", "strategies": NoOffshoringA3.strategies, "ordering": "phi_0 < phi_ex",
          "description": "domestic < export (no offshoring; A.1 and A.3 fail)"},
    "L": {"submodel": "SM-L", "strategies": AllExportNoOffshoring.strategies, "ordering": "phi_s",
          "description": "export only (no offshoring; every survivor exports; A.1 and A.3 fail)"},
}
# regime_index -> letter; index -1 (non-finite parameters) maps to ""
REGIME_LETTERS = ("A", "B", "C", "D", "E", "G", "H", "I", "J", "K", "L", "")


# ---------------------------------------------------------------------------------------------------
# Regime detection
# ---------------------------------------------------------------------------------------------------
def _probe(params: dict) -> _Economy:
    """An unvalidated parameter holder (values may be arrays) for parameter-only computations."""
    probe = _Economy.__new__(_Economy)
    defaults = _Economy.defaults()
    for name in _Economy.parameter_names():
        object.__setattr__(probe, name, jnp.asarray(params.get(name, defaults[name]), dtype=jnp.float64))
    object.__setattr__(probe, "distribution", params.get("distribution", "pareto"))
    object.__setattr__(probe, "quadrature_nodes", 96)
    return probe


def regime_index(model):
    """The firm regime implied by the parameters (spec 5.3), traceable: 0..4 for A..E (A.3 holds),
    5..10 for G..L (A.3 fails, paper Sec. 4.2), -1 only for non-finite parameters.

    For SM-F the workbench price is endogenous; this uses the interior p_w = A_Yw/A_Iw (see
    `firm_ordering(model, sol)` for the solved regime).

    **Arguments:** `model`: any sub-model instance, or a dict of parameter values (arrays allowed, e.g.
    a whole grid; missing ones at the spec defaults).

    **Returns:** an int32 array (batched if the parameters are); `REGIME_LETTERS[i]` is the letter.
    """
    model = _probe(model) if isinstance(model, dict) else model
    return _index_from_conditions(_regime_conditions(model, model.prices({"p_w": model.A_Yw / model.A_Iw})))


@dataclasses.dataclass(frozen=True)
class FirmOrdering:
    """The productivity ordering of firm strategies at a parameter point (see `firm_ordering`)."""

    regime: str
    submodel: str
    strategies: tuple
    ordering: str
    description: str
    q: float
    p1_tilde: float
    p2_tilde: float
    matches_model: bool

    def __str__(self):
        return (f"regime {self.regime} ({self.submodel}): {self.description}; {self.ordering}; "
                f"q = {self.q:.6g} (p1_tilde = {self.p1_tilde:.6g}, p2_tilde = {self.p2_tilde:.6g})")


def firm_ordering(model: _Economy, sol=None) -> FirmOrdering:
    """Which firms do what, by productivity, at the model's parameters (spec 5.3, 5.10).

    **Arguments:**

    - `model`: any sub-model instance (eager parameters).
    - `sol`: for SM-F, a solution of `model` (the regime then depends on the endogenous p_w); solved if
      omitted.

    **Returns:** a `FirmOrdering`: regime letter, the matching sub-model id, the strategies in
    increasing productivity, the cutoff ordering, q and the A.2 bounds p1_tilde, p2_tilde, and whether
    the regime matches the model's own sub-model.
    """
    if not is_concrete(model):
        raise ValueError("firm_ordering needs concrete parameters; use regime_index under jit/vmap")
    if model.workbench_specialized:
        from ..solve import solve

        if sol is None or not np.isfinite(np.asarray(sol.unknowns["p_w"])):
            sol = solve(model, mask=False)  # a masked solution has no p_w to read
        pr = model.prices(sol.unknowns)
        idx = int(np.asarray(_index_from_conditions(_regime_conditions(model, pr))))
    else:
        pr = model.prices()
        idx = int(np.asarray(regime_index(model)))
    if idx < 0:
        raise ParameterError(f"{model.label()}: no firm regime at these parameters (non-finite values?).")
    letter = REGIME_LETTERS[idx]
    info = REGIMES[letter]
    own = model.regime_name if model.regime_name != "F" else "A"
    return FirmOrdering(
        regime=letter, submodel=info["submodel"],
        strategies=tuple(STRATEGY_NAMES[s] for s in info["strategies"]),
        ordering=info["ordering"], description=info["description"],
        q=float(pr["q"]), p1_tilde=float(pr["p1_tilde"]), p2_tilde=float(pr["p2_tilde"]),
        matches_model=(letter == own),
    )


def submodel_for(**params):
    """The sub-model class whose regime contains these parameters (interior workbench).

    **Arguments:** parameter values by name (others at the spec defaults).

    **Returns:** one of `SUBMODELS` (never SM-F; check `sol.regime` for the workbench interior): SM-A..SM-E
    when A.3 (f_ex tau^(sigma-1) > f_p + f_I) holds, SM-G..SM-L when it fails (paper Sec. 4.2).
    """
    idx = int(np.asarray(regime_index(params)))
    if idx < 0:
        raise ParameterError(f"no firm regime at parameters {params} (non-finite values?).")
    return SUBMODELS[REGIMES[REGIME_LETTERS[idx]]["submodel"]]


def build(**params) -> _Economy:
    """The sub-model instance matching the parameters' regime, e.g. `build(tau_I=1.95)` is an SM-B."""
    return submodel_for(**params)(**params)


# ---------------------------------------------------------------------------------------------------
# Firm level and export margins
# ---------------------------------------------------------------------------------------------------
def firm_outcomes(sol, phi):
    """Firm-level outcomes at productivity `phi` in a solved equilibrium (see `_Economy.firm`).

    **Arguments:** `sol` (a `Solution` of any sub-model), `phi` (scalar or array).

    **Returns:** dict of arrays (revenues r_H, r_F, r_tot, profit, quantities, strategy flags).
    """
    return sol.model.firm(sol.unknowns, phi)


MARGIN_COMPONENTS = ("entry", "intensive", "extensive", "switching", "distribution")


def _export_channels(model, u):
    """X_exp evaluated with one channel live at a time (the rest frozen by stop_gradient).

    X_exp = M_e * sum over exporting strategies s of Int_{a_s}^{a_s+1} r_s(phi) g(phi) dphi, with
    r_s(phi) = n sigma f_p w tau^(1-sigma) Q^off_s (phi/phi_0)^(sigma-1). The chain rule splits dX_exp into
    entry (M_e), intensive (r_s at fixed phi: incumbents), extensive (the lowest exporting threshold:
    new exporters), switching (interior thresholds between exporting strategies: exporters changing how
    they source, regime B only) and distribution (the parameters of g). These partial derivatives sum to
    the total derivative exactly (spec O22 generalized to every regime).
    """
    sg = jax.lax.stop_gradient
    u = dict(u)  # a plain dict (a dict subclass such as the core's Point is not a pytree node)
    frozen = jax.tree_util.tree_map(sg, model)
    u_frozen = jax.tree_util.tree_map(sg, u)

    def X(entry=False, intensive=False, extensive=False, switching=False, distribution=False):
        rev = model if intensive else frozen  # the firm-level revenue function r_s(phi)
        ur = u if intensive else u_frozen
        pr = rev.prices(ur)
        segs = rev.segments(ur, pr)
        dist = (model if distribution else frozen).productivity()
        s1 = rev.sigma - 1.0
        M_e = u["M_e"] if entry else u_frozen["M_e"]
        exp_idx = [i for i, g in enumerate(segs) if g["exp"]]
        total = 0.0
        for i in exp_idx:
            lo_live = extensive if i == exp_idx[0] else switching
            hi_live = switching
            lo = (u if lo_live else u_frozen)[segs[i]["threshold"]]
            hi = None if i + 1 == len(segs) else (u if hi_live else u_frozen)[segs[i + 1]["threshold"]]
            c_s = rev.sigma * rev.f_p * pr["w"] * rev.t() * (pr["Q"] if segs[i]["off"] else 1.0)
            total = total + c_s * ur["phi_0"] ** (-s1) * dist.H(lo, hi, s=s1)
        return M_e * total

    out = {"X_exp": X(True, True, True, True, True)}
    for comp in MARGIN_COMPONENTS:
        out[comp] = X(**{comp: True})
    outs = model.outputs(u)
    out["M_ex"] = outs["M_ex"]
    out["exports_per_exporter"] = outs["exports_per_exporter"]
    return out


def _margins_at(model, wrt, sol=None):
    from ..statics import total_derivatives

    # one compiled derivative serves every shock (total_derivatives compiles per tuple of directions)
    directions = tuple(model.shocks) if wrt in model.shocks else (wrt,)
    values, d = total_derivatives(model, directions, quantities=_export_channels, sol=sol)
    return values, {k: d[k][wrt] for k in d}


def margins(model: _Economy, wrt: str = "tau_I", change=None, *, nodes: int = 10, by: str = "firm"):
    """Decompose the response of X exports (final-goods exports per country) into margins.

    By firm (default; the paper's definitions, spec O19-O22, generalized to every regime):
    entry (mass of entrants M_e), intensive (export sales of incumbent exporters at fixed productivity),
    extensive (firms crossing the export cutoff), switching (exporters changing their sourcing mode,
    regime B only) and distribution (parameters of g). By count (`by="count"`): number of exporters M_ex
    and exports per exporter X_exp/M_ex (under Pareto the latter is constant; spec pitfall 14).

    With `change=None` the derivatives d X_exp/d wrt come from the implicit function theorem
    (`jo.total_derivatives`). With a finite `change` (new value = old + change), each component's
    derivative is integrated along the straight path by `nodes`-point Gauss-Legendre quadrature in the
    parameter, with a solve per node warm-started from the previous node; the difference of the two
    end-point solves is reported alongside as a check (row "two_solves").

    **Arguments:**

    - `model`: a sub-model instance; `wrt`: the parameter (e.g. "tau_I", "tau", "f_I", "f_ex", "n").
    - `change`: None (derivatives) or the finite change in `wrt`.
    - `nodes`: Gauss-Legendre nodes along the path; `by`: "firm" or "count".

    **Returns:** a pandas DataFrame with one row per component plus "total" (and "two_solves" for a
    finite change); columns "derivative" and "elasticity" (d ln X_exp/d ln wrt contributions), or
    "change" and "log_change" for a finite change.
    """
    import pandas as pd

    from ..solve import solve as _solve

    if by not in ("firm", "count"):
        raise ValueError(f"by must be 'firm' or 'count', got {by!r}")
    theta0 = float(np.asarray(getattr(model, wrt)))
    comps = list(MARGIN_COMPONENTS) if by == "firm" else ["number_of_exporters", "exports_per_exporter"]

    def split(values, d):
        X = values["X_exp"]
        if by == "firm":
            parts = {c: d[c] for c in MARGIN_COMPONENTS}
        else:  # d X = (X/M_ex) dM_ex + M_ex d(X/M_ex)
            parts = {"number_of_exporters": values["exports_per_exporter"] * d["M_ex"],
                     "exports_per_exporter": values["M_ex"] * d["exports_per_exporter"]}
        return X, {k: float(np.asarray(v)) for k, v in parts.items()}, float(np.asarray(d["X_exp"]))

    import warnings

    from ..solve import ConvergenceWarning

    def solve(m, **kw):  # failures are reported by _check with the regime they fell into
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return _solve(m, **kw)

    sol0 = solve(model, mask=False)
    _check(sol0, model, wrt, theta0)
    if change is None:
        values, d = _margins_at(model, wrt, sol0)
        X, parts, total = split(values, d)
        X = float(np.asarray(X))
        rows = {**parts, "total": total}
        df = pd.DataFrame({"derivative": rows, "elasticity": {k: v * theta0 / X for k, v in rows.items()}})
        df.index.name = f"dX_exp/d{wrt}"
        df.attrs.update(model=model.label(), wrt=wrt, X_exp=X, regime=model.regime_name)
        return df

    from ..blocks.quadrature import gauss_legendre

    x, wts = gauss_legendre(int(nodes))
    change = float(change)
    acc = {k: 0.0 for k in comps + ["total"]}
    acc_log = dict(acc)
    guess = sol0
    for xi, wi in zip(x, wts):
        th = theta0 + 0.5 * (xi + 1.0) * change
        m_i = model.with_params(**{wrt: th})
        sol_i = solve(m_i, guess=guess, mask=False)
        _check(sol_i, m_i, wrt, th)
        guess = sol_i
        values, d = _margins_at(m_i, wrt, sol_i)
        X, parts, total = split(values, d)
        X = float(np.asarray(X))
        for k, v in {**parts, "total": total}.items():
            acc[k] += 0.5 * wi * change * v
            acc_log[k] += 0.5 * wi * change * v / X
    sol1 = solve(model.with_params(**{wrt: theta0 + change}), guess=guess, mask=False)
    _check(sol1, sol1.model, wrt, theta0 + change)
    X0, X1 = float(np.asarray(sol0["X_exp"])), float(np.asarray(sol1["X_exp"]))
    acc["two_solves"] = X1 - X0
    acc_log["two_solves"] = float(np.log(X1 / X0))
    df = pd.DataFrame({"change": acc, "log_change": acc_log})
    df.index.name = f"Delta X_exp, {wrt}: {theta0:g} -> {theta0 + change:g}"
    df.attrs.update(model=model.label(), wrt=wrt, X_exp_before=X0, X_exp_after=X1, nodes=int(nodes))
    return df


def _check(sol, model, wrt, value):
    status = int(np.asarray(sol.status))
    if status != 0:
        hint = ""
        if status in (2, 3):
            try:
                hint = f" The firm ordering there is: {firm_ordering(model, sol)}."
            except Exception:
                pass
        raise ValueError(f"{model.label()} at {wrt} = {value:.6g}: {sol.message()}{hint} Margins along a path "
                         "must stay inside one regime; use a smaller change or the matching sub-model.")
