"""Offshoring with heterogeneous workers (jaxoff.models.skill_upgrading), economics:
docs/models/skill_upgrading.md.

Oracles: the spec's closed forms (sections 5-7), its stated reference numbers (7, 8, 9, Pitfalls),
its propositions as sign checks, and an independent numpy/scipy solution of the same equations
(1-D reductions solved with brentq). Most points are solved in one jit(vmap(jacfwd(solve_regime)))
call, so the regime selector, every sub-model and the implicit derivatives compile once.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import jaxoff as jo
from jaxoff.models import skill_upgrading as su

PN = su._Economy.parameter_names()
DEF = {k: float(v) for k, v in su._Economy.defaults().items() if k in PN}
WRT = ("F_I", "theta_south", "F_H", "F_L", "sigma")
KEYS = ("Z1", "Z2", "C_L", "C_H", "lam_H", "lam_L", "W", "W_M", "N", "N_L", "N_H", "P", "V", "E",
        "skill_premium", "nonproduction_share", "G_Z2", "Lam_tot", "Q", "offshoring_intensity")
ALT = dict(mu=1.0, a_M=0.05, a_L=0.55, a_H=0.65)  # spec 9, Fig. 2 parameter set
PIT = dict(theta_south=0.843993, sigma=2.968849, F_L=1.0, F_H=2.242808, mu=1.613678,
           a_M=0.284585, a_L=1.160416, a_H=1.590531)  # spec Pitfall 2
PATH = np.round(np.linspace(1.0, 0.38, 125), 10)

POINTS = [("path", {"F_I": f}) for f in PATH]
POINTS += [(f"F{f}", {"F_I": f}) for f in (1.0, 0.8, 0.75, 0.7, 0.6, 0.5, 0.45, 0.4, 0.372, 0.3717, 0.2)]
POINTS += [("low", {"F_I": 0.740920}), ("L", {"F_I": 0.430481}), ("max", {"F_I": 0.841200}), ("B0.84", {"F_I": 0.84})]
POINTS += [("Agrid", {"F_I": 10.0, "F_H": fh}) for fh in np.linspace(1.25, 3.8, 8)]
POINTS += [("FH1.4", {"F_I": 10.0}), ("FH1.3", {"F_I": 10.0, "F_H": 1.3}),
           ("alt1.20", {**ALT, "F_I": 10.0, "F_H": 1.20}), ("alt1.18", {**ALT, "F_I": 10.0, "F_H": 1.18}),
           ("FH1.19", {"F_I": 10.0, "F_H": 1.19}), ("FH1.21", {"F_I": 10.0, "F_H": 1.21}),
           ("FH4.05", {"F_I": 10.0, "F_H": 4.05}), ("FH4.15", {"F_I": 10.0, "F_H": 4.15})]
POINTS += [("Bgrid", {"F_I": f, "theta_south": t}) for f in (0.45, 0.5, 0.55, 0.6, 0.65, 0.7) for t in (0.79, 0.8, 0.81)]
POINTS += [("pit0.50", {**PIT, "F_I": 0.50}), ("pit0.52", {**PIT, "F_I": 0.52})]
POINTS += [("homF_B", {"F_L": 2.0, "F_H": 2.8, "F_I": 1.0}), ("homF_C", {"F_L": 2.0, "F_H": 2.8, "F_I": 1.6}),
           ("homF_D", {"F_L": 2.0, "F_H": 2.8, "F_I": 0.8}), ("homL", {"L_bar": 2.0, "F_I": 0.5}),
           ("homA", {"mu": 1.5, "a_M": 0.15, "a_L": 0.675, "a_H": 0.825, "F_I": 0.5})]
LABELS = [lab for lab, _ in POINTS]


def _point(p):
    def f(d):
        kw = dict(zip(PN, p))
        for i, k in enumerate(WRT):
            kw[k] = kw[k] + d[i]
        rs = su.solve_regime(**kw)
        return {k: rs[k] for k in KEYS}, rs
    return jax.jacfwd(f, has_aux=True)(jnp.zeros(len(WRT)))


@pytest.fixture(scope="module")
def batch():
    P = np.array([[{**DEF, **ov}[k] for k in PN] for _, ov in POINTS])
    jac, rs = jax.jit(jax.vmap(_point))(jnp.asarray(P))
    return jax.tree_util.tree_map(np.asarray, (jac, rs))


def idx(label):
    return LABELS.index(label)


def at(rs, label):
    """One point of the batched RegimeSolution."""
    i = idx(label)
    return jax.tree_util.tree_map(lambda x: x[i] if np.ndim(x) else x, rs)


def d(jac, label, out, wrt):
    return float(jac[out][idx(label)][WRT.index(wrt)])


# -- independent numpy/scipy implementation (exponential forms; spec 5.0, 5.A, 5.B) -------------------
def I_np(a, mu, lo, hi=np.inf):
    k = mu - a
    return mu / k * (np.exp(-k * lo) - np.exp(-k * np.asarray(hi, dtype=float)))


def solve_B_np(F_I=0.5, sigma=3.0, F_L=1.0, F_H=1.4, theta_south=0.8, mu=1.0, a_M=0.1, a_L=0.45, a_H=0.55):
    """B by the spec's 1-D reduction: Z2 explicit in Z1 along (B2), brentq on (B1)."""
    k_L = mu - a_L

    def Z2_of(Z1):
        arg = np.exp(-k_L * Z1) - k_L / mu * I_np(a_M, mu, 0.0, Z1)
        return -np.log(arg) / k_L

    def B1(Z1):
        Z2 = Z2_of(Z1)
        C_L = np.exp(-(a_L - a_M) * Z1)
        C_H = C_L * np.exp(-(a_H - a_L) * Z2)
        return np.log(C_H + theta_south) - np.log(C_L + 1) + np.log((F_H + F_I) / F_L) / sigma

    grid = np.linspace(1e-4, 5.0, 5001)
    vals = np.array([B1(z) if np.exp(-k_L * z) - k_L / mu * I_np(a_M, mu, 0, z) > 0 else np.nan for z in grid])
    j = np.flatnonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)[0]
    Z1 = brentq(B1, grid[j], grid[j + 1], xtol=1e-15)
    return Z1, Z2_of(Z1)


