"""Gauss-Legendre quadrature on [a, b], differentiable in a, b and the integrand's parameters.

Used wherever a closed form is not available (general offshoring schedules, lognormal or arbitrary
densities, skill distributions). Nodes are fixed at trace time, so the integral is a plain weighted
sum that `jax.grad`/`jax.vmap` see through.
"""
from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import numpy as np


@lru_cache(maxsize=32)
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [-1, 1]."""
    if n < 1:
        raise ValueError(f"quadrature needs n >= 1 nodes, got {n}")
    return np.polynomial.legendre.leggauss(n)


def integrate(f, a, b, n: int = 64):
    """Int_a^b f(x) dx by n-point Gauss-Legendre (f must accept an array of nodes)."""
    x, w = gauss_legendre(n)
    half = 0.5 * (jnp.asarray(b) - jnp.asarray(a))
    mid = 0.5 * (jnp.asarray(b) + jnp.asarray(a))
    nodes = mid[..., None] + half[..., None] * jnp.asarray(x) if jnp.ndim(mid) else mid + half * jnp.asarray(x)
    vals = f(nodes)
    return half * jnp.sum(jnp.asarray(w) * vals, axis=-1)


def integrate_to_infinity(f, a, scale=1.0, n: int = 64):
    """Int_a^inf f(x) dx via the map x = a + scale * v/(1 - v), v in [0, 1)."""

    def g(v):
        x = a + scale * v / (1.0 - v)
        return f(x) * scale / (1.0 - v) ** 2

    return integrate(g, 0.0, 1.0, n)
