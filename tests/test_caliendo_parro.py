"""Caliendo and Parro (2015): the paper's NAFTA numbers, closed forms on small synthetic economies,
derivative checks, batches, and agreement with an independent NumPy implementation of the
authors' algorithm (benchmarks/_cp_numpy_peer.py).

Oracles: the numbers stated in the model spec (paper values and the independent computation quoted
there), closed forms (Arkolakis-Costinot-Rodriguez-Clare with and without roundabout production, the
multi-sector real-wage identity, Walras' law), central finite differences, and the NumPy peer.
"""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

jax.config.update("jax_enable_x64", True)

from jaxoff.models import _caliendo_parro_data as cpdata  # noqa: E402
from jaxoff.models import caliendo_parro as cp  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import _cp_numpy_peer as peer  # noqa: E402


@pytest.fixture(scope="module")
def base():
    return cp.baseline()


@pytest.fixture(scope="module")
def nafta(base):
    return cp.counterfactual(base, tariffs=cp.nafta_tariffs(base))


# -- API and baseline ------------------------------------------------------------------------------
def test_api_shapes(base):
    assert len(base.regions) == 31 and base.regions[-1] == "ROW"
    assert len(base.sectors) == 40 and base.sectors[0] == "Agriculture" and base.sectors[-1] == "Private"
    assert base.tariffs.shape == (20, 31, 31) and base.tariffs_2005.shape == (20, 31, 31)
    assert cp.SUBMODELS["CP"] is cp.CaliendoParro
    assert "nafta" in cp.EXPERIMENTS


def test_baseline_two_steps(base):
    # spec 4.3: world VA 2491.5217 (1e10 USD) preserved; VA and income after the zero-deficit step
    m = base.model
    assert float(m.VA.sum()) == pytest.approx(2491.5217, abs=1e-4)
    I = np.asarray(m.baseline_income())
    for r, va, inc in (("MEX", 37.99549, 38.78739), ("CAN", 56.73205, 57.18230), ("USA", 643.30015, 645.06645)):
        k = base.region(r)
        assert float(m.VA[k]) == pytest.approx(va, abs=1e-4)
        assert I[k] == pytest.approx(inc, abs=1e-4)
    assert np.all(np.asarray(m.S) == 0)
    assert base.n_clipped_alpha == 185
    w = base.steps[0]
    assert 0.986 <= w["w_hat_min"] and w["w_hat_max"] <= 1.0084   # spec BL.1: w_hat in [0.986, 1.008]
    assert int((np.diagonal(np.asarray(m.pi)[:20], axis1=1, axis2=2) == 0).sum()) == 26


def test_zero_shock_is_the_baseline(base):
    res = cp.counterfactual(base)
    assert res.converged
    assert np.max(np.abs(res["w_hat"] - 1)) < 1e-7
    assert np.max(np.abs(res["P_hat"] - 1)) < 1e-7
    assert np.max(np.abs(res.welfare.to_numpy())) < 1e-5


# -- the paper's numbers (spec 9.1-9.4) ------------------------------------------------------------
PAPER = {  # welfare (paper formula), ToT, VoT, real wage, imports from NAFTA partners
    "MEX": (1.3121, -0.41177, 1.72388, 1.7153, 118.28),
    "USA": (0.0848, 0.04353, 0.04122, 0.1124, 40.52),
    "CAN": (-0.0638, -0.10810, 0.04429, 0.3228, 11.11),
}


