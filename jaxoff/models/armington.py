"""A many-country, many-sector Armington economy with roundabout production (textbook model).

Not one of the seed papers: the smallest quantitative trade model with array parameters and
thousands of unknowns, used to show (and test, and benchmark) the many-country core: derivatives
w.r.t. a whole N x N trade-cost matrix, the adjoint gradient, the solver objects.

Notation. Countries n (importer), i (exporter) in 1..N; sectors s in 1..J. Labor L_i, productivity
A[i, s], iceberg costs tau[n, i] >= 1 (tau[n, n] = 1; importer first, as in the tariff tables of
the Caliendo-Parro family), elasticity of substitution sigma > 1, value-added share gamma in (0, 1],
final-demand shares alpha[s] (summing to one). Each sector uses labor and its own composite good:

    c[i, s]  = w_i^gamma P[i, s]^(1 - gamma) / A[i, s]                       unit cost
    P[n, s]^(1 - sigma) = sum_i (tau[n, i] c[i, s])^(1 - sigma)              CES price index      (ARM.1)
    pi[n, i, s] = (tau[n, i] c[i, s] / P[n, s])^(1 - sigma)                  trade shares
    X[n, s]  = alpha[s] w_n L_n + (1 - gamma) Y[n, s]                        sector spending
    Y[i, s]  = sum_n pi[n, i, s] X[n, s]                                     goods market         (ARM.2)
    w_i L_i  = gamma sum_s Y[i, s]                                           labor market         (ARM.3)

World GDP is the numeraire (sum_i w_i L_i = sum_i L_i) and replaces the labor market of country 1
(Walras' law makes it redundant; the `walras` hook reports it). Unknowns: w (N), P (N, J), Y (N, J):
N (2J + 1) of them. The fixed-point map (`fixed_point`) iterates ARM.1-ARM.3 (prices from costs,
output from spending, wages from the wage bill), the usual algorithm for such models.

`random_economy(N, J, seed)` draws a reproducible synthetic economy (distances on a circle, a border
effect) for tests and the scale benchmark.
"""
from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model
from ..transforms import Positive

__all__ = ["Armington", "random_economy", "SUBMODELS"]