def solve_A_np(sigma=3.0, F_L=1.0, F_H=1.4, mu=1.0, a_M=0.1, a_L=0.45, a_H=0.55, **_):
    """A by nesting: Z2(Z1) from (A2) by brentq, then (A1) by brentq in Z1."""
    def Z2_of(Z1):
        g = lambda Z2: np.log(I_np(a_M, mu, 0, Z1)) - np.log(I_np(a_L, mu, Z1, Z2) + I_np(a_H, mu, Z2))  # noqa: E731
        return brentq(g, Z1 + 1e-12, 200.0, xtol=1e-15)

    def A1(Z1):
        C_L = np.exp(-(a_L - a_M) * Z1)
        C_H = C_L * np.exp(-(a_H - a_L) * Z2_of(Z1))
        return np.log(C_H + 1) - np.log(C_L + 1) + np.log(F_H / F_L) / sigma

    # Z1 lies between the no-H corner Z1_inf (Lam_M = Int_Z phi_L dG) and the no-L corner Z_a (Lam_M = Lam_H)
    Z_a = brentq(lambda z: I_np(a_M, mu, 0, z) - I_np(a_H, mu, z), 1e-9, 50.0, xtol=1e-15)
    Z_inf = brentq(lambda z: I_np(a_M, mu, 0, z) - I_np(a_L, mu, z), 1e-9, 50.0, xtol=1e-15)
    Z1 = brentq(A1, Z_inf + 1e-6, Z_a - 1e-6, xtol=1e-15)
    return Z1, Z2_of(Z1)


def skill_premium_np(Z1, Z2, mu=1.0, a_M=0.1, a_L=0.45, a_H=0.55):
    C_L = np.exp(-(a_L - a_M) * Z1)
    C_H = C_L * np.exp(-(a_H - a_L) * Z2)
    G1 = 1 - np.exp(-mu * Z1)
    W_M = I_np(a_M, mu, 0, Z1) / G1
    W_HQ = (C_L * I_np(a_L, mu, Z1, Z2) + C_H * I_np(a_H, mu, Z2)) / (1 - G1)
    return W_HQ / W_M


# -- spec section 7 table and extras ----------------------------------------------------------------------
TABLE = {  # Z1, Z2, C_L, C_H, Lam_M, Lam_H, W, N_L, N_H, E, P, V, G(Z1), G(Z2)
    "F1.0": (1.753826, 3.596949, 0.541269, 0.377746, 0.881893, 0.440379, 1.287223, 0.147171, 0.104852, 1.287223, 4.381700, 0.293772, 0.82689, 0.97259),
    "F0.8": (1.460878, 3.326921, 0.599711, 0.429987, 0.812744, 0.497278, 1.339858, 0.174135, 0.100483, 1.505409, 4.284371, 0.312732, 0.76797, 0.96410),
    "F0.6": (0.910629, 2.420251, 0.727079, 0.570784, 0.621530, 0.747811, 1.500270, 0.207177, 0.124635, 2.098518, 4.070651, 0.368558, 0.59773, 0.91110),
    "F0.5": (0.801598, 2.019105, 0.755361, 0.617257, 0.571053, 0.895754, 1.555314, 0.190351, 0.157150, 2.271917, 4.008717, 0.387983, 0.55139, 0.86723),
}
TABLE_KEYS = ("Z1", "Z2", "C_L", "C_H", "Lam_M", "Lam_H", "W", "N_L", "N_H", "E", "P", "V", "G_Z1", "G_Z2")


def test_spec_table_values(batch):
    _, rs = batch
    for label, want in TABLE.items():
        got = [float(at(rs, label)[k]) for k in TABLE_KEYS]
        np.testing.assert_allclose(got, want, rtol=0, atol=6e-6, err_msg=label)
    d4 = at(rs, "F0.4")
    np.testing.assert_allclose([float(d4[k]) for k in ("Z1", "Z2", "C_L", "C_H", "lam_L", "W", "E", "P", "V")],
                               [0.348802, 1.660461, 0.885077, 0.749667, 0.611882, 1.771158, 2.990830, 3.888209, 0.455520],
                               atol=6e-6)
    assert float(at(rs, "F0.8")["lam_H"]) == pytest.approx(0.416142, abs=6e-7)
    assert [at(rs, lab).regime for lab in ("F1.0", "F0.8", "F0.6", "F0.5", "F0.4")] == ["A", "C", "B", "B", "D"]


