"""Kleinert and Zorell (2012), export magnification: sub-models SM-A..SM-L (G..L: A.3 violated).

Oracles: the spec's reference numbers (section 9.3-9.5, computed by the spec author three ways), its
Pareto closed forms (section 7.3, re-implemented here in NumPy), the comparative-statics formulas and
signs of section 8 (checked over random parameter boxes with jax.vmap), regime boundaries (5.3),
brute-force max-over-strategies profits (5.3), Walras' law, and the difference of two solves.

Compilation dominates the run time, so each sub-model is compiled once as a jitted vmap that returns
levels and IFT elasticities for a whole box of parameter points.
"""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxoff as jo
from jaxoff.models import export_magnification as em

SHOCKS = ("tau_I", "f_I", "tau", "f_ex", "n")
OUT = ("phi_0", "survival_cutoff", "export_cutoff", "offshoring_cutoff", "M_e", "M", "M_ex", "P_X", "W",
       "W_w", "s_off", "X_exp", "T_I", "nu_ex", "L_I", "L_Y", "L_Iw", "q", "phat", "R_X", "M_O",
       "walras_residual", "trade_balance_W", "revenue_identity")
VARY = ("alpha", "sigma", "f_e", "L_w") + SHOCKS


def _levels(model, u):
    """The quantities differentiated in the box tests (module level: one compile per sub-model)."""
    return {k: v for k, v in {**u, **model.outputs(u)}.items() if k in OUT}


def box_statics(cls, points, **options):
    """Levels and IFT derivatives d level/d ln shock at each point (eager loop over one compiled solve
    and one compiled `jo.total_derivatives` per sub-model)."""
    lev = {k: [] for k in OUT}
    jac = {k: {s: [] for s in SHOCKS} for k in OUT}
    status = []
    n = len(points["tau_I"])
    for i in range(n):
        m = cls(**{k: float(points[k][i]) for k in VARY}, **options)  # validated: in-regime by construction
        with warnings.catch_warnings():  # SM-F points may leave regime A: status 3, checked by the caller
            warnings.simplefilter("ignore", jo.ConvergenceWarning)
            sol = jo.solve(m, mask=False)
        vals, d = jo.total_derivatives(m, SHOCKS, quantities=_levels, sol=sol)
        status.append(int(sol.status))
        for k in OUT:
            lev[k].append(float(vals[k]))
            for s in SHOCKS:
                jac[k][s].append(float(d[k][s]) * float(points[s][i]))
    return ({k: np.array(v) for k, v in lev.items()},
            {k: {s: np.array(v) for s, v in row.items()} for k, row in jac.items()}, np.array(status))


def closed_form_statics(cls, points):
    """Pareto: the spec 7.3 closed form (used as each sub-model's starting value) IS the equilibrium, so
    its levels and autodiff elasticities are exact; returns them with the residuals there (all ~0)."""

    def one(p):
        def values(logs):
            m = cls(**{k: p[k] for k in VARY if k not in SHOCKS}, **{k: jnp.exp(logs[k]) for k in SHOCKS})
            u = m.guess()
            res = jnp.stack([jnp.abs(v) for v in m.residuals(u).values()]).max()
            out = {**u, **m.outputs(u)}
            return {k: out[k] for k in OUT}, ({k: out[k] for k in OUT}, res)

        return jax.jacfwd(values, has_aux=True)({k: jnp.log(p[k]) for k in SHOCKS})

    jac, (lev, res) = jax.vmap(one)({k: jnp.asarray(v) for k, v in points.items()})
    return ({k: np.asarray(v) for k, v in lev.items()},
            {k: {s: np.asarray(v) for s, v in row.items()} for k, row in jac.items()}, np.asarray(res))


def draw(letter, n_points, seed, **fixed):
    """Random points of a parameter box that lie in regime `letter` (by the spec 5.3 partition)."""
    rng = np.random.default_rng(seed)
    box = {"alpha": (0.4, 0.8), "sigma": (2.5, 3.8), "f_e": (0.15, 0.3), "L_w": (20.0, 20.0),
           "tau_I": (1.0, 2.4), "f_I": (0.3, 0.8), "tau": (1.5, 2.2), "f_ex": (0.8, 1.5), "n": (2.0, 6.0)}
    box.update(fixed)
    out = {k: [] for k in VARY}
    while len(out["tau_I"]) < n_points:
        p = {k: rng.uniform(*box[k], size=400) for k in VARY}
        idx = np.asarray(em.regime_index(p))
        keep = idx == "ABCDE".index(letter)
        for k in VARY:
            out[k].extend(p[k][keep].tolist())
    return {k: jnp.asarray(v[:n_points]) for k, v in out.items()}


def elasticities(lev, jac, name):
    return {k: np.asarray(jac[name][k]) / np.asarray(lev[name]) for k in SHOCKS}


@pytest.fixture(scope="module")
def defaults():
    return jo.solve(em.SUBMODELS["SM-A"]())


# -- 1. reference levels at the defaults (spec 9.3) and closed forms --------------------------------------
REF = dict(q=0.8, phat=0.234918, p1_tilde=0.713275, p2_tilde=0.869637, Q=1.307049, lambda_off=1.276090,
           lambda_ex=1.574437, omega_0=0.640526, omega_off=0.094646, omega_ex=0.264828, phi_0=1.390812,
           phi_off=1.774799, phi_ex=2.189752, M_e=0.266667, M=0.0512421, M_d=0.0360987, M_off=0.0098468,
           M_ex=0.00529656, M_t=0.0724283, nu_O=0.295526, nu_ex=0.103364, P_X=2.953612, P=3.022920,
           W=0.330806, R_X=0.4, s_off=0.667718, X_exp=0.105931, T_I=0.106835, X_exp_share=0.264828,
           L_X=0.186667, L_X_variable=0.106667, L_X_fixed=0.08, L_e=0.0533333, L_I=0.0531652, L_Y=0.706835,
           L_Iw=5.34174, L_Yw=14.6583, exports_gdp=0.212766, int_share_world_trade=0.334276,
           fva_share=0.199151, export_intensity=0.552486, avg_exports_per_exporter_market=5.0,
           eff_tilde=1.92362, eff_t_tilde=1.88705)


def test_reference_levels_at_defaults(defaults):
    sol = defaults
    assert sol.status_name == "converged"
    for k, v in REF.items():
        assert float(sol[k]) == pytest.approx(v, rel=1e-5), k
    assert float(em.firm_outcomes(sol, 2.5)["r_F"]) == pytest.approx(3.91031, rel=1e-5)
    for k in ("walras_residual", "trade_balance_W", "revenue_identity"):  # Walras' law (paper eq. 21)
        assert abs(float(sol[k])) < 1e-12, k


