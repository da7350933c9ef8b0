"""Skill distributions G(Z) on [0, inf) and productivity schedules phi(Z) with phi(0) = 1.

Heterogeneous-worker models (Yeaple 2005 and its offshoring adaptation, seed 002) need the
efficiency units a skill band supplies to an activity,

    Lam(lo, hi) = Int_lo^hi phi(Z) dG(Z),

and the skill at which two schedules' relative productivity reaches a given level. Everything here
is differentiable in its parameters and in the limits.

Two routes give the same numbers and are checked against each other in the tests:

* closed forms, for pairs that are exponential in a common variable y (the spec's default
  exponential phi with exponential G, y = Z; and power phi = (1+Z)^b with Lomax G, y = ln(1+Z)),
  plus exponential phi with uniform G;
* Gauss-Legendre quadrature (`jaxoff.blocks.quadrature`) for any schedule and distribution, with
  the unbounded upper tail mapped to [0, 1) at a scale matched to the integrand's decay rate.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .quadrature import integrate, integrate_to_infinity

__all__ = [
    "SkillDistribution", "ExponentialSkills", "LomaxSkills", "UniformSkills",
    "ProductivitySchedule", "ExponentialProductivity", "PowerProductivity",
    "efficiency_units", "efficiency_units_closed", "efficiency_units_quadrature", "has_closed_form",
    "efficiency_upper_limit", "crossing_skill", "truncated_mean",
]


def _safe_ratio_rate(k, lo, hi):
    """(e^{-k lo} - e^{-k hi})/k, equal to hi - lo at k = 0 (double-where keeps gradients finite)."""
    small = jnp.abs(k) < 1e-12
    k_safe = jnp.where(small, 1.0, k)
    hi_term = jnp.where(jnp.isinf(hi), 0.0, jnp.exp(-k_safe * jnp.where(jnp.isinf(hi), 0.0, hi)))
    val = (jnp.exp(-k_safe * lo) - hi_term) / k_safe
    return jnp.where(small, hi - lo, val)


# -- skill distributions --------------------------------------------------------------------------
class SkillDistribution(eqx.Module):
    """A skill distribution on [0, upper). Subclasses give `cdf`, `pdf`, `quantile` and `integrate`."""

    def cdf(self, z):
        raise NotImplementedError

    def pdf(self, z):
        raise NotImplementedError

    def quantile(self, q):
        raise NotImplementedError

    def integrate(self, log_f, lo, hi=None, *, n: int = 64, growth=0.0):
        """Int_lo^hi exp(log_f(Z)) dG(Z) by quadrature (hi=None: to the top of the support).

        The integrand is passed as a log so that exp(a Z) * exp(-mu Z) far in the tail is formed as
        exp((a - mu) Z), never as inf * 0. `growth` is the log-slope of the integrand in the upper
        tail; it sets the tail map's scale.
        """
        raise NotImplementedError

    def mean_below(self, z, *, n: int = 64):
        """E[Z | Z < z]."""
        return self.integrate(jnp.log, 0.0, z, n=n) / self.cdf(z)

    def mean_above(self, z, *, n: int = 64):
        """E[Z | Z > z]."""
        return self.integrate(jnp.log, z, None, n=n, growth=0.0) / (1.0 - self.cdf(z))


class ExponentialSkills(SkillDistribution):
    """G(Z) = 1 - exp(-mu Z) (spec default; mu must exceed the steepest schedule's slope)."""

    mu: jax.Array = 1.0

    def cdf(self, z):
        return -jnp.expm1(-self.mu * z)

    def pdf(self, z):
        return self.mu * jnp.exp(-self.mu * z)

    def quantile(self, q):
        return -jnp.log1p(-q) / self.mu

    def log_pdf(self, z):
        return jnp.log(self.mu) - self.mu * z

    def integrate(self, log_f, lo, hi=None, *, n: int = 64, growth=0.0):
        g = lambda x: jnp.exp(log_f(x) + self.log_pdf(x))  # noqa: E731
        if hi is None:
            # the integrand decays like exp(-(mu - growth) Z): match the map's scale to that rate
            rate = jnp.maximum(self.mu - growth, 0.05 * self.mu)
            return integrate_to_infinity(g, lo, 1.0 / rate, n)
        return integrate(g, lo, hi, n)

    def mean_below(self, z, *, n: int = 64):
        """E[Z|Z<z] = 1/mu - z e^{-mu z}/(1 - e^{-mu z}) (spec section 6)."""
        return 1.0 / self.mu - z * jnp.exp(-self.mu * z) / self.cdf(z)

    def mean_above(self, z, *, n: int = 64):
        """E[Z|Z>z] = z + 1/mu (memorylessness)."""
        return z + 1.0 / self.mu


class LomaxSkills(SkillDistribution):
    """G(Z) = 1 - (1+Z)^(-k): exponential in y = ln(1+Z) with rate k (spec 5.0 alternative 1)."""

    k: jax.Array = 1.0

    def cdf(self, z):
        return -jnp.expm1(-self.k * jnp.log1p(z))

    def pdf(self, z):
        return self.k * jnp.exp(-(self.k + 1.0) * jnp.log1p(z))

    def quantile(self, q):
        return jnp.expm1(-jnp.log1p(-q) / self.k)

    def integrate(self, log_f, lo, hi=None, *, n: int = 64, growth=0.0):
        # work in y = ln(1+Z), where G is exponential: dG = k e^{-k y} dy; growth is d ln f/d y
        # (y is capped before expm1 so the far tail gives exp(finite - k y) = 0, not inf/inf)
        h = lambda y: jnp.exp(log_f(jnp.expm1(jnp.minimum(y, 700.0))) + jnp.log(self.k) - self.k * y)  # noqa: E731
        ylo = jnp.log1p(lo)
        if hi is None:
            rate = jnp.maximum(self.k - growth, 0.05 * self.k)
            return integrate_to_infinity(h, ylo, 1.0 / rate, n)
        return integrate(h, ylo, jnp.log1p(hi), n)

    def tail_growth(self, schedule, z):
        return schedule.log_slope(z) * (1.0 + z)


class UniformSkills(SkillDistribution):
    """G(Z) = Z / Z_bar on [0, Z_bar] (spec 5.0 alternative 2: bounded support)."""

    Z_bar: jax.Array = 10.0

    def cdf(self, z):
        return jnp.clip(z / self.Z_bar, 0.0, 1.0)

    def pdf(self, z):
        return jnp.where((z >= 0) & (z <= self.Z_bar), 1.0 / self.Z_bar, 0.0)

    def quantile(self, q):
        return q * self.Z_bar

    def integrate(self, log_f, lo, hi=None, *, n: int = 64, growth=0.0):
        hi = self.Z_bar if hi is None else jnp.minimum(hi, self.Z_bar)
        lo = jnp.minimum(lo, self.Z_bar)
        return integrate(lambda x: jnp.exp(log_f(x)) / self.Z_bar, lo, hi, n)

    def mean_below(self, z, *, n: int = 64):
        return 0.5 * jnp.minimum(z, self.Z_bar)

    def mean_above(self, z, *, n: int = 64):
        return 0.5 * (jnp.minimum(z, self.Z_bar) + self.Z_bar)


# -- productivity schedules -----------------------------------------------------------------------
class ProductivitySchedule(eqx.Module):
    """phi(Z), continuous and increasing with phi(0) = 1. Subclasses give `log_phi`."""

    def log_phi(self, z):
        raise NotImplementedError

    def phi(self, z):
        return jnp.exp(self.log_phi(z))

    def log_slope(self, z):
        """phi'(Z)/phi(Z), the schedule's growth rate (paper (5) orders these across activities)."""
        d = jax.grad(lambda x: self.log_phi(x))
        return d(z) if jnp.ndim(z) == 0 else jnp.vectorize(d)(z)


class ExponentialProductivity(ProductivitySchedule):
    """phi(Z) = exp(a Z) (spec default)."""

    a: jax.Array = 0.1

    def log_phi(self, z):
        return self.a * z

    def log_slope(self, z):
        return self.a * jnp.ones_like(jnp.asarray(z, dtype=jnp.float64))


class PowerProductivity(ProductivitySchedule):
    """phi(Z) = (1+Z)^b: exponential in y = ln(1+Z) (spec 5.0 alternative 1)."""

    b: jax.Array = 0.1

    def log_phi(self, z):
        return self.b * jnp.log1p(z)

    def log_slope(self, z):
        return self.b / (1.0 + z)


# -- efficiency units -----------------------------------------------------------------------------
def has_closed_form(schedule: ProductivitySchedule, dist: SkillDistribution) -> bool:
    """Whether `efficiency_units_closed` covers this (schedule, distribution) pair (a static check)."""
    return (
        (isinstance(schedule, ExponentialProductivity) and isinstance(dist, (ExponentialSkills, UniformSkills)))
        or (isinstance(schedule, PowerProductivity) and isinstance(dist, LomaxSkills))
    )


def efficiency_units_closed(schedule: ProductivitySchedule, dist: SkillDistribution, lo, hi=None):
    """Int_lo^hi phi(Z) dG(Z) in closed form (hi=None: to the top of the support).

    Exponential phi = e^{aZ} with G = 1 - e^{-mu Z}:
    mu/(mu-a) [e^{-(mu-a) lo} - e^{-(mu-a) hi}] (spec 5.0, I_j); the same in y = ln(1+Z) for power phi
    with Lomax G; (e^{a hi} - e^{a lo})/(a Z_bar) for uniform G.

    **Arguments:** `schedule`, `dist` (a supported pair, see `has_closed_form`), limits `lo`, `hi`.

    **Returns:** the efficiency units (same shape as the broadcast limits).
    """
    lo = jnp.asarray(lo, dtype=jnp.float64)
    if isinstance(schedule, ExponentialProductivity) and isinstance(dist, ExponentialSkills):
        hi = jnp.inf if hi is None else hi
        return dist.mu * _safe_ratio_rate(dist.mu - schedule.a, lo, jnp.asarray(hi, dtype=jnp.float64))
    if isinstance(schedule, PowerProductivity) and isinstance(dist, LomaxSkills):
        yhi = jnp.inf if hi is None else jnp.log1p(hi)
        return dist.k * _safe_ratio_rate(dist.k - schedule.b, jnp.log1p(lo), jnp.asarray(yhi, dtype=jnp.float64))
    if isinstance(schedule, ExponentialProductivity) and isinstance(dist, UniformSkills):
        hi = dist.Z_bar if hi is None else jnp.minimum(hi, dist.Z_bar)
        lo = jnp.minimum(lo, dist.Z_bar)
        return _safe_ratio_rate(-schedule.a, lo, hi) / dist.Z_bar
    raise NotImplementedError(
        f"no closed form for {type(schedule).__name__} with {type(dist).__name__}; "
        "use efficiency_units_quadrature (or efficiency_units, which chooses)"
    )


def efficiency_units_quadrature(schedule: ProductivitySchedule, dist: SkillDistribution, lo, hi=None,
                                *, n: int = 64):
    """Int_lo^hi phi(Z) dG(Z) by n-point Gauss-Legendre quadrature, for any pair.

    **Arguments:** `schedule`, `dist`, limits `lo`, `hi` (None: top of the support), `n` nodes.

    **Returns:** the efficiency units.
    """
    lo = jnp.asarray(lo, dtype=jnp.float64)
    growth = 0.0
    if hi is None:
        growth = dist.tail_growth(schedule, lo) if hasattr(dist, "tail_growth") else schedule.log_slope(lo)
    return dist.integrate(schedule.log_phi, lo, hi, n=n, growth=growth)


def efficiency_units(schedule: ProductivitySchedule, dist: SkillDistribution, lo, hi=None, *,
                     method: str = "auto", n: int = 64):
    """Int_lo^hi phi(Z) dG(Z): the efficiency units supplied by skills in [lo, hi].

    **Arguments:** `schedule`, `dist`, limits `lo`, `hi` (None: top of the support); `method`
    "closed", "quadrature" or "auto" (closed form where one exists); `n` quadrature nodes.

    **Returns:** the efficiency units.
    """
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    if method == "closed" or (method == "auto" and has_closed_form(schedule, dist)):
        return efficiency_units_closed(schedule, dist, lo, hi)
    return efficiency_units_quadrature(schedule, dist, lo, hi, n=n)


def efficiency_upper_limit(schedule: ProductivitySchedule, dist: SkillDistribution, lo, value):
    """The hi with Int_lo^hi phi dG = value, in closed form (NaN where no finite hi exists).

    For exponential phi and G: e^{-(mu-a) hi} = e^{-(mu-a) lo} - value (mu-a)/mu (spec 5.B, 1-D
    reduction); the same in y = ln(1+Z) for power phi with Lomax G.

    **Arguments:** `schedule`, `dist` (exponential/exponential or power/Lomax), `lo`, `value` >= 0.

    **Returns:** the upper limit hi (NaN where value exceeds the whole upper tail).
    """
    if isinstance(schedule, ExponentialProductivity) and isinstance(dist, ExponentialSkills):
        k, rate, to_z, y_lo = dist.mu - schedule.a, dist.mu, (lambda y: y), lo
    elif isinstance(schedule, PowerProductivity) and isinstance(dist, LomaxSkills):
        k, rate, to_z, y_lo = dist.k - schedule.b, dist.k, jnp.expm1, jnp.log1p(lo)
    else:
        raise NotImplementedError(f"no closed-form upper limit for {type(schedule).__name__} with "
                                  f"{type(dist).__name__}")
    arg = jnp.exp(-k * y_lo) - value * k / rate
    ok = arg > 0
    y_hi = -jnp.log(jnp.where(ok, arg, 1.0)) / k
    return jnp.where(ok, to_z(y_hi), jnp.nan)


def crossing_skill(num: ProductivitySchedule, den: ProductivitySchedule, ratio):
    """The Z with phi_num(Z)/phi_den(Z) = ratio, for a ratio strictly monotone in Z.

    This inverts the spec's S(Z) = phi_M/phi_L and A(Z) = phi_L/phi_H: Z1 = S^{-1}(C_L),
    Z2 = A^{-1}(C_H/C_L) (spec 5.0). Closed form for two schedules of the same family.

    **Arguments:** schedules `num`, `den` (both exponential or both power), `ratio` > 0.

    **Returns:** Z (NaN where the ratio is never attained on [0, inf)).
    """
    lr = jnp.log(ratio)
    if isinstance(num, ExponentialProductivity) and isinstance(den, ExponentialProductivity):
        z = lr / (num.a - den.a)
    elif isinstance(num, PowerProductivity) and isinstance(den, PowerProductivity):
        z = jnp.expm1(lr / (num.b - den.b))
    else:
        raise NotImplementedError("crossing_skill needs two schedules of the same family")
    return jnp.where(z >= 0, z, jnp.nan)


def truncated_mean(dist: SkillDistribution, lo, hi=None, *, n: int = 64):
    """E[Z | lo < Z < hi] (hi=None: to the top of the support).

    **Arguments:** `dist`, limits `lo`, `hi`; `n` quadrature nodes (exact forms where known).

    **Returns:** the conditional mean skill.
    """
    if hi is None:
        return dist.mean_above(lo, n=n)
    mass = dist.cdf(hi) - dist.cdf(lo)
    return dist.integrate(jnp.log, lo, hi, n=n) / mass