def test_spec_extra_values(batch):
    _, rs = batch
    b = at(rs, "F0.5")
    want = {"W_M": 1.035663, "W_Lq": 1.365738, "W_Hq": 4.164289, "W_HQ": 2.194017, "skill_premium": 2.118467,
            "revenue_ratio_H_L": 1.534037, "IM": 0.716603, "offshoring_intensity": 0.556518, "FVA_share": 0.315418,
            "N_H_share": 0.452229, "revenue_share_H": 0.558785, "ln_C_L": -0.280559, "ln_C_H": -0.482470}
    for k, v in want.items():
        assert float(b[k]) == pytest.approx(v, abs=6e-6), k
    a = at(rs, "F1.0")
    for k, v in {"W_M": 1.066519, "W_HQ": 2.341450, "skill_premium": 2.195414, "revenue_ratio_H_L": 1.251465,
                 "ln_C_L": -0.613839, "ln_C_H": -0.973534}.items():
        assert float(a[k]) == pytest.approx(v, abs=6e-6), k
    # spec Pitfall 4: W_HQ falls inside C and rises inside B
    assert float(at(rs, "low")["W_HQ"]) == pytest.approx(2.170645, abs=1e-5)
    assert float(at(rs, "F0.7")["W_HQ"]) == pytest.approx(2.174626, abs=1e-5)


def test_independent_scipy_solution(batch):
    _, rs = batch
    for label, kw in (("F0.6", dict(F_I=0.6)), ("F0.5", dict(F_I=0.5)), ("F0.45", dict(F_I=0.45))):
        Z1, Z2 = solve_B_np(**kw)
        r = at(rs, label)
        np.testing.assert_allclose([float(r["Z1"]), float(r["Z2"])], [Z1, Z2], rtol=1e-9)
    for label, kw in (("FH1.4", {}), ("FH1.3", dict(F_H=1.3)), ("alt1.20", dict(ALT, F_H=1.2))):
        Z1, Z2 = solve_A_np(**kw)
        r = at(rs, label)
        assert r.regime == "A"
        np.testing.assert_allclose([float(r["Z1"]), float(r["Z2"])], [Z1, Z2], rtol=1e-9)


# -- regimes ------------------------------------------------------------------------------------------
THRESH = {"F_I_max": 0.841200, "F_I_low": 0.740920, "F_I_L": 0.430481, "F_I_0": 0.371742}


def _expected_regime(f):
    if f >= THRESH["F_I_max"]:
        return "A"
    if f >= THRESH["F_I_low"]:
        return "C"
    if f >= THRESH["F_I_L"]:
        return "B"
    return "D"


def test_regime_sweep_A_C_B_D_without_jump(batch):
    jac, rs = batch
    i = np.array([idx("path")] * 0 + [k for k, lab in enumerate(LABELS) if lab == "path"])
    regimes = np.asarray(rs.regime)[i]
    assert list(regimes) == [_expected_regime(f) for f in PATH]
    assert np.all(np.asarray(rs.status)[i] == 0)
    step = PATH[0] - PATH[1]
    for k in ("Z1", "Z2", "C_L", "C_H", "V", "P", "W", "N_H"):
        x = np.asarray(rs[k])[i]
        dx = np.asarray(jac[k])[i, 0] if k in jac else None
        jumps = np.abs(np.diff(x))
        assert np.max(jumps) < 0.1, k  # solving B alone jumps Z1 by 0.64 at F_I = 0.84 (spec 5.C)
        if dx is not None:
            bound = 1.5 * step * np.maximum(np.abs(dx[:-1]), np.abs(dx[1:])) + 1e-9
            assert np.all(jumps <= bound), k  # mean-value bound: continuous, no jump
    # spec 9 / 8.C: V rises and P falls monotonically as F_I falls
    # (constant inside A, which does not depend on F_I)
    open_ = regimes[1:] != "A"
    dV, dP = np.diff(np.asarray(rs["V"])[i]), np.diff(np.asarray(rs["P"])[i])
    assert np.all(dV[open_] > 0) and np.all(dP[open_] < 0) and np.all(dV[~open_] == 0)
    V = {lab: float(at(rs, lab)["V"]) for lab in ("F1.0", "F0.8", "F0.75", "F0.7", "F0.6", "F0.5", "F0.45", "F0.4")}
    np.testing.assert_allclose(list(V.values()),
                               [0.293772, 0.312732, 0.341233, 0.352792, 0.368558, 0.387983, 0.399344, 0.455520], atol=6e-6)
    P = [float(at(rs, lab)["P"]) for lab in ("F1.0", "F0.8", "F0.75", "F0.7", "F0.6", "F0.5", "F0.45", "F0.4")]
    np.testing.assert_allclose(P, [4.381700, 4.284371, 4.173213, 4.130249, 4.070651, 4.008717, 3.977158, 3.888209], atol=6e-6)


def test_continuity_at_thresholds(batch):
    _, rs = batch
    low = at(rs, "low")
    for k, v in (("Z1", 1.040735), ("Z2", 2.995070), ("V", 0.347225)):
        assert float(low.solutions["B"][k]) == pytest.approx(v, abs=5e-6)
        assert float(low.solutions["C"][k]) == pytest.approx(v, abs=5e-6)
    assert float(low.solutions["C"]["lam_H"]) == pytest.approx(1.0, abs=1e-5)
    L = at(rs, "L")
    for k, v in (("Z1", 0.717536), ("Z2", 1.744068), ("V", 0.404118)):
        assert float(L.solutions["B"][k]) == pytest.approx(v, abs=5e-6)
        assert float(L.solutions["D"][k]) == pytest.approx(v, abs=5e-6)
    assert float(L.solutions["D"]["lam_L"]) == pytest.approx(0.0, abs=1e-5)
    mx = at(rs, "max")
    for k in ("Z1", "Z2", "V", "P"):
        assert float(mx.solutions["C"][k]) == pytest.approx(float(mx.solutions["A"][k]), rel=1e-5)
    assert float(mx.solutions["C"]["lam_H"]) == pytest.approx(0.0, abs=1e-5)
    assert float(mx.solutions["A"]["F_I_max"]) == pytest.approx(THRESH["F_I_max"], abs=1e-6)
    # spec Pitfall 1: solving B alone at F_I = 0.84 gives Z1 = 1.117 where HD is profitable; the selector refuses it
    b = at(rs, "B0.84")
    assert float(b.solutions["B"]["Z1"]) == pytest.approx(1.117, abs=1e-3)
    assert not bool(b.solutions["B"].regime["HD_unprofitable"]) and b.regime == "C"