def test_pareto_closed_form_sm_a(defaults):
    """Spec 7.3, written out independently in NumPy."""
    sol = defaults
    s, a, b, n, tau, k, b0 = 3.0, 0.6, 0.4, 4.0, 1.8, 5.0, 1.0
    fp, fI, fex, fe, L = 1.0, 0.5, 1.0, 0.2, 1.0
    q = 1.6 * 0.1 / 0.2
    phat = 1 - q ** (a * (s - 1))
    lam_off = q ** a * (fI / (fp * phat)) ** (1 / (s - 1))
    lam_ex = tau * q ** a * (fex / fp) ** (1 / (s - 1))
    D = fp + fI * lam_off ** -k + n * fex * lam_ex ** -k
    phi0 = b0 * ((s - 1) * D / ((k - s + 1) * fe)) ** (1 / k)
    rho = (s - 1) / s
    W = (b ** b * (1 - b) ** (1 - b)) * rho ** b * phi0 ** b * (b * L / (s * fp)) ** (b / (s - 1))
    omega_min, omega_ex = fp / D, n * fex * lam_ex ** -k / D
    assert float(sol["phi_0"]) == pytest.approx(phi0, rel=1e-12)
    assert float(sol["phi_off"]) == pytest.approx(lam_off * phi0, rel=1e-12)
    assert float(sol["phi_ex"]) == pytest.approx(lam_ex * phi0, rel=1e-12)
    assert float(sol["M_e"]) == pytest.approx((s - 1) * b * L / (s * k * fe), rel=1e-12)
    assert float(sol["M"]) == pytest.approx(b * L * (k - s + 1) / (s * k * D), rel=1e-12)
    assert float(sol["X_exp_share"]) == pytest.approx(omega_ex, rel=1e-12)
    assert float(sol["s_off"]) == pytest.approx(1 - omega_min * (1 - lam_off ** (s - 1 - k)), rel=1e-12)
    assert float(sol["W"]) == pytest.approx(W, rel=1e-12)  # eq. 17 / O17


def test_firm_choices_are_max_over_strategies(defaults):
    """Every firm's strategy in the solved equilibrium maximizes the four profits of spec 5.3."""
    sol = defaults
    phi = np.linspace(0.8, 4.0, 400)
    fo = em.firm_outcomes(sol, phi)
    s, n, tau, fp, fI, fex = 3.0, 4.0, 1.8, 1.0, 0.5, 1.0
    Q, x = float(sol["Q"]), (phi / float(sol["phi_0"])) ** (s - 1)
    t = n * tau ** (1 - s)
    prof = np.stack([np.zeros_like(x), fp * x - fp, fp * Q * x - fp - fI, fp * (1 + t) * x - fp - n * fex,
                     fp * (1 + t) * Q * x - fp - fI - n * fex])
    best = prof.argmax(0)
    assert np.array_equal(np.asarray(fo["active"]), best > 0)
    assert np.array_equal(np.asarray(fo["offshores"]), np.isin(best, [2, 4]))
    assert np.array_equal(np.asarray(fo["exports"]), np.isin(best, [3, 4]))
    assert np.allclose(np.asarray(fo["profit"]) / float(sol["w"]), prof.max(0), atol=1e-12)


# -- 2. regime detection and errors --------------------------------------------------------------------
@pytest.mark.parametrize("edge,below,above", [(1.426551, "E", "A"), (1.739274, "A", "C"), (1.891740, "C", "B"),
                                               (2.0, "B", "D")])
def test_regime_boundaries_in_tau_I(edge, below, above):
    """Spec 5.3: boundaries at the defaults E|A 1.426551, A|C 1.739274, C|B 1.891740, B|D 2.0."""
    idx = np.asarray(em.regime_index({"tau_I": np.array([edge - 1e-5, edge + 1e-5])}))
    assert [em.REGIME_LETTERS[i] for i in idx] == [below, above]
    assert em.submodel_for(tau_I=edge + 1e-5).spec_id == em.REGIMES[above]["submodel"]


def test_firm_ordering_report():
    fo = em.firm_ordering(em.SUBMODELS["SM-A"]())
    assert fo.regime == "A" and fo.matches_model
    assert fo.strategies == ("domestic", "offshore", "offshore-and-export")
    assert fo.ordering == "phi_0 < phi_off < phi_ex"
    assert fo.p1_tilde < fo.q < fo.p2_tilde
    fb = em.firm_ordering(em.build(tau_I=1.95))
    assert fb.regime == "B" and fb.ordering == "phi_0 < phi_ex < phi_off" and fb.submodel == "SM-B"


@pytest.mark.parametrize("params,assumption,hint", [
    ({"tau_I": 2.5}, "A.1", "SM-D"), ({"tau_I": 1.3}, "A.2: q > p1_tilde", "SM-E"),
    ({"tau_I": 1.8}, "A.2: q < p2_tilde", "SM-C"), ({"f_ex": 0.3}, "A.3", ""),
])
def test_invalid_parameters_name_the_assumption(params, assumption, hint):
    with pytest.raises(jo.ParameterError) as err:
        em.SUBMODELS["SM-A"](**params)
    msg = str(err.value)
    assert assumption in msg and "fails" in msg
    if hint:
        assert hint in msg
    if "tau_I" in params:
        assert f"tau_I = {params['tau_I']:g}" in msg


def test_wrong_submodel_and_distribution_errors():
    # each sub-model's defaults lie in its own regime; asking for it at regime-A parameters is refused
    with pytest.raises(jo.ParameterError, match="regime B.*SM-A"):
        em.SUBMODELS["SM-B"](tau_I=1.6)
    with pytest.raises(jo.ParameterError, match="q >= 1"):
        em.SUBMODELS["SM-D"](tau_I=1.6)
    with pytest.raises(jo.ParameterError, match=r"pareto_k > sigma - 1"):
        em.SUBMODELS["SM-A"](pareto_k=1.5)
    with pytest.raises(jo.ParameterError, match="ln_s > 0"):
        em.SUBMODELS["SM-A"](distribution="lognormal", ln_s=-0.1)
    assert set(em.SUBMODELS) == {"SM-A", "SM-B", "SM-C", "SM-D", "SM-E", "SM-F",
                                 "SM-G", "SM-H", "SM-I", "SM-J", "SM-K", "SM-L"}  # G..L: A.3 violated


# -- 3. comparative statics over parameter boxes (spec section 8), one compile per sub-model ------------
@pytest.fixture(scope="module")
def regime_results():
    """Regime A: IFT derivatives of solved equilibria. Regimes B-E: exact Pareto closed forms (the
    IFT versions of B-E are compared with these in the slow test `test_ift_matches_closed_form`)."""
    res = {}
    for letter, seed in zip("ABCDE", range(5)):
        p = draw(letter, 10, seed)
        cls = em.SUBMODELS[em.REGIMES[letter]["submodel"]]
        if letter == "A":  # the defaults first
            p = {k: np.concatenate([[em.SUBMODELS["SM-A"].defaults()[k]], np.asarray(p[k])]) for k in VARY}
            res[letter] = (p, *box_statics(cls, p))
        else:
            lev, jac, resid = closed_form_statics(cls, p)
            assert resid.max() < 1e-10, letter  # the closed form solves the sub-model's residuals
            res[letter] = (p, lev, jac, np.zeros(len(resid), int))
    return res


