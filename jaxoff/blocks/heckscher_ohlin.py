"""The 2x2x2 Leontief Heckscher-Ohlin core: unit-input matrices, integrated equilibria, Jones (1965).

Conventions (Baldwin and Robert-Nicoud 2007, eq. 1): a unit-input matrix has rows = factors (L, K)
and columns = sectors (X, Y),

    A = [[a_LX, a_LY],
         [a_KX, a_KY]],    kappa_X = a_KX/a_LX < kappa_Y = a_KY/a_LY,

goods prices are pi(p) = (1, p) with X the numeraire, factor rewards omega = (w, r), outputs
q = (X, Y) and endowments e = (L, K). With Leontief technology unit costs are linear, A^T omega, so
the CES block is not needed here. Preferences are Cobb-Douglas with expenditure share alpha on Y.

Everything is traceable JAX on 2x2 arrays; the explicit 2x2 inverse keeps gradients cheap and exact.
"""
from __future__ import annotations

import jax.numpy as jnp

from .ces import ces_price_index

__all__ = [
    "leontief_matrix", "price_vector", "det2", "inv2", "kappas", "factor_prices", "outputs_from_endowments",
    "integrated_price", "integrated_equilibrium", "positivity_bounds", "cost_of_living",
    "stolper_samuelson_elasticities", "rybczynski_elasticities",
]


def leontief_matrix(a_LX, a_LY, a_KX, a_KY):
    """The 2x2 unit-input matrix [[a_LX, a_LY], [a_KX, a_KY]] (rows L, K; columns X, Y)."""
    return jnp.stack([jnp.stack([a_LX, a_LY]), jnp.stack([a_KX, a_KY])]).astype(jnp.float64)


def price_vector(p, p_X=1.0):
    """pi(p) = (p_X, p): X is the numeraire unless p_X is given."""
    p = jnp.asarray(p, dtype=jnp.float64)
    return jnp.stack([jnp.asarray(p_X, dtype=jnp.float64) * jnp.ones_like(p), p])


def det2(M):
    """Determinant of a 2x2 matrix."""
    return M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]


def inv2(M):
    """Inverse of a 2x2 matrix (adjugate / determinant)."""
    adj = jnp.array([[M[1, 1], -M[0, 1]], [-M[1, 0], M[0, 0]]])
    return adj / det2(M)


def kappas(A):
    """Sector K/L intensities (kappa_X, kappa_Y) = (a_KX/a_LX, a_KY/a_LY)."""
    return A[1, 0] / A[0, 0], A[1, 1] / A[0, 1]


def factor_prices(A, pi):
    """Zero-profit factor rewards omega = inv(A^T) pi (paper eq. 5; w0(p), r0(p) for pi = (1, p))."""
    return inv2(A.T) @ pi


def outputs_from_endowments(A, e):
    """Full-employment outputs q = inv(A) e (paper eq. 5)."""
    return inv2(A) @ e


def integrated_price(A, e, alpha):
    """Relative price of Y in an integrated economy with matrix A and endowments e (paper eq. 6).

    Cobb-Douglas demand gives (1 - alpha) p Y = alpha X, with (X, Y) = inv(A) e; equivalently
    p = alpha/(1-alpha) (a_LY/a_LX) (kappa_Y - k)/(k - kappa_X) with k = K/L.
    """
    q = outputs_from_endowments(A, e)
    return alpha / (1.0 - alpha) * q[0] / q[1]


def integrated_equilibrium(A, e, alpha):
    """(p, omega, q) of an integrated HO economy (one country in autarky, or the world under FPE)."""
    p = integrated_price(A, e, alpha)
    return p, factor_prices(A, price_vector(p)), outputs_from_endowments(A, e)


def positivity_bounds(A, alpha):
    """(H, M): both factor prices are positive iff H < k < M for the (effective) endowment ratio k.

    H = 1/(alpha/kappa_Y + (1-alpha)/kappa_X), M = alpha kappa_Y + (1-alpha) kappa_X. With Leontief
    technology the paper's cone condition kappa_X < k < kappa_Y secures positive outputs only; outside
    (H, M) one factor would be in excess supply at a zero price (spec Sec. 5.9, C4).
    """
    kX, kY = kappas(A)
    return 1.0 / (alpha / kY + (1.0 - alpha) / kX), alpha * kY + (1.0 - alpha) * kX


def cost_of_living(p, alpha):
    """Cobb-Douglas cost of living P(p) = p^alpha / (alpha^alpha (1-alpha)^(1-alpha)), X numeraire."""
    return ces_price_index(p, alpha, 1.0) / (alpha ** alpha * (1.0 - alpha) ** (1.0 - alpha))


def stolper_samuelson_elasticities(A, p):
    """(dln w/dln p, dln r/dln p) without offshoring (paper eq. 8): -p/(a_KY/a_KX - p), p/(p - a_LY/a_LX)."""
    return -p / (A[1, 1] / A[1, 0] - p), p / (p - A[0, 1] / A[0, 0])


def rybczynski_elasticities(A, e):
    """(dln X/dln L, dln Y/dln L) without offshoring (paper eq. 9): kappa_Y/(kappa_Y - k), -kappa_X/(k - kappa_X)."""
    kX, kY = kappas(A)
    k = e[1] / e[0]
    return kY / (kY - k), -kX / (k - kX)
