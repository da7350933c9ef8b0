"""Calibration inference and compilation: no retracing across calls, one compilation for a batched
panel, the delta method (`CalibrationResult.propagate`) against a parametric bootstrap, and the Hansen
J statistic against its chi-square distribution under correct specification and under misspecification.

Oracles: the M1 closed form (spec O2) written in numpy in tests/test_calibrate.py; a parametric
bootstrap (re-calibration on simulated data moments) for the delta method; the chi-square(k - p)
distribution (scipy.stats, dev dependency) for J; J = e' S^-1 e when W = S^-1 (textbook GMM).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from test_calibrate import FREE, SK, TRUE, closed_form_m1, targets_at

import jaxoff as jo
from jaxoff.calibrate import calibrate, calibrate_many
from jaxoff.calibrate._optimizers import TRACES
from jaxoff.models.trading_tasks import SUBMODELS

M1 = SUBMODELS["M1"]
SE = {"skill_premium": 0.01, "g": 0.005}


def test_repeated_calls_do_not_retrace():
    calibrate(M1(), targets_at(**TRUE), FREE, moment_se=SE, solve_kwargs=SK, warn=False)
    before = TRACES["fit"]
    for b in (1.5, 2.2):
        res = calibrate(M1(), targets_at(b, 0.93), FREE, moment_se=SE, solve_kwargs=SK, warn=False)
        assert res.converged and res.params["beta"] == pytest.approx(b, rel=1e-7)
    assert TRACES["fit"] == before  # new targets, same structure: no new trace


def test_propagate_matches_parametric_bootstrap():
    tg = targets_at(**TRUE)
    res = calibrate(M1(), tg, FREE, moment_se=SE, solve_kwargs=SK, warn=False)
    assert np.isfinite(res.se["beta"]) and "moment_se given" in res.se_assumption

    def counterfactual(m):  # the wage if the foreign wage rose by 20%
        return jo.solve(m.with_params(w_star=m.w_star * 1.2), mask=False, fallback=False)["w"]

    out = res.propagate(counterfactual)
    # bootstrap: data moments redrawn from N(target, S), every draw re-calibrated in one batched call
    rng = np.random.default_rng(1)
    n = 160
    draws = pd.DataFrame({k: tg[k] + SE[k] * rng.standard_normal(n) for k in tg},
                         index=[f"b{i}" for i in range(n)])
    before = TRACES["fit_many"]
    boot = calibrate_many(M1(), draws, FREE, batch_size=80, progress=False, warn=False, solve_kwargs=SK)
    assert TRACES["fit_many"] - before <= 1  # one compilation for both chunks (0 if already compiled)
    assert not boot.failed
    th = boot.table[["beta", "p"]].to_numpy(float)
    f = jax.jit(jax.vmap(lambda b, p: counterfactual(M1().with_params(beta=b, p=p))))
    vals = np.asarray(f(jnp.asarray(th[:, 0]), jnp.asarray(th[:, 1])))
    assert float(out.value) == pytest.approx(float(np.mean(vals)), abs=3 * float(out.se) / np.sqrt(n) + 1e-6)
    assert float(out.se) == pytest.approx(float(np.std(vals, ddof=1)), rel=0.15)
    # parameters themselves: the bootstrap spread matches the sandwich standard errors
    assert res.se["beta"] == pytest.approx(float(np.std(th[:, 0], ddof=1)), rel=0.15)


def _j_draws(model_true, n, rng):
    """Three moments (skill premium, g, w) of the true model plus N(0, S) noise."""
    sol = jo.solve(model_true)
    se = {"skill_premium": 0.01, "g": 0.005, "w": 0.02}
    return [{k: float(sol[k]) + se[k] * rng.standard_normal() for k in se} for _ in range(n)], se


def _j_fits(data, se, scale_w=1.0):
    from scipy import stats

    weights = {k: 1.0 / v ** 2 for k, v in se.items()}  # W = S^-1
    out = []
    for tg in data:
        tg = {**tg, "w": tg["w"] * scale_w}
        r = calibrate(M1(), tg, FREE, weights=weights, moment_se=se, solve_kwargs=SK, warn=False)
        assert r.converged and r.j_df == 1
        e = np.array([r.moments[k] - r.targets[k] for k in se])
        # with W = S^-1, Hansen's J is e' S^-1 e (twice the loss)
        assert r.j_stat == pytest.approx(float(np.sum(e ** 2 / np.array(list(se.values())) ** 2)), rel=1e-6)
        assert r.j_pvalue == pytest.approx(float(stats.chi2.sf(r.j_stat, 1)), rel=1e-8)
        out.append(r)
    return out


def test_j_statistic_formula_and_rejects_misspecification():
    rng = np.random.default_rng(2)
    data, se = _j_draws(M1(beta=TRUE["beta"], p=TRUE["p"]), 3, rng)
    _j_fits(data, se)
    # misspecified: the wage moment is 10% (about 8 s.e.) above what any (beta, p) of this model gives
    # together with the other two moments (e.g. it is measured for another population)
    for r in _j_fits(data, se, scale_w=1.1):
        assert r.j_pvalue < 1e-3, r


@pytest.mark.slow  # 30 re-calibrations (a Monte Carlo of the J distribution); the formula and the
# rejection run by default in test_j_statistic_formula_and_rejects_misspecification
def test_j_statistic_chi_square_under_correct_specification():
    from scipy import stats

    rng = np.random.default_rng(2)
    data, se = _j_draws(M1(beta=TRUE["beta"], p=TRUE["p"]), 30, rng)
    J = np.array([r.j_stat for r in _j_fits(data, se)])
    assert 0.4 < J.mean() < 1.9  # E[chi2(1)] = 1; sd of a mean of 30 draws is 0.26
    assert stats.kstest(J, stats.chi2(1).cdf).pvalue > 1e-3


def test_standard_errors_missing_say_why():
    res = calibrate(M1(), targets_at(**TRUE), FREE, solve_kwargs=SK, warn=False)
    assert np.isnan(res.se["beta"]) and "precision of the data moments is unknown" in res.se_assumption
    assert "se n/a" in repr(res) and "moment_se" in repr(res)


def test_closed_form_oracle_still_holds():
    sp, g = closed_form_m1(**TRUE)
    res = calibrate(M1(), {"skill_premium": sp, "g": g}, FREE, moment_se=SE, solve_kwargs=SK, warn=False)
    assert res.params["p"] == pytest.approx(TRUE["p"], rel=1e-8)


def test_first_stage_then_fallback_program_with_default_solver():
    """With the default inner solver, an eager calibrate compiles and runs Newton on the square system
    alone, and the program with the rest of the chain and Levenberg-Marquardt only for a target where
    that Newton fails (here: from the default start, beta = 2.6 is too far), compiled once. Oracle:
    the closed form M1 (targets) and its parameters."""
    calibrate(M1(), targets_at(**TRUE), FREE, warn=False)  # compiles the first-stage program
    before = TRACES["fit"]
    far = {"beta": 2.59665192, "p": 0.91995154}
    for _ in range(2):
        res = calibrate(M1(), targets_at(**far), FREE, warn=False)
        assert res.converged
        assert res.params["beta"] == pytest.approx(far["beta"], rel=1e-8)
        assert res.params["p"] == pytest.approx(far["p"], rel=1e-8)
    assert TRACES["fit"] - before == 1  # the fallback program, traced once for both calls
    near = calibrate(M1(), targets_at(1.9, 0.95), FREE, warn=False)
    assert near.converged and TRACES["fit"] - before == 1  # first stage: no new trace
    assert near.params["beta"] == pytest.approx(1.9, rel=1e-8)


def test_packed_solution_is_the_equilibrium_at_the_estimate():
    """The compiled fit returns its Solution packed with the other numbers and rebuilds it on first
    use: it must be the equilibrium at the estimate (same numbers as a fresh solve there, converged)."""
    res = calibrate(M1(), targets_at(**TRUE), FREE, solve_kwargs=SK, warn=False)
    assert callable(res._solution)  # not rebuilt yet
    sol = res.solution
    ref = jo.solve(M1().with_params(**res.params), **SK)
    assert int(sol.status) == int(ref.status) == 0 and bool(sol.converged)
    for k in ref.unknowns:
        np.testing.assert_allclose(np.asarray(sol[k]), np.asarray(ref[k]), rtol=1e-9)
    for k in ref.outputs:
        np.testing.assert_allclose(np.asarray(sol[k]), np.asarray(ref[k]), rtol=1e-9, atol=1e-12)
    assert float(sol.model.beta) == pytest.approx(res.params["beta"], rel=1e-14)
    assert float(sol.residual_norm) < 1e-8
    assert isinstance(sol.status, jax.Array)


def _first_domestic_share(sol, model):
    return {"domestic_share_0": sol["domestic_share"][0]}


def test_array_parameters_of_another_size_are_not_confused():
    """One model class with array parameters of two sizes (3 and 4 countries) shares a problem set-up
    but not a compiled signature: each call must read its own results (calibrating sigma back from the
    domestic share of country 0 computed at sigma = 4; oracle: that sigma and the economy's size)."""
    from jaxoff.models.armington import random_economy

    econ = {n: random_economy(n, seed=n) for n in (3, 4)}
    target = {n: float(jo.solve(m.with_params(sigma=4.0))["domestic_share"][0]) for n, m in econ.items()}
    for n in (3, 4, 3):
        res = calibrate(econ[n], {"domestic_share_0": target[n]}, {"sigma": "log"}, _first_domestic_share,
                        warn=False)
        assert res.converged and res.params["sigma"] == pytest.approx(4.0, rel=1e-8)
        assert res.solution["w"].shape == (n,) and float(res.solution["domestic_share"][0]) == pytest.approx(
            target[n], rel=1e-10)