def test_nafta_paper_numbers(nafta):
    assert nafta.converged
    w = nafta.welfare
    g = nafta.bloc_trade()
    # the paper's rounded headline numbers
    assert w.loc["MEX", "paper_formula"] == pytest.approx(1.31, abs=0.005)
    assert w.loc["USA", "paper_formula"] == pytest.approx(0.08, abs=0.005)
    assert w.loc["CAN", "paper_formula"] == pytest.approx(-0.06, abs=0.005)
    for r, (paper, tot, vot, rw, imp) in PAPER.items():
        assert w.loc[r, "paper_formula"] == pytest.approx(paper, abs=0.005)
        assert w.loc[r, "tot"] == pytest.approx(tot, abs=0.0005)
        assert w.loc[r, "vot"] == pytest.approx(vot, abs=0.0005)
        assert w.loc[r, "paper_formula"] == pytest.approx(w.loc[r, "tot"] + w.loc[r, "vot"], abs=1e-12)
        assert nafta.real_wage.loc[r, "real_wage"] == pytest.approx(rw, abs=0.0005 if r != "MEX" else 0.005)
        assert g.loc[r, "imports"] == pytest.approx(imp, abs=0.5)
    # paper: 118 / 41 / 11 percent
    assert g.loc["MEX", "imports"] == pytest.approx(118, abs=0.5)
    assert g.loc["USA", "imports"] == pytest.approx(41, abs=0.5)
    assert g.loc["CAN", "imports"] == pytest.approx(11, abs=0.5)


def test_nafta_exact_welfare_and_more_digits(nafta):
    # spec 9.2 / 9.3 (independent computation): exact real income, hats, bloc trade
    w = nafta.welfare
    for r, ex in (("MEX", 0.0073), ("USA", 0.0741), ("CAN", -0.1101), ("KOR", -0.0282), ("CHN", -0.0277)):
        assert w.loc[r, "exact"] == pytest.approx(ex, abs=1e-4)
    rw = nafta.real_wage
    for r, wh, ph in (("MEX", 1.008231, 0.991228), ("CAN", 0.998731, 0.995517), ("USA", 1.003121, 1.001994)):
        assert rw.loc[r, "w_hat"] == pytest.approx(wh, abs=1e-6)
        assert rw.loc[r, "P_hat"] == pytest.approx(ph, abs=1e-6)
    g = nafta.bloc_trade()
    assert g.loc["MEX", "exports"] == pytest.approx(106.36, abs=0.01)
    assert g.loc["USA", "total"] == pytest.approx(43.36, abs=0.01)
    assert g.loc["bloc", "total"] == pytest.approx(43.72, abs=0.01)
    # Mexico's tariff revenue collapses: this is why exact << paper formula
    rev = nafta.wages.loc["MEX", "tariff_revenue_share"]
    assert 100 * rev == pytest.approx(0.37, abs=0.01)
    # sector decomposition adds up
    d = nafta.welfare_decomposition("MEX")
    assert d["tot"].sum() == pytest.approx(w.loc["MEX", "tot"], abs=1e-12)
    assert d["vot"].sum() == pytest.approx(w.loc["MEX", "vot"], abs=1e-12)


def test_offshoring_measures(nafta):
    # spec 9.4 (independent computation), percent, baseline -> NAFTA
    o = nafta.offshoring()
    for r, fb, fc, ib, ic in (("MEX", 24.9984, 37.3219, 15.5000, 25.8378), ("CAN", 21.6092, 22.7616, 15.3777, 16.2174),
                              ("USA", 9.9739, 10.7376, 5.6717, 6.3831)):
        assert o.loc[r, "fva_base"] == pytest.approx(fb, abs=1e-4)
        assert o.loc[r, "fva_cf"] == pytest.approx(fc, abs=1e-4)
        assert o.loc[r, "imported_inputs_base"] == pytest.approx(ib, abs=1e-4)
        assert o.loc[r, "imported_inputs_cf"] == pytest.approx(ic, abs=1e-4)
    s = cp.offshoring_by_sector(nafta.model, nafta.values)
    auto, mex = nafta.base.sectors.index("Auto"), nafta.base.region("MEX")
    assert float(s["fva"][auto, mex]) == pytest.approx(30.1454, abs=1e-4)
    assert float(s["imported_inputs"][auto, mex]) == pytest.approx(31.7024, abs=1e-4)
    assert float(s["vertical_specialization"][auto, mex]) == pytest.approx(23.0165, abs=1e-4)


def test_tidy_tables(nafta):
    t = nafta.trade
    assert len(t) == 20 * 31 * 30 and {"sector", "importer", "exporter", "baseline", "counterfactual", "growth"} <= set(t)
    p = nafta.prices
    assert len(p) == 40 * 31 and {"P_hat", "c_hat"} <= set(p)
    s = nafta.summary(["MEX", "USA", "CAN"])
    assert list(s.index) == ["MEX", "USA", "CAN"] and "imports_from_partners" in s