def test_reference_elasticities_at_defaults(regime_results):
    """Spec 9.4 table (row = shock) at the defaults, from the IFT."""
    p, lev, jac, status = regime_results["A"]
    assert int(status[0]) == 0 and float(p["tau_I"][0]) == 1.6
    table = {"tau_I": dict(phi_0=-0.40063, offshoring_cutoff=2.15345, export_cutoff=0.19937, M=2.00315,
                           M_ex=-0.99685, P_X=0.40063, W=-0.16025, s_off=-4.53403, X_exp=-0.99685,
                           T_I=-4.53403, nu_ex=-3.0, L_Y=-0.68530, L_Iw=-4.53403),
             "f_I": dict(phi_0=-0.02839, offshoring_cutoff=0.47161, export_cutoff=-0.02839, M=0.14197,
                         W=-0.01136, s_off=-0.76311, X_exp=0.14197),
             "tau": dict(phi_0=-0.26483, export_cutoff=0.73517, M_ex=-3.67586, W=-0.10593, s_off=-0.65894),
             "f_ex": dict(phi_0=-0.07945, export_cutoff=0.42055, M_ex=-2.10276, X_exp=-1.10276),
             "n": dict(phi_0=0.05297, M=-0.26483, X_exp=0.73517, W=0.02119, s_off=0.13179)}
    for shock, row in table.items():
        for out, v in row.items():
            e = float(jac[out][shock][0]) / float(lev[out][0])
            assert e == pytest.approx(v, abs=2e-5), (shock, out)


def test_status_flags_under_vmap(regime_results):
    """Failed assumptions and the Pareto corner are flagged per point, never raised, under vmap."""
    cls = em.SUBMODELS["SM-A"]
    tau_I = jnp.array([1.6, 1.6, 1.3, 2.5])
    f_e = jnp.array([0.2, 2.0, 0.2, 0.2])  # f_e = 2: phi_0 < pareto_b, all entrants survive
    sol = jax.vmap(lambda t, fe: jo.solve(cls(tau_I=t, f_e=fe)))(tau_I, f_e)
    assert list(np.asarray(sol.status)) == [0, 3, 2, 2]  # fine, corner, A.2 fails, A.1 fails
    assert np.isfinite(float(sol["X_exp"][0])) and np.all(np.isnan(np.asarray(sol["X_exp"][1:])))
    assert float(sol["phi_0"][0]) == pytest.approx(REF["phi_0"], rel=1e-6)
    for letter in "ABCDE":
        assert np.all(regime_results[letter][3] == 0), letter


@pytest.mark.parametrize("letter", list("ABCDE"))
def test_envelope_identity_every_regime(letter, regime_results):
    """P1: d ln phi_0/d ln tau_I = -alpha s_off; d ln P_X = alpha s_off; d ln W = -alpha beta s_off."""
    p, lev, jac, status = regime_results[letter]
    ok = np.asarray(status) == 0
    a, s_off = np.asarray(p["alpha"])[ok], np.asarray(lev["s_off"])[ok]
    e = {k: elasticities(lev, jac, k)["tau_I"][ok] for k in ("phi_0", "P_X", "W")}
    np.testing.assert_allclose(e["phi_0"], -a * s_off, atol=1e-10)
    np.testing.assert_allclose(e["P_X"], a * s_off, atol=1e-10)
    np.testing.assert_allclose(e["W"], -a * 0.4 * s_off, atol=1e-10)
    if letter == "D":
        np.testing.assert_allclose(s_off, 0.0, atol=1e-15)
    elif letter == "E":
        np.testing.assert_allclose(s_off, 1.0, atol=1e-14)
    else:
        assert np.all((s_off > 0) & (s_off < 1))


def test_regime_A_comparative_statics(regime_results):
    """P1-P12 formulas and signs in regime A (Pareto closed forms for P8)."""
    p, lev, jac, status = regime_results["A"]
    ok = np.asarray(status) == 0
    g = lambda name: np.asarray(lev[name])[ok]  # noqa: E731
    el = lambda name, shock: (np.asarray(jac[name][shock]) / np.asarray(lev[name]))[ok]  # noqa: E731
    a, s, k = g("phi_0") * 0 + np.asarray(p["alpha"])[ok], np.asarray(p["sigma"])[ok], 5.0
    s_off, phat, rho = g("s_off"), g("phat"), (s - 1) / s
    # P2, P3, P4: offshoring cutoff up, export cutoff up with tau_I; incumbents' exports fall with tau_I
    np.testing.assert_allclose(el("offshoring_cutoff", "tau_I"), a * (1 / phat - s_off), atol=1e-9)
    np.testing.assert_allclose(el("export_cutoff", "tau_I"), a * (1 - s_off), atol=1e-10)
    assert np.all(el("offshoring_cutoff", "tau_I") > 0) and np.all(el("export_cutoff", "tau_I") > 0)
    # P6: intermediates trade and W's I sector grow when tau_I falls; labor moves I -> Y at home
    for name, sign in [("s_off", -1), ("T_I", -1), ("L_I", 1), ("L_Y", -1), ("L_Iw", -1)]:
        assert np.all(sign * np.asarray(jac[name]["tau_I"])[ok] > 0), name
    # P7: welfare rises in the advanced economies, W's welfare is unchanged
    assert np.all(el("W", "tau_I") < 0) and np.allclose(np.asarray(jac["W_w"]["tau_I"])[ok], 0.0)
    # P8 (Pareto): eps_Xexp = eps_Mex = -k alpha (1 - s_off), eps_nu_ex = -k alpha
    np.testing.assert_allclose(el("X_exp", "tau_I"), -k * a * (1 - s_off), atol=1e-9)
    np.testing.assert_allclose(el("M_ex", "tau_I"), -k * a * (1 - s_off), atol=1e-9)
    np.testing.assert_allclose(el("nu_ex", "tau_I"), -k * a, atol=1e-9)
    # P9: a lower f_I raises phi_ex, lowers phi_off and phi_0's competition effect; welfare rises
    e0 = -1.0 * g("M_O") * np.asarray(p["f_I"])[ok] / (rho * g("R_X"))
    np.testing.assert_allclose(el("phi_0", "f_I"), e0, atol=1e-10)
    np.testing.assert_allclose(el("export_cutoff", "f_I"), e0, atol=1e-10)
    np.testing.assert_allclose(el("offshoring_cutoff", "f_I"), 1 / (s - 1) + e0, atol=1e-10)
    assert np.all(el("export_cutoff", "f_I") < 0) and np.all(el("W", "f_I") < 0)
    # P10: tau
    xs = g("X_exp") / g("R_X")
    np.testing.assert_allclose(el("phi_0", "tau"), -xs, atol=1e-10)
    np.testing.assert_allclose(el("offshoring_cutoff", "tau"), -xs, atol=1e-10)
    np.testing.assert_allclose(el("export_cutoff", "tau"), 1 - xs, atol=1e-10)
    # P11: f_ex
    n, fex = np.asarray(p["n"])[ok], np.asarray(p["f_ex"])[ok]
    e0x = -n * fex * g("M_ex") / (rho * g("R_X"))
    np.testing.assert_allclose(el("phi_0", "f_ex"), e0x, atol=1e-10)
    np.testing.assert_allclose(el("export_cutoff", "f_ex"), 1 / (s - 1) + e0x, atol=1e-10)
    # P12: n, same for all three cutoffs and positive
    en = (g("X_exp") / s - n * fex * g("M_ex")) / (rho * g("R_X"))
    for c in ("phi_0", "offshoring_cutoff", "export_cutoff"):
        np.testing.assert_allclose(el(c, "n"), en, atol=1e-10)
    assert np.all(en > 0)


