"""Plain NumPy/SciPy peers of the Armington economy (jaxoff.models.armington), for bench_scale.py.

The same equations as the jaxoff model, written again in NumPy without jaxoff or JAX:

    c[i, s]  = w_i^gamma P[i, s]^(1 - gamma) / A[i, s]
    P[n, s]^(1 - sigma) = sum_i (tau[n, i] c[i, s])^(1 - sigma)              (ARM.1)
    pi[n, i, s] = (tau[n, i] c[i, s] / P[n, s])^(1 - sigma)
    X[n, s]  = alpha[s] w_n L_n + (1 - gamma) Y[n, s]
    Y[i, s]  = sum_n pi[n, i, s] X[n, s]                                     (ARM.2)
    w_i L_i  = gamma sum_s Y[i, s]   (i >= 1; world GDP = sum L is the numeraire)   (ARM.3)

Unknowns in log coordinates x = (ln w (N), ln P (N*J), ln Y (N*J)), residuals in the order
(price index, goods market, numeraire, labor market of countries 1..N-1), both as in jaxoff, so
the peers solve exactly the system jaxoff solves, from the same starting point (25 rounds of the
fixed-point map from a flat start).

The equations are evaluated in the same matrix form as jaxoff's model: T = tau^(1 - sigma) once per
solve, then two N x N by N x J matrix products per evaluation (see `intermediates`); an N x N x J
log-sum-exp, which jaxoff's model used before (and this file until then), costs N times more.

Three peers:

* `solve_fixed_point`: the model's fixed-point map (prices from costs, output from spending,
  wages a fraction 1/sigma of the way to the wage bill, renormalised) iterated until the residuals
  are below tolerance (the usual algorithm of quantitative trade models);
* `solve_hybr`: `scipy.optimize.root(method="hybr")` (MINPACK, finite-difference Jacobian);
* `solve_krylov`: `scipy.optimize.root(method="krylov")` (Newton-Krylov, finite-difference
  Jacobian-vector products).

Each peer takes a wall-clock budget (`budget` seconds): when it is exceeded the residual function
raises `OverBudget`, and the peer reports that it stopped (it never hangs the benchmark).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.optimize


class OverBudget(Exception):
    """Raised inside a peer's residual function once its time budget is spent."""


@dataclass
class Economy:
    """Parameters of an Armington economy as NumPy arrays (see the module docstring)."""

    L: np.ndarray  # (N,)
    A: np.ndarray  # (N, J)
    tau: np.ndarray  # (N, N), tau[importer, exporter]
    alpha: np.ndarray  # (J,)
    sigma: float
    gamma: float

    @staticmethod
    def of(model) -> "Economy":
        """The parameters of a jaxoff `Armington` model, copied into NumPy."""
        return Economy(*(np.asarray(getattr(model, k), dtype=float) for k in ("L", "A", "tau", "alpha")),
                       float(model.sigma), float(model.gamma))

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape

    @property
    def n_unknowns(self) -> int:
        N, J = self.shape
        return N * (2 * J + 1)


def split(e: Economy, x: np.ndarray):
    """(w, P, Y) in natural units from the log-coordinates vector x."""
    N, J = e.shape
    w = np.exp(x[:N])
    P = np.exp(x[N:N + N * J]).reshape(N, J)
    Y = np.exp(x[N + N * J:]).reshape(N, J)
    return w, P, Y


def join(w, P, Y) -> np.ndarray:
    """The log-coordinates vector x of (w, P, Y)."""
    return np.log(np.concatenate([np.ravel(w), np.ravel(P), np.ravel(Y)]))


def cost_weights(e: Economy) -> np.ndarray:
    """T = tau^(1 - sigma), shape (n, i): the only N x N quantity of ARM.1-ARM.2. It does not depend
    on the unknowns, so every peer computes it once per solve (outside its loop)."""
    return np.exp((1 - e.sigma) * np.log(e.tau))


