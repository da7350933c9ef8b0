"""Equilibrium systems of the structural gravity family (the `jaxoff.Model` classes).

Arrays are [exporter i, importer j]. `trade_cost` is T_ij = t_ij^(1-sigma) = exp(b'x_ij): larger
means cheaper trade (the convention of gegravity). Multilateral resistances are solved for in
their transformed form Pt_j = P_j^(1-sigma) (inward, IMR) and Ot_i = Pi_i^(1-sigma) (outward, OMR)
with `Positive` transforms, i.e. in logs, so no manual rescaling of the resistances is ever
needed. The reference importer's IMR is 1 and is not an unknown.

Equations (the family's documentation gives the full derivation):

    IMR   Pt_j = sum_i T_ij y_i / Ot_i          (j != reference)
    OMR   Ot_i = sum_j T_ij e_j / Pt_j
    market clearing (full GE)   y'_i = beta_i p_i^(1-sigma) Ot'_i,   beta_i = y_i / Ot_i (baseline)

with output shares y = Y / sum Y and expenditure shares e = E / sum E normalised separately.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..model import Model
from ..transforms import Positive

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "multicountry"
SAMPLE_FILE = "gegravity_sample_data_set_2006.csv"
WIOD_FILE = "wiod2016_ge_gravity_example_trade_44_2000_2014.csv"

#: gegravity's example PPML coefficients for the sample data (its examples/examples_OneSectorGE.py).
EXAMPLE_COEFFICIENTS = {
    "lndist": (-0.3898623, 0.0729915),
    "contiguity": (0.891577, 0.1327354),
    "common_language": (0.0326249, 0.0840702),
    "pta": (0.4711383, 0.1076578),
    "international": (-3.412584, 0.2151235),
    "constant": (16.32434, 0.4844137),
}
#: gegravity's Monte Carlo example covariance (order of EXAMPLE_COEFFICIENTS).
EXAMPLE_COVARIANCE = np.array([
    [.00532776, .00504029, .00093778, .00473823, -.01440259, -.03476407],
    [.00504029, .01761868, -.00175404, -.00030881, -.01492965, -.03036031],
    [.00093778, -.00175404, .00706779, .00249937, .00136678, -.01312498],
    [.00473823, -.00030881, .00249937, .01159021, -.01538926, -.03255428],
    [-.01440259, -.01492965, .00136678, -.01538926, .04627812, .08911527],
    [-.03476407, -.03036031, -.01312498, -.03255428, .08911527, .23465662],
])
#: The EU-enlargement partial effect of the ge_gravity example (three-way PPML estimate).
EU_ENLARGEMENT_BETA = 0.224249005317688

SAMPLE_REFERENCE = 7  # DEU in the alphabetical list of the sample's 30 countries


@functools.lru_cache(maxsize=1)
def _sample_arrays():
    """Trade costs, outputs and expenditures of the sample data with the example coefficients."""
    import pandas as pd

    d = pd.read_csv(DATA_DIR / SAMPLE_FILE)
    d["constant"] = 1.0
    countries = sorted(set(d["exporter"]) | set(d["importer"]))
    idx = {c: k for k, c in enumerate(countries)}
    n = len(countries)
    lnT = np.zeros((n, n))
    i = d["exporter"].map(idx).to_numpy()
    j = d["importer"].map(idx).to_numpy()
    for var, (b, _) in EXAMPLE_COEFFICIENTS.items():
        lnT[i, j] += b * d[var].to_numpy(float)
    Y = d.groupby("exporter")["Y"].mean().reindex(countries).to_numpy(float)
    E = d.groupby("importer")["E"].mean().reindex(countries).to_numpy(float)
    return np.exp(lnT), Y, E


@functools.lru_cache(maxsize=1)
def _wiod_2000():
    """Year-2000 WIOD flows and the EU-enlargement shock of the ge_gravity example."""
    import pandas as pd

    d = pd.read_csv(DATA_DIR / WIOD_FILE)
    countries = sorted(set(d["exporter"]))
    piv = lambda y, col: d[d.year == y].pivot(index="exporter", columns="importer", values=col).loc[countries, countries].to_numpy(float)  # noqa: E731
    X = piv(2000, "trade")
    new_eu = piv(2014, "eu_enlargement") - piv(2000, "eu_enlargement")
    return X, EU_ENLARGEMENT_BETA * new_eu


def _field_default(getter, k):
    return dataclasses.field(default_factory=lambda: np.array(getter()[k]))


# -- shared algebra --------------------------------------------------------------------------------
def full_imr(imr_other, ref: int):
    """Insert the reference importer's Pt = 1 into the vector of the other importers' Pt."""
    return jnp.insert(imr_other, ref, 1.0)


def mr_residuals(lnT, lny, lne, ln_pt, ln_ot):
    """Log residuals of the IMR (all j; the caller drops the reference) and OMR (all i) equations."""
    r_imr = ln_pt - logsumexp(lnT + lny[:, None] - ln_ot[:, None], axis=0)
    r_omr = ln_ot - logsumexp(lnT + lne[None, :] - ln_pt[None, :], axis=1)
    return r_imr, r_omr


def sinkhorn(lnT, lny, lne, ref: int, sweeps: int, ln_pt=None):
    """`sweeps` Sinkhorn (RAS) sweeps of the MR system in logs, renormalised to Pt_ref = 1."""
    ln_pt = jnp.zeros(lnT.shape[1]) if ln_pt is None else ln_pt

    def sweep(_, a):
        b = logsumexp(lnT + lne[None, :] - a[None, :], axis=1)
        a = logsumexp(lnT + lny[:, None] - b[:, None], axis=0)
        return a - a[ref]

    ln_pt = jax.lax.fori_loop(0, sweeps, sweep, ln_pt)
    ln_ot = logsumexp(lnT + lne[None, :] - ln_pt[None, :], axis=1)
    return ln_pt, ln_ot


def _offdiag(x):
    return x * (1.0 - jnp.eye(x.shape[0]))


def country_outputs(sigma, Y, E, T, T_cf, Pt0, Ot0, Pt1, Ot1, p, y1, Ptc=None, Otc=None):
    """gegravity's country results (spec 7.1) from baseline and counterfactual MRs and prices.

    `y1` are the counterfactual output shares used in the counterfactual flows; E' = p E.
    """
    k = 1.0 / (1.0 - sigma)
    P0, P1, Pi0, Pi1 = Pt0 ** k, Pt1 ** k, Ot0 ** k, Ot1 ** k
    y0 = Y / jnp.sum(Y)
    Y1, E1 = p * Y, p * E
    X0 = T * E[None, :] * y0[:, None] / (Pt0[None, :] * Ot0[:, None])
    X1 = T_cf * E1[None, :] * y1[:, None] / (Pt1[None, :] * Ot1[:, None])
    pct = lambda new, old: 100.0 * (new / old - 1.0)  # noqa: E731
    out = {
        "factory_gate_price_change_pct": 100.0 * (p - 1.0),
        "omr_change_pct": pct(Pi1, Pi0),
        "imr_change_pct": pct(P1, P0),
        "gdp_change_pct": pct(Y1 / P1, Y / P0),
        "welfare_statistic": (E / P0) / (E1 / P1),
        "terms_of_trade_change_pct": pct(p / P1, 1.0 / P0),
        "output_change_pct": pct(Y1, Y),
        "expenditure_change_pct": pct(E1, E),
        "foreign_exports_change_pct": pct(_offdiag(X1).sum(1), _offdiag(X0).sum(1)),
        "foreign_imports_change_pct": pct(_offdiag(X1).sum(0), _offdiag(X0).sum(0)),
        "intranational_trade_change_pct": pct(jnp.diag(X1), jnp.diag(X0)),
        "welfare_change_pct": pct(E1 / P1, E / P0),
        "baseline_imr": P0, "experiment_imr": P1, "baseline_omr": Pi0, "experiment_omr": Pi1,
        "conditional_imr": (P1 if Ptc is None else Ptc ** k),
        "conditional_omr": (Pi1 if Otc is None else Otc ** k),
        "factory_gate_price": p, "baseline_flows": X0, "experiment_flows": X1,
        "shipments_gap": jnp.max(jnp.abs(X1.sum(1) / (y1 * jnp.sum(E1)) - 1.0)),
    }
    return out


# -- SG-B ------------------------------------------------------------------------------------------
class BaselineMR(Model):
    """SG-B: baseline multilateral resistances given trade costs, outputs and expenditures."""

    trade_cost: Any = _field_default(_sample_arrays, 0)
    Y: Any = _field_default(_sample_arrays, 1)
    E: Any = _field_default(_sample_arrays, 2)
    sigma: float = 5.0
    reference: int = eqx.field(static=True, default=SAMPLE_REFERENCE)
    guess_sweeps: int = eqx.field(static=True, default=30)

    family: ClassVar[str] = "structural_gravity"
    spec_id: ClassVar[str] = "SG-B"
    description: ClassVar[str] = "baseline multilateral resistances (Anderson-van Wincoop), reference importer's P = 1"
    shocks: ClassVar[tuple] = ("sigma",)
    unknowns: ClassVar[dict] = {"imr_t": Positive(), "omr_t": Positive()}

    # shares and logs
    def _lnT(self, cf: bool = False):
        return jnp.log(self.trade_cost_cf if cf else self.trade_cost)

    def _lny(self):
        return jnp.log(self.Y) - jnp.log(jnp.sum(self.Y))

    def _lne(self):
        return jnp.log(self.E) - jnp.log(jnp.sum(self.E))

    def _drop(self, v):
        return jnp.delete(v, self.reference, assume_unique_indices=True)

    def domain(self):
        T = self.trade_cost
        return {"sigma > 1": self.sigma > 1,
                "trade_cost > 0 and finite": jnp.all((T > 0) & jnp.isfinite(T)),
                "Y > 0": jnp.all(self.Y > 0), "E > 0": jnp.all(self.E > 0),
                "trade_cost is N x N with N = len(Y) = len(E)": jnp.asarray(
                    T.shape == (self.Y.shape[0], self.Y.shape[0]) and self.E.shape == self.Y.shape)}

    def _mr_guess(self, cf=False):
        a, b = sinkhorn(self._lnT(cf), self._lny(), self._lne(), self.reference, self.guess_sweeps)
        return jnp.exp(self._drop(a)), jnp.exp(b)

    def guess(self):
        pt, ot = self._mr_guess()
        return {"imr_t": pt, "omr_t": ot}

    def _mr_block(self, pt_other, ot, cf=False, lny=None, lne=None):
        ln_pt = jnp.log(full_imr(pt_other, self.reference))
        r_i, r_o = mr_residuals(self._lnT(cf), self._lny() if lny is None else lny,
                                self._lne() if lne is None else lne, ln_pt, jnp.log(ot))
        return self._drop(r_i), r_o, r_i[self.reference]

    def residuals(self, u):
        r_i, r_o, _ = self._mr_block(u["imr_t"], u["omr_t"])
        return {"imr": r_i, "omr": r_o}

    def walras(self, u):
        """The dropped IMR equation of the reference importer (zero at a solution)."""
        return {"imr_reference": self._mr_block(u["imr_t"], u["omr_t"])[2]}

    def outputs(self, u):
        k = 1.0 / (1.0 - self.sigma)
        Pt = full_imr(u["imr_t"], self.reference)
        Ot = u["omr_t"]
        y = self.Y / jnp.sum(self.Y)
        X = self.trade_cost * self.E[None, :] * y[:, None] / (Pt[None, :] * Ot[:, None])
        return {"imr": Pt ** k, "omr": Ot ** k, "baseline_flows": X,
                "factory_gate_price_param": y / Ot}

    def fixed_point(self, u):
        """One Sinkhorn sweep (natural units); its fixed point is the equilibrium."""
        return self._sweep(u["imr_t"], "imr_t", "omr_t")

    def _sweep(self, pt_other, kp, ko, cf=False, lny=None, lne=None):
        lnT = self._lnT(cf)
        lny = self._lny() if lny is None else lny
        lne = self._lne() if lne is None else lne
        a = jnp.log(full_imr(pt_other, self.reference))
        a, b = sinkhorn(lnT, lny, lne, self.reference, 1, a)
        return {kp: jnp.exp(self._drop(a)), ko: jnp.exp(b)}


# -- SG-C / SG-G ------------------------------------------------------------------------------------
class ConditionalGE(BaselineMR):
    """SG-C: baseline and conditional MRs (outputs and expenditures fixed), solved jointly."""

    trade_cost_cf: Any = _field_default(_sample_arrays, 0)

    spec_id: ClassVar[str] = "SG-C"
    description: ClassVar[str] = "conditional general equilibrium: MRs adjust to new trade costs, Y and E fixed"
    unknowns: ClassVar[dict] = {"imr_t": Positive(), "omr_t": Positive(),
                                "imr_t_cf": Positive(), "omr_t_cf": Positive()}

    def domain(self):
        d = super().domain()
        Tc = self.trade_cost_cf
        d["trade_cost_cf > 0 and finite"] = jnp.all((Tc > 0) & jnp.isfinite(Tc))
        d["trade_cost_cf has the shape of trade_cost"] = jnp.asarray(Tc.shape == self.trade_cost.shape)
        return d

    def guess(self):
        pt, ot = self._mr_guess()
        ptc, otc = self._mr_guess(cf=True)
        return {"imr_t": pt, "omr_t": ot, "imr_t_cf": ptc, "omr_t_cf": otc}

    def residuals(self, u):
        r_i, r_o, _ = self._mr_block(u["imr_t"], u["omr_t"])
        c_i, c_o, _ = self._mr_block(u["imr_t_cf"], u["omr_t_cf"], cf=True)
        return {"imr": r_i, "omr": r_o, "imr_cf": c_i, "omr_cf": c_o}

    def walras(self, u):
        return {"imr_reference": self._mr_block(u["imr_t"], u["omr_t"])[2],
                "imr_reference_cf": self._mr_block(u["imr_t_cf"], u["omr_t_cf"], cf=True)[2]}

    def _one_pass(self, u):
        """gegravity's 'full GE' (SG.5G-SG.8G): prices from the conditional OMR change."""
        Pt0, Ot0 = full_imr(u["imr_t"], self.reference), u["omr_t"]
        Pt1, Ot1 = full_imr(u["imr_t_cf"], self.reference), u["omr_t_cf"]
        p = (Ot0 / Ot1) ** (1.0 / (1.0 - self.sigma))
        y1 = p * self.Y / jnp.sum(p * self.Y)
        return country_outputs(self.sigma, self.Y, self.E, self.trade_cost, self.trade_cost_cf,
                               Pt0, Ot0, Pt1, Ot1, p, y1)

    def outputs(self, u):
        out = self._one_pass(u)
        y = self.Y / jnp.sum(self.Y)
        Pt1, Ot1 = full_imr(u["imr_t_cf"], self.reference), u["omr_t_cf"]
        out["conditional_flows"] = self.trade_cost_cf * self.E[None, :] * y[:, None] / (Pt1[None, :] * Ot1[:, None])
        return out

    def fixed_point(self, u):
        out = self._sweep(u["imr_t"], "imr_t", "omr_t")
        out.update(self._sweep(u["imr_t_cf"], "imr_t_cf", "omr_t_cf", cf=True))
        return out


