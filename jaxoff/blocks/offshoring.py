"""Offshoring-cost schedules t(i) and the task-bundle algebra built on them.

With T(I) = Int_0^I t(i) di (Grossman and Rossi-Hansberg 2008, Sec. I):

* Omega(I) = 1 - I + T/t            cost-saving factor of the task bundle (paper eq. 3)
* tOmega(I) = t Omega = (1-I)t + T  strictly increasing, d/dI = (1-I) t' (paper fn 21)
* eta(I) = t'(1-I)/t                elasticity of t w.r.t. (1-I) (the paper's h(I))
* E(I) = T/((1-I) t)                offshored-task payments / domestic wage bill (= -dlnw/dlnbeta in M1)
* g(I) = T/(T + (1-I)t) = E/(1+E)   foreign share of the task-bundle cost

A `Schedule` subclass provides `t`, `T` and `dt` (t'); the rest is derived here once.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp


def psi(z):
    """(1 - e^(-z))/z with psi(0) = 1, stable near 0 (series 1 - z/2 + z^2/6)."""
    small = jnp.abs(z) < 1e-6
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - z / 2.0 + z * z / 6.0, -jnp.expm1(-z_safe) / z_safe)


class Schedule(eqx.Module):
    """An offshoring-cost schedule t(i) on [0, 1), nondecreasing, t(0) = kappa."""

    def t(self, I):
        raise NotImplementedError

    def T(self, I):
        raise NotImplementedError

    def dt(self, I):
        return jax.grad(lambda i: self.t(i))(I) if jnp.ndim(I) == 0 else jax.vmap(jax.grad(self.t))(I)

    def tOmega(self, I):
        return (1.0 - I) * self.t(I) + self.T(I)

    def Omega(self, I):
        return 1.0 - I + self.T(I) / self.t(I)

    def eta(self, I):
        return self.dt(I) * (1.0 - I) / self.t(I)

    def E(self, I):
        return self.T(I) / ((1.0 - I) * self.t(I))

    def g(self, I):
        E = self.E(I)
        return E / (1.0 + E)

    def sup_tOmega(self):
        """Supremum of tOmega as I -> 1 (inf for unbounded schedules)."""
        return jnp.inf


class PowerSchedule(Schedule):
    """t(i) = kappa (1-i)^(-h): the paper's constant-h case (eta = h). Closed forms via ell = -ln(1-I)."""

    h: jax.Array
    kappa: jax.Array = 1.0

    def t(self, I):
        return self.kappa * jnp.exp(-self.h * jnp.log1p(-I))

    def T(self, I):
        ell = -jnp.log1p(-I)
        return self.kappa * ell * psi((1.0 - self.h) * ell)

    def dt(self, I):
        return self.h * self.t(I) / (1.0 - I)

    def tOmega(self, I):
        # identity (1-I) t + (1-h) T = kappa
        return self.kappa + self.h * self.T(I)

    def eta(self, I):
        return self.h * jnp.ones_like(jnp.asarray(I, dtype=float))

    def E(self, I):
        ell = -jnp.log1p(-I)
        return ell * psi((self.h - 1.0) * ell)

    def sup_tOmega(self):
        bounded = self.h < 1.0
        return jnp.where(bounded, self.kappa / (1.0 - jnp.where(bounded, self.h, 0.0)), jnp.inf)

    def inverse(self, rho):
        """The cutoff I solving tOmega(I) = rho * kappa (interior iff rho > 1, and rho < 1/(1-h) if h < 1)."""
        T1 = (rho - 1.0) / self.h
        one_minus_h = 1.0 - self.h
        small = jnp.abs(one_minus_h) < 1e-8
        denom = jnp.where(small, 1.0, one_minus_h)
        ell = jnp.where(small, T1, -jnp.log1p(-one_minus_h * T1) / denom)
        return -jnp.expm1(-ell)