def intermediates(e: Economy, w, P, Y, T: np.ndarray | None = None):
    """(ln of the new price index (N, J), sales (N, J)) at (w, P, Y): ARM.1 and ARM.2.

    Written as a competent NumPy user would: (tau[n, i] c[i, s])^(1 - sigma) = T[n, i] C[i, s], so
    ARM.1 is the matrix product T @ C and sum_n pi[n, i, s] X[n, s] = C[i, s] sum_n T[n, i]
    X[n, s] / P[n, s]^(1 - sigma) is T^T @ (X / S): two N x N by N x J products, no N x N x J array.
    C is scaled by its largest entry per sector (a stable log-sum-exp over exporters). `T` is
    `cost_weights(e)` (computed here if not given; the solvers pass it in)."""
    T = cost_weights(e) if T is None else T
    log_c = e.gamma * np.log(w)[:, None] + (1 - e.gamma) * np.log(P) - np.log(e.A)  # (i, s)
    x = (1 - e.sigma) * log_c
    top = x.max(axis=0)  # (s,)
    C = np.exp(x - top)  # (i, s), in (0, 1]
    S = T @ C  # (n, s): P[n, s]^(1 - sigma) / exp(top)                                    ARM.1
    log_P_new = (np.log(S) + top) / (1 - e.sigma)
    X = e.alpha[None, :] * (w * e.L)[:, None] + (1 - e.gamma) * Y
    sales = C * (T.T @ (X / S))  # (i, s): sum_n pi[n, i, s] X[n, s]                       ARM.2
    return log_P_new, sales


def _residuals_from(e: Economy, w, P, Y, log_P_new, sales) -> np.ndarray:
    wage_bill = w * e.L
    labor = e.gamma * Y.sum(axis=1) / wage_bill - 1
    numeraire = wage_bill.sum() / e.L.sum() - 1
    return np.concatenate([(np.log(P) - log_P_new).ravel(), (sales / Y - 1).ravel(), [numeraire], labor[1:]])


def residuals(e: Economy, x: np.ndarray, T: np.ndarray | None = None) -> np.ndarray:
    """The residual vector at log coordinates x (same order and scaling as jaxoff's); `T` as in
    `intermediates`."""
    w, P, Y = split(e, x)
    return _residuals_from(e, w, P, Y, *intermediates(e, w, P, Y, T))


def _map_from(e: Economy, w, Y, log_P_new, sales):
    w_paid = e.gamma * Y.sum(axis=1) / e.L
    w_new = w * (w_paid / w) ** (1 / e.sigma)
    w_new = w_new * e.L.sum() / (w_new * e.L).sum()
    return w_new, np.exp(log_P_new), sales


def fixed_point(e: Economy, w, P, Y, T: np.ndarray | None = None):
    """One application of the fixed-point map (the same map as `Armington.fixed_point`)."""
    log_P_new, sales = intermediates(e, w, P, Y, T)
    return _map_from(e, w, Y, log_P_new, sales)


def guess(e: Economy) -> np.ndarray:
    """The starting point: 25 rounds of the map from w = 1, P = 1, Y = L / (gamma J)."""
    N, J = e.shape
    T = cost_weights(e)
    w, P, Y = np.ones(N), np.ones((N, J)), np.ones((N, J)) * (e.L / e.gamma)[:, None] / J
    for _ in range(25):
        w, P, Y = fixed_point(e, w, P, Y, T)
    return join(w, P, Y)


@dataclass
class PeerResult:
    """What a peer returns: `x` (log coordinates, NaN if it did not finish), `ok`, `residual`
    (max |F| at the returned point), `iterations` (map applications or residual evaluations),
    `message`."""

    x: np.ndarray
    ok: bool
    residual: float
    iterations: int
    message: str

    def w(self, e: Economy) -> np.ndarray:
        return np.exp(self.x[:e.shape[0]])