@pytest.fixture(scope="module")
def thresholds():
    return {k: float(v) for k, v in su.regime_thresholds(su.OpenEconomy()).items()}


def test_regime_thresholds(thresholds):
    for k, v in THRESH.items():
        assert thresholds[k] == pytest.approx(v, abs=1e-6), k
    F_L, th, sig = 1.0, 0.8, 3.0
    assert thresholds["F_I_0"] == pytest.approx(F_L * ((2 / (1 + th)) ** sig - 1), rel=1e-14)  # spec 7 item 6


def test_outside_model_refused(batch):
    _, rs = batch
    with pytest.raises(jo.ParameterError, match="F_I_0"):
        su.solve_regime(F_I=0.3)
    with pytest.raises(jo.ParameterError, match="F_I"):
        su.OpenEconomy(F_I=0.3)
    with pytest.raises(jo.ParameterError, match="F_H > F_L"):
        su.solve_regime(F_H=0.9)
    for lab in ("F0.3717", "F0.2"):
        r = at(rs, lab)
        assert int(r.status) == jo._solution.INVALID_PARAMETERS and r.regime == "none"
        assert np.isnan(float(r["Z1"])) and np.isnan(float(r["V"]))
    near = at(rs, "F0.372")  # just above F_I_0: still D, with MF almost gone
    assert near.regime == "D" and int(near.status) == 0 and float(near["Z1"]) < 0.01


def test_closed_economy_corners(batch):
    # spec 5.A: interior A only for 1.202411 < F_H < 4.090682 at the benchmark
    _, rs = batch
    assert int(at(rs, "FH1.21").solutions["A"].status) == 0 and int(at(rs, "FH4.05").solutions["A"].status) == 0
    assert int(at(rs, "FH1.19").solutions["A"].status) != 0 and int(at(rs, "FH4.15").solutions["A"].status) != 0


def test_closed_form_identities(batch):
    _, rs = batch
    P = np.array([[{**DEF, **ov}[k] for k in PN] for _, ov in POINTS])
    p = {k: P[:, j] for j, k in enumerate(PN)}
    ok = np.asarray(rs.status) == 0
    assert ok.sum() > 150
    g = {k: np.asarray(v)[ok] for k, v in rs.outputs.items()}
    p = {k: v[ok] for k, v in p.items()}
    s, dd = p["a_L"] - p["a_M"], p["a_H"] - p["a_L"]
    np.testing.assert_allclose(g["C_L"], np.exp(-s * g["Z1"]), rtol=1e-12)  # paper (7)
    np.testing.assert_allclose(g["C_H"], g["C_L"] * np.exp(-dd * g["Z2"]), rtol=1e-12)
    assert np.all((g["C_H"] < g["C_L"]) & (g["C_L"] < 1))
    np.testing.assert_allclose(g["P"], g["P_closed"], rtol=1e-10)  # spec 7 item 8
    np.testing.assert_allclose(g["revenue_identity"], 1.0, rtol=1e-10)
    np.testing.assert_allclose(g["E"], g["W"] + g["IM"], rtol=1e-12)
    np.testing.assert_allclose(g["W"], g["Lam_M"] + g["C_L"] * g["Lam_L"] + g["C_H"] * g["Lam_H"], rtol=1e-12)
    np.testing.assert_allclose(g["Lam_M"], p["L_bar"] * I_np(p["a_M"], p["mu"], 0, g["Z1"]), rtol=1e-12)
    np.testing.assert_allclose(g["Lam_H"], p["L_bar"] * p["mu"] / (p["mu"] - p["a_H"]) * np.exp(-(p["mu"] - p["a_H"]) * g["Z2"]), rtol=1e-12)
    np.testing.assert_allclose(g["Q"], (p["sigma"] - 1) / p["sigma"] * (g["Lam_L"] + g["Lam_H"]), rtol=1e-12)
    np.testing.assert_allclose(g["F_I_0"], p["F_L"] * ((2 / (1 + p["theta_south"])) ** p["sigma"] - 1), rtol=1e-12)
    rid = np.asarray(rs.regime)[ok]
    rr = (p["sigma"] - 1) / p["sigma"]
    A_, B_ = rid == "A", rid == "B"
    np.testing.assert_allclose(g["revenue_ratio_H_L"][A_], (p["F_H"][A_] / p["F_L"][A_]) ** rr[A_], rtol=1e-10)  # spec 7 item 3
    np.testing.assert_allclose(g["revenue_ratio_H_L"][B_], ((p["F_H"] + p["F_I"])[B_] / p["F_L"][B_]) ** rr[B_], rtol=1e-10)
    assert np.all(g["lam_H"][A_] == 0) and np.all(g["lam_H"][B_] == 1) and np.all(g["lam_L"][rid != "D"] == 0)
    # spec 5.C and 5.D closed forms for the costs, written out here
    sig, th, FL, FH, FI = p["sigma"], p["theta_south"], p["F_L"], p["F_H"], p["F_I"]
    C = rid == "C"
    r = ((FH + FI) / FH) ** (1 / sig)
    CH_C = (1 - r * th) / (r - 1)
    np.testing.assert_allclose(g["C_H"][C], CH_C[C], rtol=1e-10)
    np.testing.assert_allclose(g["C_L"][C], ((FH / FL) ** (1 / sig) * (CH_C + 1) - 1)[C], rtol=1e-10)
    D = rid == "D"
    rL = ((FL + FI) / FL) ** (1 / sig)
    CL_D = (1 - rL * th) / (rL - 1)
    np.testing.assert_allclose(g["C_L"][D], CL_D[D], rtol=1e-10)
    np.testing.assert_allclose(g["C_H"][D], (((FH + FI) / FL) ** (-1 / sig) * (CL_D + 1) - th)[D], rtol=1e-10)
    assert np.all((g["lam_H"][C] >= 0) & (g["lam_H"][C] < 1)) and np.all((g["lam_L"][D] >= 0) & (g["lam_L"][D] < 1))
    assert C.sum() >= 20 and D.sum() >= 10 and A_.sum() >= 20 and B_.sum() >= 50