def test_regimes_B_C_D_E_statics(regime_results):
    """P15 (B), P16 (C), P17 (D, E) and the other regimes' Pareto closed forms (spec 7.3)."""
    for letter in "BCDE":
        p, lev, jac, status = regime_results[letter]
        a, s = np.asarray(p["alpha"]), np.asarray(p["sigma"])
        s_off, phat = np.asarray(lev["s_off"]), np.asarray(lev["phat"])
        el = lambda name, shock: np.asarray(jac[name][shock]) / np.asarray(lev[name])  # noqa: E731
        if letter == "B":
            np.testing.assert_allclose(el("export_cutoff", "tau_I"), -a * s_off, atol=1e-10)
            np.testing.assert_allclose(el("offshoring_cutoff", "tau_I"), a / phat - a * s_off, atol=1e-8)
            assert np.all(el("export_cutoff", "tau_I") < 0)  # lower tau_I RAISES the export cutoff
            assert np.all(np.asarray(jac["T_I"]["tau_I"]) < 0)
        if letter == "C":
            t = np.asarray(p["n"]) * np.asarray(p["tau"]) ** (1 - s)
            Q = np.asarray(lev["q"]) ** (-a * (s - 1))
            phat_c = 1 - 1 / ((1 + t) * Q)
            np.testing.assert_allclose(el("export_cutoff", "tau_I"), a / phat_c - a * s_off, atol=1e-9)
            assert np.all(el("export_cutoff", "tau_I") > 0)
        if letter == "D":
            for name in ("phi_0", "export_cutoff", "X_exp", "W", "M"):
                np.testing.assert_allclose(np.asarray(jac[name]["tau_I"]), 0.0, atol=1e-14)
            np.testing.assert_allclose(s_off, 0.0, atol=1e-15)
        if letter == "E":
            for name in ("survival_cutoff", "export_cutoff", "X_exp", "T_I", "s_off"):
                np.testing.assert_allclose(el(name, "tau_I"), 0.0, atol=1e-12)
            np.testing.assert_allclose(el("W", "tau_I"), -a * 0.4, atol=1e-12)
            np.testing.assert_allclose(s_off, 1.0, atol=1e-14)
        # Pareto: phi_0 = b ((sigma-1)/((k-sigma+1) f_e) sum_c F_c lambda_c^(-k))^(1/k), M_e constant
        k, fe = 5.0, np.asarray(p["f_e"])
        np.testing.assert_allclose(np.asarray(lev["M_e"]), (s - 1) * 0.4 / (s * k * fe), rtol=1e-12)
        for name in ("walras_residual", "trade_balance_W", "revenue_identity"):
            assert np.max(np.abs(np.asarray(lev[name]))) < 1e-12


def test_regime_table_across_tau_I(regime_results):
    """Spec 9.2 second table: levels at tau_I = 1.2 (E), 1.8 (C), 1.95 (B), 2.1 (D) at the defaults."""
    rows = {"E": (1.2, 1.634525, 1.473425, 2.165483, 0.352876, 0.112002, 1.0),
            "C": (1.8, 1.342072, 1.342072, 2.297339, 0.326119, 0.085533, 0.387039),
            "B": (1.95, 1.322838, 1.322838, 2.381108, 0.324241, 0.070321, 0.097029),
            "D": (2.1, 1.322068, 1.322068, 2.379723, 0.324166, 0.069882, 0.0)}
    for letter, (tau_I, phi_0, surv, ex, W, X, s_off) in rows.items():
        cls = em.SUBMODELS[em.REGIMES[letter]["submodel"]]
        m = cls(tau_I=tau_I)
        u = {**m.guess()}  # the Pareto closed-form start is the equilibrium (spec 7.3)
        out = m.outputs(u)
        assert max(abs(float(v)) for v in m.residuals(u).values()) < 1e-12, letter
        for name, ref in [("phi_0", phi_0), ("survival_cutoff", surv), ("export_cutoff", ex), ("W", W),
                          ("X_exp", X), ("s_off", s_off)]:
            got = float(u[name]) if name in u else float(out[name])
            assert got == pytest.approx(ref, rel=2e-6, abs=1e-6), (letter, name)


@pytest.mark.slow
@pytest.mark.parametrize("letter", list("BCDE"))
def test_ift_matches_closed_form(letter, regime_results):
    """Solved equilibria and IFT elasticities of SM-B..SM-E equal the Pareto closed forms."""
    p, lev, jac, _ = regime_results[letter]
    cls = em.SUBMODELS[em.REGIMES[letter]["submodel"]]
    lev2, jac2, status = box_statics(cls, p)
    assert np.all(status == 0)
    for k in OUT:
        np.testing.assert_allclose(lev2[k], lev[k], rtol=1e-9, atol=1e-13, err_msg=k)
        for s in SHOCKS:
            np.testing.assert_allclose(jac2[k][s], jac[k][s], rtol=1e-7, atol=1e-11, err_msg=f"{k}/{s}")


# -- 4. SM-F: the workbench fully specialized ----------------------------------------------------------------
@pytest.mark.slow
def test_workbench_specialized():
    p = draw("A", 12, 11, L_w=(4.6, 5.0), tau_I=(1.5, 1.6), alpha=(0.55, 0.65), sigma=(2.8, 3.2))
    lev, jac, status = box_statics(em.SUBMODELS["SM-F"], p)
    ok = np.asarray(status) == 0
    assert ok.sum() >= 6  # the endogenous q may leave regime A (status 3)
    el = lambda name: (np.asarray(jac[name]["tau_I"]) / np.asarray(lev[name]))[ok]  # noqa: E731
    a, s_off = np.asarray(p["alpha"])[ok], np.asarray(lev["s_off"])[ok]
    dq = el("q")
    assert np.all((dq > 0) & (dq < 1))  # 5.9: d ln q/d ln tau_I in (0, 1)
    np.testing.assert_allclose(dq - el("s_off"), 1.0, atol=1e-10)  # p_w proportional to s_off (F12)
    np.testing.assert_allclose(el("phi_0"), -a * s_off * dq, atol=1e-10)  # P1, dampened
    assert np.all(el("W_w") < 0) and np.all(el("W") < 0) and np.all(el("export_cutoff") > 0)
    np.testing.assert_allclose(np.asarray(lev["L_Iw"])[ok], np.asarray(p["L_w"])[ok], rtol=1e-14)
    assert np.max(np.abs(np.asarray(lev["walras_residual"])[ok])) < 1e-12
    # the interior model at the same point needs more W labor than there is
    pi = {k: float(v[0]) for k, v in p.items()}
    lab = em.SUBMODELS["SM-A"](**pi).outputs(em.SUBMODELS["SM-A"](**pi).guess())["L_Iw"]
    assert float(lab) > pi["L_w"]


# -- 5. margins ------------------------------------------------------------------------------------------------
def test_margins_derivative_defaults():
    """O22 at the defaults (spec 9.4): intensive -0.39874 + extensive -0.59811 + entry 0 = -0.99685."""
    m = em.SUBMODELS["SM-A"]()
    df = em.margins(m, "tau_I")
    e = df["elasticity"]
    assert e["intensive"] == pytest.approx(-0.39874, abs=2e-5)
    assert e["extensive"] == pytest.approx(-0.59811, abs=2e-5)
    assert e["entry"] == pytest.approx(0.0, abs=1e-12)
    assert e["switching"] == 0.0 and e["distribution"] == 0.0
    assert e["total"] == pytest.approx(-0.99685, abs=2e-5)
    comps = ["entry", "intensive", "extensive", "switching", "distribution"]
    assert df["derivative"][comps].sum() == pytest.approx(df["derivative"]["total"], rel=1e-12)
    # other shocks reuse the same compiled derivative; totals against the 9.4 X_exp column
    for shock, ref in [("tau", -3.67586), ("f_ex", -1.10276), ("n", 0.73517), ("f_I", 0.14197)]:
        d = em.margins(m, shock)
        assert d["elasticity"]["total"] == pytest.approx(ref, abs=2e-5), shock
        assert d["derivative"][comps].sum() == pytest.approx(d["derivative"]["total"], rel=1e-10)
    # Pareto: exports per exporter are constant, so the count decomposition is all extensive (O21)
    c = em.margins(m, "tau_I", by="count")
    assert c["elasticity"]["exports_per_exporter"] == pytest.approx(0.0, abs=1e-12)
    assert c["elasticity"]["number_of_exporters"] == pytest.approx(-0.99685, abs=2e-5)