class GegravityGE(ConditionalGE):
    """SG-G: gegravity 0.3's 'full GE', exactly as gegravity computes it (one pass).

    gegravity solves the counterfactual MR equations with the BASELINE output and expenditure
    shares, so its experiment MRs are the conditional MRs and factory-gate prices are
    p'_i = Pi_i / Pi'_i. This is the first pass of the full-endowment loop, not its fixed point
    (see `FullGE`); it is provided to reproduce gegravity's numbers.
    """

    spec_id: ClassVar[str] = "SG-G"
    description: ClassVar[str] = "gegravity's one-pass 'full GE' (prices from the conditional OMR change)"


# -- SG-F -------------------------------------------------------------------------------------------
class FullGE(ConditionalGE):
    """SG-F: the converged full endowment general equilibrium (multiplicative imbalances E = phi Y).

    Unknowns: baseline, conditional and counterfactual MRs and the factory-gate prices p'. The
    numeraire is the reference importer's consumer price index (P'_ref = 1).
    """

    spec_id: ClassVar[str] = "SG-F"
    description: ClassVar[str] = "full endowment GE, converged fixed point (outputs, shares and MRs all adjust)"
    unknowns: ClassVar[dict] = {"imr_t": Positive(), "omr_t": Positive(),
                                "imr_t_cf": Positive(), "omr_t_cf": Positive(),
                                "imr_t_full": Positive(), "omr_t_full": Positive(), "p": Positive()}

    def guess(self):
        g = super().guess()
        # first pass of the full-endowment loop (= SG-G) as the start
        pt, ot, ptc, otc = g["imr_t"], g["omr_t"], g["imr_t_cf"], g["omr_t_cf"]
        g.update({"imr_t_full": ptc, "omr_t_full": otc,
                  "p": (ot / otc) ** (1.0 / (1.0 - self.sigma))})
        return g

    def _new_shares(self, p):
        lny1 = jnp.log(p * self.Y) - jnp.log(jnp.sum(p * self.Y))
        lne1 = jnp.log(p * self.E) - jnp.log(jnp.sum(p * self.E))
        return lny1, lne1

    def residuals(self, u):
        r = super().residuals(u)
        lny1, lne1 = self._new_shares(u["p"])
        f_i, f_o, _ = self._mr_block(u["imr_t_full"], u["omr_t_full"], cf=True, lny=lny1, lne=lne1)
        ln_beta = self._lny() - jnp.log(u["omr_t"])
        r.update({"imr_full": f_i, "omr_full": f_o,
                  "market_clearing": lny1 - ln_beta - (1.0 - self.sigma) * jnp.log(u["p"]) - jnp.log(u["omr_t_full"])})
        return r

    def walras(self, u):
        w = super().walras(u)
        lny1, lne1 = self._new_shares(u["p"])
        w["imr_reference_full"] = self._mr_block(u["imr_t_full"], u["omr_t_full"], cf=True, lny=lny1, lne=lne1)[2]
        return w

    def outputs(self, u):
        Pt0, Ot0 = full_imr(u["imr_t"], self.reference), u["omr_t"]
        Ptc, Otc = full_imr(u["imr_t_cf"], self.reference), u["omr_t_cf"]
        Pt1, Ot1 = full_imr(u["imr_t_full"], self.reference), u["omr_t_full"]
        p = u["p"]
        y1 = p * self.Y / jnp.sum(p * self.Y)
        return country_outputs(self.sigma, self.Y, self.E, self.trade_cost, self.trade_cost_cf,
                               Pt0, Ot0, Pt1, Ot1, p, y1, Ptc, Otc)

    def fixed_point(self, u):
        """One pass of the full-endowment loop: shares from p, one MR sweep, then p from market clearing."""
        out = super().fixed_point(u)
        lny1, lne1 = self._new_shares(u["p"])
        out.update(self._sweep(u["imr_t_full"], "imr_t_full", "omr_t_full", cf=True, lny=lny1, lne=lne1))
        beta = jnp.exp(self._lny()) / u["omr_t"]
        out["p"] = (jnp.exp(lny1) / (beta * out["omr_t_full"])) ** (1.0 / (1.0 - self.sigma))
        return out