class Armington(Model):
    """N-country, J-sector Armington economy with roundabout production (see the module docstring)."""

    # defaults: a three-country, two-sector example; `random_economy` builds any size
    L: jnp.ndarray = (1.0, 2.0, 0.5)  # labor endowments, shape (N,)
    A: jnp.ndarray = ((1.0, 1.2), (1.1, 0.9), (0.8, 1.0))  # productivities, shape (N, J)
    tau: jnp.ndarray = ((1.0, 1.5, 1.8), (1.5, 1.0, 1.6), (1.8, 1.6, 1.0))  # iceberg costs tau[importer, exporter]
    alpha: jnp.ndarray = (0.6, 0.4)  # final-demand shares, shape (J,)
    sigma: float = 5.0  # elasticity of substitution
    gamma: float = 0.5  # value-added share of gross output

    family: ClassVar[str] = "armington"
    spec_id: ClassVar[str] = "ARM"
    description: ClassVar[str] = "N-country, J-sector Armington economy with roundabout production (textbook)"
    unknowns: ClassVar[dict] = {"w": Positive(), "P": Positive(), "Y": Positive()}
    shocks: ClassVar[tuple] = ("tau",)

    def domain(self):
        return {
            "L > 0": jnp.all(self.L > 0),
            "A > 0": jnp.all(self.A > 0),
            "tau >= 1": jnp.all(self.tau >= 1),
            "sigma > 1": self.sigma > 1,
            "0 < gamma <= 1": (self.gamma > 0) & (self.gamma <= 1),
            "alpha >= 0, sum(alpha) = 1": jnp.all(self.alpha >= 0) & (jnp.abs(jnp.sum(self.alpha) - 1) < 1e-10),
        }

    def guess(self):
        # A few rounds of the model's own fixed-point map from a flat start: Newton then starts
        # inside its basin (the flat start can be far off for a dispersed economy).
        N, J = self.A.shape
        flat = {"w": jnp.ones(N), "P": jnp.ones((N, J)), "Y": jnp.ones((N, J)) * (self.L / self.gamma)[:, None] / J}
        return jax.lax.fori_loop(0, 25, lambda _, u: self.fixed_point(u), flat)

    # -- economics ------------------------------------------------------------------------------
    def _cost_weights(self):
        """tau^(1 - sigma), shape (n, i), in (0, 1]: the only N x N quantity of ARM.1-ARM.2. It does
        not depend on the unknowns, so compiled solver loops compute it once (XLA hoists it out of
        the loop) and every evaluation of the model is two N x N matrix products."""
        return jnp.exp((1 - self.sigma) * jnp.log(self.tau))

    def intermediates(self, u):
        # (tau[n, i] c[i, s])^(1 - sigma) = T[n, i] C[i, s]: ARM.1 is a matrix product and
        # sum_n pi[n, i, s] X[n, s] = C[i, s] sum_n T[n, i] X[n, s] / P[n, s]^(1 - sigma) another one,
        # so no N x N x J array is formed. C is scaled by its largest entry per sector (a stable
        # log-sum-exp over exporters); T <= 1 since tau >= 1 and sigma > 1.
        w, P = u["w"], u["P"]
        log_c = self.gamma * jnp.log(w)[:, None] + (1 - self.gamma) * jnp.log(P) - jnp.log(self.A)  # (i, s)
        e = (1 - self.sigma) * log_c
        top = jax.lax.stop_gradient(jnp.max(e, axis=0))  # (s,)
        C = jnp.exp(e - top)  # (i, s), in (0, 1]
        T = self._cost_weights()  # (n, i)
        S = T @ C  # (n, s): P[n, s]^(1 - sigma) / exp(top)                            ARM.1
        log_P_new = (jnp.log(S) + top) / (1 - self.sigma)  # (n, s)
        X = self.alpha[None, :] * (w * self.L)[:, None] + (1 - self.gamma) * u["Y"]  # (n, s)
        demand = X / S  # (n, s)
        # (demand^T T)^T, not T^T demand: XLA's CPU matrix-vector product with a transposed operand
        # ran 5x slower (0.39 vs 0.08 ms at N = 1000), and it was most of the map's cost
        sales = C * (demand.T @ T).T  # (i, s): sum_n pi[n, i, s] X[n, s]               ARM.2
        return {"log_P_new": log_P_new, "X": X, "sales": sales, "C": C, "demand": demand}

    def residuals(self, u):
        u = self.point(u)
        wage_bill = u["w"] * self.L
        labor = self.gamma * jnp.sum(u["Y"], axis=1) / wage_bill - 1  # ARM.3
        numeraire = jnp.sum(wage_bill) / jnp.sum(self.L) - 1
        return {
            "price_index": jnp.log(u["P"]) - u["log_P_new"],
            "goods_market": u["sales"] / u["Y"] - 1,
            "numeraire": numeraire[None],
            "labor_market": labor[1:],
        }

    def walras(self, u):
        u = self.point(u)
        return {"labor_market_0": self.gamma * jnp.sum(u["Y"][0]) / (u["w"][0] * self.L[0]) - 1}

    def fixed_point(self, u):
        u = self.point(u)
        # Wages move a fraction 1/sigma of the way (in logs) to the wage bill that sales pay: a full
        # step overshoots, since demand for a country's goods has elasticity sigma - 1.
        w_paid = self.gamma * jnp.sum(u["Y"], axis=1) / self.L
        w = u["w"] * (w_paid / u["w"]) ** (1 / self.sigma)
        w = w * jnp.sum(self.L) / jnp.sum(w * self.L)
        return {"w": w, "P": jnp.exp(u["log_P_new"]), "Y": u["sales"]}

    def outputs(self, u):
        u = self.point(u)
        log_price = jnp.sum(self.alpha[None, :] * jnp.log(u["P"]), axis=1)
        real_wage = u["w"] * jnp.exp(-log_price)
        # flows summed over sectors: sum_s pi[n, i, s] X[n, s] = T[n, i] sum_s (X / S)[n, s] C[i, s]
        total = self._cost_weights() * (u["demand"] @ u["C"].T)  # (n, i)
        return {
            "real_wage": real_wage,
            "welfare": jnp.log(real_wage),
            "domestic_share": jnp.diagonal(total) / jnp.sum(total, axis=1),
            "trade": total,
        }

    def regime(self, u):
        return {}


def random_economy(N: int, J: int = 1, *, seed: int = 0, sigma: float = 5.0, gamma: float = 0.5) -> Armington:
    """A reproducible synthetic economy: countries on a circle, costs rising with distance plus a
    border, log-normal labor and productivities, Dirichlet final-demand shares.

    **Returns:** an `Armington` model with N countries and J sectors (N (2J + 1) unknowns).
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, N)
    dist = np.abs(np.angle(np.exp(1j * (angle[:, None] - angle[None, :]))))
    tau = np.where(np.eye(N, dtype=bool), 1.0, 1.3 + 0.4 * dist)
    L = np.exp(rng.normal(0, 0.8, N))
    A = np.exp(rng.normal(0, 0.2, (N, J)))
    alpha = rng.dirichlet(np.full(J, 2.0)) if J > 1 else np.ones(1)
    return Armington(L=L, A=A, tau=tau, alpha=alpha, sigma=sigma, gamma=gamma)


SUBMODELS = {"ARM": Armington}
