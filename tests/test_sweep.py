"""jo.sweep, jo.continuation and jo.check_sign.

Oracles: Trading Tasks M1 closed forms (spec O2/O3: with h = 2 and W = s = 1, R = 1/(beta w*),
I = (R-1)/(R+1), w = (1+R)^2/(4R), so along the defaults I = (4-beta)/(4+beta), w = (beta+4)^2/(16 beta),
d ln w/d ln beta = -I; x = 0 at beta w* = 3/11; offshoring starts at beta w* = 1), the M2 default oracle
(spec O6), individual jo.solve calls, and a toy cubic whose fold is known exactly (a = 2 at x = 1).
Compilations are shared: every M1 sweep uses chunk_size=32 (one compiled shape), and check_sign reuses it.
"""
from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import pytest

import jaxoff as jo
from jaxoff.models import get
from jaxoff.sweep import SignCheck, trace_count

M1 = get("trading_tasks/M1")
M2 = get("trading_tasks/M2")
CHUNK = 32  # every M1 sweep below has 17..32 points per chunk: one compiled shape
PAIRS = dict(derivatives=[("w", "beta")], elasticities=[("w", "beta")])


# -- oracles (spec O2/O3, h = 2, W = s = 1) ---------------------------------------------------------
def m1_oracle(beta, w_star=0.25):
    R = 1.0 / (beta * w_star)
    I = (R - 1) / (R + 1)
    w = (1 + R) ** 2 / (4 * R)
    dw_dbeta = -(R**2 - 1) / (4 * R * beta)  # d/dbeta of w(R(beta)), R' = -R/beta
    return I, w, dw_dbeta


class Cubic(jo.Model):
    """x^3 - 3x + a = 0 on x in (0.5, 10): the upper branch ends in a fold at a = 2 (x = 1)."""

    a: float = -3.0
    unknowns: ClassVar[dict] = {"x": jo.Interval(0.5, 10.0)}

    def domain(self):
        return {"a < 5": self.a < 5}

    def guess(self):
        return {"x": 2.0}

    def residuals(self, u):
        return {"cubic": u["x"] ** 3 - 3 * u["x"] + self.a}

    def outputs(self, u):
        return {"slope": 3 * u["x"] ** 2 - 3}


# M1 reports whether offshoring pays as an output; watch its sign along continuation paths
WATCH = ["offshoring_active"] if "offshoring_active" in M1().outputs(M1().guess()) else []
BETAS = np.round(np.arange(0.95, 5.0, 0.1), 10)  # 41 points: invalid, out of regime, offshoring, none


@pytest.fixture(scope="module")
def m1_sweep():
    before = trace_count()
    df = jo.sweep(M1(), beta=BETAS, chunk_size=CHUNK, progress=False, **PAIRS)
    return df, trace_count() - before


