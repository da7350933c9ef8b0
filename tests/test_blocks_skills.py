"""Skill distributions and productivity schedules (jaxoff.blocks.skills).

Oracles: the closed forms are checked against Gauss-Legendre quadrature of the same integral and
against scipy.integrate.quad of the integrand written separately in numpy; derivatives against the
fundamental theorem of calculus and differentiation under the integral (again by scipy.quad).
"""
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate as sci

import jaxoff  # noqa: F401  (float64)
from jaxoff.blocks import skills as sk

EXAMPLES = int(os.environ.get("JAXOFF_HYPOTHESIS_EXAMPLES", "20"))
# compiled once per (schedule, distribution, limits) structure, so repeated evaluations are cheap
closed_jit = eqx.filter_jit(sk.efficiency_units_closed)
quad_jit = eqx.filter_jit(sk.efficiency_units_quadrature)

PAIRS = [
    (sk.ExponentialProductivity(0.55), sk.ExponentialSkills(1.0)),
    (sk.ExponentialProductivity(0.10), sk.ExponentialSkills(1.0)),
    (sk.ExponentialProductivity(1.59), sk.ExponentialSkills(1.6137)),  # mu - a close to 0 (spec Pitfall 10)
    (sk.PowerProductivity(0.45), sk.LomaxSkills(1.0)),
    (sk.ExponentialProductivity(0.45), sk.UniformSkills(8.0)),
]
LIMITS = [(0.0, 0.8), (0.8, 2.0), (1.7, 3.6), (0.0, None), (2.0, None), (6.0, None)]


def _np_integrand(schedule, dist):
    """phi(Z) g(Z) written out in numpy (as one exponential of a log), independent of the block."""
    if isinstance(schedule, sk.ExponentialProductivity):
        lphi = lambda z: float(schedule.a) * z  # noqa: E731
    else:
        lphi = lambda z: float(schedule.b) * np.log1p(z)  # noqa: E731
    if isinstance(dist, sk.ExponentialSkills):
        mu = float(dist.mu)
        return lambda z: np.exp(lphi(z) + np.log(mu) - mu * z), np.inf
    if isinstance(dist, sk.LomaxSkills):
        k = float(dist.k)
        return lambda z: np.exp(lphi(z) + np.log(k) - (k + 1) * np.log1p(z)), np.inf
    zb = float(dist.Z_bar)
    return lambda z: np.exp(lphi(z)) / zb, zb


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{type(p[0]).__name__}-{type(p[1]).__name__}")
def test_closed_form_matches_quadrature_and_scipy(pair):
    schedule, dist = pair
    f, top = _np_integrand(schedule, dist)
    for lo, hi in LIMITS:
        closed = float(sk.efficiency_units_closed(schedule, dist, lo, hi))
        quad = float(sk.efficiency_units_quadrature(schedule, dist, lo, hi))
        ref = sci.quad(f, min(lo, top), top if hi is None else min(hi, top), epsabs=0, epsrel=1e-12, limit=200)[0]
        assert closed == pytest.approx(ref, rel=1e-9), (lo, hi)
        assert quad == pytest.approx(ref, rel=1e-8), (lo, hi)
        assert float(sk.efficiency_units(schedule, dist, lo, hi)) == closed  # auto picks the closed form


def test_spec_closed_form_I_j():
    # spec 5.0: I_j(l,u) = mu/(mu-a_j) [exp(-(mu-a_j) l) - exp(-(mu-a_j) u)]; Lam_H = mu/(mu-a_H) exp(-(mu-a_H) Z2)
    mu, a, l, u = 1.3, 0.45, 0.7, 2.9
    want = mu / (mu - a) * (np.exp(-(mu - a) * l) - np.exp(-(mu - a) * u))
    got = sk.efficiency_units(sk.ExponentialProductivity(a), sk.ExponentialSkills(mu), l, u)
    assert float(got) == pytest.approx(want, rel=1e-14)
    tail = sk.efficiency_units(sk.ExponentialProductivity(a), sk.ExponentialSkills(mu), u)
    assert float(tail) == pytest.approx(mu / (mu - a) * np.exp(-(mu - a) * u), rel=1e-14)


def test_mu_equal_a_special_case():
    # spec Pitfall 10: at mu = a the integral is mu (u - l)
    got = sk.efficiency_units(sk.ExponentialProductivity(1.0), sk.ExponentialSkills(1.0), 0.5, 2.0)
    assert float(got) == pytest.approx(1.5, rel=1e-12)
    g = jax.grad(lambda a: sk.efficiency_units(sk.ExponentialProductivity(a), sk.ExponentialSkills(1.0), 0.5, 2.0))(1.0)
    assert np.isfinite(float(g))


