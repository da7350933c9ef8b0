"""Baldwin and Robert-Nicoud (2007): shadow migration in a modified 2x2x2 HO model.

Oracles: the spec's closed forms (Sec. 7, written out below independently in numpy where they are the
point of the test), its stated numbers (Secs. 7, 8, 9.2: computed by an independent reference
implementation) and Propositions 1-6 as sign checks over parameter boxes. Every solve of a sub-model
goes through one vmapped batch (`batch`) so each model structure compiles once.
"""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxoff as jo
from jaxoff.models import shadow_migration as sm

N_BATCH = 32
A0 = np.array([[2.0, 1.0], [0.5, 1.5]])
DET0 = 2.5


@eqx.filter_jit
def _batch_solve(model, params):
    return jax.vmap(lambda p: jo.solve(model.with_params(**p), mask=False, fallback=False))(params)


class Batch:
    """Rows of parameter overrides solved in one vmap (padded to N_BATCH so shapes never change)."""

    def __init__(self, model, rows):
        names = model.parameter_names()
        full = [{k: float(r.get(k, getattr(model, k))) for k in names} for r in rows]
        assert len(full) <= N_BATCH
        self.n, self.rows, self.model = len(rows), rows, model
        full += [full[-1]] * (N_BATCH - len(full))
        self.sol = _batch_solve(model, {k: jnp.array([f[k] for f in full]) for k in names})

    def __getitem__(self, key):
        return np.asarray(self.sol[key])[: self.n]

    @property
    def status(self):
        return np.asarray(self.sol.status)[: self.n]

    def point(self, i):
        """The i-th row as an unbatched Solution (its .model carries the row's parameters)."""
        return jax.tree_util.tree_map(lambda x: x[i], self.sol)

    def model_at(self, i):
        return type(self.model)(**{**{k: getattr(self.model, k) for k in self.model.option_names()},
                                   **clean(self.rows[i])})

    def index(self, label):
        return [r.get("_label") for r in self.rows].index(label)


def rows_of(*dicts):
    return [dict(d) for d in dicts]


NINE = ("w", "r", "w_star", "r_star", "p", "X", "Y", "X_star", "Y_star")


def close(a, b, tol):
    a, b = np.asarray(a, dtype=float), np.broadcast_to(np.asarray(b, dtype=float), np.shape(a))
    assert np.all(np.abs(a - b) <= np.asarray(tol)), (a, b, tol)