def test_margins_finite_change_matches_two_solves():
    m = em.SUBMODELS["SM-A"]()
    df = em.margins(m, "tau_I", change=-0.12, nodes=8)  # 1.6 -> 1.48, inside regime A
    comps = ["entry", "intensive", "extensive", "switching", "distribution"]
    assert df["change"][comps].sum() == pytest.approx(df["change"]["total"], rel=1e-12)
    assert df["change"]["total"] == pytest.approx(df["change"]["two_solves"], rel=1e-9)
    assert df["log_change"]["total"] == pytest.approx(df["log_change"]["two_solves"], rel=1e-9)
    # paper eq. 22-23 for finite changes: r_F'/r_F = (phi_ex'/phi_ex)^(1-sigma); Pareto: X ~ phi_ex^(-k)
    s0 = jo.solve(m)
    s1 = jo.solve(m.replace(tau_I=1.48))
    dln_ex = np.log(float(s1["phi_ex"]) / float(s0["phi_ex"]))
    assert dln_ex == pytest.approx(0.6 * np.log(1.48 / 1.6) + np.log(float(s1["phi_0"]) / float(s0["phi_0"])),
                                   rel=1e-10)
    assert df["log_change"]["intensive"] == pytest.approx(-2.0 * dln_ex, rel=1e-9)
    assert df["log_change"]["extensive"] == pytest.approx(-3.0 * dln_ex, rel=1e-9)
    assert df["change"]["total"] > 0  # export magnification: lower tau_I, more final-goods exports
    with pytest.raises(ValueError, match="regime"):
        em.margins(m, "tau_I", change=0.3, nodes=2)  # 1.6 -> 1.9 crosses into regime C


# -- 6. other distributions ------------------------------------------------------------------------------------
class ParetoByQuadrature(em.Baseline):
    """SM-A with the Pareto density integrated numerically (the 'any density' path)."""

    def productivity(self):
        from jaxoff.blocks.distributions import Density, pareto_pdf

        return Density(pareto_pdf, (self.pareto_k, self.pareto_b), lower=self.pareto_b, scale=self.pareto_b,
                       n=64)


def test_density_by_quadrature_matches_pareto_closed_form(defaults):
    sol = jo.solve(ParetoByQuadrature())  # starts from the closed form; residuals by quadrature
    for k in ("phi_0", "phi_off", "phi_ex", "M_e", "P_X", "s_off", "X_exp", "T_I", "W", "L_Iw"):
        assert float(sol[k]) == pytest.approx(float(defaults[k]), rel=1e-8), k


def test_lognormal_levels():
    """Spec 9.5 levels (lognormal mu = 0, s = 0.5)."""
    sol = jo.solve(em.SUBMODELS["SM-A"](distribution="lognormal"))
    ref = dict(phi_0=1.705231, phi_off=2.176025, phi_ex=2.684785, M_e=0.284067, M=0.040592, P_X=2.409011,
               s_off=0.778112, X_exp=0.128441, T_I=0.124498, W=0.358905, nu_ex=0.168813, nu_O=0.419699)
    for k, v in ref.items():  # the spec prints 6 decimals
        assert float(sol[k]) == pytest.approx(v, rel=2e-6, abs=6e-7), k
    assert abs(float(sol["revenue_identity"])) < 1e-12 and abs(float(sol["walras_residual"])) < 1e-12


@pytest.mark.slow
def test_lognormal_reference():
    """Spec 9.5 levels and tau_I elasticities; identities P1 and O22 under a general g."""
    p = {k: np.asarray([v]) for k, v in em.SUBMODELS["SM-A"].defaults().items() if k in VARY}
    lev, jac, status = box_statics(em.SUBMODELS["SM-A"], p, distribution="lognormal")
    assert int(status[0]) == 0
    ref = dict(phi_0=1.705231, offshoring_cutoff=2.176025, export_cutoff=2.684785, M_e=0.284067, M=0.040592,
               P_X=2.409011, s_off=0.778112, X_exp=0.128441, T_I=0.124498, W=0.358905, nu_ex=0.168813)
    for k, v in ref.items():
        assert float(lev[k][0]) == pytest.approx(v, rel=2e-6, abs=6e-7), k
    eref = dict(phi_0=-0.4669, offshoring_cutoff=2.0872, export_cutoff=0.1331, M_e=0.2093, M=1.684,
                s_off=-3.1193, X_exp=-0.4578, T_I=-3.1193, W=-0.1867, M_ex=-0.4168)
    for k, v in eref.items():
        assert float(elasticities(lev, jac, k)["tau_I"][0]) == pytest.approx(v, abs=1e-3), k
    assert float(elasticities(lev, jac, "phi_0")["tau_I"][0]) == pytest.approx(-0.6 * float(lev["s_off"][0]),
                                                                                abs=1e-12)


@pytest.mark.slow
def test_lognormal_margins_and_quadrature_model():
    """O22 with entry (M_e moves under a lognormal g); lognormal by quadrature = closed form to 1e-8."""
    m = em.SUBMODELS["SM-A"](distribution="lognormal")
    sol = jo.solve(m)
    df = em.margins(m, "tau_I")["elasticity"]
    e_ex = 0.6 * (1 - float(sol["s_off"]))  # P3 for general g
    phi_ex = float(sol["phi_ex"])
    g = stats.lognorm(0.5)
    K = g.expect(lambda z: (z / phi_ex) ** 2, lb=phi_ex)
    assert df["intensive"] == pytest.approx(-2.0 * e_ex, rel=1e-8)
    assert df["extensive"] == pytest.approx(-phi_ex * g.pdf(phi_ex) / K * e_ex, rel=1e-6)
    assert df["entry"] == pytest.approx(0.2093, abs=1e-3)
    assert df[["entry", "intensive", "extensive"]].sum() == pytest.approx(df["total"], rel=1e-12)
    quad = jo.solve(em.SUBMODELS["SM-A"](distribution="lognormal_quadrature"))
    for k in ("phi_0", "phi_off", "phi_ex", "M_e", "P_X", "s_off", "X_exp", "W"):
        assert float(quad[k]) == pytest.approx(float(sol[k]), rel=1e-8), k


# -- 7. A.3 violated (paper Sec. 4.2): SM-G..SM-L ------------------------------------------------------------
# Oracles: the upper envelope of the four strategies' profit lines computed by a generic convex-hull
# algorithm (no regime formulas), an equilibrium solved here with scipy (brentq on the free-entry
# condition with expected profits integrated by quad over max-over-strategies profits), central finite
# differences of two solves, and continuity across regime boundaries.
from scipy import integrate, optimize  # noqa: E402

