"""Offshoring-cost schedules (Trading Tasks spec section 5.0, O1, R1, R2, R4).

Oracles: the spec's closed forms and its O1 table; autodiff of t, T against the identities
(B1)-(B5); the quadrature-based GeneralSchedule against the closed-form families.
"""
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxoff  # noqa: F401  (float64)
from jaxoff.blocks import (
    ExponentialSchedule,
    GeneralSchedule,
    LinearSchedule,
    PowerSchedule,
    Schedule,
    make_schedule,
)

HYP = settings(max_examples=int(os.environ.get("JAXOFF_HYPOTHESIS_EXAMPLES", "20")), deadline=None)
I_GRID = jnp.linspace(0.0, 0.9, 37)


def _families():
    return {
        "power h=0.5": PowerSchedule(h=0.5, kappa=1.3),
        "power h=1": PowerSchedule(h=1.0, kappa=1.0),
        "power h=2": PowerSchedule(h=2.0, kappa=1.0),
        "power h=3": PowerSchedule(h=3.0, kappa=0.7),
        "exponential": ExponentialSchedule(k=3.0, kappa=1.1),
        "linear": LinearSchedule(k=3.0, kappa=1.0),
        "general": GeneralSchedule(params=(1.0, 2.0), t_fn=lambda i, a, b: a * (1 + i + b * i**3)),
    }