def clean(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


# -- parameter rows -------------------------------------------------------------------------------
P4 = {"L_H": 1.0, "K_H": 0.6, "L_F": 3.0, "K_F": 1.8}
GRH_T = {"a_LX1": 0.2 * 2.0, "a_LY1": 0.2 * 1.0, "a_KX1": 0.0, "a_KY1": 0.0}
EPS = 1e-4
rng = np.random.RandomState(0)
BOX = [{"a_LX1": rng.uniform(0.05, 1.2), "a_LY1": rng.uniform(0.02, 0.6), "a_KX1": rng.uniform(0.0, 0.3),
        "a_KY1": rng.uniform(0.0, 0.75), "chi_X": rng.uniform(1.0, 1.35), "chi_Y": rng.uniform(1.0, 1.35),
        "gamma": rng.uniform(1.4, 2.0), "_label": f"box{i}"} for i in range(14)]

M1_ROWS = [
    {"_label": "default"},
    {"_label": "chi", "chi_X": 1.2, "chi_Y": 1.1},
    {"_label": "grh", **GRH_T},
    {"_label": "only_X", "a_LY1": 0.0, "a_KY1": 0.0},
    {"_label": "only_Y", "a_LX1": 0.0, "a_KX1": 0.0},
    {"_label": "p4", **P4},
    {"_label": "neutral", "chi_X": 1.5, "chi_Y": 1.5},
    {"_label": "lam0", "lam": 0.0},
    {"_label": "scaled", "L_H": 2.0, "K_H": 1.6, "L_F": 6.0, "K_F": 3.0},
    {"_label": "reshoring", "chi_X": 1.45},
    {"_label": "edge_in", "a_KY1": 0.798},
    {"_label": "edge_out", "a_KY1": 0.80},
    {"_label": "half", "lam": 0.5, "alpha": 0.45},
    *[{"_label": f"aKY1_{x}_{s}", "a_KY1": x + s * EPS}
      for x in (0.171266, 0.387245, 0.668586, 0.058746) for s in (-1, 1)],
    {"_label": "aLX1_lo-", "a_LX1": 0.201732 - EPS}, {"_label": "aLX1_lo+", "a_LX1": 0.201732 + EPS},
    {"_label": "aLX1_hi-", "a_LX1": 1.177078 - EPS}, {"_label": "aLX1_hi+", "a_LX1": 1.177078 + EPS},
]
BOX_M1 = BOX[: N_BATCH - len(M1_ROWS)]
M2_ROWS = [{"_label": "default"}, {"_label": "chi", "chi_X": 1.2, "chi_Y": 1.1}, {"_label": "p4", **P4},
           {"_label": "neutral", "chi_X": 1.5, "chi_Y": 1.5}, {"_label": "lam0", "lam": 0.0},
           {"_label": "half", "lam": 0.5, "alpha": 0.45}]
FT_ROWS = [{"_label": "default"}, {"_label": "p4", **P4}, {"_label": "gamma1", "gamma": 1.0},
           {"_label": "alpha45", "alpha": 0.45, "gamma": 1.7}, {"_label": "alpha90", "alpha": 0.9},
           {"_label": "half", "alpha": 0.45}]


@pytest.fixture(scope="module")
def m1():
    return Batch(sm.ServiceTask(), M1_ROWS + BOX_M1)


@pytest.fixture(scope="module")
def m2():
    return Batch(sm.GoodsTask(), M2_ROWS + BOX[: N_BATCH - len(M2_ROWS)])


@pytest.fixture(scope="module")
def ft():
    return Batch(sm.FreeTrade(), FT_ROWS)


def at(batch, label):
    return batch.index(label)


def check_nine(batch, i, cf, tol=1e-12):
    for k in NINE:
        assert abs(batch[k][i] - float(cf[k])) <= tol, (batch.rows[i].get("_label"), k, batch[k][i], float(cf[k]))


# =================================================================================================
# Closed forms against the residual solve
# =================================================================================================
def test_autarky_closed_form_and_oracles():
    rows = [{"_label": "default"}, {"_label": "a", "alpha": 0.45, "gamma": 1.8},
            {"_label": "e", "K_H": 0.7, "L_F": 2.5}, {"_label": "bad", "alpha": 0.65}]
    b = Batch(sm.Autarky(), rows)
    for i in range(3):
        cf = sm.autarky_closed_form(b.model_at(i))
        for k in ("w", "r", "p", "X", "Y", "w_star", "r_star", "p_star", "X_star", "Y_star"):
            assert abs(b[k][i] - float(cf[k])) <= 1e-12
        assert b.status[i] == 0
    # spec 7.2: Home autarky p = 7/11, w = 26/55, r = 6/55; Foreign p* = 2, w* = 2/15, r* = 0.8
    close([b["p"][0], b["w"][0], b["r"][0]], [7 / 11, 26 / 55, 6 / 55], 1e-12)
    close([b["p_star"][0], b["w_star"][0], b["r_star"][0]], [2.0, 2 / 15, 0.8], 1e-12)
    # C4: alpha = 0.65 puts Foreign's k* = 0.5 below H, so w* < 0: flagged, not silently returned
    assert b.status[3] == 3 and not np.asarray(b.sol.regime["factor_prices_positive"])[3]
    assert b["w_star"][3] < 0


def test_positivity_bounds_oracle():
    from jaxoff.blocks.heckscher_ohlin import positivity_bounds

    H, M = positivity_bounds(jnp.asarray(A0), 0.5)
    close([H, M], [3 / 7, 0.875], 1e-14)


def test_free_trade_and_extreme_offshoring(ft):
    for i, _row in enumerate(FT_ROWS[:4]):
        check_nine(ft, i, sm.free_trade_closed_form(ft.model_at(i)))
    i = at(ft, "default")
    oracle = {"p": 9 / 7, "w": 12 / 35, "r": 22 / 35, "w_star": 8 / 35, "r_star": 44 / 105,
              "X": 0.28, "Y": 0.44, "X_star": 0.8, "Y_star": 0.4}
    for k, v in oracle.items():
        assert abs(ft[k][i] - v) <= 1e-12
    close([ft["E"][i], ft["E_star"][i], ft["welfare"][i]], [0.845714, 1.314286, 0.372925], 1e-6)
    # HO trade equation (eq. 7): M_X = (alpha L/a_LX)(k - k~w)/(k~w - kappa_X) = 1/7
    close([ft["M_X"][i], ft["p"][i] * ft["M_Y"][i]], [1 / 7, -1 / 7], 1e-12)
    assert ft["w_gap"][i] == pytest.approx(1.5, abs=1e-14)
    # P4 set-up: equal endowment ratios, no HO trade
    assert abs(ft["M_X"][at(ft, "p4")]) < 1e-12
    # extreme offshoring M1-E = M0b with gamma = 1 (spec 7.8): world on A with e + e*
    j = at(ft, "gamma1")
    ext = sm.extreme_offshoring_closed_form(ft.model_at(j))
    check_nine(ft, j, ext)
    close([float(ext["k_w"]), ft["p"][j], ft["w"][j], ft["r"][j]], [0.575, 37 / 26, 0.315385, 0.738462], 1e-6)
    close([ft["X"][j] + ft["X_star"][j], ft["Y"][j] + ft["Y_star"][j]], [1.48, 1.04], 1e-12)
    close([ft["w"][j], ft["r"][j]], [ft["w_star"][j], ft["r_star"][j]], 1e-14)  # Foreign rewards jump to Home's
    # C4: alpha = 0.9 gives H = 1 > k~w, a negative wage: out of regime
    k = at(ft, "alpha90")
    assert ft.status[k] == 3 and ft["w"][k] < 0
    assert ft["cone_H"][k] == pytest.approx(1.0, abs=1e-14) and ft["k_tilde_w"][k] < ft["cone_H"][k]
    ok = ft.status[:4] == 0
    assert np.all((ft["cone_H"][:4] < ft["k_tilde_w"][:4]) & (ft["k_tilde_w"][:4] < ft["cone_M"][:4]) == ok)


def test_service_closed_forms(m1):
    for label in ("default", "chi", "p4", "neutral", "lam0", "scaled", "half", "only_X", "only_Y", "grh"):
        i = at(m1, label)
        assert m1.status[i] == 0, label
        check_nine(m1, i, sm.service_closed_form(m1.model_at(i)))
    for i in range(len(M1_ROWS), m1.n):  # the random box
        if m1.status[i] == 0:
            check_nine(m1, i, sm.service_closed_form(m1.model_at(i)))
    assert (m1.status[len(M1_ROWS):] == 0).sum() >= 5


def test_service_closed_form_written_out_in_numpy(m1):
    """Appendix eqs. 32-33 and eq. 15 at chi = (1.2, 1.1), independently of the module's closed form."""
    i = at(m1, "chi")
    T, chi, g, alpha = np.array([[0.6, 0.25], [0.05, 0.3]]), np.array([1.2, 1.1]), 1.5, 0.5
    e, es = np.array([1.0, 0.8]), np.array([3.0, 1.5])
    D, TC = A0 - T, T * chi
    q = np.linalg.solve(D, e)
    et = e + es / g + T @ ((1 - chi / g) * q)
    qw = np.linalg.solve(A0, et)
    p = alpha / (1 - alpha) * qw[0] / qw[1]
    pi = np.array([1.0, p])
    ws = np.linalg.solve(A0.T, pi) / g
    w = np.linalg.solve(D.T, pi - TC.T @ np.linalg.solve(A0.T, pi) / g)
    qs = np.linalg.solve(A0, es - TC @ q) / g
    close([m1[k][i] for k in NINE], [*w, *ws, p, *q, *qs], 1e-12)


def test_grh_and_one_sector_special_cases(m1):
    i = at(m1, "grh")
    cf = sm.grh_closed_form(m1.model_at(at(m1, "default")), 0.2)
    close(cf["T"], [[0.4, 0.2], [0.0, 0.0]], 0)
    check_nine(m1, i, cf)
    # spec 7.6 oracle (s = 0.2, chi = 1)
    close([m1[k][i] for k in ("p", "w", "r", "w_star", "r_star", "X", "Y", "X_star", "Y_star", "S_X", "S_Y",
                              "k_tilde_O")],
          [1.372470, 0.352632, 0.697976, 0.217004, 0.465317, 0.43, 0.39, 0.7, 0.433333, 0.054251, 0.027126,
           0.583784], 1e-6)
    # eq. 25: S_X/S_Y = a_LX/a_LY, so dr|p = 0 and dw|p = s (w_O - chi w*_O) > 0
    assert m1["S_X"][i] / m1["S_Y"][i] == pytest.approx(2.0, abs=1e-12)
    assert abs(m1["dr_cost_saving"][i]) < 1e-13
    assert m1["dw_cost_saving"][i] == pytest.approx(float(cf["dw_fixed_p"]), abs=1e-12) and m1["dw_cost_saving"][i] > 0
    # one-sector cases (Sec. 3.3): sector-specific progress, the Jones ambiguity at fixed p
    base = m1.model_at(at(m1, "default"))
    for label, sector, sw, sr in (("only_X", "X", 1, -1), ("only_Y", "Y", -1, 1)):
        j = at(m1, label)
        cf = sm.one_sector_closed_form(base, sector)
        check_nine(m1, j, cf)
        assert np.sign(float(cf["dw_fixed_p"])) == sw and np.sign(float(cf["dr_fixed_p"])) == sr
        close([m1["dw_cost_saving"][j], m1["dr_cost_saving"][j]], [cf["dw_fixed_p"], cf["dr_fixed_p"]], 1e-12)


def test_goods_closed_form_and_oracles(m2):
    for i in range(m2.n):
        if m2.status[i] == 0:
            check_nine(m2, i, sm.goods_closed_form(m2.model_at(i)))
    assert (m2.status == 0).sum() >= 12
    cf = sm.goods_closed_form(m2.model_at(0))
    close([cf["kappa_hat_X"], cf["kappa_hat_Y"]], [0.268519, 1.527273], 1e-6)
    close([m2["Delta_star_L"][0], m2["Delta_star_K"][0], m2["S_star_X"][0], m2["S_star_Y"][0], m2["V_tasks"][0]],
          [-0.113326, -0.098130, 0.081731, 0.107873, 0.180727], 1e-6)
    # effective FPE survives goods-task offshoring at every parameter point (spec 7.7, 7.12)
    ok = m2.status == 0
    close(m2["w_gap"][ok], [float(m2.model_at(i).gamma) for i in np.where(ok)[0]], 1e-12)
    close(m2["r_gap"][ok] - m2["w_gap"][ok], 0, 1e-12)


TABLE_92 = {  # spec 9.2: quantity -> (FT, M1, M2, M1 chi, M2 chi)
    "p": (1.285714, 1.320991, 1.424581, 1.298611, 1.347962),
    "w": (0.342857, 0.374223, 0.342548, 0.357752, 0.343312),
    "r": (0.628571, 0.710832, 0.793271, 0.689464, 0.723618),
    "w_star": (0.228571, 0.223868, 0.228365, 0.226852, 0.228875),
    "r_star": (0.419048, 0.437862, 0.528847, 0.425926, 0.482412),
    "X": (0.28, 0.446927, 0.446927, 0.446927, 0.446927),
    "Y": (0.44, 0.499069, 0.499069, 0.499069, 0.499069),
    "X_star": (0.8, 0.688715, 0.780838, 0.667456, 0.719297),
    "Y_star": (0.4, 0.360621, 0.362774, 0.359066, 0.366107),
    "S_X": (0, 0.103861, 0.081731, 0.060235, 0.048434),
    "S_Y": (0, 0.119480, 0.107873, 0.093337, 0.080777),
    "E": (0.845714, 0.942888, 0.977164, 0.909323, 0.922207),
    "E_star": (1.314286, 1.328396, 1.478366, 1.319444, 1.410243),
    "M_X": (0.142857, 0.024517, 0.041655, 0.007734, 0.014176),
    "pM_Y": (-0.142857, -0.187821, -0.222382, -0.193435, -0.211623),
    "V_X": (0, 0.069816, 0.073055, 0.084420, 0.086585),
    "V_Y": (0, 0.093488, 0.107672, 0.101281, 0.110861),
    "IIT": (0, 0.186977, 0.215344, 0.202562, 0.221723),
    "skill_premium": (1.833333, 1.899490, 2.315796, 1.927216, 2.107754),
    "w_gap": (1.5, 1.671623, 1.5, 1.577027, 1.5),
    "r_gap": (1.5, 1.623416, 1.5, 1.618743, 1.5),
    "welfare": (0.372925, 0.410186, 0.409349, 0.398978, 0.397154),
    "welfare_star": (0.579546, 0.577893, 0.619310, 0.578924, 0.607330),
}


def test_benchmark_table(ft, m1, m2):
    cols = [(ft, "default"), (m1, "default"), (m2, "default"), (m1, "chi"), (m2, "chi")]
    for k, vals in TABLE_92.items():
        for (b, label), v in zip(cols, vals):
            i = at(b, label)
            got = b["p"][i] * b["M_Y"][i] if k == "pM_Y" else b[k][i]
            assert abs(got - v) <= 6e-7, (k, label, got, v)
    i = at(m1, "default")
    close([m1[k][i] for k in ("s_X", "s_Y", "fva_output_share", "hired_share_L_star", "hired_share_K_star",
                              "foreign_intermediate_export_share")],
          [0.156214, 0.141807, 0.147628, 0.1310, 0.1147, 0.869467], [1e-6, 1e-6, 1e-6, 1e-4, 1e-4, 1e-6])
    close(m1["welfare"][i] / m1["welfare_FT"][i], 1.09991, 1e-5)
    close(m1["welfare_star"][i] / m1["welfare_star_FT"][i], 0.99715, 1e-5)
    close([m2["welfare"][0] / m2["welfare_FT"][0], m2["welfare_star"][0] / m2["welfare_star_FT"][0]],
          [1.09767, 1.06861], 1e-5)
    # spec 7.5 extras
    close([m1[k][i] for k in ("Delta_L", "Delta_K", "Delta_ratio", "S_ratio", "k_tilde_O", "k_O", "dw_cost_saving",
                              "dr_cost_saving", "dw_terms_of_trade", "dr_terms_of_trade", "dw_total", "dr_total")],
          [0.392924, 0.172067, 0.437915, 0.869280, 0.593220, 0.697861, 0.038421, 0.054039, -0.007055, 0.028222,
           0.031366, 0.082261], 1e-6)


def test_accounting_identities_over_box(m1, m2):
    for b in (m1, m2):
        ok = b.status == 0
        close(b["trade_balance"][ok], 0, 1e-13)  # M_X + p M_Y + V = 0
        close((b["M_X"] + b["M_X_star"])[ok], 0, 1e-13)
        close((b["M_Y"] + b["M_Y_star"])[ok], 0, 1e-13)
        # eq. 17: omega_O = omega_FT + inv(A^T)(S_X, S_Y + dp): the decomposition adds up
        close((b["w_FT"] + b["dw_cost_saving"] + b["dw_terms_of_trade"] - b["w"])[ok], 0, 1e-13)
        close((b["r_FT"] + b["dr_cost_saving"] + b["dr_terms_of_trade"] - b["r"])[ok], 0, 1e-13)


def test_neutrality_lam0_and_scale(ft, m1, m2):
    for b in (m1, m2):
        i = at(b, "neutral")  # chi = gamma: prices at FT, S = 0, outputs still move (spec 7.12)
        close([b[k][i] for k in ("p", "w", "r", "w_star", "r_star")],
              [b[k][i] for k in ("p_FT", "w_FT", "r_FT", "w_star_FT", "r_star_FT")], 1e-12)
        close([b["S_X"][i], b["S_Y"][i]], [0, 0], 1e-13)
        close([b["X"][i], b["Y"][i]], np.linalg.solve(A0 - np.array([[0.6, 0.25], [0.05, 0.3]]), [1.0, 0.8]), 1e-12)
        j = at(b, "lam0")  # lam = 0 reproduces M0b
        close([b[k][j] for k in NINE], [ft[k][0] for k in NINE], 1e-12)
    i, j = at(m1, "default"), at(m1, "scaled")
    for k in ("p", "w", "r", "w_star", "r_star", "S_X", "S_Y"):
        assert m1[k][j] == pytest.approx(m1[k][i], abs=1e-12)
    for k in ("X", "Y", "X_star", "Y_star", "E", "E_star", "M_X", "V_tasks", "IIT"):
        assert m1[k][j] == pytest.approx(2 * m1[k][i], abs=1e-12)


def test_regime_flags(m1):
    i = at(m1, "reshoring")  # chi_X = 1.45 < gamma, yet S_X < 0 at full offshoring (spec pitfall 3)
    assert m1.status[i] == 3 and not np.asarray(m1.sol.regime["no_reshoring"])[i]
    assert m1["S_X"][i] == pytest.approx(-0.00125, abs=5e-6)
    assert m1.status[at(m1, "edge_in")] == 0  # the regime ends at a_KY1 = 0.798764, where Y* -> 0
    j = at(m1, "edge_out")
    assert m1.status[j] == 3 and m1["Y_star"][j] < 0 and not np.asarray(m1.sol.regime["foreign_diversified"])[j]
    with pytest.warns(jo.ConvergenceWarning, match="no_reshoring"):
        sol = jo.solve(sm.ServiceTask(chi_X=1.45))
    assert sol.status_name == "out_of_regime" and np.isnan(float(sol["w"]))


def test_parameter_domain_errors():
    with pytest.raises(jo.ParameterError, match="gamma > 1"):
        sm.ServiceTask(gamma=0.9)
    with pytest.raises(jo.ParameterError, match="lam T < A"):
        sm.ServiceTask(a_LX1=2.5)
    with pytest.raises(jo.ParameterError, match="K_H/L_H = K_F/L_F"):
        sm.TwoWay(L_H=2.0)
    with pytest.raises(jo.ParameterError, match="case in"):
        sm.MonopolisticCompetition(case="bogus")
    m = sm.ServiceTask.from_matrices(T=[[0.4, 0.2], [0.0, 0.0]], chi=(1.1, 1.2))
    assert (float(m.a_LX1), float(m.a_LY1), float(m.chi_Y)) == (0.4, 0.2, 1.2)
    m = sm.ServiceTask.from_matrices(theta=[[0.3, 0.25], [0.1, 0.2]])
    close(m.T, [[0.6, 0.25], [0.05, 0.3]], 1e-15)


# =================================================================================================
# Propositions 1-6 (spec Sec. 8)
# =================================================================================================
def _numpy_R(b, i, goods):
    """[T(I - C/gamma) z]_K / [...]_L, the effective shadow-migration ratio of P1 (numpy, from the row)."""
    m = b.model_at(i)
    T = np.array([[m.a_LX1, m.a_LY1], [m.a_KX1, m.a_KY1]], dtype=float) * float(m.lam)
    chi, g = np.array([float(m.chi_X), float(m.chi_Y)]), float(m.gamma)
    z = np.array([b["X"][i], b["Y"][i]]) + (np.array([b["X_star"][i], b["Y_star"][i]]) if goods else 0)
    d = T @ ((1 - chi / g) * z)
    return d[1] / d[0]


def test_P1_terms_of_trade(m1, m2):
    for b, goods in ((m1, False), (m2, True)):
        ok = np.where(b.status == 0)[0]
        dp = b["p"] - b["p_FT"]
        signs = []
        for i in ok:
            if b.rows[i].get("_label") in ("neutral", "lam0"):
                continue
            R = _numpy_R(b, i, goods)
            assert np.sign(dp[i]) == np.sign(b["k_tilde_w"][i] - R), (b.rows[i], dp[i], R)
            assert np.sign(dp[i]) == np.sign(b["k_tilde_w"][i] - b["k_tilde_O"][i])
            signs.append(np.sign(dp[i]))
        if not goods:
            assert {-1.0, 1.0} <= set(signs)  # both sides of the threshold are visited
    # chi = 1: Y dearer iff Delta_K/Delta_L < k~w; the crossing at a_KY1 = 0.387245 (Delta_K/Delta_L = 0.6)
    lo, hi = at(m1, "aKY1_0.387245_-1"), at(m1, "aKY1_0.387245_1")
    assert m1["p"][lo] > m1["p_FT"][lo] and m1["p"][hi] < m1["p_FT"][hi]
    assert m1["Delta_ratio"][lo] < 0.6 < m1["Delta_ratio"][hi]


def test_P2_outputs(m1, m2):
    kX, kY = 0.25, 1.5
    for b in (m1, m2):
        ok = (b.status == 0) & (np.array([r.get("_label") not in ("lam0",) for r in b.rows]))
        ratio = b["Delta_ratio"][ok]
        assert np.all(np.sign(b["dX"][ok]) == np.sign(kY - ratio))
        assert np.all(np.sign(b["dY"][ok]) == np.sign(ratio - kX))
        # eq. 16: Delta q = inv(A) Delta exactly
        dq = np.linalg.solve(A0, np.stack([b["Delta_L"], b["Delta_K"]]))
        close(dq[0][ok] - b["dX"][ok], 0, 1e-12)
        close(dq[1][ok] - b["dY"][ok], 0, 1e-12)
    # both sides of each threshold, from the a_KY1 crossing oracles
    for x, f in ((0.171266, "dY"), (0.668586, "dX")):
        lo, hi = at(m1, f"aKY1_{x}_-1"), at(m1, f"aKY1_{x}_1")
        assert m1[f][lo] * m1[f][hi] < 0 and abs(m1[f][lo]) < 1e-3
    assert np.any(m1["dY"][m1.status == 0] < 0) and np.any(m1["dX"][m1.status == 0] < 0)
    i = at(m1, "default")
    assert m1["dX"][i] > 0 and m1["dY"][i] > 0  # anti-Rybczynski at the defaults
    # service case, chi = 1: Delta q* = -Delta q/gamma
    close([m1["dX_star"][i], m1["dY_star"][i]], [-m1["dX"][i] / 1.5, -m1["dY"][i] / 1.5], 1e-12)


def test_P3_wages(m1, m2):
    lo_t, hi_t = 0.5 / 1.5, 2.0
    for b in (m1, m2):
        ok = (b.status == 0) & (b["S_Y"] > 1e-9)
        q = b["S_X"][ok] / b["S_Y"][ok]
        sure = lambda x: np.abs(x) > 1e-12  # noqa: E731  (the GRH row sits exactly on the r threshold)
        dw, dr = b["dw_cost_saving"][ok], b["dr_cost_saving"][ok]
        assert np.all((np.sign(dw) == np.sign(q - lo_t))[sure(dw)])
        assert np.all((np.sign(dr) == np.sign(hi_t - q))[sure(dr)])
        # eq. 24 exactly
        close(b["dw_cost_saving"][ok], (1.5 * b["S_X"][ok] - 0.5 * b["S_Y"][ok]) / DET0, 1e-13)
        close(b["dr_cost_saving"][ok], (2.0 * b["S_Y"][ok] - 1.0 * b["S_X"][ok]) / DET0, 1e-13)
    # Foreign, service case: Delta omega* = inv(A^T)(0, dp)/gamma, so w* moves against p, r* with it
    ok = (m1.status == 0) & (np.abs(m1["Delta_p"]) > 1e-9)
    assert np.all(np.sign(m1["w_star"] - m1["w_star_FT"])[ok] == -np.sign(m1["Delta_p"][ok]))
    assert np.all(np.sign(m1["r_star"] - m1["r_star_FT"])[ok] == np.sign(m1["Delta_p"][ok]))
    # crossing oracles: a_LX1 = 0.201732 (S_X/S_Y = 1/3) and 1.177078 (= 2); a_KY1 = 0.058746 for r
    for lab, f in (("aLX1_lo", "dw_cost_saving"), ("aLX1_hi", "dr_cost_saving")):
        assert m1[f][at(m1, lab + "-")] * m1[f][at(m1, lab + "+")] < 0
    assert m1["dr_cost_saving"][at(m1, "aKY1_0.058746_-1")] * m1["dr_cost_saving"][at(m1, "aKY1_0.058746_1")] < 0
    i = at(m1, "default")
    assert m1["dw_total"][i] > 0 and m1["dr_total"][i] > 0  # anti-SS at the defaults, ToT included
    assert m2["dw_total"][0] == pytest.approx(-0.00031, abs=5e-6)  # the M2 near-zero case


def test_P4_P5_trade_pattern(m1, m2):
    i, j = at(m1, "p4"), at(m2, "p4")
    close([m1["M_X"][i], m1["p"][i] * m1["M_Y"][i], m1["V_tasks"][i], m1["p"][i], m1["IIT"][i]],
          [-0.152927, 0.010973, 0.141954, 1.358884, 0.172283], 1e-6)
    close([m2["M_X"][j], m2["p"][j] * m2["M_Y"][j], m2["V_tasks"][j], m2["IIT"][j]],
          [-0.149404, -0.004590, 0.153994, 0.191818], 1e-6)
    assert m1["IIT"][i] == pytest.approx(2 * m1["V_X"][i], abs=1e-14)  # branch M_X < 0 <= M_Y
    # eq. 19 over the box (service case)
    ok = np.where(m1.status == 0)[0]
    for k in ok:
        m = m1.model_at(k)
        L, K, a = float(m.L_H), float(m.K_H), float(m.alpha)
        dw = np.linalg.solve(A0.T, [m1["S_X"][k], m1["S_Y"][k] + m1["Delta_p"][k]])
        DL, DK = m1["Delta_L"][k], m1["Delta_K"][k]
        predicted = (1 - a) * (L * dw[0] + K * dw[1]) - (1.5 * DL - DK) / DET0
        M_FT = (1 - a) * (m1["w_FT"][k] * L + m1["r_FT"][k] * K) - m1["X_FT"][k]
        assert m1["M_X"][k] - M_FT == pytest.approx(predicted, abs=1e-12)
    # P5: both columns of T non-zero => IIT > 0
    for b in (m1, m2):
        ok = (b.status == 0) & (b["V_X"] > 0) & (b["V_Y"] > 0)
        assert ok.sum() >= 10 and np.all(b["IIT"][ok] > 0)


def test_P6_fpe_and_eq21(m1):
    ok = (m1.status == 0) & (np.abs(m1["S_X"]) + np.abs(m1["S_Y"]) > 1e-6)
    gammas = np.array([float(m1.model_at(i).gamma) for i in range(m1.n)])
    assert np.all(np.abs(m1["w_gap"] - gammas)[ok] > 1e-6)  # FPE fails in the service case
    for k in np.where(m1.status == 0)[0]:  # eq. 21: shadow-endowment HO term minus (1 - alpha) V
        m = m1.model_at(k)
        a = float(m.alpha)
        first = a * m1["L_O"][k] / 2.0 * (m1["k_O"][k] - m1["k_tilde_O"][k]) / (m1["k_tilde_O"][k] - 0.25)
        assert m1["M_X"][k] == pytest.approx(first - (1 - a) * m1["V_tasks"][k], abs=1e-12)


# =================================================================================================
# Implicit-function-theorem derivatives vs the spec's analytic formulas
# =================================================================================================
WRT = ("chi_X", "chi_Y", "gamma", "lam", "alpha", "L_F")


def _quantities(model, u):
    out = model.outputs(u)
    return {**u, **{k: out[k] for k in ("S_X", "S_Y", "Delta_L", "Delta_K")}}


@pytest.fixture(scope="module")
def derivs(m1, m2):
    out = {}
    for name, b in (("M1", m1), ("M2", m2)):
        for label in ("default", "lam0"):
            pt = b.point(at(b, label))
            out[name, label] = jo.total_derivatives(pt.model, WRT, quantities=_quantities, sol=pt)
    return out


FD = {  # spec Sec. 8 finite-difference oracles: d(w, r, w*, r*, p, X*, Y*)
    ("M1", "chi_X"): (-0.101779, -0.048804, 0.020595, -0.082381, -0.154464, -0.101304, 0.023836),
    ("M1", "chi_Y"): (0.041831, -0.120005, -0.011403, 0.045614, 0.085526, -0.009981, -0.063215),
    ("M1", "gamma"): (0.091581, -0.073006, -0.127290, -0.379728, -0.164663, -0.459143, -0.240414),
    ("M1", "lam"): (0.034540, 0.132169, -0.009928, 0.039712, 0.074460, -0.170060, -0.031820),
    ("M2", "chi_X"): (0.004644, -0.355491, 0.003096, -0.236994, -0.493430, -0.312976, 0.078819),
    ("M2", "chi_Y"): (0.011205, -0.041728, 0.007470, -0.027818, 0.167598, -0.020748, -0.115957),
    ("M2", "gamma"): (0.049774, 0.040100, -0.119061, -0.325831, -0.042064, -0.382038, -0.242728),
    ("M2", "lam"): (-0.007924, 0.198609, -0.005283, 0.132406, 0.162916, -0.088228, -0.029161),
}
FD_S = {("M1", "chi_X"): (-0.227959, -0.020520), ("M1", "chi_Y"): (0.023660, -0.223703),
        ("M1", "gamma"): (0.146659, 0.146734), ("M1", "lam"): (0.135165, 0.158334)}


def test_ift_matches_finite_difference_oracles(derivs):
    for (case, th), vals in FD.items():
        _, d = derivs[case, "default"]
        got = [float(d[k][th]) for k in ("w", "r", "w_star", "r_star", "p", "X_star", "Y_star")]
        close(got, vals, 2e-6)
        if (case, th) in FD_S:
            close([float(d["S_X"][th]), float(d["S_Y"][th])], FD_S[case, th], 2e-6)
        if th == "lam":
            close([float(d["X"][th]), float(d["Y"][th])], [0.255090, 0.047731], 2e-6)
        else:
            close([float(d["X"][th]), float(d["Y"][th])], [0, 0], 1e-13)  # D2: q_O = inv(A - T) e


def test_ift_identities_D1_to_D5(derivs):
    AinvT = np.linalg.inv(A0.T)
    for case in ("M1", "M2"):
        v, d = derivs[case, "default"]
        g, p = 1.5, float(v["p"])
        Xw, Yw = float(v["X"] + v["X_star"]), float(v["Y"] + v["Y_star"])
        for th in WRT:
            D = {k: float(d[k][th]) for k in d}
            dom = AinvT @ np.array([D["S_X"], D["S_Y"] + D["p"]])  # D1
            close([D["w"], D["r"]], dom, 1e-11)
            if th != "lam":  # D2
                close([D["X"], D["Y"]], [0, 0], 1e-13)
            if case == "M1":  # D3
                doms = AinvT @ np.array([0.0, D["p"]]) / g
                if th == "gamma":
                    doms = doms - np.array([float(v["w_star"]), float(v["r_star"])]) / g
            else:  # D4
                doms = np.array([D["w"], D["r"]]) / g
                if th == "gamma":
                    doms = doms - np.array([float(v["w"]), float(v["r"])]) / g ** 2
            close([D["w_star"], D["r_star"]], doms, 1e-11)
            if th == "alpha":  # D5
                assert D["p"] == pytest.approx(p / (0.5 * 0.5), abs=1e-11)
            else:
                dXw, dYw = D["X"] + D["X_star"], D["Y"] + D["Y_star"]
                assert D["p"] == pytest.approx(p * (dXw / Xw - dYw / Yw), abs=1e-11)


def test_jones_hat_magnification_D6(derivs):
    """P2/P3 magnification (Jones 1965) with shadow endowments and cost savings, exact for dtheta -> 0."""
    for case in ("M1", "M2"):
        v, d = derivs[case, "default"]
        V = {k: float(v[k]) for k in v}
        e_O = np.array([1.0 + V["Delta_L"], 0.8 + V["Delta_K"]])
        q, om = np.array([V["X"], V["Y"]]), np.array([V["w"], V["r"]])
        lam_ = A0 * q[None, :] / e_O[:, None]  # lambda_fJ = a_fJ J / (e_f + Delta_f)
        c = np.array([1.0, V["p"]]) + np.array([V["S_X"], V["S_Y"]])
        th = A0 * om[:, None] / c[None, :]  # theta_fJ = a_fJ omega_f / c_J
        det_l, det_t = lam_[0, 0] - lam_[1, 0], th[0, 0] - th[0, 1]
        for t in WRT:
            D = {k: float(d[k][t]) for k in d}
            dlnL, dlnK = D["Delta_L"] / e_O[0], D["Delta_K"] / e_O[1]
            assert D["X"] / q[0] == pytest.approx((lam_[1, 1] * dlnL - lam_[0, 1] * dlnK) / det_l, abs=1e-11)
            assert D["Y"] / q[1] == pytest.approx((lam_[0, 0] * dlnK - lam_[1, 0] * dlnL) / det_l, abs=1e-11)
            hX, hY = D["S_X"] / c[0], (D["S_Y"] + D["p"]) / c[1]
            assert D["w"] / om[0] == pytest.approx((th[1, 1] * hX - th[1, 0] * hY) / det_t, abs=1e-11)
            assert D["r"] / om[1] == pytest.approx((th[0, 0] * hY - th[0, 1] * hX) / det_t, abs=1e-11)
            if hX > hY:  # the magnification ordering of P3
                assert D["w"] / om[0] > hX > hY > D["r"] / om[1]


def test_marginal_offshoring_at_lam0(derivs):
    """Spec 7.11 (D7): the first unit of offshoring, analytic vs IFT vs the spec's numbers."""
    oracle = {"M1": (0.0117914, (0.0267846, 0.0509569), (-0.0015722, 0.0062887), (-0.0722667, -0.0408)),
              "M2": (0.118367, (0.0054694, 0.1362177), (0.0036463, 0.0908118), (0.0224, -0.0368))}
    for case, cls in (("M1", sm.ServiceTask), ("M2", sm.GoodsTask)):
        mo = sm.marginal_offshoring(cls())
        _, d = derivs[case, "lam0"]
        D = {k: float(d[k]["lam"]) for k in d}
        close(mo["dS"], [0.0790476, 0.0914286], 1e-7)
        close(mo["dq"], [0.1084, 0.0612], 1e-12)
        dp, dom, doms, dqs = oracle[case]
        close([mo["dp"], *mo["domega"], *mo["domega_star"], *mo["dq_star"]], [dp, *dom, *doms, *dqs], 1e-6)
        close([D["S_X"], D["S_Y"], D["X"], D["Y"], D["p"], D["w"], D["r"], D["w_star"], D["r_star"], D["X_star"],
               D["Y_star"]],
              [*mo["dS"], *mo["dq"], mo["dp"], *mo["domega"], *mo["domega_star"], *mo["dq_star"]], 1e-11)
        # P1 marginal version: sign(dp/dlam) = sign(k~w - R)
        T, z = np.array([[0.6, 0.25], [0.05, 0.3]]), np.array([0.28, 0.44])
        if case == "M2":
            z = z + np.array([0.8, 0.4])
        dd = T @ ((1 - 1 / 1.5) * z)
        assert np.sign(D["p"]) == np.sign(0.6 - dd[1] / dd[0])


# =================================================================================================
# The four theorems as user-facing functions; the Jones ambiguity
# =================================================================================================
@pytest.fixture(scope="module")
def theorems_m1():
    return sm.ho_theorems(sm.ServiceTask())


def test_stolper_samuelson_and_rybczynski_functions(theorems_m1, m1, ft):
    th = theorems_m1
    s = th.summary
    assert list(s.index) == ["factor-price equalisation", "Heckscher-Ohlin", "Stolper-Samuelson", "Rybczynski"]
    assert list(s["holds"]) == [False, True, True, True]
    i = at(m1, "default")
    p, w, r, X, Y = (m1[k][i] for k in ("p", "w", "r", "X", "Y"))
    ss = th.stolper_samuelson
    close([ss.elasticities.loc["w", "p_Y"], ss.elasticities.loc["r", "p_Y"]],
          [-0.5 * p / (DET0 * w), 2.0 * p / (DET0 * r)], 1e-10)  # eq. 22
    close([ss.elasticities_no_offshoring.loc["w", "p_Y"], ss.elasticities_no_offshoring.loc["r", "p_Y"]],
          [-p / (3.0 - p), p / (p - 0.5)], 1e-10)  # eq. 8 at p_O
    # homogeneous of degree 1 in (p_X, p_Y) only without S: the saving is a fixed shift, not a price
    close(ss.elasticities_no_offshoring.sum(axis=1), [1.0, 1.0], 1e-10)
    assert abs(ss.elasticities.sum(axis=1)["w"] - 1.0) > 1e-3
    assert "anti-Stolper-Samuelson" in ss.region and ss.S_ratio == pytest.approx(0.869280, abs=1e-6)
    # P6(c): |dln w_O/dln p| < |dln w/dln p| iff w_O > w0(p_O)
    w0 = (1.5 - 0.5 * p) / DET0
    assert (abs(ss.elasticities.loc["w", "p_Y"]) < abs(ss.elasticities_no_offshoring.loc["w", "p_Y"])) == (w > w0)
    ry = th.rybczynski
    close([ry.elasticities.loc["X", "L_H"], ry.elasticities.loc["Y", "L_H"]],
          [1.5 * 1.0 / (DET0 * X), -0.5 * 1.0 / (DET0 * Y)], 1e-10)  # eq. 23 (corrected)
    close([ry.elasticities_no_offshoring.loc["X", "L_H"], ry.elasticities_no_offshoring.loc["Y", "L_H"]],
          [2.142857, -0.454545], 1e-6)  # eq. 9 oracle
    close(ry.closed_form.to_numpy(), [ry.elasticities.loc["X", "L_H"], ry.elasticities.loc["Y", "L_H"],
                                      2.142857, -0.454545], 1e-6)
    close(ss.closed_form.to_numpy(), [ss.elasticities.loc["w", "p_Y"], ss.elasticities.loc["r", "p_Y"],
                                      ss.elasticities_no_offshoring.loc["w", "p_Y"],
                                      ss.elasticities_no_offshoring.loc["r", "p_Y"]], 1e-10)
    close([ry.ge_elasticities.loc["X", "L_H"] * X, ry.ge_elasticities.loc["Y", "L_H"] * Y],
          [0.893855, -0.335196], 1e-6)  # GE: dq_O/dL = inv(A - T)(1, 0)
    assert "anti-Rybczynski" in ry.region
    # P6(d): the X response to L is smaller with offshoring iff X_O > X
    assert (ry.elasticities.loc["X", "L_H"] < ry.elasticities_no_offshoring.loc["X", "L_H"]) == (X > 0.28)
    # the FT point: the textbook theorem (spec 7.4 oracle)
    fss = sm.stolper_samuelson(ft.model_at(0), ft.point(0))
    close([fss.elasticities.loc["w", "p_Y"], fss.elasticities.loc["r", "p_Y"]], [-0.75, 1.636364], 1e-6)
    assert "holds=True" in repr(fss) and "eq. 22" in repr(fss)


def test_fpe_and_ho_functions(theorems_m1, m1, m2):
    fpe = theorems_m1.factor_price_equalization
    close([fpe.gaps["w/w*"], fpe.gaps["r/r*"]], [1.671623, 1.623416], 1e-6)
    assert not fpe.holds and "holds=False" in repr(fpe)
    g2 = sm.factor_price_equalization(m2.model_at(0), m2.point(0))
    assert g2.holds  # goods case: effective FPE survives
    ho = theorems_m1.heckscher_ohlin
    assert ho.holds and "exports Y" in ho.prediction
    close(ho.IIT, 0.186977, 1e-6)
    close(ho.eq21["sum"], ho.eq21["M_X"], 1e-12)
    # P4: identical endowment ratios: HO predicts no trade, offshoring creates it (a Leontief-like paradox)
    i = at(m1, "p4")
    ho4 = sm.heckscher_ohlin(m1.model_at(i), m1.point(i))
    assert not ho4.holds and "no final-goods trade" in ho4.prediction
    close(ho4.trade.loc["X", "net imports of final goods"], -0.152927, 1e-6)
    close(ho4.trade["intra-industry overlap"].sum(), 0.172283, 1e-6)


def test_jones_ambiguity():
    ja = sm.jones_ambiguity()
    sX, sY = ja.X.S[0], ja.Y.S[1]
    assert ja.X.S[1] == 0 and ja.Y.S[0] == 0
    # eq. 24 with one sector: dw|p = a_KY S_X/det A > 0 (X), -a_KX S_Y/det A < 0 (Y)
    assert ja.X.dw_fixed_p == pytest.approx(1.5 * sX / DET0, abs=1e-13) and ja.X.dw_fixed_p > 0
    assert ja.Y.dw_fixed_p == pytest.approx(-0.5 * sY / DET0, abs=1e-13) and ja.Y.dw_fixed_p < 0
    # terms of trade included, the same workers gain in one case and lose in the other; the totals
    # are checked against the one-sector closed form
    for case, sector in ((ja.X, "X"), (ja.Y, "Y")):
        cf = sm.one_sector_closed_form(case.model, sector)
        assert case.table.loc["w", "with offshoring"] == pytest.approx(float(cf["w"]), abs=1e-12)
        t = case.table
        close(t["free trade"] + t["cost saving"] + t["terms of trade"] - t["with offshoring"], [0, 0], 1e-13)
    assert ja.X.dw_total > 0 > ja.Y.dw_total
    assert list(ja.summary.loc["L-workers"]) == ["gain", "lose"]
    assert "Jones ambiguity" in repr(ja)


# =================================================================================================
# Offshoring pattern (M1-R), two-way (M3), monopolistic competition (M4)
# =================================================================================================
def test_offshoring_pattern_layer():
    df = sm.offshoring_patterns(sm.ServiceTask(chi_X=1.45))
    eq = df[df["equilibrium"]]
    assert list(zip(eq["pattern_X"], eq["pattern_Y"])) == [("none", "full")]
    row = lambda a, b: df[(df["pattern_X"] == a) & (df["pattern_Y"] == b)].iloc[0]  # noqa: E731
    assert row("full", "full")["S_X"] == pytest.approx(-0.00125, abs=5e-6)
    assert row("none", "full")["S_X"] == pytest.approx(-0.00073, abs=5e-6)
    df0 = sm.offshoring_patterns()
    eq0 = df0[df0["equilibrium"]]
    assert list(zip(eq0["pattern_X"], eq0["pattern_Y"])) == [("full", "full")]
    # the free (complementarity) solve finds the same patterns, and a cap binds with S > 0
    free, cap = [0.0, 1.0, 0.0, 1.0], [0.0, 0.5, 0.0, 1.0]
    pad = lambda rows: rows + [rows[-1]] * (9 - len(rows))  # noqa: E731  (the enumeration's batch shape)
    d = sm.solve_with_bounds(sm.ServiceTask(), pad([free, cap]))
    r = sm.solve_with_bounds(sm.ServiceTask(chi_X=1.45), pad([free]))
    o = sm.solve_with_bounds(sm.ServiceTask(chi_X=1.6, chi_Y=1.7), pad([free]))
    assert int(d.status[0]) == int(d.status[1]) == int(r.status[0]) == int(o.status[0]) == 0
    close([d["phi_X"][0], d["phi_Y"][0], r["phi_X"][0], r["phi_Y"][0]], [1, 1, 0, 1], 1e-12)
    assert float(d["phi_X"][1]) == pytest.approx(0.5, abs=1e-12) and float(d["S_X"][1]) > 0  # a binding cap
    close([o["phi_X"][0], o["phi_Y"][0]], [0, 0], 1e-12)
    assert float(o["S_X"][0]) < 0 and float(o["S_Y"][0]) < 0
    # phi = (0, 1) is M1 with the X column of T removed (closed form, spec 7.5)
    cf = sm.service_closed_form(sm.ServiceTask(chi_X=1.45, a_LX1=0.0, a_KX1=0.0))
    close([float(r[k][0]) for k in NINE], [float(cf[k]) for k in NINE], 1e-12)


def test_two_way():
    c0_rows = {"A1f_LX": 0.2, "A1f_LY": 0.1, "A1f_KX": 0.05, "A1f_KY": 0.15,  # A1f = 0.1 A, A2f = 0.7 A
               "A2f_LX": 1.4, "A2f_LY": 0.7, "A2f_KX": 0.35, "A2f_KY": 1.05}
    rows = [{"lam": 0.0}, {"lam": 1.0}, {"lam": 0.5}, {"lam": 0.0, **c0_rows}, {"lam": 1.0, **c0_rows}]
    b = Batch(sm.TwoWay(), rows)
    assert np.all(b.status == 0)
    for i in range(3):
        check_nine(b, i, sm.two_way_closed_form(b.model_at(i))["current"])
    close([b[k][0] for k in ("p", "w", "r", "X", "Y", "X_star", "Y_star")],
          [1.168539, 0.304260, 0.490502, 0.299281, 0.256115, 0.598561, 0.512230], 1e-6)
    close([b[k][1] for k in ("p", "w", "r", "X", "Y", "X_star", "Y_star")],
          [9 / 7, 12 / 35, 22 / 35, 0.36, 0.28, 0.72, 0.56], 1e-12)
    close([b[k][1] for k in ("dw", "dr", "dX", "dY")], [0.038597, 0.138069, 0.060719, 0.023885], 1e-6)
    P = lambda i: b["p"][i] ** 0.5  # noqa: E731
    close([b["w"][0] / P(0), b["r"][0] / P(0), b["w"][1] / P(1), b["r"][1] / P(1)],
          [0.281464, 0.453753, 0.302372, 0.554348], 1e-6)
    close([b["welfare_pre"][1], b["welfare"][1]], [0.276858, 0.317490], 1e-6)
    close([b["task_exports_X"][1], b["task_exports_Y"][1]], [0.121371, 0.089600], 1e-6)
    close([b["task_imports_X"][1], b["task_imports_Y"][1]], [0.121371, 0.089600], 1e-6)
    for i in range(5):
        close([b["w"][i] - b["w_star"][i], b["r"][i] - b["r_star"][i], b["M_X"][i], b["M_Y"][i]], 0, 1e-12)
    assert max(b["real_w"][1] - b["real_w"][0], b["real_r"][1] - b["real_r"][0]) > 0
    assert max(b["dX"][1], b["dY"][1]) > 0
    # Hicks-neutral gap (A1f = 0.1 A): p unchanged, omega and q scale by 1 + (gamma1 - 1) 0.1
    assert b["p"][3] == pytest.approx(b["p"][4], abs=1e-12)
    for k in ("w", "r", "X", "Y"):
        assert b[k][4] == pytest.approx(1.1 * b[k][3], abs=1e-12)


def test_monopolistic_competition_scaling():
    rows = [{"lam": 0.0}, {}, {"sigma": 2.0}, {"sigma": 8.0, "chi_X": 1.2, "chi_Y": 1.1}, {"lam": 0.5, "sigma": 3.0}]
    b = Batch(sm.MonopolisticCompetition(case="service"), rows)
    assert np.all(b.status == 0)
    for i, row in enumerate(rows):
        ho = sm.service_closed_form(sm.ServiceTask(**{k: v for k, v in row.items() if k != "sigma"}))
        m = float(b.model_at(i).markup)
        assert b["p"][i] == pytest.approx(float(ho["p"]), abs=1e-12)  # p unchanged
        for k in NINE[:4] + NINE[5:]:
            assert b[k][i] == pytest.approx(float(ho[k]) / m, abs=1e-12)  # omega, q divided by m
    # spec 7.10 oracles (sigma = 4, F = 1)
    close([b[k][0] for k in ("w", "r", "X", "Y", "n_X", "n_Y", "n_X_star", "n_Y_star", "welfare_variety")],
          [0.257143, 0.471429, 0.21, 0.33, 0.07, 0.11, 0.2, 0.1, 0.173359], 1e-6)
    close([b[k][1] for k in ("n_X", "n_Y", "n_X_star", "n_Y_star", "welfare_variety")],
          [0.111732, 0.124767, 0.172179, 0.090155, 0.193027], 1e-6)
    close([b["exports_X"][0], b["imports_X"][0], b["imports_X"][0] - b["exports_X"][0]],
          [0.127778, 0.234921, 0.107143], 1e-6)
    # Propositions carry over verbatim: same signs as the HO model
    assert b["dX"][1] > 0 and b["dY"][1] > 0 and b["p"][1] > b["p_FT"][1]
    # the goods and free-trade cases of the wrapper: residuals vanish at the scaled HO closed forms
    for case, cf_fn, base in (("goods", sm.goods_closed_form, sm.GoodsTask()),
                              ("free_trade", sm.free_trade_closed_form, sm.FreeTrade())):
        mc = sm.MonopolisticCompetition(case=case)
        ho = cf_fn(base)
        u = {k: (ho[k] if k == "p" else ho[k] / mc.markup) for k in NINE}
        res = mc.residuals(u)
        assert max(abs(float(v)) for v in res.values()) < 1e-14
        assert max(abs(float(mc.residuals(cf_fn(mc))[k])) for k in res) < 1e-14


def test_autarky_start_is_the_closed_form_and_rules_are_declared():
    # M0a starts at the closed form (eqs. 5-6), so one Newton step solves every point
    b = Batch(sm.Autarky(), [{"_label": "default"}, {"_label": "a", "alpha": 0.45, "gamma": 1.8}])
    assert np.all(np.asarray(b.sol.steps)[: b.n] == 1) and np.all(b.status == 0)
    # outside the cone the closed-form price is not positive: the start falls back to p = 1
    g = sm.Autarky(K_H=0.1).guess()
    assert float(g["p"]) == 1.0 and float(g["p_star"]) > 0
    # each sub-model declares its own rules (none is inherited and then deleted)
    assert "gamma >= 1" in sm.FreeTrade().domain() and "gamma > 1 (C2)" not in sm.FreeTrade().domain()
    assert "gamma > 1 (C2)" in sm.ServiceTask().domain()
    u = sm.ServiceTask().guess()
    base = {"factor_prices_positive", "home_diversified", "foreign_diversified"}
    assert set(sm.FreeTrade().regime(u)) == base
    assert set(sm.ServiceTask().regime(u)) == base | {"no_reshoring", "foreign_factors_not_exhausted",
                                                       "offshoring_profitable_ex_ante"}
    m1r = sm.OffshoringPattern()
    assert set(m1r.regime(m1r.guess())) == base | {"foreign_factors_not_exhausted", "phi_in_unit_interval",
                                                    "complementarity"}
    # the shared intermediates are the cost saving (eq. 14) and the Foreign factors hired, T C q
    m = sm.ServiceTask()
    p = m.point(m.guess())
    T, chi = np.asarray(m.T), np.asarray(m.chi)
    om, om_s = np.array([p["w"], p["r"]], float), np.array([p["w_star"], p["r_star"]], float)
    close([p["S_X"], p["S_Y"]], T.T @ om - chi * (T.T @ om_s), 1e-14)
    close([p["hired_L"], p["hired_K"]], (T * chi[None, :]) @ np.array([p["X"], p["Y"]], float), 1e-14)
