"""Two-input CES unit costs (Cobb-Douglas at sigma = 1, Leontief at sigma = 0).

    c(W, S) = (1/A) [alpha W^(1-sigma) + (1-alpha) S^(1-sigma)]^(1/(1-sigma))

Input requirements are Shephard's lemma: a_W = dc/dW = A^(sigma-1) alpha (c/W)^sigma, and likewise
for S. Near sigma = 1 the log cost switches to its second-order expansion (Trading Tasks spec, P5)
through a double `where`, so gradients w.r.t. sigma stay finite at and around Cobb-Douglas.
"""
from __future__ import annotations

import jax.numpy as jnp

_SIGMA_ONE_BAND = 1e-4


def ces_log_unit_cost(W, S, alpha, sigma, A=1.0):
    """ln c(W, S) for the CES unit cost above (any sigma >= 0)."""
    lw, ls = jnp.log(W), jnp.log(S)
    rho = 1.0 - sigma
    near_cd = jnp.abs(rho) < _SIGMA_ONE_BAND
    rho_safe = jnp.where(near_cd, 1.0, rho)
    general = jnp.logaddexp(jnp.log(alpha) + rho_safe * lw, jnp.log1p(-alpha) + rho_safe * ls) / rho_safe
    mean = alpha * lw + (1.0 - alpha) * ls
    series = mean + 0.5 * rho * alpha * (1.0 - alpha) * (lw - ls) ** 2
    return jnp.where(near_cd, series, general) - jnp.log(A)


def ces_unit_cost(W, S, alpha, sigma, A=1.0):
    """c(W, S) (see module docstring)."""
    return jnp.exp(ces_log_unit_cost(W, S, alpha, sigma, A))


def ces_input_coefficients(W, S, alpha, sigma, A=1.0):
    """Unit input requirements (a_W, a_S) = (dc/dW, dc/dS) by Shephard's lemma."""
    c = ces_unit_cost(W, S, alpha, sigma, A)
    scale = jnp.asarray(A) ** (sigma - 1.0)
    return scale * alpha * (c / W) ** sigma, scale * (1.0 - alpha) * (c / S) ** sigma


def ces_cost_share(W, S, alpha, sigma, A=1.0):
    """Cost share of the first input, theta_W = W a_W / c = alpha (A c / W)^(sigma - 1)."""
    c = ces_unit_cost(W, S, alpha, sigma, A)
    return alpha * (jnp.asarray(A) * c / W) ** (sigma - 1.0)


def ces_price_index(p, gamma, eps):
    """CES consumer price index over (Y at price p, X at price 1) with weight gamma on Y.

    P = (gamma p^(1-eps) + 1 - gamma)^(1/(1-eps)), and p^gamma at eps = 1 (same expansion trick).
    """
    return jnp.exp(ces_log_unit_cost(p, jnp.ones_like(jnp.asarray(p, dtype=float)), gamma, eps))
