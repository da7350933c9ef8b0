"""Firm-productivity distributions G for heterogeneous-firm models (Melitz 2003 and descendants).

Every heterogeneous-firm equilibrium needs the same few integrals of the productivity density g:

* the survival function 1 - G(a);
* partial moments H_s(a, c) = Int_a^c z^s g(z) dz (s = sigma - 1 in CES models, where firm revenue is
  proportional to phi^(sigma-1));
* Melitz's normalized forms K(x) = x^(-s) H_s(x, inf) and J(x) = K(x) - (1 - G(x)), which turn the
  free-entry condition into f_e = sum_c F_c J(phi_c).

Those are written here once. `Pareto` and `TruncatedPareto` are in closed form, `Lognormal` uses the
standard normal cdf (exact up to `ndtr`), and `Density` takes any density function and computes the same
integrals by Gauss-Legendre quadrature (jaxoff.blocks.quadrature), so a model written against this
interface runs unchanged with any of them. Every method is traceable and differentiable in its argument
and in the distribution's parameters (which are the module's array fields), so `jax.grad` of an
equilibrium reaches k, b, mu, s or the parameters of a user density.

The exponent s of the moments is an argument (often a traced sigma - 1), not a fixed property.
"""
from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from .quadrature import integrate, integrate_to_infinity

__all__ = ["Distribution", "Pareto", "TruncatedPareto", "Lognormal", "Density", "pareto_pdf", "lognormal_pdf"]


def _arr(x):
    return jnp.asarray(x, dtype=jnp.float64)


class Distribution(eqx.Module):
    """A productivity distribution on [lower, upper); subclasses give `pdf`, `survival`, `partial_moment`.

    Derived methods (`cdf`, `H`, `K`, `J`, `mass`, `mean`) are generic. Arguments may be arrays (evaluated
    elementwise) unless a subclass says otherwise.
    """

    def pdf(self, x):
        """The density g(x) (0 outside the support)."""
        raise NotImplementedError

    def survival(self, x):
        """1 - G(x), the share of draws at or above x."""
        raise NotImplementedError

    def partial_moment(self, s, a, c=None):
        """Int_a^c z^s g(z) dz (c = None: to the top of the support)."""
        raise NotImplementedError

    def scale(self):
        """A typical productivity (used for starting values and quadrature scales)."""
        raise NotImplementedError

    # -- generic -------------------------------------------------------------------------------------
    def cdf(self, x):
        """G(x)."""
        return 1.0 - self.survival(x)

    def mass(self, a, c=None):
        """G(c) - G(a), the share of draws in [a, c)."""
        if c is None:
            return self.survival(a)
        return self.survival(a) - self.survival(c)

    def H(self, a, c=None, *, s):
        """Partial s-th moment Int_a^c z^s dG (the H(a, c) of Melitz models with s = sigma - 1)."""
        return self.partial_moment(s, a, c)

    def K(self, x, *, s):
        """K(x) = x^(-s) H(x, inf) = Int_x^inf (z/x)^s dG."""
        return jnp.exp(-s * jnp.log(x)) * self.partial_moment(s, x)

    def J(self, x, *, s):
        """J(x) = K(x) - (1 - G(x)) = Int_x^inf [(z/x)^s - 1] dG (Melitz's j; decreasing in x)."""
        return self.K(x, s=s) - self.survival(x)

    def dJ(self, x, *, s):
        """J'(x) = -s K(x)/x (no boundary term because the integrand vanishes at z = x)."""
        return -s * self.K(x, s=s) / x

    def mean(self):
        """E[phi]."""
        return self.partial_moment(1.0, self.lower())

    def lower(self):
        """Bottom of the support."""
        return _arr(0.0)


# --------------------------------------------------------------------------------------------------
# Pareto
# --------------------------------------------------------------------------------------------------
def pareto_pdf(x, k, b):
    """Pareto density k b^k x^(-k-1) on [b, inf) (0 below b)."""
    x_safe = jnp.maximum(x, b)
    return jnp.where(x >= b, k / b * jnp.exp((k + 1.0) * jnp.log(b / x_safe)), 0.0)