def test_power_lomax_is_exponential_in_log_skill():
    # spec 5.0 alternative 1: replace Z by ln(1+Z), a by b, mu by k
    b, k, lo, hi = 0.45, 1.2, 0.4, 3.0
    pl = sk.efficiency_units(sk.PowerProductivity(b), sk.LomaxSkills(k), lo, hi)
    ee = sk.efficiency_units(sk.ExponentialProductivity(b), sk.ExponentialSkills(k), np.log1p(lo), np.log1p(hi))
    assert float(pl) == pytest.approx(float(ee), rel=1e-13)


@pytest.mark.parametrize("pair", PAIRS[:4], ids=lambda p: f"{type(p[0]).__name__}-{type(p[1]).__name__}")
def test_derivatives_closed_vs_quadrature(pair):
    schedule, dist = pair
    f, _ = _np_integrand(schedule, dist)
    lo, hi = 0.9, 2.4
    # d/dhi and d/dlo by the fundamental theorem of calculus
    d_hi = jax.grad(lambda h: sk.efficiency_units_closed(schedule, dist, lo, h))(hi)
    d_lo = jax.grad(lambda l_: sk.efficiency_units_closed(schedule, dist, l_, None))(lo)
    assert float(d_hi) == pytest.approx(f(hi), rel=1e-12)
    assert float(d_lo) == pytest.approx(-f(lo), rel=1e-12)
    # parameter derivatives: closed form vs quadrature (both by autodiff), and vs scipy under the integral
    field = "a" if hasattr(schedule, "a") else "b"
    dfield = "mu" if hasattr(dist, "mu") else "k"
    for h in (hi, None):
        for which in ("schedule", "dist"):
            def F(x, method, h=h, which=which):
                s = type(schedule)(x) if which == "schedule" else schedule
                d = type(dist)(x) if which == "dist" else dist
                return sk.efficiency_units(s, d, lo, h, method=method)
            x0 = getattr(schedule, field) if which == "schedule" else getattr(dist, dfield)
            gc = float(jax.jit(jax.grad(F), static_argnums=1)(x0, "closed"))
            gq = float(jax.jit(jax.grad(F), static_argnums=1)(x0, "quadrature"))
            assert gq == pytest.approx(gc, rel=1e-7, abs=1e-10)
    if isinstance(schedule, sk.ExponentialProductivity) and isinstance(dist, sk.ExponentialSkills):
        a, mu = float(schedule.a), float(dist.mu)
        ref = sci.quad(lambda z: z * np.exp(a * z) * mu * np.exp(-mu * z), lo, hi, epsrel=1e-12)[0]
        got = jax.grad(lambda x: sk.efficiency_units(sk.ExponentialProductivity(x), dist, lo, hi))(a)
        assert float(got) == pytest.approx(ref, rel=1e-10)


def test_general_pair_by_quadrature_only():
    s, d = sk.PowerProductivity(0.5), sk.ExponentialSkills(1.0)
    assert not sk.has_closed_form(s, d)
    with pytest.raises(NotImplementedError):
        sk.efficiency_units_closed(s, d, 0.0, 1.0)
    f, _ = _np_integrand(s, d)
    for lo, hi in [(0.0, 1.0), (1.0, None)]:
        ref = sci.quad(f, lo, np.inf if hi is None else hi, epsrel=1e-12)[0]
        assert float(sk.efficiency_units(s, d, lo, hi)) == pytest.approx(ref, rel=1e-9)
    with pytest.raises(ValueError):
        sk.efficiency_units(s, d, 0.0, 1.0, method="simpson")


def test_upper_limit_and_crossing_invert():
    for s, d in PAIRS[:4]:
        lo = 0.6
        for target in (0.05, 0.3):
            hi = sk.efficiency_upper_limit(s, d, lo, target)
            assert float(sk.efficiency_units(s, d, lo, hi)) == pytest.approx(target, rel=1e-11)
        assert np.isnan(float(sk.efficiency_upper_limit(s, d, lo, 1e6)))  # more than the whole tail
    for num, den in [(sk.ExponentialProductivity(0.1), sk.ExponentialProductivity(0.45)),
                     (sk.PowerProductivity(0.1), sk.PowerProductivity(0.45))]:
        z = sk.crossing_skill(num, den, 0.6)
        assert float(jnp.exp(num.log_phi(z) - den.log_phi(z))) == pytest.approx(0.6, rel=1e-12)
        assert np.isnan(float(sk.crossing_skill(num, den, 1.5)))  # ratio > phi ratio at Z = 0