# -- closed forms and identities (spec 8) ----------------------------------------------------------
def test_real_wage_identity(nafta):
    # spec 8.3: ln(w/P) = -alpha' (I - Gamma_n)^(-1) d_n, d_n = ln(pi'_nn/pi_nn)/theta (needs pi_nn > 0)
    m = nafta.model
    alpha, va, G, theta = (np.asarray(x) for x in (m.alpha, m.va_share, m.io_share, m.theta))
    pi = np.asarray(m.pi)
    pic = nafta["pi_cf"]
    for r in ("USA", "CAN", "DEU", "JPN"):
        n = nafta.base.region(r)
        dom, domc = np.diagonal(pi, axis1=1, axis2=2)[:, n], np.diagonal(pic, axis1=1, axis2=2)[:, n]
        assert np.all(dom > 0)
        d = np.log(domc / dom) / theta
        Gamma = ((1 - va[:, n])[:, None] * G[n].T)           # Gamma[j,k] = (1 - gamma_j) G[n,k,j]
        lhs = np.log(nafta.real_wage.loc[r, "w_hat"] / nafta.real_wage.loc[r, "P_hat"])
        rhs = -alpha[:, n] @ np.linalg.solve(np.eye(len(d)) - Gamma, d)
        assert lhs == pytest.approx(rhs, abs=1e-8)


@pytest.mark.parametrize("va", [1.0, 0.6])
def test_acr_one_sector(va):
    # spec 8.2: J = 1 with no IO (va = 1) or roundabout production (va = g, G = 1):
    # w/P = pi_hat_nn^(-1/(theta g)); exact welfare adds tariff revenue
    tabs = cpdata.synthetic_tables(4, 1, 1, seed=3, va_share=va, io=va < 1)
    b = cp.baseline(data=tabs)
    new = b.tariffs * 0.3
    res = cp.counterfactual(b, tariffs=new)
    assert res.converged
    theta = float(b.model.theta[0])
    pi_hat = np.diagonal(res["pi_cf"][0]) / np.diagonal(np.asarray(b.model.pi)[0])
    real_wage = res.real_wage["w_hat"] / res.real_wage["P_hat"]
    np.testing.assert_allclose(real_wage, pi_hat ** (-1 / (theta * va)), rtol=1e-10)
    m = b.model
    rev0 = ((1 - (np.asarray(m.pi) / np.asarray(m.tariff)).sum(axis=2)) * np.asarray(m.X)).sum(axis=0)
    rev1 = ((1 - (res["pi_cf"] / np.asarray(res.model.applied_tariff())).sum(axis=2)) * res["X_cf"]).sum(axis=0)
    W = ((res["w_hat"] * np.asarray(m.VA) + rev1) / (np.asarray(m.VA) + rev0)) / res["P_index"]
    np.testing.assert_allclose(1 + res.welfare["exact"] / 100, W, rtol=1e-10)


def test_walras_on_random_inputs():
    # spec 8.4: the VA-weighted sum of all N trade-balance residuals is identically -sum S_cf = 0
    b = cp.baseline(data=cpdata.synthetic_tables(4, 3, 2, seed=1))
    m = b.model.replace(tariff_cf=b.gross(b.tariffs_2005))
    rng = np.random.default_rng(0)
    J, N = m.X.shape
    for _ in range(3):
        u = {"w_hat": jnp.exp(rng.normal(0, .2, N)), "P_hat": jnp.exp(rng.normal(0, .2, (J, N))),
             "X_hat": jnp.exp(rng.normal(0, .2, (J, N)))}
        tb = np.asarray(m.residuals(u)["trade_balance"])[:-1]
        last = float(m.walras(u)["trade_balance_last_region"])
        va = np.asarray(m.VA)
        assert abs((tb * va[:-1]).sum() + last * va[-1]) < 1e-12 * va.sum()


def test_raw_baseline_is_not_an_equilibrium():
    # spec 8.1: on the raw objects the zero shock moves wages by up to 1.4%
    raw = cp.baseline(deficits="raw")
    res = cp.counterfactual(raw)
    assert 0.01 < np.max(np.abs(res["w_hat"] - 1)) < 0.02