class Pareto(Distribution):
    """Pareto G(x) = 1 - (phi_min/x)^k on [phi_min, inf), in closed form.

    Moments of order s exist for s < k; below phi_min the survival is 1 and H(a) = H(phi_min).

    **Arguments:** `k` (shape, > 0), `phi_min` (lower bound b, > 0).
    """

    k: jax.Array
    phi_min: jax.Array

    def __init__(self, k, phi_min=1.0):
        self.k = _arr(k)
        self.phi_min = _arr(phi_min)

    def lower(self):
        return self.phi_min

    def scale(self):
        return self.phi_min

    def pdf(self, x):
        return pareto_pdf(x, self.k, self.phi_min)

    def survival(self, x):
        a = jnp.maximum(x, self.phi_min)
        return jnp.exp(self.k * jnp.log(self.phi_min / a))

    def _upper_tail(self, s, a):
        # k b^k a^(s-k)/(k-s) written as k b^s (b/a)^(k-s)/(k-s): no overflow for large k
        a = jnp.maximum(a, self.phi_min)
        b, k = self.phi_min, self.k
        return k * jnp.exp(s * jnp.log(b) + (k - s) * jnp.log(b / a)) / (k - s)

    def partial_moment(self, s, a, c=None):
        if c is None:
            return self._upper_tail(s, a)
        return self._upper_tail(s, a) - self._upper_tail(s, c)


class TruncatedPareto(Distribution):
    """Pareto truncated to [phi_min, phi_max]: G(x) = (1 - (b/x)^k)/(1 - (b/B)^k); any k > 0.

    **Arguments:** `k` (> 0), `phi_min` (b), `phi_max` (B > b, finite).
    """

    k: jax.Array
    phi_min: jax.Array
    phi_max: jax.Array

    def __init__(self, k, phi_min=1.0, phi_max=10.0):
        self.k = _arr(k)
        self.phi_min = _arr(phi_min)
        self.phi_max = _arr(phi_max)

    def lower(self):
        return self.phi_min

    def scale(self):
        return self.phi_min

    def _C(self):
        return -jnp.expm1(self.k * jnp.log(self.phi_min / self.phi_max))

    def _clip(self, x):
        return jnp.clip(x, self.phi_min, self.phi_max)

    def pdf(self, x):
        inside = (x >= self.phi_min) & (x <= self.phi_max)
        return jnp.where(inside, pareto_pdf(self._clip(x), self.k, self.phi_min) / self._C(), 0.0)

    def survival(self, x):
        b, B, k = self.phi_min, self.phi_max, self.k
        a = self._clip(x)
        return (jnp.exp(k * jnp.log(b / a)) - jnp.exp(k * jnp.log(b / B))) / self._C()

    def partial_moment(self, s, a, c=None):
        b, k = self.phi_min, self.k
        a = self._clip(a)
        c = self.phi_max if c is None else self._clip(c)
        # k b^k (c^(s-k) - a^(s-k))/((s-k) C); the s = k limit is k b^k ln(c/a)/C
        d = s - k
        near = jnp.abs(d) < 1e-9
        d_safe = jnp.where(near, 1.0, d)
        term = jnp.where(
            near,
            jnp.log(c / a) * (1.0 + 0.5 * d * (jnp.log(c) + jnp.log(a))),
            (jnp.exp(d_safe * jnp.log(c)) - jnp.exp(d_safe * jnp.log(a))) / d_safe,
        )
        return k * jnp.exp(k * jnp.log(b)) * term / self._C()


# --------------------------------------------------------------------------------------------------
# Lognormal
# --------------------------------------------------------------------------------------------------
def lognormal_pdf(x, mu, s):
    """Density of phi with ln phi ~ Normal(mu, s^2) (0 for x <= 0)."""
    x_safe = jnp.where(x > 0, x, 1.0)
    z = (jnp.log(x_safe) - mu) / s
    return jnp.where(x > 0, jnp.exp(-0.5 * z * z) / (x_safe * s * jnp.sqrt(2.0 * jnp.pi)), 0.0)


class Lognormal(Distribution):
    """ln phi ~ Normal(mu, s^2) on (0, inf), with closed-form moments through the normal cdf.

    H_r(a, inf) = exp(r mu + r^2 s^2/2) Phi((mu + r s^2 - ln a)/s), 1 - G(a) = Phi((mu - ln a)/s).

    **Arguments:** `mu`, `s` (> 0).
    """

    mu: jax.Array
    s: jax.Array

    def __init__(self, mu=0.0, s=0.5):
        self.mu = _arr(mu)
        self.s = _arr(s)

    def scale(self):
        return jnp.exp(self.mu)

    def pdf(self, x):
        return lognormal_pdf(x, self.mu, self.s)

    def survival(self, x):
        return ndtr((self.mu - jnp.log(x)) / self.s)

    def _upper_tail(self, r, a):
        mu, s = self.mu, self.s
        return jnp.exp(r * mu + 0.5 * (r * s) ** 2) * ndtr((mu + r * s * s - jnp.log(a)) / s)

    def partial_moment(self, r, a, c=None):
        if c is None:
            return self._upper_tail(r, a)
        return self._upper_tail(r, a) - self._upper_tail(r, c)

    def as_density(self, n: int = 96) -> Density:
        """The same distribution as a quadrature-based `Density` (for checks and custom variants)."""
        return Density(lognormal_pdf, params=(self.mu, self.s), lower=0.0, scale=jnp.exp(self.mu), n=n)