NEW = "GHIJKL"
STRAT = ("D", "DO", "DX", "DXO")


def _lines(p):
    """Profit lines of spec 5.3 in units of w: (name, slope, intercept) in x = (phi/phi_0)^(sigma-1)."""
    s1 = p["sigma"] - 1.0
    q = p["tau_I"] * (p["A_Yw"] / p["A_Iw"]) * (p["A_I"] / p["A_Y"])
    Q, t = q ** (-p["alpha"] * s1), p["n"] * p["tau"] ** (-s1)
    fp, fI, nfex = p["f_p"], p["f_I"], p["n"] * p["f_ex"]
    return [("D", fp, -fp), ("DO", fp * Q, -fp - fI), ("DX", fp * (1 + t), -fp - nfex),
            ("DXO", fp * (1 + t) * Q, -fp - fI - nfex)]


def envelope(p):
    """Strategies on the upper envelope of max(0, D, DO, DX, DXO) for x > 0, by increasing x (generic
    convex-hull algorithm over lines sorted by slope)."""
    lines = sorted([("exit", 0.0, 0.0)] + _lines(p), key=lambda l: (l[1], l[2]))
    hull = []
    for ln in lines:
        if hull and hull[-1][1] == ln[1]:
            hull.pop()  # same slope: the later one has the higher intercept
        while len(hull) >= 2:
            (_, m1, c1), (_, m2, c2) = hull[-2], hull[-1]
            if (c1 - ln[2]) / (ln[1] - m1) <= (c1 - c2) / (m2 - m1):  # ln overtakes hull[-2] before hull[-1] does
                hull.pop()
            else:
                break
        hull.append(ln)
    names = [h[0] for h in hull]
    return tuple(names[names.index("exit") + 1:])


def _full(cls, **kw):
    p = {k: v for k, v in cls.defaults().items() if k in cls.parameter_names()}
    p.update(kw)
    return {k: float(v) for k, v in p.items()}


def draw_any(n_points, seed):
    """A wide random box over which A.3 holds or fails (about half each)."""
    rng = np.random.default_rng(seed)
    box = {"alpha": (0.3, 0.8), "sigma": (2.0, 4.0), "n": (1.0, 6.0), "tau": (1.05, 2.5), "tau_I": (1.0, 2.5),
           "f_p": (0.5, 1.5), "f_I": (0.1, 3.0), "f_ex": (0.1, 2.0)}
    p = {k: rng.uniform(*b, size=n_points) for k, b in box.items()}
    return {**{k: np.full(n_points, v) for k, v in em.SUBMODELS["SM-A"].defaults().items()
               if k in em.SUBMODELS["SM-A"].parameter_names() and k not in box}, **p}


def test_a3_regime_partition_matches_profit_envelope():
    """(d) Every point gets the regime whose strategy list is the profit envelope; the new regimes are
    chosen iff A.3 fails, the old ones (unchanged) iff it holds."""
    p = draw_any(3000, 20)
    idx = np.asarray(em.regime_index({k: jnp.asarray(v) for k, v in p.items()}))
    a3 = p["f_ex"] * p["tau"] ** (p["sigma"] - 1) > p["f_p"] + p["f_I"]
    letters = [em.REGIME_LETTERS[i] for i in idx]
    assert 0.3 < a3.mean() < 0.7 and set(letters) == set("ABCDE" + NEW)
    for i, letter in enumerate(letters):
        pi = {k: float(v[i]) for k, v in p.items()}
        assert envelope(pi) == em.REGIMES[letter]["strategies"], (letter, pi)
        assert (letter in NEW) == (not a3[i]), (letter, pi)
    for i in range(0, 3000, 100):  # submodel_for / build agree (eager, one point at a time)
        cls = em.submodel_for(**{k: float(v[i]) for k, v in p.items()})
        assert cls.spec_id == em.REGIMES[letters[i]]["submodel"]
    # paper Sec. 4.2: with A.3 violated offshore-only (DO) is never chosen and every offshorer exports
    assert not any("DO" in em.REGIMES[x]["strategies"] for x in NEW)
    for letter in NEW:  # each new sub-model's defaults lie in its own regime
        m = em.SUBMODELS[em.REGIMES[letter]["submodel"]]()
        assert em.REGIME_LETTERS[int(regime_index_of(m))] == letter
        assert em.firm_ordering(m).matches_model
    with pytest.raises(jo.ParameterError, match="A.3 violated"):
        em.SUBMODELS["SM-G"](f_I=0.5)  # A.3 holds: SM-G refuses, the hint names the A.3 sub-model
    with pytest.raises(jo.ParameterError, match="SM-J"):
        em.SUBMODELS["SM-G"](tau_I=1.5)


def regime_index_of(m):
    return em.regime_index(m)


def _box(letter, n_points, seed):
    rng = np.random.default_rng(seed)
    box = {"alpha": (0.4, 0.8), "sigma": (2.5, 3.8), "f_e": (0.15, 0.3), "tau_I": (1.0, 2.4), "f_I": (1.0, 4.0),
           "tau": (1.3, 2.0), "f_ex": (0.15, 1.5), "n": (2.0, 6.0)}
    names = tuple(box)
    out = {k: [] for k in names}
    while len(out["tau_I"]) < n_points:
        p = {k: rng.uniform(*box[k], size=500) for k in names}
        keep = np.asarray(em.regime_index(p)) == em.REGIME_LETTERS.index(letter)
        for k in names:
            out[k].extend(p[k][keep].tolist())
    return {k: jnp.asarray(v[:n_points]) for k, v in out.items()}


A3_OUT = ("phi_0", "survival_cutoff", "export_cutoff", "offshoring_cutoff", "s_off", "W", "X_exp", "M_e",
          "walras_residual", "revenue_identity")


@pytest.fixture(scope="module")
def a3_boxes():
    """Per new regime: random in-regime points (first the class defaults), the Pareto closed form there
    (the start value of every sub-model; exact iff its residuals vanish), its regime() flags, and
    d/d tau_I, d/d f_I of the outputs by autodiff."""
    res = {}
    for j, letter in enumerate(NEW):
        cls = em.SUBMODELS[em.REGIMES[letter]["submodel"]]
        p = _box(letter, 12, 30 + j)
        d = cls.defaults()
        p = {k: jnp.concatenate([jnp.asarray([d[k]]), v]) for k, v in p.items()}

        def one(pt, cls=cls):
            def values(shock):
                m = cls(**{**pt, **shock})
                u = m.guess()
                out = {**u, **m.outputs(u)}
                res_ = jnp.stack([jnp.abs(v) for v in m.residuals(u).values()]).max()
                ok = jnp.stack([jnp.asarray(v) for v in m.regime(u).values()]).all()
                return {k: out[k] for k in A3_OUT}, ({k: out[k] for k in A3_OUT + cls.thresholds}, res_, ok)

            return jax.jacfwd(values, has_aux=True)({"tau_I": pt["tau_I"], "f_I": pt["f_I"]})

        jac, (lev, resid, ok) = jax.jit(jax.vmap(one))(p)
        res[letter] = (p, jax.tree_util.tree_map(np.asarray, lev), jax.tree_util.tree_map(np.asarray, jac),
                       np.asarray(resid), np.asarray(ok))
    return res