def test_permutation_invariance():
    # spec 8.7(c): permuting regions (ROW stays last) permutes results
    tabs = cpdata.synthetic_tables(4, 3, 2, seed=5)
    b = cp.baseline(data=tabs)
    t2 = dict(tabs)
    c = tabs["countries"].copy()
    c["position"] = [2, 1, 3, 4]
    t2["countries"] = c
    b2 = cp.baseline(data=t2)
    assert b2.regions == ["R01", "R00", "R02", "ROW"]
    r1 = cp.counterfactual(b, tariffs=b.tariffs_2005).welfare
    r2 = cp.counterfactual(b2, tariffs=b2.tariffs_2005).welfare
    pd.testing.assert_frame_equal(r1.loc[b2.regions], r2, atol=1e-9, rtol=0)


# -- data checks -----------------------------------------------------------------------------------
def test_bad_tables_are_named():
    tabs = cpdata.synthetic_tables(4, 3, 2, seed=0)  # the shape of the other small economies (one compilation)
    bad = dict(tabs, bilateral_trade=tabs["bilateral_trade"].copy())
    bad["bilateral_trade"].loc[4, "value_thousand_usd"] = -1.0
    with pytest.raises(ValueError, match=r"table 'bilateral_trade', row 6: trade flows must be >= 0"):
        cp.baseline(data=bad)
    bad = dict(tabs, bilateral_trade=tabs["bilateral_trade"].iloc[:-1])
    with pytest.raises(ValueError, match=r"table 'bilateral_trade'.*shape"):
        cp.baseline(data=bad)
    bad = dict(tabs, io_coefficients=tabs["io_coefficients"].copy())
    bad["io_coefficients"].loc[0, "io_share"] += 0.1
    with pytest.raises(ValueError, match=r"table 'io_coefficients'.*must sum to 1"):
        cp.baseline(data=bad)
    bad = dict(tabs, value_added=tabs["value_added"].copy())
    bad["value_added"].loc[2, "value_added_share"] = 1.5
    with pytest.raises(ValueError, match=r"table 'value_added', row 4: value_added_share must lie in \(0, 1\]"):
        cp.baseline(data=bad)
    b = cp.baseline(data=tabs)
    with pytest.raises(ValueError, match="shape"):
        cp.counterfactual(b, tariffs=np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=">= 0 percent"):
        cp.counterfactual(b, tariffs=-np.ones((2, 4, 4)))


# -- agreement with the NumPy peer -----------------------------------------------------------------
def test_numpy_peer_agrees_synthetic():
    # 4 regions x 3 sectors like the other synthetic economies here: the solver compiles for one shape
    tabs = cpdata.synthetic_tables(4, 3, 2, seed=7)
    folder_free = cp.baseline(data=tabs)
    # the peer reads the same tables through its own code path (written to a temporary folder)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for k, f in cpdata.FILES.items():
            tabs[k].to_csv(os.path.join(d, f), index=False)
        pb, pdat = peer.baseline(d)
    np.testing.assert_allclose(pb["pi"], np.asarray(folder_free.model.pi), atol=1e-10)
    np.testing.assert_allclose(pb["X"], np.asarray(folder_free.model.X), rtol=1e-9)
    tau_cf = peer.gross_tariff(pdat["t05"], pb["tau"].shape[0])
    ps = peer.solve(pb, tau_cf)
    res = cp.counterfactual(folder_free, tariffs=pdat["t05"])
    np.testing.assert_allclose(res["w_hat"], ps["w_hat"], atol=1e-10)
    np.testing.assert_allclose(res["P_hat"], ps["P_hat"], atol=1e-10)
    po = peer.outcomes(pb, ps, tau_cf)
    np.testing.assert_allclose(res.welfare["exact"], po["exact"], atol=1e-8)
    np.testing.assert_allclose(res.welfare["paper_formula"], po["paper"], atol=1e-8)