def test_O1_E_table():
    table = {
        0.5: [0.108185, 0.309401, 0.828427, 2.000000, 4.324555],
        1.0: [0.105361, 0.287682, 0.693147, 1.386294, 2.302585],
        2.0: [0.100000, 0.250000, 0.500000, 0.750000, 0.900000],
        3.0: [0.095000, 0.218750, 0.375000, 0.468750, 0.495000],
    }
    I = jnp.array([0.10, 0.25, 0.50, 0.75, 0.90])
    for h, row in table.items():
        s = PowerSchedule(h=h)
        np.testing.assert_allclose(s.E(I), row, atol=1e-6)
        # closed form E = (1 - u^(h-1))/(h-1), -ln u at h = 1
        u = 1 - np.asarray(I)
        closed = -np.log(u) if h == 1 else (1 - u ** (h - 1)) / (h - 1)
        np.testing.assert_allclose(s.E(I), closed, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(s.g(I), closed / (1 + closed), rtol=1e-12)
    assert abs(float(PowerSchedule(h=2.0).g(0.5)) - 1 / 3) < 1e-14


@eqx.filter_jit
def _report(s, I):
    """Every schedule function and its autodiff derivatives on a grid, in one compilation."""
    grad = lambda f: jax.vmap(jax.grad(f))(I)  # noqa: E731
    return {
        "t": s.t(I), "T": s.T(I), "dt": s.dt(I), "tOmega": s.tOmega(I), "Omega": s.Omega(I),
        "eta": s.eta(I), "E": s.E(I), "g": s.g(I),
        "t'": grad(s.t), "T'": grad(s.T), "tOmega'": grad(s.tOmega), "Omega'": grad(s.Omega),
        "lnOmega'": grad(lambda i: jnp.log(s.Omega(i))), "E'": grad(s.E),
        "Omega0": s.Omega(0.0), "Omega'0": jax.grad(s.Omega)(0.0),
    }


@pytest.fixture(scope="module")
def reports():
    return {name: {k: np.asarray(v) for k, v in _report(s, I_GRID).items()} for name, s in _families().items()}


@pytest.mark.parametrize("name", list(_families()))
def test_schedule_identities_by_autodiff(name, reports):
    r, I = reports[name], np.asarray(I_GRID)
    np.testing.assert_allclose(r["dt"], r["t'"], rtol=1e-10)
    np.testing.assert_allclose(r["T'"], r["t"], rtol=1e-9)  # T is the integral of t
    np.testing.assert_allclose(r["tOmega'"], (1 - I) * r["t'"], rtol=1e-9, atol=1e-12)  # (B2), fn 21
    np.testing.assert_allclose(r["tOmega"], r["t"] * r["Omega"], rtol=1e-12)  # (B1)
    np.testing.assert_allclose(r["tOmega"], (1 - I) * r["t"] + r["T"], rtol=1e-12)
    np.testing.assert_allclose(r["Omega'"], -r["T"] * r["t'"] / r["t"] ** 2, rtol=1e-9, atol=1e-13)  # (B3)
    np.testing.assert_allclose(r["eta"], r["t'"] * (1 - I) / r["t"], rtol=1e-10)  # (B4)
    np.testing.assert_allclose(r["E"], r["T"] / ((1 - I) * r["t"]), rtol=1e-10, atol=1e-14)  # (B5)
    np.testing.assert_allclose(r["E"], r["g"] / (1 - r["g"]), rtol=1e-10, atol=1e-14)
    # Omega_hat = -g eta dI/(1-I)
    np.testing.assert_allclose(r["lnOmega'"], -r["g"] * r["eta"] / (1 - I), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("name", list(_families()))
def test_R1_R2_signs(name, reports):
    r = reports[name]
    assert abs(r["Omega0"] - 1) < 1e-14
    assert abs(r["Omega'0"]) < 1e-14  # dOmega/dI = 0 at I = 0 (fn 14)
    assert np.all((r["Omega"][1:] > 0) & (r["Omega"][1:] < 1))
    assert np.all(r["Omega'"][1:] < 0)
    assert np.all(r["tOmega'"] > 0)  # fn 21: the cutoff is unique


@pytest.mark.parametrize("name", list(_families()))
def test_R4_E_rises_iff_exact_condition(name, reports):
    r, I = reports[name], np.asarray(I_GRID)
    cond = (1 - I) * r["t"] + (1 - r["eta"]) * r["T"]
    assert np.all(np.sign(r["E'"][1:]) == np.sign(cond[1:]))
    if name.startswith("power"):
        assert np.all(r["E'"][1:] > 0)  # constant eta: always rising


def test_power_closed_forms():
    I = jnp.linspace(0.0, 0.95, 20)
    u = 1 - I
    for h in (0.5, 1.0, 1.7, 2.0, 3.0):
        s = PowerSchedule(h=h, kappa=1.4)
        T = -np.log(u) if h == 1 else (1 - u ** (1 - h)) / (1 - h)
        np.testing.assert_allclose(s.T(I) / 1.4, T, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(s.tOmega(I) / 1.4, 1 + h * T, rtol=1e-11)
        np.testing.assert_allclose(s.Omega(I), u**h * (1 + h * T), rtol=1e-11)
        np.testing.assert_allclose(s.eta(I), h, rtol=1e-14)
    # h = 2: I = (rho-1)/(rho+1), Omega = 4 rho/(1+rho)^2
    rho = jnp.linspace(1.01, 9.0, 15)
    s2 = PowerSchedule(h=2.0, kappa=1.0)
    I2 = s2.inverse(rho)
    np.testing.assert_allclose(I2, (rho - 1) / (rho + 1), rtol=1e-12)
    np.testing.assert_allclose(s2.Omega(I2), 4 * rho / (1 + rho) ** 2, rtol=1e-12)
    # Omega is invariant to rescaling t by kappa
    np.testing.assert_allclose(PowerSchedule(h=2.0, kappa=3.0).Omega(I), s2.Omega(I), rtol=1e-13)
    # limits (spec 5.0): bounded tOmega for h < 1, g -> 1/h for h > 1
    assert abs(float(PowerSchedule(h=0.5, kappa=2.0).sup_tOmega()) - 4.0) < 1e-12
    assert abs(float(PowerSchedule(h=3.0).g(1 - 1e-9)) - 1 / 3) < 1e-6
    assert np.isinf(float(PowerSchedule(h=2.0).sup_tOmega()))


def test_alternative_closed_forms_and_inverses():
    I = jnp.linspace(0.0, 0.9, 19)
    k, kap = 3.0, 1.2
    e = ExponentialSchedule(k=k, kappa=kap)
    np.testing.assert_allclose(e.T(I), kap * (np.exp(k * I) - 1) / k, rtol=1e-13)
    np.testing.assert_allclose(e.E(I), (1 - np.exp(-k * I)) / (k * (1 - I)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(e.eta(I), k * (1 - I), rtol=1e-14)
    assert abs(float(e.sup_tOmega()) - kap * (np.exp(k) - 1) / k) < 1e-12
    lin = LinearSchedule(k=k, kappa=kap)
    np.testing.assert_allclose(lin.tOmega(I), kap * (1 + k * I - k * I**2 / 2), rtol=1e-13)
    np.testing.assert_allclose(lin.E(I), I * (1 + k * I / 2) / ((1 - I) * (1 + k * I)), rtol=1e-12)
    assert abs(float(lin.sup_tOmega()) - kap * (1 + k / 2)) < 1e-13
    # inverses: closed form (linear, power) and bisection + Newton (exponential, base class)
    inverses = eqx.filter_jit(lambda s, rho: (jax.vmap(s.inverse)(rho),
                                               jax.vmap(lambda r: Schedule.inverse(s, r))(rho),
                                               jax.vmap(jax.grad(lambda r: Schedule.inverse(s, r)))(rho)))
    for s in (e, lin, PowerSchedule(h=0.5, kappa=kap), PowerSchedule(h=2.5, kappa=kap)):
        rho = s.tOmega(I[1:]) / kap
        own, bisect, d_bisect = inverses(s, rho)
        np.testing.assert_allclose(own, I[1:], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(bisect, I[1:], rtol=1e-10)
        # the bisection inverse carries the implicit derivative dI/drho = kappa/((1-I) t'(I))
        np.testing.assert_allclose(d_bisect, kap / ((1 - I[1:]) * s.dt(I[1:])), rtol=1e-9)
    assert float(Schedule.inverse(e, 0.9)) < 1e-9  # rho <= 1: no offshoring


def test_general_schedule_matches_closed_forms():
    I = jnp.linspace(0.0, 0.9, 19)
    gen_e = GeneralSchedule(params=(1.2, 3.0), t_fn=lambda i, kap, k: kap * jnp.exp(k * i))
    gen_l = GeneralSchedule(params=(1.2, 3.0), t_fn=lambda i, kap, k: kap * (1 + k * i))
    gen_p = GeneralSchedule(params=(1.0, 2.0), t_fn=lambda i, kap, h: kap * (1 - i) ** (-h), n=64)
    e, lin, pw = ExponentialSchedule(k=3.0, kappa=1.2), LinearSchedule(k=3.0, kappa=1.2), PowerSchedule(h=2.0)
    for gen, ref in ((gen_e, e), (gen_l, lin)):
        for f in ("T", "tOmega", "Omega", "E", "g", "eta"):
            np.testing.assert_allclose(getattr(gen, f)(I), getattr(ref, f)(I), rtol=1e-12, atol=1e-14)
    Im = jnp.linspace(0.0, 0.6, 7)
    np.testing.assert_allclose(gen_p.E(Im), pw.E(Im), rtol=1e-10, atol=1e-14)
    # differentiable in the schedule parameters: dT/dk by quadrature = closed form
    dTdk = jax.grad(lambda k: GeneralSchedule(params=(1.2, k), t_fn=gen_e.t_fn).T(0.6))(3.0)
    dTdk_exact = jax.grad(lambda k: ExponentialSchedule(k=k, kappa=1.2).T(0.6))(3.0)
    np.testing.assert_allclose(dTdk, dTdk_exact, rtol=1e-12)


def test_make_schedule_kinds():
    assert isinstance(make_schedule("power", 1.0, 2.0, 3.0), PowerSchedule)
    assert isinstance(make_schedule("exponential", 1.0, 2.0, 3.0), ExponentialSchedule)
    assert isinstance(make_schedule("linear", 1.0, 2.0, 3.0), LinearSchedule)
    with pytest.raises(ValueError, match="t_fn"):
        make_schedule("general", 1.0)
    with pytest.raises(ValueError, match="unknown schedule kind"):
        make_schedule("cubic", 1.0)


@HYP
@given(h=st.floats(0.2, 4.0), I=st.floats(0.01, 0.95), kappa=st.floats(0.5, 3.0))
def test_power_identities_hypothesis(h, I, kappa):
    s = PowerSchedule(h=h, kappa=kappa)
    u = 1 - I
    # identity (1-I) t + (1-h) T = kappa; E = (1 - u^(h-1))/(h-1)
    assert abs(float((1 - I) * s.t(I) + (1 - h) * s.T(I)) - kappa) < 1e-9 * kappa * (1 + float(s.t(I)))
    E = np.log(1 / u) if abs(h - 1) < 1e-9 else (1 - u ** (h - 1)) / (h - 1)
    assert abs(float(s.E(I)) - E) < 1e-9 * (1 + abs(E))
    # inverse round trip and dI/d ln rho = Omega/eta (R2 with rho = A*/beta)
    rho = float(s.tOmega(I)) / kappa
    assert abs(float(s.inverse(rho)) - I) < 1e-9
    dI = float(jax.grad(lambda lr: s.inverse(jnp.exp(lr)))(np.log(rho)))
    assert abs(dI - float(s.Omega(I)) / h) < 1e-8