# --------------------------------------------------------------------------------------------------
# Any density, by quadrature
# --------------------------------------------------------------------------------------------------
class Density(Distribution):
    """Any productivity density g(x; params) on [lower, inf), integrated by Gauss-Legendre quadrature.

    Upper tails use the log map z = a e^t, t = v/(1-v) (`integrate_to_infinity` in t): a power tail
    z^(s-k-1) becomes e^(-(k-s) t), smooth in v, and a lognormal tail becomes Gaussian in t, so one rule
    serves both (exact to ~1e-13 for k - s >= 0.5; the map is cut at t = 690/(2+|s|), where z^(s+1) would
    overflow, which truncates tails heavier than e^(-(k-s) t) by about e^(-(k-s) 690/(2+|s|))). For
    a = 0 (supports starting at 0) the piece [0, scale] is added by plain Gauss-Legendre. Survival is
    Int_a^inf g, so g must integrate to 1 (it is not renormalized). Scalar arguments only (use
    `jnp.vectorize` for arrays).

    **Arguments:**

    - `pdf`: a function `pdf(x, *params)` accepting an array x (static: part of the compiled structure).
    - `params`: a tuple of the density's parameters (arrays; differentiable).
    - `lower`: bottom of the support: the number 0 (or less) for densities on (0, inf), else a positive
      number or array (e.g. a traced Pareto bound).
    - `scale`: a typical productivity (where the [0, scale] piece ends when a = 0).
    - `n`: number of Gauss-Legendre nodes (static).
    """

    pdf_fn: Callable = eqx.field(static=True)
    params: tuple
    lower_bound: jax.Array
    scale_: jax.Array
    n: int = eqx.field(static=True)
    from_zero: bool = eqx.field(static=True)

    def __init__(self, pdf, params=(), lower=0.0, scale=1.0, n: int = 96):
        self.pdf_fn = pdf
        self.params = tuple(_arr(p) for p in params)
        self.lower_bound = _arr(lower)
        self.scale_ = _arr(scale)
        self.n = int(n)
        # a support starting at a literal 0 needs the [0, scale] piece; a given (possibly traced) lower
        # bound is taken to be positive, which saves one quadrature per tail
        self.from_zero = isinstance(lower, (int, float)) and float(lower) <= 0.0

    def lower(self):
        return self.lower_bound

    def scale(self):
        return self.scale_

    def pdf(self, x):
        return self.pdf_fn(x, *self.params)

    def _tail(self, f, a, s=0.0):
        a = jnp.maximum(a, self.lower_bound)
        pos = a > 0
        a_safe = jnp.where(pos, a, self.scale_)
        t_cap = 690.0 / (2.0 + jnp.abs(s))

        def in_t(t):
            tc = jnp.minimum(t, t_cap)
            z = a_safe * jnp.exp(tc)
            return jnp.where(t < t_cap, f(z) * z, 0.0)

        tail = integrate_to_infinity(in_t, 0.0, 1.0, n=self.n)
        if not self.from_zero:
            return tail
        head = integrate(f, 0.0, self.scale_, n=self.n)
        return tail + jnp.where(pos, 0.0, head)

    def _scalar(self, a, c):
        if jnp.ndim(a) != 0 or (c is not None and jnp.ndim(c) != 0):
            raise ValueError("Density methods take scalar arguments; wrap with jnp.vectorize for arrays")

    def survival(self, x):
        self._scalar(x, None)
        return self._tail(self.pdf, x)

    def partial_moment(self, s, a, c=None):
        self._scalar(a, c)

        def f(z):
            z_safe = jnp.where(z > 0, z, 1.0)
            return jnp.where(z > 0, jnp.exp(s * jnp.log(z_safe)) * self.pdf(z), 0.0)

        if c is None:
            return self._tail(f, a, s)
        lo = jnp.maximum(a, self.lower_bound)
        hi = jnp.maximum(c, lo)
        return integrate(f, lo, hi, n=self.n)

    def mass(self, a, c=None):
        if c is None:
            return self.survival(a)
        lo = jnp.maximum(a, self.lower_bound)
        hi = jnp.maximum(c, lo)
        return integrate(self.pdf, lo, hi, n=self.n)