@pytest.mark.parametrize("dist", [sk.ExponentialSkills(1.3), sk.LomaxSkills(2.5), sk.UniformSkills(6.0)],
                         ids=lambda d: type(d).__name__)
def test_distribution_functions(dist):
    q = jnp.array([0.05, 0.3, 0.6, 0.95])
    z = dist.quantile(q)
    np.testing.assert_allclose(np.asarray(dist.cdf(z)), np.asarray(q), rtol=1e-13)
    pdf_ad = jax.vmap(jax.grad(dist.cdf))(z)
    np.testing.assert_allclose(np.asarray(pdf_ad), np.asarray(dist.pdf(z)), rtol=1e-12)
    for zz in (0.4, 1.5):
        # class closed forms vs the generic quadrature definitions of the base class
        below = sk.SkillDistribution.mean_below(dist, zz)
        above = sk.SkillDistribution.mean_above(dist, zz)
        assert float(dist.mean_below(zz)) == pytest.approx(float(below), rel=1e-9)
        assert float(dist.mean_above(zz)) == pytest.approx(float(above), rel=1e-7)
    assert float(sk.truncated_mean(dist, 0.4, 1.5)) == pytest.approx(
        float(sk.SkillDistribution.mean_below(dist, 1.5) * dist.cdf(1.5)
              - sk.SkillDistribution.mean_below(dist, 0.4) * dist.cdf(0.4)) / float(dist.cdf(1.5) - dist.cdf(0.4)),
        rel=1e-10)


def test_exponential_conditional_means_spec():
    # spec section 6: E[Z|Z<z] = 1/mu - z e^{-mu z}/(1-e^{-mu z}); E[Z|Z>z] = z + 1/mu
    mu, z = 1.0, 0.801598
    d = sk.ExponentialSkills(mu)
    assert float(d.mean_below(z)) == pytest.approx(1 / mu - z * np.exp(-mu * z) / (1 - np.exp(-mu * z)), rel=1e-14)
    ref = sci.quad(lambda x: x * mu * np.exp(-mu * x), 0, z)[0] / (1 - np.exp(-mu * z))
    assert float(d.mean_below(z)) == pytest.approx(ref, rel=1e-12)
    assert float(d.mean_above(z)) == pytest.approx(z + 1 / mu, rel=1e-14)


def test_log_slopes_order_paper_5():
    # paper (5): growth rates ordered M < L < H; log_slope is d ln phi/dZ
    z = jnp.linspace(0.0, 5.0, 7)
    for cls in (sk.ExponentialProductivity, sk.PowerProductivity):
        m, l_, h = cls(0.1), cls(0.45), cls(0.55)
        assert np.all(np.asarray(m.log_slope(z) < l_.log_slope(z)))
        assert np.all(np.asarray(l_.log_slope(z) < h.log_slope(z)))
        ad = jax.vmap(jax.grad(h.log_phi))(z)
        np.testing.assert_allclose(np.asarray(h.log_slope(z)), np.asarray(ad), rtol=1e-13)
        assert float(h.phi(0.0)) == 1.0


def test_vmap_over_parameters():
    a = jnp.linspace(0.1, 0.9, 5)
    f = jax.vmap(lambda x: sk.efficiency_units(sk.ExponentialProductivity(x), sk.ExponentialSkills(1.0), 1.0))
    g = jax.vmap(lambda x: sk.efficiency_units_quadrature(sk.ExponentialProductivity(x), sk.ExponentialSkills(1.0),
                                                          1.0))
    f, g = jax.jit(f), jax.jit(g)
    np.testing.assert_allclose(np.asarray(f(a)), np.asarray(g(a)), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(f(a)), np.asarray(1 / (1 - a) * np.exp(-(1 - a))), rtol=1e-13)


@settings(max_examples=EXAMPLES, deadline=None)
@given(a=st.floats(0.05, 2.0), gap=st.floats(0.1, 2.0), lo=st.floats(0.0, 4.0), width=st.floats(0.01, 5.0))
def test_property_closed_equals_quadrature(a, gap, lo, width):
    s, d = sk.ExponentialProductivity(jnp.asarray(a)), sk.ExponentialSkills(jnp.asarray(a + gap))
    for hi in (jnp.asarray(lo + width), None):
        c = float(closed_jit(s, d, jnp.asarray(lo), hi))
        q = float(quad_jit(s, d, jnp.asarray(lo), hi))
        assert q == pytest.approx(c, rel=1e-8)