def test_homogeneity(batch):
    # spec 7 item 9
    _, rs = batch
    sig = 3.0
    for lab, base in (("homF_B", "F0.5"), ("homF_C", "F0.8"), ("homF_D", "F0.4")):
        h, b = at(rs, lab), at(rs, base)
        assert h.regime == b.regime
        for k in ("Z1", "Z2", "C_L", "C_H"):
            assert float(h[k]) == pytest.approx(float(b[k]), rel=1e-9)
        assert float(h["N"]) == pytest.approx(float(b["N"]) / 2, rel=1e-9)
        assert float(h["P"]) == pytest.approx(float(b["P"]) * 2 ** (1 / (sig - 1)), rel=1e-9)
        assert float(h["V"]) == pytest.approx(float(b["V"]) * 2 ** (-1 / (sig - 1)), rel=1e-9)
    h, b = at(rs, "homL"), at(rs, "F0.5")
    assert float(h["Z1"]) == pytest.approx(float(b["Z1"]), rel=1e-9)
    assert float(h["N"]) == pytest.approx(2 * float(b["N"]), rel=1e-9)
    assert float(h["V"]) == pytest.approx(float(b["V"]) * 2 ** (1 / (sig - 1)), rel=1e-9)
    h = at(rs, "homA")
    assert float(h["Z1"]) == pytest.approx(float(b["Z1"]) / 1.5, rel=1e-9)
    assert float(h["V"]) == pytest.approx(float(b["V"]), rel=1e-9)


# -- comparative statics (spec 8) -------------------------------------------------------------------------
def test_closed_economy_statics(batch):
    jac, rs = batch
    a = at(rs, "FH1.4").solutions["A"]
    assert float(a["D_A"]) == pytest.approx(-0.041559, abs=6e-7)
    assert float(a["m_A"]) == pytest.approx(-0.101918, abs=6e-7)
    want = {"Z2": 7.893199, "Z1": -0.804456, "C_L": 0.152399, "C_H": -0.191804, "W": -0.017180, "P": 0.679129, "V": -0.049453}
    for k, v in want.items():
        assert d(jac, "FH1.4", k, "F_H") == pytest.approx(v, abs=2e-6), k
    # A-P2 IFT form: dZ2/dF_H = -(C_H+1)/(sigma F_H D_A)
    assert d(jac, "FH1.4", "Z2", "F_H") == pytest.approx(-(float(a["C_H"]) + 1) / (3 * 1.4 * float(a["D_A"])), rel=1e-9)
    # A does not depend on F_I or theta (spec 8.A)
    for k in KEYS:
        assert d(jac, "FH1.4", k, "F_I") == 0.0 and d(jac, "FH1.4", k, "theta_south") == 0.0
    # signs over a grid of F_H (spec A-P1..A-P3)
    i = [k for k, lab in enumerate(LABELS) if lab == "Agrid"]
    assert all(np.asarray(rs.regime)[i] == "A")
    sub = jax.tree_util.tree_map(lambda x: np.asarray(x)[i], rs.solutions["A"].outputs)
    dZ1, dZ2 = np.asarray(jac["Z1"])[i, 2], np.asarray(jac["Z2"])[i, 2]
    dCL, dCH = np.asarray(jac["C_L"])[i, 2], np.asarray(jac["C_H"])[i, 2]
    CL, CH = np.asarray(rs["C_L"])[i], np.asarray(rs["C_H"])[i]
    assert np.all(sub["m_A"] < 0) and np.all(sub["D_A"] < 0)
    assert np.all(dZ2 > 0) and np.all(dZ1 < 0) and np.all(dCL > 0)
    np.testing.assert_allclose(dZ1, sub["m_A"] * dZ2, rtol=1e-8)
    assert np.all(dCH / CH - dCL / CL < 0)  # d ln(C_H/C_L)/dF_H < 0
    eps_S, eps_A = 0.35, 0.10
    np.testing.assert_array_equal(np.sign(dCH), np.sign(eps_S * np.abs(sub["m_A"]) - eps_A))
    # Figs. 2 and 3: a fall in F_H raises Z1 and lowers Z2; case (ii) C_L, C_H both fall, case (iii) C_H rises
    fig2 = [(lab, (2.854751, 3.634275, 0.239938, 0.166826) if lab == "alt1.20" else (2.925281, 3.360602, 0.231624, 0.165514))
            for lab in ("alt1.20", "alt1.18")]
    for lab, want in fig2 + [("FH1.3", (1.845618, 2.790537, 0.524156, 0.396523))]:
        r = at(rs, lab)
        np.testing.assert_allclose([float(r[k]) for k in ("Z1", "Z2", "C_L", "C_H")], want, atol=6e-6, err_msg=lab)
    hi, lo = at(rs, "alt1.20"), at(rs, "alt1.18")
    assert float(lo["C_L"]) < float(hi["C_L"]) and float(lo["C_H"]) < float(hi["C_H"])
    assert abs(float(lo["C_H"] - hi["C_H"])) < abs(float(lo["C_L"] - hi["C_L"]))
    assert float(at(rs, "FH1.3")["C_H"]) > float(at(rs, "FH1.4")["C_H"])


