"""Transforms between an unknown's natural domain and the unconstrained space Newton works in.

Solving in transformed space keeps iterates admissible: a wage never goes negative and a cutoff
never leaves (0, 1), whatever step Newton takes.
"""
from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp


class Transform(eqx.Module):
    """Map between natural units `u` and unconstrained internal units `z`."""

    def to_internal(self, u):
        raise NotImplementedError

    def to_natural(self, z):
        raise NotImplementedError

    @property
    def default(self) -> float:
        """A neutral starting value in natural units."""
        raise NotImplementedError

    def contains(self, u):
        """Whether `u` lies strictly inside the domain (array of bools)."""
        return jnp.isfinite(u)


class Positive(Transform):
    """u > 0, solved for as ln u."""

    def to_internal(self, u):
        return jnp.log(u)

    def to_natural(self, z):
        return jnp.exp(z)

    @property
    def default(self):
        return 1.0

    def contains(self, u):
        return u > 0

    def __repr__(self):
        return "Positive()"


class Unit(Transform):
    """0 < u < 1 (shares, cutoffs), solved for as logit u."""

    def to_internal(self, u):
        return jnp.log(u) - jnp.log1p(-u)

    def to_natural(self, z):
        return 1.0 / (1.0 + jnp.exp(-z))

    @property
    def default(self):
        return 0.5

    def contains(self, u):
        return (u > 0) & (u < 1)

    def __repr__(self):
        return "Unit()"


class Interval(Transform):
    """lo < u < hi, solved for as logit((u - lo)/(hi - lo))."""

    lo: float = eqx.field(static=True)
    hi: float = eqx.field(static=True)

    def __check_init__(self):
        if not self.hi > self.lo:
            raise ValueError(f"Interval needs lo < hi, got lo={self.lo}, hi={self.hi}")

    def to_internal(self, u):
        v = (u - self.lo) / (self.hi - self.lo)
        return jnp.log(v) - jnp.log1p(-v)

    def to_natural(self, z):
        return self.lo + (self.hi - self.lo) / (1.0 + jnp.exp(-z))

    @property
    def default(self):
        return 0.5 * (self.lo + self.hi)

    def contains(self, u):
        return (u > self.lo) & (u < self.hi)

    def __repr__(self):
        return f"Interval({self.lo}, {self.hi})"


class Free(Transform):
    """Unconstrained u (e.g. outputs whose sign change signals leaving a cone)."""

    def to_internal(self, u):
        return jnp.asarray(u)

    def to_natural(self, z):
        return z

    @property
    def default(self):
        return 0.0

    def __repr__(self):
        return "Free()"
