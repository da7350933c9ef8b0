"""Offshoring-cost schedules t(i) and the task-bundle algebra built on them.

With T(I) = Int_0^I t(i) di (Grossman and Rossi-Hansberg 2008, Sec. I):

* Omega(I) = 1 - I + T/t            cost-saving factor of the task bundle (paper eq. 3)
* tOmega(I) = t Omega = (1-I)t + T  strictly increasing, d/dI = (1-I) t' (paper fn 21)
* eta(I) = t'(1-I)/t                elasticity of t w.r.t. (1-I) (the paper's h(I))
* E(I) = T/((1-I) t)                offshored-task payments / domestic wage bill (= -dlnw/dlnbeta in M1)
* g(I) = T/(T + (1-I)t) = E/(1+E)   foreign share of the task-bundle cost

A `Schedule` subclass provides `t`, `T` and `dt` (t'); the rest is derived here once.

Families (spec section 5.0): `PowerSchedule` kappa (1-i)^(-h) (the paper's constant-h case),
`ExponentialSchedule` kappa e^(k i), `LinearSchedule` kappa (1 + k i), and `GeneralSchedule` for
any user function t(i), with T(I) by Gauss-Legendre quadrature (differentiable in I and in the
schedule's parameters). `make_schedule(kind, ...)` builds one from a model's static option.
"""
from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .quadrature import integrate

SCHEDULE_KINDS = ("power", "exponential", "linear", "general")


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

    def t0(self):
        """t(0), the requirement of the easiest task (kappa in the closed-form families)."""
        return self.t(jnp.zeros(()))

    def inverse(self, rho, n_bisect: int = 60):
        """The cutoff I solving tOmega(I) = rho t(0), for 1 < rho < sup tOmega/t(0).

        Bisection on the monotone map tOmega (paper fn 21) gives the value; one Newton correction
        whose value is zero carries the exact implicit derivative dI/drho = t(0)/((1-I) t'(I)).
        Returns 0 for rho <= 1 and approaches 1 for rho at or above the supremum.

        **Arguments:** `rho` (scalar); `n_bisect` bisection steps.

        **Returns:** the cutoff I (scalar array).
        """
        target = rho * self.t0()
        stop = jax.lax.stop_gradient

        def body(_, bracket):
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            above = stop(self.tOmega(mid)) > stop(target)
            return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

        lo, hi = jax.lax.fori_loop(0, n_bisect, body, (jnp.zeros_like(target), jnp.ones_like(target) - 1e-12))
        I_b = stop(0.5 * (lo + hi))
        slope = stop((1.0 - I_b) * self.dt(I_b))
        corr = (self.tOmega(I_b) - target) / jnp.where(slope > 0, slope, 1.0)
        return I_b - (corr - stop(corr))


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

    def t0(self):
        return jnp.asarray(self.kappa)

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


class ExponentialSchedule(Schedule):
    """t(i) = kappa e^(k i) [spec alternative]: eta = k (1-I), bounded tOmega (sup kappa (e^k - 1)/k)."""

    k: jax.Array
    kappa: jax.Array = 1.0

    def t(self, I):
        return self.kappa * jnp.exp(self.k * I)

    def T(self, I):
        return self.kappa * jnp.expm1(self.k * I) / self.k

    def dt(self, I):
        return self.k * self.t(I)

    def t0(self):
        return jnp.asarray(self.kappa)

    def tOmega(self, I):
        return self.kappa * ((1.0 - I) * jnp.exp(self.k * I) + jnp.expm1(self.k * I) / self.k)

    def eta(self, I):
        return self.k * (1.0 - I)

    def E(self, I):
        return -jnp.expm1(-self.k * I) / (self.k * (1.0 - I))

    def sup_tOmega(self):
        return self.kappa * jnp.expm1(self.k) / self.k


class LinearSchedule(Schedule):
    """t(i) = kappa (1 + k i) [spec alternative]: eta = k(1-I)/(1+kI), sup tOmega = kappa (1 + k/2)."""

    k: jax.Array
    kappa: jax.Array = 1.0

    def t(self, I):
        return self.kappa * (1.0 + self.k * I)

    def T(self, I):
        return self.kappa * (I + 0.5 * self.k * I * I)

    def dt(self, I):
        return self.kappa * self.k * jnp.ones_like(jnp.asarray(I, dtype=float))

    def t0(self):
        return jnp.asarray(self.kappa)

    def tOmega(self, I):
        return self.kappa * (1.0 + self.k * I - 0.5 * self.k * I * I)

    def eta(self, I):
        return self.k * (1.0 - I) / (1.0 + self.k * I)

    def E(self, I):
        return I * (1.0 + 0.5 * self.k * I) / ((1.0 - I) * (1.0 + self.k * I))

    def sup_tOmega(self):
        return self.kappa * (1.0 + 0.5 * self.k)

    def inverse(self, rho):
        """I = 1 - sqrt(1 - 2(rho-1)/k), interior for 1 < rho < 1 + k/2 (spec 5.0)."""
        return 1.0 - jnp.sqrt(1.0 - 2.0 * (rho - 1.0) / self.k)


class GeneralSchedule(Schedule):
    """Any C^1 nondecreasing t(i) = t_fn(i, *params); T(I) by n-point Gauss-Legendre on [0, I].

    `t_fn` must accept an array of task indices; `params` is a tuple of (differentiable) arrays.
    t' comes from autodiff, so Omega, eta, E and g stay differentiable in I and in `params`.
    """

    params: tuple = ()
    t_fn: Callable = eqx.field(static=True, default=None)
    n: int = eqx.field(static=True, default=32)

    def t(self, I):
        return self.t_fn(I, *self.params)

    def T(self, I):
        return integrate(lambda i: self.t_fn(i, *self.params), jnp.zeros_like(jnp.asarray(I, dtype=float)),
                         I, self.n)


def make_schedule(kind: str, kappa, h=2.0, k=3.0, t_fn: Callable | None = None) -> Schedule:
    """A schedule from a model's static `schedule_kind` option.

    **Arguments:**

    - `kind`: "power" (kappa (1-i)^(-h)), "exponential" (kappa e^(k i)), "linear" (kappa (1 + k i))
      or "general" (`t_fn(i, kappa, k)`, integrated by quadrature).
    - `kappa`, `h`, `k`: level t(0), power exponent and slope of the alternative families.

    **Returns:** a `Schedule`.
    """
    if kind == "power":
        return PowerSchedule(h=h, kappa=kappa)
    if kind == "exponential":
        return ExponentialSchedule(k=k, kappa=kappa)
    if kind == "linear":
        return LinearSchedule(k=k, kappa=kappa)
    if kind == "general":
        if t_fn is None:
            raise ValueError("schedule_kind='general' needs t_fn(i, kappa, k), a function of the task index")
        return GeneralSchedule(params=(kappa, k), t_fn=t_fn)
    raise ValueError(f"unknown schedule kind {kind!r}; use one of {SCHEDULE_KINDS}")