def test_open_economy_statics_benchmark(batch):
    jac, rs = batch
    b = at(rs, "F0.5").solutions["B"]
    assert float(b["D_B"]) == pytest.approx(-0.062480, abs=6e-7)
    assert float(b["m_B"]) == pytest.approx(0.291620, abs=6e-7)
    want = {("Z2", "F_I"): 3.979555, ("Z1", "F_I"): 1.160518, ("Z2", "theta_south"): 16.0051,
            ("Z2", "sigma"): -1.61771, ("Z2", "F_L"): -7.56112, ("C_L", "F_I"): -0.306814, ("C_H", "F_I"): -0.496359,
            ("W", "F_I"): -0.619822, ("N", "F_I"): -0.176110, ("N_L", "F_I"): 0.188024, ("N_H", "F_I"): -0.364134,
            ("P", "F_I"): 0.627984, ("V", "F_I"): -0.215398}
    for (k, w), v in want.items():
        assert d(jac, "F0.5", k, w) == pytest.approx(v, rel=1e-5, abs=1e-6), (k, w)  # spec gives 6 digits
    # spec 8.B IFT forms: dZ2/dpsi = -(C_H+theta) dB1/dpsi / D_B for every psi entering only (B1)
    CH, th, FH, FI, FL, sig, DB = float(b["C_H"]), 0.8, 1.4, 0.5, 1.0, 3.0, float(b["D_B"])
    dB1 = {"F_I": 1 / (sig * (FH + FI)), "F_H": 1 / (sig * (FH + FI)), "F_L": -1 / (sig * FL),
           "theta_south": 1 / (CH + th), "sigma": -np.log((FH + FI) / FL) / sig**2}
    for w, v in dB1.items():
        assert d(jac, "F0.5", "Z2", w) == pytest.approx(-(CH + th) * v / DB, rel=1e-9), w
        assert d(jac, "F0.5", "Z1", w) == pytest.approx(float(b["m_B"]) * d(jac, "F0.5", "Z2", w), rel=1e-9)
    # B-P4: the reallocation term is zero (envelope): phi_M(Z1) g1 m_B (1+C_L) = C_H phi_H(Z2) g2
    Z1, Z2, CL = float(b["Z1"]), float(b["Z2"]), float(b["C_L"])
    lhs = np.exp(0.1 * Z1) * np.exp(-Z1) * float(b["m_B"]) * (1 + CL)
    assert lhs == pytest.approx(CH * np.exp(0.55 * Z2) * np.exp(-Z2), rel=1e-10)


def test_paper_derivatives_along_mf_locus(batch):
    # spec Pitfall 5: the paper's (29), (30), (32), (34), (36) hold F_I fixed along (B2); convert
    # the framework's total derivatives by removing F_I's direct terms (spec B-P4..B-P8)
    jac, rs = batch
    b = at(rs, "F0.5")
    sig, th, FH, FI = 3.0, 0.8, 1.4, 0.5
    rho = (sig - 1) / sig
    dZ2 = d(jac, "F0.5", "Z2", "F_I")
    W, P, N_H, C_H = (float(b[k]) for k in ("W", "P", "N_H", "C_H"))
    assert d(jac, "F0.5", "W", "F_I") / dZ2 == pytest.approx(-0.155752, abs=1e-6)  # (29): no direct term
    assert d(jac, "F0.5", "W_M", "F_I") / dZ2 == pytest.approx(0.0113406, abs=1e-7)  # (30)
    dN_direct = -N_H / (FH + FI)
    assert (d(jac, "F0.5", "N", "F_I") - dN_direct) / dZ2 == pytest.approx(-0.0234698, abs=1e-7)  # (32)
    Phi = (rho * P) ** (1 - sig)
    dPhi = (1 - sig) * Phi / P * d(jac, "F0.5", "P", "F_I")
    dPhi_direct = -N_H * (C_H + th) ** (1 - sig) / (FH + FI)
    assert (dPhi - dPhi_direct) / dZ2 == pytest.approx(-0.000675943, abs=1e-9)  # (34)
    Omega = W ** (sig - 1) * Phi
    dOmega = Omega * ((sig - 1) * d(jac, "F0.5", "W", "F_I") / W + dPhi / Phi)
    assert (dOmega - W ** (sig - 1) * dPhi_direct) / dZ2 == pytest.approx(-0.0694699, abs=1e-7)  # (36)
    assert float(b["Omega"]) == pytest.approx(Omega, rel=1e-12)


