"""calibrate_pooled: a shared parameter (p) and a per-unit shifter (beta) of Trading Tasks M1.

Oracles: the M1 closed form (spec O2, `closed_form_m1` in tests/test_calibrate.py, numpy) generates the
panels and, by central finite differences, the moment Jacobian used to recompute the sandwich standard
errors and the first-order conditions in numpy; the chi-square(N k - P) distribution (scipy.stats, dev
dependency) for Hansen's J under correct specification; the Monte Carlo spread of the estimates for the
standard error of the shared parameter.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
from test_calibrate import SK, closed_form_m1

from jaxoff.calibrate import CalibrationWarning, calibrate_pooled
from jaxoff.calibrate._pooled import _TRACES
from jaxoff.models.trading_tasks import SUBMODELS

M1 = SUBMODELS["M1"]
BETAS = np.array([1.4, 1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8])  # inside regime A at p = 0.9 (beta < 3.24)
P_TRUE = 0.9
SE = {"skill_premium": 0.01, "g": 0.005}
MOM = ["skill_premium", "g"]
UNITS = [f"C{i}" for i in range(len(BETAS))]


def panel(betas=BETAS, ps=None):
    ps = np.full(len(betas), P_TRUE) if ps is None else ps
    return pd.DataFrame([dict(zip(MOM, closed_form_m1(b, p))) for b, p in zip(betas, ps)], index=UNITS)


def noisy(df, rng):
    return df + pd.DataFrame({k: SE[k] * rng.standard_normal(len(df)) for k in MOM}, index=df.index)


def fit(df, **kw):
    kw = {"moment_se": SE, "solve_kwargs": SK, **kw}
    return calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["beta"], **kw)


def closed_form_jacobian(p, betas, h=1e-6):
    """d(moments)/d(p, beta_1..beta_N) of the stacked panel by central differences of the closed form."""
    N = len(betas)
    G = np.zeros((2 * N, 1 + N))
    for i, b in enumerate(betas):
        G[2 * i:2 * i + 2, 0] = (np.array(closed_form_m1(b, p + h)) - np.array(closed_form_m1(b, p - h))) / (2 * h)
        G[2 * i:2 * i + 2, 1 + i] = (np.array(closed_form_m1(b + h, p)) - np.array(closed_form_m1(b - h, p))) / (2 * h)
    return G


def test_recovers_known_parameters_without_noise():
    res = fit(panel())
    assert res.converged and res.status == "converged"
    assert res.shared["p"] == pytest.approx(P_TRUE, rel=1e-6)
    np.testing.assert_allclose(res.units["beta"].to_numpy(), BETAS, rtol=1e-6)
    assert res.loss < 1e-12 and res.j_df == len(BETAS) * 2 - (1 + len(BETAS))
    assert res.j_stat < 1e-8 and res.j_pvalue == pytest.approx(1.0)
    # tidy table: the shared row first, then one row per unit parameter
    assert list(res.table.columns) == ["parameter", "unit", "estimate", "se"]
    assert len(res.table) == 1 + len(BETAS) and res.table.iloc[0]["unit"] == "(all)"
    assert set(res.moments_table["moment"]) == set(MOM) and len(res.moments_table) == 2 * len(BETAS)
    m = res.model_for("C3")
    assert float(m.beta) == pytest.approx(BETAS[3], rel=1e-6) and float(m.p) == pytest.approx(P_TRUE, rel=1e-6)
    # one compilation per panel shape: a second panel of the same shape does not retrace
    before = _TRACES["pooled_eval"]
    fit(panel(BETAS * 1.02), weighting="identity")
    assert _TRACES["pooled_eval"] == before


@pytest.mark.parametrize("weighting", ["diagonal", "identity"])
def test_sandwich_and_first_order_conditions_match_closed_form(weighting):
    df = noisy(panel(), np.random.default_rng(5))
    res = fit(df, weighting=weighting)
    assert res.converged
    b = res.units["beta"].to_numpy()
    G = closed_form_jacobian(res.shared["p"], b)
    np.testing.assert_allclose(res.jacobian, G, rtol=1e-6, atol=1e-9)
    t = df[MOM].to_numpy().reshape(-1)
    e = np.concatenate([closed_form_m1(bi, res.shared["p"]) for bi in b]) - t
    S = np.diag(np.tile([SE[k] ** 2 for k in MOM], len(b)))
    W = np.linalg.inv(S) if weighting == "diagonal" else np.eye(len(t))
    # the estimate is a stationary point of 1/2 e'We (gradient relative to its scale)
    grad = G.T @ W @ e
    assert np.max(np.abs(grad) / np.sqrt(np.diag(G.T @ W @ G) * (e @ W @ e))) < 1e-6
    A = np.linalg.inv(G.T @ W @ G)
    V = A @ G.T @ W @ S @ W @ G @ A
    np.testing.assert_allclose(res.table["se"].to_numpy(), np.sqrt(np.diag(V)), rtol=1e-5)
    if weighting == "diagonal":
        assert res.j_stat == pytest.approx(float(e @ W @ e), rel=1e-6)  # W = S^-1: J = e'S^-1 e = 2 loss
    else:
        # any W: e ~ N(0, M S M'), M = I - G (G'WG)^-1 G'W, J = e'(M S M')^+ e (rank N k - P)
        M = np.eye(len(t)) - G @ A @ G.T @ W
        assert res.j_stat == pytest.approx(float(e @ np.linalg.pinv(M @ S @ M.T, rcond=1e-10) @ e), rel=1e-4)


def test_j_statistic_is_chi_square_and_rejects_misspecification():
    from scipy import stats

    rng = np.random.default_rng(11)
    base = panel()
    J, p_hat, se_p = [], [], []
    for _ in range(36):
        r = fit(noisy(base, rng), warn=False)
        assert r.converged
        J.append(r.j_stat)
        p_hat.append(r.shared["p"])
        se_p.append(r.shared_se["p"])
    df = len(BETAS) - 1
    J = np.asarray(J)
    assert abs(J.mean() - df) < 3 * np.sqrt(2 * df / len(J))  # E J = df, sd of the mean sqrt(2 df / n)
    assert stats.kstest(J, stats.chi2(df).cdf).pvalue > 1e-3
    # the sandwich standard error of the shared parameter matches the Monte Carlo spread
    assert np.mean(se_p) == pytest.approx(np.std(p_hat, ddof=1), rel=0.35)
    assert np.mean(p_hat) == pytest.approx(P_TRUE, abs=3 * np.mean(se_p) / np.sqrt(len(p_hat)))
    # misspecified: p is not common (it differs by +-4% across units); J rejects
    ps = P_TRUE * (1 + 0.04 * np.where(np.arange(len(BETAS)) % 2 == 0, 1.0, -1.0))
    bad = fit(noisy(panel(ps=ps), rng), warn=False)
    assert bad.j_stat > stats.chi2(df).ppf(0.999) and bad.j_pvalue < 1e-3


def test_optimal_weighting_and_missing_moments():
    df = noisy(panel(), np.random.default_rng(3))
    diag = fit(df, weighting="diagonal")
    # known moment covariance: the optimal weight is S^-1 = the diagonal weight here
    opt = fit(df, weighting="optimal")
    assert opt.shared["p"] == pytest.approx(diag.shared["p"], rel=1e-8)
    # a common within-unit correlation: optimal (S^-1) differs from diagonal and J stays e'S^-1 e
    C = np.array([[SE["skill_premium"] ** 2, 0.3 * SE["skill_premium"] * SE["g"]],
                  [0.3 * SE["skill_premium"] * SE["g"], SE["g"] ** 2]])
    opt_c = calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["beta"], moment_cov=C, weighting="optimal",
                             solve_kwargs=SK)
    assert opt_c.converged and opt_c.j_stat == pytest.approx(2 * opt_c.loss, rel=1e-8)
    # unknown covariance: estimated from the first step; J not reported (and says why)
    est = calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["beta"], weighting="optimal", solve_kwargs=SK)
    assert est.converged and np.isnan(est.j_stat) and "by construction" in est.j_note
    assert np.isfinite(est.shared_se["p"]) and est.shared["p"] == pytest.approx(P_TRUE, abs=5 * diag.shared_se["p"])
    # a missing target is left out of the objective and of J's degrees of freedom, not dropped silently
    df2 = df.copy()
    df2.loc["C2", "g"] = np.nan
    r = fit(df2)
    assert r.converged and r.n_obs == 2 * len(BETAS) - 1 and r.j_df == len(BETAS) - 2
    assert np.isnan(r.units.loc["C2", "target:g"]) and np.isfinite(r.units.loc["C2", "model:g"])


def test_errors_name_the_bad_input():
    df = panel()
    with pytest.raises(ValueError, match="moment_se"):
        calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["beta"], weighting="diagonal")
    with pytest.raises(KeyError, match="bta"):
        calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["bta"])
    with pytest.raises(ValueError, match="both shared and unit_free"):
        calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["p"])
    with pytest.raises(KeyError, match="no target column"):
        calibrate_pooled(M1(), df, ["wage"], shared=["p"], unit_free=["beta"])
    with pytest.raises(ValueError, match="weighting"):
        calibrate_pooled(M1(), df, MOM, shared=["p"], unit_free=["beta"], weighting="efficient")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        fit(df)  # a clean fit warns about nothing


@pytest.mark.slow  # real WIOD panel subset, ~35 s of CPU on a cold cache
def test_a_unit_blocked_at_its_regime_edge_is_not_reported_converged():
    """DEU/FRA/GBR/JPN/USA x 1995-2011 with one world price p: at the common p, JPN-1995's FVA share needs
    a beta beyond M1's diversification cone, so every joint step that moves it there fails and is rejected.
    The steps then shrink to nothing while other units still have descent directions: that is not a
    converged fit (it used to be reported as one)."""
    import math

    import jaxoff.data as jd
    import jaxoff.data.input_output as jio

    fva = jio.wiod2013_fva_derived()
    fixed = dict(h_L=1.0, kappa=1.0, w_star=0.05, alpha_x=0.4, alpha_y=0.7, sigma_x=1.0, sigma_y=1.0, L=1.0, H=1.0)
    sub = fva[fva.iso3.isin(["DEU", "FRA", "GBR", "JPN", "USA"]) & fva.year.isin([1995, 2000, 2005, 2011])]
    sub = sub.sort_values(["year", "iso3"])
    premium = jd.relative_earnings_tertiary() / 100
    df = pd.DataFrame({"offshoring_share": sub.fva_share.to_numpy(),
                       "skill_premium": np.where(sub.year == 2011, sub.iso3.map(premium), np.nan)},
                      index=[f"{i}-{y}" for i, y in zip(sub.iso3, sub.year)])

    def moments(sol, model):
        return {"offshoring_share": sol["task_imports"] / sol["Q"], "skill_premium": sol["skill_premium"]}

    se = 0.000005 / math.sqrt(3)
    res = calibrate_pooled(M1(**fixed, beta=8.0, p=0.85), df, shared={"p": "log"}, unit_free={"beta": "log"},
                           moments=moments, moment_se={"offshoring_share": se, "skill_premium": se}, warn=False)
    assert not res.converged and res.status == "optimizer_not_converged"