@pytest.mark.slow
def test_numpy_peer_agrees_1993(nafta):
    pb, d = peer.baseline()
    tau_cf = peer.gross_tariff(peer.nafta_tariffs(d), pb["tau"].shape[0])
    ps = peer.solve(pb, tau_cf)
    np.testing.assert_allclose(nafta["w_hat"], ps["w_hat"], atol=1e-10)
    po = peer.outcomes(pb, ps, tau_cf)
    np.testing.assert_allclose(nafta.welfare["paper_formula"], po["paper"], atol=1e-8)


def test_newton_agrees_with_fixed_point():
    b = cp.baseline(data=cpdata.synthetic_tables(4, 3, 2, seed=2))
    r1 = cp.counterfactual(b, tariffs=b.tariffs_2005)
    r2 = cp.counterfactual(b, tariffs=b.tariffs_2005, method="newton")
    assert r2.converged
    np.testing.assert_allclose(r1["w_hat"], r2["w_hat"], atol=1e-10)
    np.testing.assert_allclose(r1["X_hat"], r2["X_hat"], rtol=1e-9)


def test_quasi_newton_matches_fixed_point_small_and_large_shocks(small):
    # the fast method (Broyden on wages, nested inner contractions) and the authors' algorithm find
    # the same equilibrium, for the 2005 tariffs and for free trade (a large shock)
    b = small
    for pct in (b.tariffs_2005, np.zeros_like(b.tariffs)):
        qn = cp.counterfactual(b, pct)
        fp = cp.counterfactual(b, pct, method="fixed_point")
        assert qn.method == "quasi_newton" and qn.converged and fp.converged
        np.testing.assert_allclose(qn["w_hat"], fp["w_hat"], atol=1e-11)
        np.testing.assert_allclose(qn["P_hat"], fp["P_hat"], atol=1e-11)
        np.testing.assert_allclose(qn["X_hat"], fp["X_hat"], rtol=1e-10)
    # an iteration cap too small to converge is reported, not hidden
    sol = cp.solve_differentiable(cp._model_for(b, np.zeros_like(b.tariffs)), max_iter=1,
                                  wage_jacobian_inverse=b.wage_jacobian_inverse(), mask=False)
    assert not bool(sol.converged)


def test_structured_derivatives_match_dense_lu(small):
    # the block-elimination solver (preconditioned by Broyden's matrix, or with the Schur complement
    # formed) gives the implicit derivatives of the dense LU path, in reverse and forward mode
    import lineax as lx
    b = small
    J, N = b.J, b.N
    pct = jnp.asarray(b.tariffs_2005)

    def welfare(p, **kw):
        return b.solve(cp._model_for(b, p, None, 1.0, validate=False), **kw)["welfare_exact"]

    solvers = {"preconditioned": {}, "formed": {"linear_solver": cp.SchurWages(N=N, JN=J * N)},
               "dense": {"linear_solver": lx.LU()}}

    def both(kw):  # one compilation per solver: the reverse gradient and a forward tangent
        g = jax.grad(lambda p: welfare(p, **kw)[0])(pct)
        return g, jax.jvp(lambda p: welfare(p, **kw), (pct,), (jnp.ones_like(pct),))[1]

    out = {k: jax.jit(lambda kw=kw: both(kw))() for k, kw in solvers.items()}
    grads = {k: v[0] for k, v in out.items()}
    tangents = {k: v[1] for k, v in out.items()}
    assert float(jnp.max(jnp.abs(grads["dense"]))) > 1e-4
    for k in ("preconditioned", "formed"):
        np.testing.assert_allclose(grads[k], grads["dense"], atol=1e-11)
        np.testing.assert_allclose(tangents[k], tangents["dense"], atol=1e-11)


# -- derivatives -----------------------------------------------------------------------------------
def test_welfare_gradient_matches_finite_differences(base, nafta):
    pct = cp.nafta_tariffs(base)
    v, g = cp.welfare_gradient(base, "MEX", pct)          # one reverse pass, all 20 x 31 x 31 tariffs
    assert g.shape == (20, 31, 31)
    assert v == pytest.approx(nafta.welfare.loc["MEX", "exact"], abs=1e-10)
    assert np.all(np.diagonal(g, axis1=1, axis2=2) == 0)
    order = [np.unravel_index(k, g.shape) for k in np.argsort(-np.abs(g).ravel())]
    order = [e for e in order if pct[e] > 0.1]        # central differences need room below
    entries = [order[0], order[5], (0, base.region("USA"), base.region("MEX"))]
    h = 0.01
    for e in entries:
        up, dn = pct.copy(), pct.copy()
        up[e] += h
        dn[e] -= h
        fd = (cp.counterfactual(base, up).welfare.loc["MEX", "exact"]
              - cp.counterfactual(base, dn).welfare.loc["MEX", "exact"]) / (2 * h)
        assert g[e] == pytest.approx(fd, rel=1e-4, abs=1e-9)