def test_open_economy_sign_checks_grid(batch):
    # spec 8.B propositions on a (F_I, theta) grid inside B, regular branch
    jac, rs = batch
    i = np.array([k for k, lab in enumerate(LABELS) if lab == "Bgrid"])
    i = i[(np.asarray(rs.regime)[i] == "B") & (np.asarray(rs.solutions["B"].outputs["D_B"])[i] < 0)]
    assert i.size >= 12
    J = lambda k, w: np.asarray(jac[k])[i, WRT.index(w)]  # noqa: E731
    for w in ("F_I", "theta_south", "F_H"):
        assert np.all(J("Z1", w) > 0) and np.all(J("Z2", w) > 0), w  # B-P2
    assert np.all(J("Z2", "F_L") < 0) and np.all(J("Z2", "sigma") < 0)
    CL, CH = np.asarray(rs["C_L"])[i], np.asarray(rs["C_H"])[i]
    assert np.all(J("C_L", "F_I") < 0) and np.all(J("C_H", "F_I") < 0)  # B-P3
    assert np.all(J("C_H", "F_I") / CH - J("C_L", "F_I") / CL < 0)
    assert np.all(J("W", "F_I") < 0)  # B-P4
    assert np.all(J("W_M", "F_I") > 0)  # B-P5
    assert np.all(J("N", "F_I") < 0) and np.all(J("N_H", "F_I") < 0) and np.all(J("N_L", "F_I") > 0)  # B-P6
    assert np.all(J("V", "F_I") < 0)  # B-P8
    assert np.all(J("skill_premium", "F_I") < 0)  # inequality between HQ and MF rises with globalization
    for k in ("nonproduction_share", "Lam_tot", "Q", "offshoring_intensity"):  # B-P10
        assert np.all(J(k, "F_I") < 0), k
    assert np.all(J("G_Z2", "F_I") > 0)  # H-HQ share 1 - G(Z2) rises as F_I falls


def test_partial_regime_statics(batch):
    # spec 8.C: in C, dC_H/dF_I < 0, dC_L = k dC_H, Z1, Z2 fall and lam_H rises as F_I falls
    jac, _ = batch
    k = 1.4 ** (1 / 3)
    for lab in ("F0.8", "F0.75"):
        assert d(jac, lab, "C_H", "F_I") < 0
        assert d(jac, lab, "C_L", "F_I") == pytest.approx(k * d(jac, lab, "C_H", "F_I"), rel=1e-9)
        assert d(jac, lab, "Z1", "F_I") > 0 and d(jac, lab, "Z2", "F_I") > 0 and d(jac, lab, "lam_H", "F_I") < 0
    # D: C_L depends only on F_I (spec 5.D); compare with a central difference of the closed form
    CL = lambda f: (1 - ((1 + f) ** (1 / 3)) * 0.8) / ((1 + f) ** (1 / 3) - 1)  # noqa: E731
    h = 1e-6
    assert d(jac, "F0.4", "C_L", "F_I") == pytest.approx((CL(0.4 + h) - CL(0.4 - h)) / (2 * h), rel=1e-6)


def test_multiple_equilibria_and_none():
    # spec Pitfall 2: with F_H + F_I > theta^-sigma F_L, B has two roots at F_I = 0.50 and none at 0.52
    roots = su.all_equilibria(su.OpenEconomy(**PIT, F_I=0.50))
    assert len(roots) == 2
    want = [(1.0881, 2.3164, 0.3856, 0.1424, -0.01338), (1.4149, 3.1711, 0.2896, 0.0740, 0.00864)]
    for r, w in zip(roots, want):
        got = [float(r[k]) for k in ("Z1", "Z2", "C_L", "C_H", "D_B")]
        np.testing.assert_allclose(got, w, rtol=2e-3, atol=6e-5)
        assert all(bool(v) for v in r.regime.values())
    assert su.all_equilibria(su.OpenEconomy(**PIT, F_I=0.52)) == []
    one = su.all_equilibria(su.OpenEconomy(F_I=0.5))
    assert len(one) == 1 and float(one[0]["Z1"]) == pytest.approx(0.801598, abs=1e-6)


def test_selector_reports_multiplicity(batch):
    _, rs = batch
    r50, r52 = at(rs, "pit0.50"), at(rs, "pit0.52")
    assert int(r50.n_equilibria_B) == 2 and int(r52.n_equilibria_B) == 0
    assert bool(r50.multiple) == (r50.regime == "B")
    assert int(r52.solutions["B"].status) != 0  # no root of B at 0.52: never a silent single answer
    assert np.all(np.asarray(rs.n_equilibria_B)[np.asarray(rs.regime) == "B"][:5] >= 1)
    i = [k for k, lab in enumerate(LABELS) if lab == "path"]
    assert not np.any(np.asarray(rs.multiple)[i])  # benchmark: F_H + F_I <= theta^-sigma F_L, unique


def test_skill_premium_derivative_one_call():
    m = su.OpenEconomy(F_I=0.5)
    dsp = float(jo.derivative(m, "skill_premium", "F_I"))
    h = 1e-5
    fd = (skill_premium_np(*solve_B_np(F_I=0.5 + h)) - skill_premium_np(*solve_B_np(F_I=0.5 - h))) / (2 * h)
    assert dsp == pytest.approx(fd, rel=1e-6)
    assert dsp < 0  # globalization widens the HQ/MF gap


def test_one_sided_derivatives_at_kinks(thresholds):
    fmax = thresholds["F_I_max"]
    r = su.one_sided_derivatives(su.OpenEconomy(F_I=fmax), "C_H", "F_I")
    assert r["kink"] and (r["regime_left"], r["regime_right"]) == ("C", "A") and np.isnan(r["derivative"])
    assert r["right"] == 0.0  # A does not depend on F_I
    CH = lambda f: (1 - ((1.4 + f) / 1.4) ** (1 / 3) * 0.8) / (((1.4 + f) / 1.4) ** (1 / 3) - 1)  # noqa: E731
    h = 1e-6
    assert r["left"] == pytest.approx((CH(fmax + h) - CH(fmax - h)) / (2 * h), rel=1e-6)
    inside = su.one_sided_derivatives(su.OpenEconomy(F_I=0.5), "Z2", "F_I")
    assert not inside["kink"] and inside["left"] == inside["right"] == pytest.approx(3.979555, abs=2e-6)