def solve_fixed_point(e: Economy, tol: float = 1e-10, *, budget: float = 60.0, max_iter: int = 1_000_000,
                      x0: np.ndarray | None = None) -> PeerResult:
    """Iterate the fixed-point map until max |residual| <= tol (each iteration computes the
    intermediates once and uses them for both the residual check and the next iterate).

    **Arguments:** `e`; `tol`; `budget` (seconds of wall time); `max_iter`; `x0` (default `guess(e)`).

    **Returns:** a `PeerResult`.
    """
    w, P, Y = split(e, guess(e) if x0 is None else x0)
    start = time.perf_counter()
    T = cost_weights(e)  # once per solve (timed)
    for k in range(max_iter):
        log_P_new, sales = intermediates(e, w, P, Y, T)
        r = float(np.max(np.abs(_residuals_from(e, w, P, Y, log_P_new, sales))))
        if not np.isfinite(r):
            return PeerResult(join(w, P, Y) * np.nan, False, r, k, "diverged")
        if r <= tol:
            return PeerResult(join(w, P, Y), True, r, k, "converged")
        if time.perf_counter() - start > budget:
            return PeerResult(join(w, P, Y), False, r, k, f"stopped (> {budget:g} s)")
        w, P, Y = _map_from(e, w, Y, log_P_new, sales)
    return PeerResult(join(w, P, Y), False, r, max_iter, "max_iter")


def _budgeted(e: Economy, budget: float):
    start, calls = time.perf_counter(), [0]
    T = cost_weights(e)  # once per solve (timed), shared by every residual evaluation

    def F(x):
        calls[0] += 1
        if time.perf_counter() - start > budget:
            raise OverBudget
        return residuals(e, x, T)

    return F, calls


def _scipy(e: Economy, method: str, tol: float, budget: float, options: dict, x0) -> PeerResult:
    x0 = guess(e) if x0 is None else x0
    F, calls = _budgeted(e, budget)
    try:
        res = scipy.optimize.root(F, x0, method=method, options=options)
    except OverBudget:
        return PeerResult(x0 * np.nan, False, np.nan, calls[0], f"stopped (> {budget:g} s)")
    except (ValueError, np.linalg.LinAlgError, OverflowError) as err:  # krylov raises on breakdowns
        return PeerResult(x0 * np.nan, False, np.nan, calls[0], f"failed: {type(err).__name__}: {err}")
    r = float(np.max(np.abs(residuals(e, res.x))))
    ok = bool(np.isfinite(r) and r <= tol)
    msg = "converged" if ok else f"not converged (max|F| {r:.1e}; {res.message})"
    return PeerResult(res.x if np.all(np.isfinite(res.x)) else res.x * np.nan, ok, r, calls[0], msg)


def solve_hybr(e: Economy, tol: float = 1e-10, *, budget: float = 60.0, x0: np.ndarray | None = None) -> PeerResult:
    """`scipy.optimize.root(method="hybr")` with MINPACK's finite-difference Jacobian.

    **Arguments:** `e`; `tol` (max |F| for success; xtol is set to 1e-12); `budget` (seconds);
    `x0` (default `guess(e)`).

    **Returns:** a `PeerResult` (`iterations` counts residual evaluations, Jacobian columns included).
    """
    return _scipy(e, "hybr", tol, budget, {"xtol": 1e-12}, x0)


def solve_krylov(e: Economy, tol: float = 1e-10, *, budget: float = 60.0,
                 x0: np.ndarray | None = None) -> PeerResult:
    """`scipy.optimize.root(method="krylov")`: Newton-Krylov (LGMRES) with finite-difference
    Jacobian-vector products, stopping at max |F| <= tol.

    **Arguments:** `e`; `tol`; `budget` (seconds); `x0` (default `guess(e)`).

    **Returns:** a `PeerResult` (`iterations` counts residual evaluations).
    """
    return _scipy(e, "krylov", tol, budget, {"fatol": tol, "maxiter": 200}, x0)
