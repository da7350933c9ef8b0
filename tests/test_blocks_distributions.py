"""Productivity distributions (jaxoff.blocks.distributions).

Oracles: the Pareto closed forms of the export-magnification spec (section 5.1), SciPy (independent
quadrature and distribution functions), and the agreement of the quadrature `Density` with the closed
forms (which must hold to 1e-8 when both describe the same density).
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate as sint
from scipy import stats

import jaxoff  # noqa: F401  (float64)
from jaxoff.blocks.distributions import Density, Lognormal, Pareto, TruncatedPareto, lognormal_pdf, pareto_pdf

HYP = settings(max_examples=int(os.environ.get("JAXOFF_HYPOTHESIS_EXAMPLES", "20")), deadline=None)


def f(x):
    return float(np.asarray(x))


# -- Pareto closed forms (spec 5.1) ----------------------------------------------------------------------
@pytest.mark.parametrize("x", [1.0, 1.3, 2.7, 10.0])
def test_pareto_closed_forms(x):
    k, b, s = 5.0, 1.0, 2.0
    P = Pareto(k, b)
    assert f(P.survival(x)) == pytest.approx((b / x) ** k, rel=1e-13)
    assert f(P.H(x, s=s)) == pytest.approx(k * b ** k * x ** (s - k) / (k - s), rel=1e-13)
    assert f(P.K(x, s=s)) == pytest.approx(k / (k - s) * (b / x) ** k, rel=1e-13)
    assert f(P.J(x, s=s)) == pytest.approx(s / (k - s) * (b / x) ** k, rel=1e-13)
    assert f(P.pdf(x)) == pytest.approx(k * b ** k * x ** (-k - 1), rel=1e-13)


def test_pareto_below_lower_bound():
    """Below b every draw survives and H(a) = H(b) (spec 5.1)."""
    P = Pareto(4.0, 1.5)
    assert f(P.survival(0.7)) == 1.0
    assert f(P.H(0.7, s=2.0)) == pytest.approx(f(P.H(1.5, s=2.0)), rel=1e-14)
    assert f(P.pdf(0.7)) == 0.0
    assert f(P.mean()) == pytest.approx(4.0 * 1.5 / 3.0, rel=1e-13)


def test_pareto_against_scipy():
    k, b, s = 3.5, 0.8, 1.7
    P = Pareto(k, b)
    ref = stats.pareto(k, scale=b)
    for a, c in [(0.8, 2.0), (1.1, 4.0)]:
        assert f(P.survival(a)) == pytest.approx(ref.sf(a), rel=1e-12)
        num = sint.quad(lambda z: z ** s * ref.pdf(z), a, c, epsabs=0, epsrel=1e-13)[0]
        assert f(P.H(a, c, s=s)) == pytest.approx(num, rel=1e-10)


# -- quadrature Density vs closed forms (must agree to 1e-8) -------------------------------------------
@jax.jit
def _pareto_pair(k, b, x, c):
    s = 2.0
    P = Pareto(k, b)
    D = Density(pareto_pdf, (k, b), lower=b, scale=b)
    closed = jnp.stack([P.survival(x), P.H(x, s=s), P.H(x, c, s=s), P.J(x, s=s)])
    quad = jnp.stack([D.survival(x), D.H(x, s=s), D.H(x, c, s=s), D.J(x, s=s)])
    return closed, quad


@HYP
@given(k=st.floats(2.5, 8.0), b=st.floats(0.3, 2.0), xr=st.floats(0.5, 4.0), span=st.floats(0.1, 3.0))
def test_density_of_pareto_matches_closed_form(k, b, xr, span):
    """Down to k - s = 0.5 (a heavy tail) the log-map quadrature reproduces the closed forms."""
    x = b * xr
    closed, quad = (np.asarray(v) for v in _pareto_pair(k, b, x, x + span))
    np.testing.assert_allclose(quad, closed, rtol=1e-8, atol=1e-12)


def test_density_derivatives_match_closed_form():
    """d/dk and d/db of J and H: quadrature vs closed form (differentiable in the parameters)."""
    x, s = 1.7, 2.0

    def J_closed(k, b):
        return Pareto(k, b).J(x, s=s)

    def J_quad(k, b):
        return Density(pareto_pdf, (k, b), lower=b, scale=b).J(x, s=s)

    g1 = jax.jit(jax.grad(J_closed, argnums=(0, 1)))(5.0, 1.2)
    g2 = jax.jit(jax.grad(J_quad, argnums=(0, 1)))(5.0, 1.2)
    for a, c in zip(g1, g2):
        assert f(c) == pytest.approx(f(a), rel=1e-8)
    # and the closed-form derivative itself against the formula J = s/(k-s) (b/x)^k
    dk = s / (5.0 - s) * (1.2 / x) ** 5 * (np.log(1.2 / x) - 1 / (5.0 - s))
    assert f(g1[0]) == pytest.approx(dk, rel=1e-12)


@jax.jit
def _lognormal_pair(a):
    s = 2.0
    L = Lognormal(0.1, 0.5)
    D = L.as_density()
    return (jnp.stack([L.survival(a), L.H(a, s=s), L.J(a, s=s), L.pdf(a)]),
            jnp.stack([D.survival(a), D.H(a, s=s), D.J(a, s=s), D.pdf(a)]))


@pytest.mark.parametrize("a", [0.3, 1.0, 1.7, 2.7, 6.0])
def test_lognormal_closed_form_vs_quadrature_and_scipy(a):
    closed, quad = (np.asarray(v) for v in _lognormal_pair(a))
    np.testing.assert_allclose(quad, closed, rtol=1e-8, atol=1e-14)
    ref = stats.lognorm(0.5, scale=np.exp(0.1))
    num = sint.quad(lambda z: z ** 2.0 * ref.pdf(z), a, np.inf, epsabs=0, epsrel=1e-12)[0]
    np.testing.assert_allclose(closed, [ref.sf(a), num, num / a ** 2 - ref.sf(a), ref.pdf(a)], rtol=1e-9)


def test_lognormal_parameter_derivatives_quadrature_vs_closed():
    a, s = 1.4, 2.0
    g1 = jax.jit(jax.grad(lambda mu, sd: Lognormal(mu, sd).J(a, s=s), argnums=(0, 1)))(0.0, 0.5)
    g2 = jax.jit(jax.grad(lambda mu, sd: Density(lognormal_pdf, (mu, sd), lower=0.0, scale=1.0).J(a, s=s),
                          argnums=(0, 1)))(0.0, 0.5)
    for x, y in zip(g1, g2):
        assert f(y) == pytest.approx(f(x), rel=1e-8)


def test_density_integrates_to_one_and_bounded_moments():
    D = Lognormal(0.0, 0.5).as_density()
    assert f(D.survival(0.0)) == pytest.approx(1.0, abs=1e-12)
    assert f(D.mean()) == pytest.approx(np.exp(0.125), rel=1e-10)
    # H(a, c) over a bounded interval, against SciPy
    ref = stats.lognorm(0.5)
    num = sint.quad(lambda z: z ** 2 * ref.pdf(z), 0.8, 2.2, epsabs=0, epsrel=1e-13)[0]
    assert f(D.H(0.8, 2.2, s=2.0)) == pytest.approx(num, rel=1e-10)
    assert f(D.mass(0.8, 2.2)) == pytest.approx(ref.cdf(2.2) - ref.cdf(0.8), rel=1e-10)
    with pytest.raises(ValueError, match="scalar"):
        D.survival(jnp.array([1.0, 2.0]))


def test_dJ_is_minus_s_K_over_x():
    """J'(x) = -(sigma-1) K(x)/x (spec 5.1), against autodiff, for every family."""
    s = 2.0
    for dist in [Pareto(5.0, 1.0), Lognormal(0.0, 0.5), TruncatedPareto(1.5, 1.0, 8.0),
                 Lognormal(0.0, 0.5).as_density()]:
        for x in [1.3, 2.2]:
            auto, explicit = jax.jit(lambda z: (jax.grad(lambda y: dist.J(y, s=s))(z), dist.dJ(z, s=s)))(x)  # noqa: B023
            assert f(explicit) == pytest.approx(f(auto), rel=1e-9)