def test_a3_cutoff_ordering_over_box(a3_boxes):
    """(a) domestic < exporter < exporter-and-offshorer (SM-G, the paper's Sec. 4.2 case) at the defaults
    and over a random box; each new regime's cutoffs in its own order; the closed form solves each."""
    for letter in NEW:
        p, lev, jac, resid, ok = a3_boxes[letter]
        assert resid.max() < 1e-10 and ok.all(), letter
        th = em.SUBMODELS[em.REGIMES[letter]["submodel"]].thresholds
        for lo, hi in zip(th[:-1], th[1:]):
            assert np.all(lev[lo] < lev[hi]), (letter, lo, hi)
        assert np.max(np.abs(lev["walras_residual"])) < 1e-12 and np.max(np.abs(lev["revenue_identity"])) < 1e-12
    lev = a3_boxes["G"][1]
    assert np.all((lev["phi_0"] < lev["export_cutoff"]) & (lev["export_cutoff"] < lev["offshoring_cutoff"]))
    for letter in "HIL":  # every survivor exports: the export cutoff is the survival cutoff, below phi_0
        lev = a3_boxes[letter][1]
        assert np.all(lev["export_cutoff"] == lev["survival_cutoff"]) and np.all(lev["phi_s"] < lev["phi_0"])
    for letter, s_off in (("I", 1.0), ("K", 0.0), ("L", 0.0)):
        np.testing.assert_allclose(a3_boxes[letter][1]["s_off"], s_off, atol=1e-14)


def test_a3_sign_of_export_cutoff_in_tau_I(a3_boxes):
    """(b) The paper (Sec. 4.2): with A.3 violated "a lower tau_I (and, similarly, a lower f_I) is now
    associated with an increase in the export cut-off", i.e. d phi_ex/d tau_I < 0 and d phi_ex/d f_I < 0.
    It holds where the marginal exporter sources at home (SM-G, SM-H), with d ln phi_ex/d ln tau_I =
    -alpha s_off; in the joint regime SM-J the sign is the baseline's (> 0); zero in SM-I, SM-K, SM-L."""
    for letter in NEW:
        p, lev, jac, _, _ = a3_boxes[letter]
        a, s_off, ex = np.asarray(p["alpha"]), lev["s_off"], lev["export_cutoff"]
        e_tau = jac["export_cutoff"]["tau_I"] * np.asarray(p["tau_I"]) / ex
        np.testing.assert_allclose(jac["phi_0"]["tau_I"] * np.asarray(p["tau_I"]) / lev["phi_0"], -a * s_off,
                                   atol=1e-10)  # P1 in every regime
        if letter in "GH":
            np.testing.assert_allclose(e_tau, -a * s_off, atol=1e-10)
            assert np.all(e_tau < 0) and np.all(jac["export_cutoff"]["f_I"] < 0), letter
        elif letter == "J":
            assert np.all(e_tau > 0)
        else:
            np.testing.assert_allclose(e_tau, 0.0, atol=1e-12)
        if letter == "G":  # export magnification in values survives (Sec. 4.2): X_exp falls in tau_I
            assert np.all(jac["X_exp"]["tau_I"] < 0)
        if letter in "HIL":  # every survivor exports a share t/(1+t) of R_X = beta w L: X_exp is fixed
            np.testing.assert_allclose(jac["X_exp"]["tau_I"], 0.0, atol=1e-14)
        assert np.all(jac["W"]["tau_I"] <= 1e-15), letter


@pytest.fixture(scope="module")
def sm_g_lognormal():
    m = em.SUBMODELS["SM-G"](distribution="lognormal")
    return m, jo.solve(m)


def test_a3_derivative_against_finite_differences(sm_g_lognormal):
    """(b) jo.derivative of the export cutoff in SM-G against central differences of two solves (a
    lognormal g, so Newton really iterates: the start is not the equilibrium)."""
    m, sol = sm_g_lognormal
    assert sol.status_name == "converged"
    d = float(jo.derivative(m, "phi_ex", "tau_I", sol=sol))
    h = 1e-4
    up, dn = jo.solve(m.replace(tau_I=1.6 + h), guess=sol), jo.solve(m.replace(tau_I=1.6 - h), guess=sol)
    fd = (float(up["phi_ex"]) - float(dn["phi_ex"])) / (2 * h)
    assert d < 0 and d == pytest.approx(fd, rel=1e-6)
    assert d * 1.6 / float(sol["phi_ex"]) == pytest.approx(-0.6 * float(sol["s_off"]), abs=1e-10)


def scipy_equilibrium(p, dist):
    """The equilibrium solved from the paper's equations with scipy, without the model code.

    Firm profit (paper eq. 9, 10, 13 and the export-only strategy): pi(phi) = max over strategies of
    f_p w m_s (phi/phi_0)^(sigma-1) - w F_s, or 0 (spec 5.3). Free entry (paper 18-19): E[pi] = w f_e,
    solved for phi_0 by brentq with E[pi] integrated by quad piecewise between the strategy switches
    (located by brentq on profit differences). Zero cutoff profit (11) gives P_X; the revenue identity
    R_X = beta w L gives M_e.
    """
    s1 = p["sigma"] - 1.0
    pdf = dist.pdf
    lines = {name: (m, -c) for name, m, c in _lines(p)}  # profit/w = m x - F
    xs = np.geomspace(1e-4, 1e4, 20001)
    best = np.argmax(np.stack([np.zeros_like(xs)] + [lines[s][0] * xs - lines[s][1] for s in STRAT]), 0)
    seq, cuts = [], []
    for i in np.nonzero(np.diff(best))[0]:
        a, b = ([None] + list(STRAT))[best[i]], STRAT[best[i + 1] - 1]
        fa = (lambda x: 0.0) if a is None else (lambda x, a=a: lines[a][0] * x - lines[a][1])
        cuts.append(optimize.brentq(lambda x: lines[b][0] * x - lines[b][1] - fa(x), xs[i], xs[i + 1],
                                    xtol=1e-15, rtol=1e-15))
        seq.append(b)
    ratios = np.asarray(cuts) ** (1 / s1)  # threshold / phi_0

    def expected_profit(phi_0):
        edges = list(phi_0 * ratios) + [np.inf]
        total = 0.0
        for s, lo, hi in zip(seq, edges[:-1], edges[1:]):
            m, F = lines[s]
            f = lambda z: (m * (z / phi_0) ** s1 - F) * pdf(z)  # noqa: E731
            total += integrate.quad(f, max(lo, dist.support[0]), hi, epsabs=0, epsrel=1e-13, limit=200)[0]
        return total

    phi_0 = optimize.brentq(lambda z: expected_profit(z) - p["f_e"], 0.2, 20.0, xtol=1e-15, rtol=1e-15)
    rho, w, p_d = s1 / p["sigma"], p["A_Y"], p["A_Y"] / p["A_I"]
    P_X = w ** (1 - p["alpha"]) * p_d ** p["alpha"] / (rho * phi_0) * (p["sigma"] * p["f_p"] / (p["beta"] * p["L"])) ** (1 / s1)
    edges = list(phi_0 * ratios) + [np.inf]
    rev = sum(integrate.quad(lambda z, m=lines[s][0]: p["sigma"] * w * m * (z / phi_0) ** s1 * pdf(z), lo, hi,
                             epsabs=0, epsrel=1e-13, limit=200)[0] for s, lo, hi in zip(seq, edges[:-1], edges[1:]))
    return {"seq": tuple(seq), "phi_0": phi_0, "cutoffs": phi_0 * ratios, "P_X": P_X,
            "M_e": p["beta"] * w * p["L"] / rev}