# -- SG-H -------------------------------------------------------------------------------------------
class HatAlgebra(Model):
    """SG-H: exact hat algebra on a flow matrix (Zylkin's ge_gravity), additive or multiplicative deficits.

    `flows` X (exporter x importer, including intranational), `log_trade_cost_change` = Delta ln T
    (the diagonal is ignored), `theta` = sigma - 1. Numeraire: world output (sum_i Y_i w_i = sum_i Y_i).
    """

    flows: Any = _field_default(_wiod_2000, 0)
    log_trade_cost_change: Any = dataclasses.field(default_factory=lambda: np.zeros_like(_wiod_2000()[0]))
    theta: float = 4.0
    deficits: str = eqx.field(static=True, default="additive")

    family: ClassVar[str] = "structural_gravity"
    spec_id: ClassVar[str] = "SG-H"
    description: ClassVar[str] = "exact hat algebra on observed flows (ge_gravity), additive or multiplicative deficits"
    shocks: ClassVar[tuple] = ("theta",)
    unknowns: ClassVar[dict] = {"w_hat": Positive()}

    def __check_init__(self):
        if self.deficits not in ("additive", "multiplicative"):
            raise ValueError(f"deficits must be 'additive' or 'multiplicative', got {self.deficits!r}")

    def domain(self):
        X = self.flows
        return {"theta > 0": self.theta > 0,
                "flows >= 0 and finite": jnp.all((X >= 0) & jnp.isfinite(X)),
                "positive row and column sums of flows": jnp.all(X.sum(0) > 0) & jnp.all(X.sum(1) > 0),
                "log_trade_cost_change finite": jnp.all(jnp.isfinite(self.log_trade_cost_change))}

    def guess(self):
        return {"w_hat": jnp.ones(self.flows.shape[0])}

    def _parts(self, w):
        X = self.flows
        Y, E = X.sum(1), X.sum(0)
        dlnT = _offdiag(self.log_trade_cost_change)
        A = X / E[None, :] * jnp.exp(dlnT) * w[:, None] ** (-self.theta)
        Phi = A.sum(0)
        E1 = Y * w + (E - Y) if self.deficits == "additive" else E * w
        X1 = A / Phi[None, :] * E1[None, :]
        return Y, E, Phi, E1, X1

    def residuals(self, u):
        w = u["w_hat"]
        Y, E, Phi, E1, X1 = self._parts(w)
        if self.deficits == "additive":
            mc = (X1.sum(1) - Y * w) / Y
        else:
            s = X1.sum(1)
            mc = (jnp.log(s) - jnp.log(jnp.sum(s))) - (jnp.log(Y * w) - jnp.log(jnp.sum(Y * w)))
        return {"market_clearing": mc[:-1], "numeraire": jnp.log(jnp.sum(Y * w) / jnp.sum(Y))[None]}

    def walras(self, u):
        Y, E, Phi, E1, X1 = self._parts(u["w_hat"])
        if self.deficits == "additive":
            return {"market_clearing_last": (X1.sum(1)[-1] - Y[-1] * u["w_hat"][-1]) / Y[-1]}
        s = X1.sum(1)
        w = u["w_hat"]
        return {"market_clearing_last": jnp.log(s[-1] / s.sum()) - jnp.log(Y[-1] * w[-1] / jnp.sum(Y * w))}

    def outputs(self, u):
        w = u["w_hat"]
        Y, E, Phi, E1, X1 = self._parts(w)
        X = self.flows
        sigma = 1.0 + self.theta
        P_hat = Phi ** (-1.0 / self.theta)
        welfare = (E1 / E) / P_hat
        Y1 = Y * w
        pi_hat = ((Y1 / jnp.sum(Y1)) / (Y / jnp.sum(Y))) ** (1.0 / (1.0 - sigma)) / w
        pct = lambda new, old: 100.0 * (new / old - 1.0)  # noqa: E731
        return {
            "nom_wage": w, "price_index": P_hat, "real_wage": w / P_hat, "welfare": welfare,
            "new_trade": X1,
            "factory_gate_price_change_pct": 100.0 * (w - 1.0),
            "omr_change_pct": 100.0 * (pi_hat - 1.0),
            "imr_change_pct": 100.0 * (P_hat - 1.0),
            "gdp_change_pct": 100.0 * (w / P_hat - 1.0),
            "welfare_statistic": 1.0 / welfare,
            "terms_of_trade_change_pct": 100.0 * (w / P_hat - 1.0),
            "output_change_pct": 100.0 * (w - 1.0),
            "expenditure_change_pct": pct(E1, E),
            "foreign_exports_change_pct": pct(_offdiag(X1).sum(1), _offdiag(X).sum(1)),
            "foreign_imports_change_pct": pct(_offdiag(X1).sum(0), _offdiag(X).sum(0)),
            "intranational_trade_change_pct": pct(jnp.diag(X1), jnp.diag(X)),
            "welfare_change_pct": 100.0 * (welfare - 1.0),
            "baseline_flows": X, "experiment_flows": X1,
            "world_expenditure_to_output": jnp.sum(E1) / jnp.sum(Y1),
        }

    def fixed_point(self, u):
        """One pass of ge_gravity's iteration (H.1-H.2): w from market clearing, world-output numeraire."""
        w = u["w_hat"]
        Y, E, Phi, E1, X1 = self._parts(w)
        X = self.flows
        dlnT = _offdiag(self.log_trade_cost_change)
        pi = X / E[None, :] * jnp.exp(dlnT)
        w_new = (jnp.sum(pi * (E1 / Phi)[None, :], axis=1) / Y) ** (1.0 / (1.0 + self.theta))
        return {"w_hat": w_new * jnp.sum(Y) / jnp.sum(Y * w_new)}
