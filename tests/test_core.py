"""Core machinery: Model base, transforms, solve (status, masking, fallback), IFT derivatives.

Oracles are closed forms of small models written here and the Trading Tasks spec's M1/M2 numbers.
"""
import warnings
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxoff as jo
from jaxoff.models import trading_tasks as tt

M1 = tt.SUBMODELS["M1"]
M2 = tt.SUBMODELS["M2"]


class Cournot(jo.Model):
    """q^2 = a*b, r = a/(1+a): closed-form roots sqrt(a b) and a/(1+a) for the tests."""

    a: float = 2.0
    b: float = 3.0
    unknowns: ClassVar[dict] = {"q": jo.Positive(), "r": jo.Unit()}
    shocks: ClassVar[tuple] = ("a",)

    def domain(self):
        return {"a > 0": self.a > 0, "b > 0": self.b > 0}

    def residuals(self, u):
        return {"square": jnp.log(u["q"]) * 2 - jnp.log(self.a * self.b),
                "share": u["r"] * (1 + self.a) - self.a}

    def outputs(self, u):
        return {"q_times_r": u["q"] * u["r"]}

    def regime(self, u):
        return {"q_below_10": u["q"] < 10}


def test_transforms_round_trip():
    for t, u in [(jo.Positive(), 2.5), (jo.Unit(), 0.3), (jo.Interval(-1.0, 4.0), 1.7), (jo.Free(), -3.0)]:
        assert float(t.to_natural(t.to_internal(u))) == pytest.approx(u, abs=1e-14)
        assert bool(t.contains(u))
    with pytest.raises(ValueError, match="lo < hi"):
        jo.Interval(1.0, 0.0)


def test_small_model_closed_form_and_derivatives():
    m = Cournot(a=2.0, b=3.0)
    sol = jo.solve(m)
    assert sol.converged and sol.status_name == "converged"
    assert float(sol["q"]) == pytest.approx(np.sqrt(6.0), rel=1e-13)
    assert float(sol["r"]) == pytest.approx(2 / 3, rel=1e-13)
    # d q / d a = 0.5 sqrt(b/a); d r / d a = 1/(1+a)^2; output by chain rule
    assert float(jo.derivative(m, "q", "a")) == pytest.approx(0.5 * np.sqrt(1.5), rel=1e-12)
    assert float(jo.derivative(m, "r", "a")) == pytest.approx(1 / 9, rel=1e-12)
    d_qr = 0.5 * np.sqrt(1.5) * 2 / 3 + np.sqrt(6.0) / 9
    assert float(jo.derivative(m, "q_times_r", "a")) == pytest.approx(d_qr, rel=1e-12)
    assert float(jo.elasticity(m, "q", "b")) == pytest.approx(0.5, rel=1e-12)