@pytest.mark.parametrize("sub,params,dist", [
    ("SM-G", {}, "lognormal"),
    ("SM-H", {"tau": 1.6, "n": 3.0, "f_ex": 0.3}, "pareto"),
    # its own compilation (~16 s); the Pareto oracle runs by default on SM-H
    pytest.param("SM-J", {"alpha": 0.7, "sigma": 2.6, "f_I": 3.0, "tau_I": 1.4}, "pareto", marks=pytest.mark.slow),
])
def test_a3_against_independent_scipy_oracle(sub, params, dist, sm_g_lognormal):
    """(c) Cutoffs, P_X and M_e agree with the scipy solution of the paper's equations to 1e-8."""
    cls = em.SUBMODELS[sub]
    p = _full(cls, **params)
    if dist == "lognormal":
        m, sol = sm_g_lognormal
        g = stats.lognorm(p["ln_s"], scale=np.exp(p["ln_mu"]))
        g.support = (0.0, np.inf)
    else:
        m = cls(**params)
        sol = jo.solve(m)
        k, b = p["pareto_k"], p["pareto_b"]
        g = stats.pareto(k, scale=b)
        g.support = (b, np.inf)
    assert sol.status_name == "converged"
    ref = scipy_equilibrium(p, g)
    assert ref["seq"] == cls.strategies
    assert float(sol["phi_0"]) == pytest.approx(ref["phi_0"], rel=1e-8)
    for name, val in zip(cls.thresholds, ref["cutoffs"]):
        assert float(sol[name]) == pytest.approx(val, rel=1e-8), name
    assert float(sol["P_X"]) == pytest.approx(ref["P_X"], rel=1e-8)
    assert float(sol["M_e"]) == pytest.approx(ref["M_e"], rel=1e-8)
    # every firm's strategy in the solved equilibrium maximizes the four profits (spec 5.3)
    phi = np.linspace(0.5, 4.0, 300) * ref["phi_0"]
    fo = em.firm_outcomes(sol, phi)
    lines = _lines(p)
    x = (phi / ref["phi_0"]) ** (p["sigma"] - 1)
    best = np.stack([np.zeros_like(x)] + [m_ * x + c for _, m_, c in lines]).argmax(0)
    assert np.array_equal(np.asarray(fo["active"]), best > 0)
    assert np.array_equal(np.asarray(fo["offshores"]), np.isin(best, [2, 4]))
    assert np.array_equal(np.asarray(fo["exports"]), np.isin(best, [3, 4]))


def _closed(letter, **kw):
    """Levels of the Pareto closed form (exact equilibrium; checked by its residuals) of a regime."""
    cls = em.SUBMODELS[em.REGIMES[letter]["submodel"]]
    m = cls.__new__(cls)  # unvalidated: boundary points sit a hair from the domain edge
    for name, v in {**em.SUBMODELS["SM-A"].defaults(), **kw}.items():  # the same base point on both sides
        object.__setattr__(m, name, jnp.asarray(v) if name in cls.parameter_names() else v)
    u = m.guess()
    # (log residuals; at q -> 1 the tiny L_Iw ~ 1e-12 carries only a few correct digits)
    assert max(abs(float(v)) for v in m.residuals(u).values()) < 1e-8
    return {**u, **m.outputs(u)}


def test_a3_continuity_across_boundaries():
    """(e) The paper: the basic mechanism "remains intact if assumption A.3 is violated". The equilibrium
    is continuous across the A.3 edge (B|G, C|J, E|I, D|K) and across the new regimes' own boundaries
    (thresholds merge or run off to infinity there); each side solved by its own sub-model."""
    eps = 1e-9
    common = ("phi_0", "survival_cutoff", "export_cutoff", "W", "X_exp", "s_off", "M", "T_I")
    d = {k: float(v) for k, v in em.SUBMODELS["SM-A"].defaults().items() if k in em._Economy.parameter_names()}
    s1, e = d["sigma"] - 1, d["alpha"] * (d["sigma"] - 1)
    t = d["n"] * d["tau"] ** -s1
    fI3 = d["f_ex"] * d["tau"] ** s1 - d["f_p"]  # A.3 edge in f_I
    tau_of = lambda phat: (1 - phat) ** (1 / e) * d["A_Iw"] / d["A_Yw"]  # noqa: E731 - tau_I at this phat
    cases = []
    for tau_I, A_Iw, left, right in ((1.95, 0.2, "B", "G"), (1.4, 0.2, "C", "J"), (1.5, 0.5, "E", "I"),
                                     (2.1, 0.2, "D", "K")):
        cases.append(({"tau_I": tau_I, "A_Iw": A_Iw, "f_I": fI3 - eps}, {"tau_I": tau_I, "A_Iw": A_Iw, "f_I": fI3 + eps},
                      left, right))
    fI = 2.5
    b_edge = fI / (fI + d["f_ex"] * (d["tau"] ** s1 + d["n"]))
    j_edge = 1 - d["f_p"] * (1 + t) / (d["f_p"] + fI + d["n"] * d["f_ex"])
    cases += [({"f_I": fI, "tau_I": tau_of(b_edge) + eps}, {"f_I": fI, "tau_I": tau_of(b_edge) - eps}, "G", "J"),
              ({"f_I": fI, "tau_I": tau_of(j_edge) + eps}, {"f_I": fI, "tau_I": tau_of(j_edge) - eps}, "J", "I")]
    fex = 0.25
    h_edge = d["f_I"] / (d["f_I"] + d["f_p"] + d["n"] * fex)
    a1 = d["f_p"] / d["tau"] ** s1  # f_ex at which every survivor starts to export
    cases += [({"f_ex": fex, "tau_I": tau_of(h_edge) + eps}, {"f_ex": fex, "tau_I": tau_of(h_edge) - eps}, "H", "I"),
              ({"f_ex": fex, "tau_I": 2.0 + eps}, {"f_ex": fex, "tau_I": 2.0 - eps}, "L", "H"),
              ({"f_I": fI, "tau_I": 2.0 + eps}, {"f_I": fI, "tau_I": 2.0 - eps}, "K", "G"),
              ({"tau_I": 2.1, "f_ex": a1 + eps}, {"tau_I": 2.1, "f_ex": a1 - eps}, "K", "L"),
              ({"tau_I": 1.7, "f_ex": a1 + eps, "f_I": 1.0}, {"tau_I": 1.7, "f_ex": a1 - eps, "f_I": 1.0}, "G", "H")]
    for pl, pr, left, right in cases:
        assert em.REGIME_LETTERS[int(em.regime_index(pl))] == left, (left, pl)
        assert em.REGIME_LETTERS[int(em.regime_index(pr))] == right, (right, pr)
        ol, orr = _closed(left, **pl), _closed(right, **pr)
        for k in common:
            assert float(orr[k]) == pytest.approx(float(ol[k]), rel=1e-6, abs=1e-9), (left, right, k)
        if left in "KL" and right in "GH":  # q -> 1 from below: the offshoring cutoff runs off to infinity
            assert float(orr["offshoring_cutoff"]) > 1e3