# -- sweep ---------------------------------------------------------------------------------------------
def test_sweep_matches_closed_forms(m1_sweep):
    df, _ = m1_sweep
    assert len(df) == BETAS.size and np.array_equal(df["beta"], BETAS)  # failed rows kept, in order
    b = df["beta"].to_numpy()
    active = (b > 12 / 11) & (b < 4)
    assert (df["status"][active] == "converged").all()
    I, w, dw = m1_oracle(b[active])
    np.testing.assert_allclose(df["I"][active], I, rtol=0, atol=1e-12)
    np.testing.assert_allclose(df["w"][active], w, rtol=1e-12)
    np.testing.assert_allclose(df["dw/dbeta"][active], dw, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(df["dlnw/dlnbeta"][active], -I, rtol=1e-10, atol=1e-14)  # spec O3
    # below beta = 1 the domain rule beta*kappa >= 1 fails; below 12/11, x < 0 (out of the cone)
    assert (df["status"][b < 1] == "invalid_parameters").all()
    low = (b > 1) & (b < 12 / 11)
    assert (df["status"][low] == "out_of_regime").all() and not df["regime:diversified"][low].any()
    assert df["converged"][low].all()  # solved, but outside the sub-model's regime
    bad = df["status"] != "converged"
    assert df.loc[bad, ["w", "I", "dw/dbeta"]].isna().all().all()  # flagged and masked, not dropped
    # no offshoring (beta > 4): either the no-offshoring equilibrium I = 0, w = W = 1, or flagged
    none = b > 4
    ok = none & (df["status"] == "converged").to_numpy()
    np.testing.assert_allclose(df["w"][ok], 1.0, atol=1e-12)
    np.testing.assert_allclose(df["I"][ok], 0.0, atol=1e-12)
    assert df.loc[none & ~ok, "w"].isna().all()


def test_sweep_equals_individual_solves(m1_sweep):
    df, _ = m1_sweep
    for beta in (1.25, 2.05, 3.55):
        row = df.loc[np.isclose(df["beta"], beta)].iloc[0]
        m = M1(beta=beta)
        sol = jo.solve(m)
        for k in M1.unknowns:
            assert row[k] == pytest.approx(float(sol[k]), rel=1e-12, abs=1e-14)
        assert row["residual_norm"] == pytest.approx(float(sol.residual_norm), abs=1e-15)


def test_chunking_invariance_and_one_compilation(m1_sweep):
    df32, traced = m1_sweep
    assert df32.attrs["n_chunks"] == 2 and traced <= 1  # two chunks, at most one compilation
    before = trace_count()
    df8 = jo.sweep(M1(), beta=BETAS, chunk_size=8, progress=False, **PAIRS)
    assert df8.attrs["n_chunks"] == 6 and trace_count() - before <= 1  # a new shape: once, not per chunk
    cols = [c for c in df32.columns if c != "status"]
    for c in cols:
        np.testing.assert_array_equal(df8[c].to_numpy(), df32[c].to_numpy(), err_msg=c)
    # new values, another base model and another swept parameter: no recompilation
    before = trace_count()
    jo.sweep(M1(p=1.1), w_star=np.linspace(0.2, 0.3, 20), chunk_size=CHUNK, progress=False, **PAIRS)
    jo.sweep(M1(), beta=BETAS + 0.01, chunk_size=CHUNK, progress=False, **PAIRS)
    assert trace_count() == before


def test_cartesian_and_zip_grids():
    betas, wstars = np.array([1.5, 1.8, 2.1, 2.4, 2.7]), np.array([0.2, 0.25, 0.3, 0.35])  # 3/11 < beta w* < 1
    df = jo.sweep(M1(), beta=betas, w_star=wstars, chunk_size=CHUNK, progress=False, **PAIRS)
    assert df.attrs["shape"] == (5, 4)
    np.testing.assert_array_equal(df["beta"], np.repeat(betas, 4))  # first name varies slowest
    np.testing.assert_array_equal(df["w_star"], np.tile(wstars, 5))
    I, w, dw = m1_oracle(df["beta"].to_numpy(), df["w_star"].to_numpy())
    assert (df["status"] == "converged").all()
    np.testing.assert_allclose(df["w"], w, rtol=1e-12)
    np.testing.assert_allclose(df["dw/dbeta"], dw, rtol=1e-10)
    zb, zw = np.linspace(1.5, 2.7, 20), np.linspace(0.35, 0.2, 20)
    dz = jo.sweep(M1(), grid="zip", beta=zb, w_star=zw, chunk_size=CHUNK, progress=False, **PAIRS)
    assert len(dz) == 20 and np.array_equal(dz["w_star"], zw)
    np.testing.assert_allclose(dz["w"], m1_oracle(zb, zw)[1], rtol=1e-12)
    with pytest.raises(ValueError, match="one length"):
        jo.sweep(M1(), grid="zip", beta=betas, w_star=wstars)
    with pytest.raises(KeyError, match="Did you mean 'beta'"):
        jo.sweep(M1(), betta=betas)


def test_xarray_output():
    pytest.importorskip("xarray")
    ds = jo.sweep(M1(), beta=BETAS[:20], chunk_size=CHUNK, progress=False, xarray=True, **PAIRS)
    assert "beta" in ds.dims and ds["w"].shape == (20,)
    # a cartesian grid becomes one dimension per swept name, values in place (the M1 closed form);
    # 5 x 4 and 20 zipped points: 17..32 points, the one compiled M1 chunk shape of this file
    betas, wstars = np.array([1.5, 1.8, 2.1, 2.4, 2.7]), np.array([0.2, 0.25, 0.3, 0.35])  # 3/11 < beta w* < 1
    ds = jo.sweep(M1(), beta=betas, w_star=wstars, chunk_size=CHUNK, progress=False, xarray=True, **PAIRS)
    assert ds["w"].dims == ("beta", "w_star") and ds["w"].shape == (5, 4)
    B, W = np.meshgrid(betas, wstars, indexing="ij")
    _, w, dw = m1_oracle(B, W)
    np.testing.assert_allclose(ds["w"].values, w, rtol=1e-12)
    np.testing.assert_allclose(ds["dw/dbeta"].values, dw, rtol=1e-10)
    assert (ds["status"].values == "converged").all()
    # a zip grid has a "point" dimension
    zb, zw = np.linspace(1.5, 2.7, 20), np.linspace(0.35, 0.2, 20)
    dz = jo.sweep(M1(), grid="zip", beta=zb, w_star=zw, chunk_size=CHUNK, progress=False, xarray=True, **PAIRS)
    assert dz["w"].dims == ("point",) and np.array_equal(dz["beta"].values, zb)


def test_m2_sweep_against_spec_oracle():
    betas = np.linspace(1.0, 2.5, 7)  # includes the default beta = 1.5
    df = jo.sweep(M2(), beta=betas, progress=False, **PAIRS)
    assert (df["status"] == "converged").all()
    np.testing.assert_allclose(df["I"], (3 - betas) / (3 + betas), rtol=1e-10)  # t Omega(I) = A*/beta
    row = df.loc[np.isclose(df["beta"], 1.5)].iloc[0]
    assert row["w"] == pytest.approx(0.970847, abs=1e-6)  # spec O6 default oracle
    assert row["p"] == pytest.approx(0.928964, abs=1e-6)
    assert row["dlnw/dlnbeta"] == pytest.approx(-0.261333, abs=1e-6)


@pytest.mark.parametrize("spec, param, q", [pytest.param("trading_tasks/M2", "beta", "w", marks=pytest.mark.slow),
                                             ("shadow_migration/M0a", "gamma", "w")])
def test_sweep_from_a_cold_guess_matches_solve_and_derivative(spec, param, q):
    # The sweep's first pass takes the IFT derivative from its own last Newton factorization; from a
    # poor start Newton needs several steps, and values and derivatives must still agree with jo.solve
    # and jo.derivative (whose IFT is evaluated at the returned root).
    cls = get(spec)
    m = cls()
    far = {k: 1.3 * np.asarray(v) for k, v in jo.solve(m).unknowns.items()}
    values = float(getattr(m, param)) * np.array([0.95, 1.0, 1.05])
    df = jo.sweep(m, **{param: values}, derivatives=[(q, param)], guess=far, progress=False)
    assert (df["status"] == "converged").all() and (df["steps"] >= 3).all()
    for v, (_, row) in zip(values, df.iterrows()):
        mv = m.with_params(**{param: v})
        sol = jo.solve(mv, far)
        for k in cls.unknowns:
            assert row[k] == pytest.approx(float(sol[k]), rel=1e-11, abs=1e-13), k
        d = float(jo.derivative(mv, q, param))
        assert row[f"d{q}/d{param}"] == pytest.approx(d, rel=1e-11, abs=1e-13)


def test_failed_points_are_flagged_not_dropped():
    a = np.array([-3.0, 0.0, 1.9, 2.5, 3.0, 6.0, -1.0])  # no root in (0.5, 10) for a > 2; a = 6 invalid
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # batched sweeps never warn per point
        df = jo.sweep(Cubic(), grid="zip", a=a, derivatives=[("x", "a")], progress=False)
    assert list(df["a"]) == list(a)
    assert list(df["status"]) == ["converged", "converged", "converged", "not_converged", "not_converged",
                                  "invalid_parameters", "converged"]
    ok = (df["status"] == "converged").to_numpy()
    x = df["x"].to_numpy()
    np.testing.assert_allclose(x[ok] ** 3 - 3 * x[ok] + a[ok], 0, atol=1e-10)
    np.testing.assert_allclose(df["dx/da"][ok], -1 / (3 * x[ok] ** 2 - 3), rtol=1e-10)  # IFT oracle
    assert df.loc[~ok, ["x", "dx/da", "slope"]].isna().all().all()
    assert not df["converged"][3:5].any() and df.attrs["n_fallback"] >= 2  # LM fallback was tried


# -- continuation -----------------------------------------------------------------------------------
def test_continuation_matches_cold_solves_and_finds_cone_exit(m1_sweep):
    path = np.round(np.linspace(3.95, 1.05, 30), 12)
    df, events = jo.continuation(M1(), "beta", path, watch=WATCH, **PAIRS)
    fine = (df["status"] == "converged").to_numpy()
    assert fine[path > 12 / 11].all() and not fine[path < 12 / 11].any()
    I, w, dw = m1_oracle(path[fine])
    np.testing.assert_allclose(df["w"][fine], w, rtol=1e-12)
    np.testing.assert_allclose(df["I"][fine], I, atol=1e-12)
    np.testing.assert_allclose(df["dw/dbeta"][fine], dw, rtol=1e-10)
    cold = jo.sweep(M1(), beta=path, chunk_size=CHUNK, progress=False, **PAIRS)
    np.testing.assert_allclose(df["w"], cold["w"], rtol=1e-12)  # NaN where both are out of regime
    regime = [e for e in events if e.kind == "regime"]
    assert [e.flag for e in regime] == ["diversified"] and not [e for e in events if e.kind == "watch"]
    e = regime[0]
    assert e.refined and e.value == pytest.approx(12 / 11, abs=1e-6)  # spec O2: x = 0 at beta = 12/11
    assert e.before is True and e.after is False and abs(e.bracket[1] - e.bracket[0]) < 1e-6


def test_continuation_finds_offshoring_start():
    path = np.linspace(2.5, 5.0, 26)
    df, events = jo.continuation(M1(), "beta", path, watch=WATCH, **PAIRS)
    near4 = [e for e in events if abs(e.value - 4.0) < 1e-6]
    assert near4, events  # spec O2: offshoring starts below beta = 4 (beta w* = W)
    assert all(e.refined for e in near4)
    assert not [e for e in events if e.kind == "fold"]


def test_continuation_reports_fold():
    path = np.linspace(-3.0, 3.0, 25)
    df, events = jo.continuation(Cubic(), "a", path, derivatives=[("x", "a")])
    fine = (df["status"] == "converged").to_numpy()
    assert fine[path < 2].all() and not fine[path > 2].any()
    x = df["x"].to_numpy()[fine]
    assert (x > 1).all()  # stayed on the upper branch up to the fold
    folds = [e for e in events if e.kind == "fold"]
    assert len(folds) == 1 and folds[0].value == pytest.approx(2.0, abs=1e-6)


# -- check_sign ------------------------------------------------------------------------------------
def test_check_sign_holds_where_offshoring_is_active():
    res = jo.check_sign(M1(), "w", "beta", box={"beta": (1.2, 3.9)}, n=20, sign=-1, chunk_size=CHUNK)
    assert isinstance(res, SignCheck) and res.holds and bool(res)
    assert res.share_held == 1.0 and res.n_skipped == 0 and res.n_evaluated == 20 and res.failing.empty
    wrong = jo.check_sign(M1(), "w", "beta", box={"beta": (1.2, 3.9)}, n=20, sign=+1, chunk_size=CHUNK)
    assert not wrong.holds and wrong.n_failed == 20 and len(wrong.failing) == 20 and wrong.share_held == 0.0
    el = jo.check_sign(M1(), "w", "beta", box={"beta": (1.2, 3.9)}, n=20, kind="elasticity", chunk_size=CHUNK)
    np.testing.assert_allclose(el.points["dlnw/dlnbeta"], -m1_oracle(el.points["beta"].to_numpy())[0],
                               rtol=1e-10)


def test_check_sign_box_with_skipped_and_failing_points():
    box = {"beta": (1.2, 6.0), "w_star": (0.1, 0.4)}
    res = jo.check_sign(M1(), "w", "beta", box=box, n=64, method="sobol", chunk_size=CHUNK)
    pts = res.points
    assert res.n_points == 64
    assert pts["beta"].between(1.2, 6.0).all() and pts["w_star"].between(0.1, 0.4).all()
    bw = (pts["beta"] * pts["w_star"]).to_numpy()
    v = pts["verdict"].to_numpy()
    # spec O2 in terms of beta w*: x < 0 below 3/11 (skipped, out of regime), offshoring below 1
    assert (v[bw < 3 / 11] == "skipped").all()
    assert set(pts["skip_reason"][bw < 3 / 11]) == {"out_of_regime"}
    assert (v[(bw > 3 / 11) & (bw < 1)] == "holds").all()
    # no offshoring: w = W, so d w/d beta = 0: such points are "zero" when the derivative is exactly
    # 0, "fails" when rounding leaves a tiny value of the wrong sign, "skipped" when flagged
    corner = v[bw > 1]
    assert set(corner) <= {"zero", "fails", "skipped"} and np.isin(corner, ["zero", "fails"]).any()
    np.testing.assert_allclose(res.failing["dw/dbeta"], 0.0, atol=1e-12)
    assert res.n_zero == (v == "zero").sum() and res.n_zero + res.n_failed > 0
    assert res.n_held + res.n_failed + res.n_zero + res.n_skipped == 64
    assert res.share_held == pytest.approx(res.n_held / res.n_evaluated)
    assert not res.holds
    where = res.where_zero if res.n_zero else res.where_fails
    assert 1 / 0.4 < where["beta"][0] and where["beta"][1] <= 6.0  # the corner needs beta w* > 1, w* <= 0.4
    assert "exactly zero" in repr(res) or res.n_zero == 0
    weak = jo.check_sign(M1(), "w", "beta", box=box, n=64, method="sobol", strict=False, chunk_size=CHUNK)
    assert weak.holds and weak.n_skipped == res.n_skipped  # skipped points never count as holding


# -- a comparative static that flips sign: TT M3 (spec O7) ------------------------------------------
# h = 2, alpha_x = 0.4, C = 1 (M3 defaults: H = 1.5, L = 1): along the equilibrium beta w* = u^1.6/(2-u),
# u = 1-I, and w = u^-0.4/(2-u) is smallest at u = 4/7 (I* = 3/7), i.e. at beta w* = 0.7 (4/7)^1.6
# (= 0.285915). So d w/d beta < 0 below that beta (I > 3/7) and > 0 above it (footnote 23).
M3_FLIP = 0.7 * (4 / 7) ** 1.6


def _m3():
    subs = jo.models.family("trading_tasks").SUBMODELS
    if "M3" not in subs:
        pytest.skip("trading_tasks M3 not available")
    return subs["M3"]


def test_check_sign_locates_m3_sign_flip():
    M3 = _m3()
    m = M3()
    flip = M3_FLIP / float(m.w_star)
    res = jo.check_sign(m, "w", "beta", box={"beta": (1.0, 1.8)}, n=25, sign=-1)
    b = res.points["beta"].to_numpy()
    v = res.points["verdict"].to_numpy()
    assert res.n_skipped == 0 and 0 < res.share_held < 1 and not res.holds
    assert (v[b < flip - 1e-3] == "holds").all() and (v[b > flip + 1e-3] == "fails").all()
    assert res.where_holds["beta"][1] < flip < res.where_fails["beta"][0]


@pytest.mark.slow
def test_continuation_bisects_m3_sign_flip():
    M3 = _m3()
    m = M3()
    df, events = jo.continuation(m, "beta", np.linspace(1.8, 1.0, 17), derivatives=[("w", "beta")],
                                 watch=["dw/dbeta"])
    flips = [e for e in events if e.kind == "watch"]
    assert len(flips) == 1 and flips[0].value == pytest.approx(M3_FLIP / float(m.w_star), abs=1e-6)


def test_continuation_reports_similar_countries_regime_switch():
    """Spec (Similar Countries, Fig. 8): offshoring stops above beta = 1.917899 (paper: 1.92)."""
    sc = pytest.importorskip("jaxoff.models.similar_countries")
    df, events = jo.continuation(sc.SUBMODELS["SM-B"](), "beta", np.linspace(1.8, 2.0, 11),
                                 outputs=["w", "I", "regime_id"])  # unknown names are accepted too
    switches = [e for e in events if e.flag == "regime_id"]
    assert len(switches) == 1
    assert switches[0].value == pytest.approx(1.917899, abs=2e-6)
    assert (df["regime_id"].iloc[0], df["regime_id"].iloc[-1]) == (3.0, 0.0)