@pytest.fixture(scope="module")
def small():
    return cp.baseline(data=cpdata.synthetic_tables(4, 3, 2, seed=11))


def test_trade_elasticities_small(small):
    b = small
    M, el = cp.trade_elasticities(b, "R00", "R01", b.tariffs_2005)
    assert el.shape == (2, 4, 4)
    h = 1e-5
    for e in [(0, 0, 1), (1, 0, 1), (0, 2, 1), (1, 1, 0)]:
        def lnM(eps):
            p = b.tariffs_2005.copy()
            p[e] = 100 * ((1 + p[e] / 100) * np.exp(eps) - 1)
            r = cp.counterfactual(b, p)
            return np.log(r["trade_cf"][:2, 0, 1].sum())
        assert el[e] == pytest.approx((lnM(h) - lnM(-h)) / (2 * h), rel=1e-5, abs=1e-8)
    assert M == pytest.approx(cp.counterfactual(b, b.tariffs_2005)["trade_cf"][:2, 0, 1].sum(), rel=1e-12)


def test_first_order_welfare_formulas_agree(small):
    # spec 8.5: d W_exact / d eps = d W_paper / d eps at eps = 0 (the paper's formula is the differential)
    b = small

    def f(s):
        sol = cp.equilibrium(b, b.tariffs_2005, shock_scale=s)
        return sol["welfare_exact"], sol["welfare_paper"]

    _, (d_exact, d_paper) = jax.jvp(f, (jnp.asarray(0.0),), (jnp.asarray(1.0),))
    np.testing.assert_allclose(d_exact, d_paper, rtol=1e-7, atol=1e-10)
    assert np.max(np.abs(d_exact)) > 1e-3


def test_path_integral_recovers_exact_change(small):
    b = small
    df = cp.welfare_path(b, b.tariffs_2005, nodes=8)
    np.testing.assert_allclose(df["integrated"], df["exact"], atol=1e-7)
    assert np.max(np.abs(df["paper_formula"] - df["exact"])) > 1e-4     # the one-step formula is not exact


def test_vmap_over_scenarios_and_sweep(small):
    import jaxoff as jo
    b = small
    rng = np.random.default_rng(0)
    cuts = b.tariffs[None] * rng.uniform(0, 1, size=(100,) + b.tariffs.shape)
    w = jax.jit(jax.vmap(lambda p: cp.equilibrium(b, p)["welfare_exact"]))(jnp.asarray(cuts))
    assert w.shape == (100, 4) and np.all(np.isfinite(w))
    for k in (0, 57):
        np.testing.assert_allclose(w[k], cp.counterfactual(b, cuts[k]).welfare["exact"], atol=1e-9)
    # jo.sweep along the scalar path parameter shock_scale, with the exact derivative
    m = b.model.replace(tariff_cf=b.gross(b.tariffs_2005))
    df = jo.sweep(m, shock_scale=np.linspace(0, 1, 5), outputs=["welfare_exact"],
                  derivatives=[("welfare_exact", "shock_scale")], progress=False)
    ref = cp.counterfactual(b, b.tariffs_2005, shock_scale=0.75).welfare["exact"].to_numpy()
    np.testing.assert_allclose(df[[f"welfare_exact[{k}]" for k in range(4)]].to_numpy()[3], ref, atol=1e-8)


@pytest.mark.slow
def test_path_integral_1993():
    base = cp.baseline()
    df = cp.welfare_path(base, cp.nafta_tariffs(base), nodes=6)
    assert df.loc["MEX", "integrated"] == pytest.approx(0.0073, abs=1e-4)
    np.testing.assert_allclose(df["integrated"], df["exact"], atol=1e-6)