def test_wage_schedule_and_everyone_gains(batch):
    _, rs = batch
    b5, b6, a = at(rs, "F0.5"), at(rs, "F0.6"), at(rs, "F1.0")
    Z = np.linspace(0.0, 6.0, 601)
    W = np.asarray(su.wage_schedule(b5, Z))
    Z1, Z2, CL, CH = (float(b5[k]) for k in ("Z1", "Z2", "C_L", "C_H"))
    want = np.where(Z < Z1, np.exp(0.1 * Z), np.where(Z < Z2, CL * np.exp(0.45 * Z), CH * np.exp(0.55 * Z)))
    np.testing.assert_allclose(W, want, rtol=1e-12)  # paper (6), Fig. 1 (open economy)
    for z in (Z1, Z2):  # continuous at the kinks
        assert float(su.wage_schedule(b5, z - 1e-9)) == pytest.approx(float(su.wage_schedule(b5, z + 1e-9)), rel=1e-7)
    # B-P9: from F_I = 0.6 to 0.5 every real wage rises by at least 1.54%, minimum at Z = 0; from A by >= 9.3%
    gain = (W / float(b5["P"])) / (np.asarray(su.wage_schedule(b6, Z)) / float(b6["P"]))
    assert gain.min() == pytest.approx(gain[0], rel=1e-12) and 1.0154 <= gain.min() < 1.0155
    gain_A = (W / float(b5["P"])) / (np.asarray(su.wage_schedule(a, Z)) / float(a["P"]))
    assert 1.093 <= gain_A.min() < 1.094
    # MF workers' purchasing power over one variety falls (C_L rises, so p_LD rises)
    assert float(b5["p_LD"]) > float(b6["p_LD"])
    assert float(b5["decile_ratio"]) == pytest.approx(
        float(su.wage_schedule(b5, -np.log(0.1))) / float(su.wage_schedule(b5, -np.log(0.9))), rel=1e-12)


def test_welfare_decomposition():
    m = su.OpenEconomy(F_I=0.5)
    r = su.welfare_decomposition(m, "F_I")
    assert r["dlnV"] == pytest.approx(-0.215398 / 0.387983, rel=2e-5)  # spec B-P8
    assert r["dlnP"] == pytest.approx(0.627984 / 4.008717, rel=2e-5)  # spec B-P7
    assert r["dlnV"] == pytest.approx(r["dlnW"] - r["cost_channel"] - r["variety_channel"], rel=1e-10)
    assert r["dlnP"] == pytest.approx(r["dlnP_alt"], rel=1e-10)  # the two forms of spec B-P7 agree
    # globalization (F_I down) raises HQ costs (cost channel) and variety (variety channel)
    assert r["cost_channel"] < 0 and r["variety_channel"] > 0


def test_paper_conditions_at_benchmark(batch):
    _, rs = batch
    b = at(rs, "F0.5")
    th, sig, FL, FH, FI = 0.8, 3.0, 1.0, 1.4, 0.5
    assert float(b["C_H"]) < float(b["C_L"]) < th < 1  # paper (24)
    assert FH + FI < 2 ** (sig / (sig - 1)) * FL  # paper (23), spec 7 item 4
    assert (float(b["C_L"]) + th) ** sig * (FL + FI) >= (float(b["C_L"]) + 1) ** sig * FL  # paper (22)
    assert FH + FI <= th ** (-sig) * FL and np.exp(-0.1 * float(b["Z2"])) >= th  # spec 7 item 5: regular


@pytest.mark.slow
def test_quadrature_integration_matches_closed_form():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = jo.solve(su.OpenEconomy(F_I=0.5, integration="quadrature"))
    assert int(q.status) == 0
    np.testing.assert_allclose([float(q[k]) for k in ("Z1", "Z2", "V")], [0.801598, 2.019105, 0.387983], atol=6e-6)


@pytest.mark.slow
def test_power_lomax_isomorphic():
    # spec 5.0 alternative 1: power phi with Lomax G is the default under y = ln(1+Z)
    e = jo.solve(su.OpenEconomy(F_I=0.5))
    p = jo.solve(su.OpenEconomy(F_I=0.5, prod_form="power", skill_dist="lomax"))
    assert float(np.log1p(p["Z1"])) == pytest.approx(float(e["Z1"]), rel=1e-9)
    assert float(p["C_L"]) == pytest.approx(float(e["C_L"]), rel=1e-9)
    with pytest.raises(ValueError):
        su.OpenEconomy(prod_form="exponential", skill_dist="lomax")


@pytest.mark.slow
def test_one_sided_derivative_at_F_I_L(thresholds):
    rl = su.one_sided_derivatives(su.OpenEconomy(F_I=thresholds["F_I_L"]), "Z1", "F_I")
    assert rl["kink"] and (rl["regime_left"], rl["regime_right"]) == ("D", "B") and rl["left"] != pytest.approx(rl["right"])


@pytest.mark.slow
def test_eager_multiplicity_warning():
    with pytest.warns(su.MultipleEquilibriaWarning):
        rs = su.solve_regime(**PIT, F_I=0.50)
    assert rs.regime == "B"