def test_out_of_regime_is_flagged_and_masked():
    with pytest.warns(jo.ConvergenceWarning, match="q_below_10"):
        sol = jo.solve(Cournot(a=50.0, b=3.0))
    assert sol.status_name == "out_of_regime"
    assert np.isnan(float(sol["q"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = jo.solve(Cournot(a=50.0, b=3.0), mask=False)
    assert float(raw["q"]) == pytest.approx(np.sqrt(150.0))
    assert not bool(raw.regime["q_below_10"])
    with pytest.raises(jo.SolveError):
        jo.solve(Cournot(a=50.0, b=3.0), throw=True)


def test_parameter_validation_messages():
    with pytest.raises(jo.ParameterError, match=r"'beta > 0' fails with beta = -1"):
        M1(beta=-1.0)
    with pytest.raises(ValueError, match=r"0 < alpha_x < 1"):
        M1(alpha_x=1.5)
    with pytest.raises(ValueError, match=r"beta \* kappa >= 1"):
        M1(beta=0.5)
    with pytest.raises(TypeError, match="Did you mean 'beta'"):
        M1(betta=1.5)
    with pytest.raises(TypeError, match="must be a number"):
        M1(beta="2")
    with pytest.raises(TypeError, match="by name only"):
        M1(2.0)


def test_invalid_points_under_vmap_are_flagged_not_raised():
    betas = jnp.array([2.0, -1.0, 0.5, 1.5])
    sol = jax.vmap(lambda b: jo.solve(M1(beta=b)))(betas)
    status = np.asarray(sol.status)
    assert list(status) == [0, 2, 2, 0]
    w = np.asarray(sol["w"])
    assert np.isnan(w[1]) and np.isnan(w[2])
    good = np.asarray(betas)[[0, 3]]
    np.testing.assert_allclose(w[[0, 3]], (good + 4) ** 2 / (16 * good), rtol=1e-12)


def _w_via_with_params(th):
    """w of M1 built by with_params from a traced (beta, w*) vector."""
    return jo.solve(M1().with_params(beta=th[0], w_star=th[1]))["w"]


def _grad_beta_wstar(betas):
    """vmap(grad) of w w.r.t. (beta, w*) at w* = 0.25 (M1's default): one compilation for this file."""
    th = jnp.stack([betas, jnp.full_like(betas, 0.25)], axis=1)
    return jax.vmap(jax.grad(_w_via_with_params))(th)


def test_transformations_through_solve():
    """jit(vmap(jvp)), vmap(grad), vmap(jacfwd) through jo.solve on models built from traced parameters.

    Each transformation of the solver chain is a compilation (~9 s of CPU cold), so each is done once:
    jit, vmap and jvp together here; vmap(grad) w.r.t. two parameters at once (through with_params) on
    the 7 points of test_derivatives_of_failed_points_are_nan_not_zero, whose vmap(jacfwd) also checks
    jacfwd of I and w against their closed forms.
    """
    betas = jnp.linspace(1.2, 3.5, 7)
    w, tangent = jax.jit(jax.vmap(lambda b: jax.jvp(lambda bb: jo.solve(M1(beta=bb))["w"], (b,), (1.0,))))(betas)
    np.testing.assert_allclose(w, (betas + 4) ** 2 / (16 * betas), rtol=1e-12)
    np.testing.assert_allclose(tangent, (betas**2 - 16) / (16 * betas**2), rtol=1e-10)
    # gradient w.r.t. several parameters at once, through a model built by with_params
    g = _grad_beta_wstar(betas)
    np.testing.assert_allclose(g[:, 0], (betas**2 - 16) / (16 * betas**2), rtol=1e-10)
    # beta and w* enter only through their product (spec O3)
    np.testing.assert_allclose(g[:, 0] * betas, g[:, 1] * 0.25, rtol=1e-12)


def test_statics_table_matches_spec_elasticities():
    df = jo.statics(M2(), ["w", "s", "p"], ["beta"], kind="elasticity")
    # Trading Tasks spec O6: d ln w / d ln beta = -0.261333, d ln s = -0.048, d ln p = 0.036
    np.testing.assert_allclose(df["beta"].to_numpy(), [-0.261333, -0.048, 0.036], atol=1e-6)
    assert df.attrs["status"] == "converged"
    m1 = jo.statics(M1(), ["w", "s", "I"], ["beta", "L"], kind="elasticity")
    assert m1.loc["w", "beta"] == pytest.approx(-1 / 3, abs=1e-12)  # O3: -E(I) = -1/3
    assert m1.loc["s", "beta"] == pytest.approx(0.0, abs=1e-12)
    assert m1.loc["w", "L"] == pytest.approx(0.0, abs=1e-12)  # R3: mu2 = 0
    with pytest.raises(KeyError, match="Did you mean 'beta'"):
        jo.statics(M1(), ["w"], ["betta"])
    with pytest.raises(KeyError, match="Did you mean 'skill_premium'"):
        jo.derivative(M1(), "skill_premum", "beta")


def test_total_derivatives_reuse_one_factorization_for_any_quantity():
    m = M1()
    vals, d = jo.total_derivatives(m, ["beta", "w_star"], lambda mm, u: {"lnw": jnp.log(u["w"])})
    assert float(vals["lnw"]) == pytest.approx(np.log(9 / 8), rel=1e-13)
    assert float(d["lnw"]["beta"]) * 2.0 == pytest.approx(-1 / 3, rel=1e-12)


def test_fallback_recovers_from_a_bad_start():
    m = M1()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = jo.solve(m, guess={"w": 50.0, "s": 0.01, "I": 0.999, "x": -40.0, "y": 30.0}, fallback=False)
    sol = jo.solve(m, guess={"w": 50.0, "s": 0.01, "I": 0.999, "x": -40.0, "y": 30.0})
    assert sol.converged
    assert float(sol["w"]) == pytest.approx(9 / 8, rel=1e-12)
    assert int(sol.steps) >= int(bare.steps)


def test_solution_access_and_tables():
    sol = jo.solve(M1())
    assert set(["w", "I", "W", "offshoring_active"]) <= set(sol.keys())
    with pytest.raises(KeyError, match="Did you mean 'w'"):
        sol["ww"]
    s = sol.to_series()
    assert s["w"] == pytest.approx(1.125) and s["status"] == "converged"
    assert "converged" in sol._repr_html_()
    # 4 points, as in test_invalid_points_under_vmap_are_flagged_not_raised: one compiled batch solve
    batch = jax.vmap(lambda b: jo.solve(M1(beta=b)))(jnp.array([2.0, 1.5, 2.5, 3.0]))
    df = batch.to_frame()
    assert list(df["status"]) == ["converged"] * 4
    assert df["I"].to_numpy() == pytest.approx([1 / 3, 2.5 / 5.5, 1.5 / 6.5, 1 / 7])


def test_model_helpers():
    m = M1(beta=1.5)
    assert m.replace(beta=3.0).beta == 3.0
    with pytest.raises(jo.ParameterError):
        m.replace(beta=-3.0)
    assert "beta" in M1.parameter_names() and M1.defaults()["beta"] == 2.0
    assert "beta" in m._repr_html_()
    assert m.describe().query("name == 'beta'")["value"].iloc[0] == "1.5"


@pytest.mark.slow  # the jaxopt backend's compilations; M1 against the default backend runs by default in
# tests/test_trading_tasks.py::test_M1_eager_solve_message_and_jaxopt_backend
def test_jaxopt_backend_matches_default():
    pytest.importorskip("jaxopt")
    for model in (M1(beta=1.7), M2()):
        a = jo.solve(model)
        b = jo.solve(model, backend="jaxopt")
        assert b.converged
        for k in model.unknowns:
            assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-9, abs=1e-12)


def test_derivatives_of_failed_points_are_nan_not_zero():
    # 7 points, as in test_transformations_through_solve: the vmap(grad) there and here is one compilation
    betas = jnp.array([2.0, -1.0, 0.5, 1.2, 1.5, 3.0, 3.5])
    fwd = jax.vmap(jax.jacfwd(lambda b: {k: jo.solve(M1(beta=b))[k] for k in ("w", "I")}))(betas)
    rev = _grad_beta_wstar(betas)
    good = np.array([True, False, False, True, True, True, True])
    b = np.asarray(betas)[good]
    for d in (fwd["w"], rev[:, 0]):
        d = np.asarray(d)
        assert float(d[0]) == pytest.approx(-0.1875, rel=1e-12) and np.isnan(d[1]) and np.isnan(d[2])
        np.testing.assert_allclose(d[good], (b**2 - 16) / (16 * b**2), rtol=1e-10)
    assert np.isnan(np.asarray(rev[1:3, 1])).all() and np.isfinite(np.asarray(rev[good, 1])).all()
    # I = (4 - beta)/(4 + beta) (spec O2): dI/dbeta = -8/(4 + beta)^2, -8/36 at beta = 2
    dI = np.asarray(fwd["I"])
    assert float(dI[0]) == pytest.approx(-8 / 36, rel=1e-12) and np.isnan(dI[1]) and np.isnan(dI[2])
    np.testing.assert_allclose(dI[good], -8 / (4 + b) ** 2, rtol=1e-10)