def test_truncated_pareto():
    k, b, B, s = 1.5, 1.0, 8.0, 2.0  # k <= sigma - 1 is allowed when truncated (spec 5.1)
    T = TruncatedPareto(k, b, B)
    C = 1 - (b / B) ** k
    pdf = lambda z: k * b ** k * z ** (-k - 1) / C  # noqa: E731
    assert f(T.survival(b)) == pytest.approx(1.0, rel=1e-14)
    assert f(T.survival(B)) == pytest.approx(0.0, abs=1e-14)
    assert f(T.survival(2.0)) == pytest.approx(sint.quad(pdf, 2.0, B)[0], rel=1e-10)
    assert f(T.H(1.5, 4.0, s=s)) == pytest.approx(k * b ** k * (4.0 ** (s - k) - 1.5 ** (s - k)) / ((s - k) * C),
                                                  rel=1e-12)
    assert f(T.H(1.5, s=s)) == pytest.approx(sint.quad(lambda z: z ** s * pdf(z), 1.5, B)[0], rel=1e-10)
    # the s = k limit is continuous
    assert f(TruncatedPareto(2.0, b, B).H(1.5, s=2.0)) == pytest.approx(
        f(TruncatedPareto(2.0 + 1e-7, b, B).H(1.5, s=2.0)), rel=1e-6)
    # far truncation approaches the untruncated Pareto
    assert f(TruncatedPareto(5.0, 1.0, 1e4).J(1.4, s=2.0)) == pytest.approx(f(Pareto(5.0, 1.0).J(1.4, s=2.0)),
                                                                            rel=1e-12)
