"""jo.calibrate / calibrate_many on Trading Tasks M1 and M2.

Oracles: the M1 closed form with Cobb-Douglas technology and h = 2 (spec O2: W = p^2, s = p^(-4/3) at
alpha = (0.4, 0.7), A = 1; R = W/(beta w*), I = (R-1)/(R+1), Omega = 4R/(1+R)^2, w = W/Omega, E = I,
g = E/(1+E)), written here in numpy independently of the solver; spec O3 (beta and w_star enter only
through beta*w_star, so they are not separately identified); finite differences; re-calibration with
perturbed targets.
"""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxoff as jo
from jaxoff.calibrate import (
    CalibrationWarning,
    IdentificationWarning,
    Target,
    calibrate,
    calibrate_many,
    make_objective,
)
from jaxoff.models.trading_tasks import SUBMODELS

M1, M2 = SUBMODELS["M1"], SUBMODELS["M2"]
SK = {"fallback": False}  # one inner-solver structure for every test (compile once)
FREE = {"beta": "log", "p": "log"}
TRUE = {"beta": 1.7, "p": 0.9}


def closed_form_m1(beta, p, w_star=0.25):
    """M1 at the spec defaults (Cobb-Douglas, h = 2), spec O2: (skill premium s/w, g)."""
    W, s = p ** 2.0, p ** (-4.0 / 3.0)
    R = W / (beta * w_star)
    I = (R - 1) / (R + 1)
    Omega = 4 * R / (1 + R) ** 2
    w = W / Omega
    return s / w, I / (1 + I)


def targets_at(beta, p):
    sp, g = closed_form_m1(beta, p)
    return {"skill_premium": sp, "g": g}


@pytest.fixture(scope="module")
def lm_fit():
    tg = targets_at(**TRUE)
    res = calibrate(M1(), tg, FREE, moment_se={"skill_premium": 0.01, "g": 0.005}, solve_kwargs=SK)
    return tg, res


def test_recovers_known_parameters_lm(lm_fit):
    tg, res = lm_fit
    assert res.converged and res.status == "converged"
    assert res.params["beta"] == pytest.approx(TRUE["beta"], rel=1e-7)
    assert res.params["p"] == pytest.approx(TRUE["p"], rel=1e-7)
    for k in tg:
        assert res.moments[k] == pytest.approx(tg[k], rel=1e-8)
    assert res.identified and res.condition_number < 1e3
    df = res.as_frame()
    assert set(df["name"]) == {"beta", "p", "skill_premium", "g"}
    assert float(res.model.beta) == pytest.approx(TRUE["beta"], rel=1e-7)


def test_moment_jacobian_matches_closed_form(lm_fit):
    _, res = lm_fit
    h = 1e-6
    for k in ["beta", "p"]:
        up = dict(TRUE, **{k: TRUE[k] + h})
        dn = dict(TRUE, **{k: TRUE[k] - h})
        fd = (np.array(closed_form_m1(**up)) - np.array(closed_form_m1(**dn))) / (2 * h)
        np.testing.assert_allclose(res.jacobian[k].to_numpy(), fd, rtol=1e-6)


def test_standard_errors_are_the_delta_method(lm_fit):
    _, res = lm_fit
    G = res.jacobian.to_numpy()
    S = np.diag([0.01 ** 2, 0.005 ** 2])
    Ginv = np.linalg.inv(G)  # exactly identified: V = G^-1 S G^-T whatever the weights
    se = np.sqrt(np.diag(Ginv @ S @ Ginv.T))
    np.testing.assert_allclose([res.se["beta"], res.se["p"]], se, rtol=1e-8)


def test_gradient_of_objective_matches_finite_differences():
    tg = {"skill_premium": 1.3, "g": Target(0.24, weight=50.0)}
    obj = make_objective(M1(), tg, ["beta", "p"], solve_kwargs=SK)
    theta = jnp.array([1.9, 0.95])
    loss = jax.jit(obj.loss)
    g_ad = np.asarray(jax.jit(jax.grad(obj.loss))(theta))  # reverse mode through the nested solve
    J_ad = np.asarray(jax.jit(jax.jacfwd(obj.residuals))(theta))  # forward mode
    h = 1e-6
    g_fd, J_fd = [], []
    for i in range(2):
        e = jnp.zeros(2).at[i].set(h)
        g_fd.append((float(loss(theta + e)) - float(loss(theta - e))) / (2 * h))
        J_fd.append((np.asarray(obj.residuals(theta + e)) - np.asarray(obj.residuals(theta - e))) / (2 * h))
    np.testing.assert_allclose(g_ad, g_fd, rtol=1e-5)
    np.testing.assert_allclose(J_ad, np.stack(J_fd, axis=1), rtol=1e-5)
    assert np.all(np.abs(g_ad) > 1e-3)  # a non-trivial gradient


def test_exact_method_recovers_and_sensitivity_matches_recalibration(lm_fit):
    tg, res_lm = lm_fit
    res = calibrate(M1(), tg, FREE, method="exact", solve_kwargs=SK)
    assert res.converged and res.method == "exact"
    assert res.params["beta"] == pytest.approx(TRUE["beta"], rel=1e-8)
    assert res.params["p"] == pytest.approx(TRUE["p"], rel=1e-8)
    # AGS sensitivity: d theta_hat / d target = -Lambda; check it by re-calibrating (exact, warm start)
    h = 1e-5
    for k in tg:
        up = calibrate(M1(), {**tg, k: tg[k] + h}, FREE, method="exact", guess=res, solve_kwargs=SK)
        dn = calibrate(M1(), {**tg, k: tg[k] - h}, FREE, method="exact", guess=res, solve_kwargs=SK)
        fd = np.array([(up.params[q] - dn.params[q]) / (2 * h) for q in ("beta", "p")])
        np.testing.assert_allclose(-res_lm.sensitivity[k].to_numpy(), fd, rtol=1e-5)


def test_beta_and_w_star_not_identified_warning():
    tg = targets_at(**TRUE)
    with pytest.warns(IdentificationWarning, match="not identified") as rec:
        res = calibrate(M1(), tg, {"beta": "log", "w_star": "log"}, solve_kwargs=SK, warn=True)
    msg = " ".join(str(r.message) for r in rec if issubclass(r.category, IdentificationWarning))
    assert "beta" in msg and "w_star" in msg
    assert not res.identified and set(res.unidentified) == {"beta", "w_star"}
    assert res.condition_number > 1e8 or not np.isfinite(res.condition_number)
    # spec O3: the two columns of d m / d ln theta coincide
    G = res.jacobian.to_numpy() * np.array([res.params["beta"], res.params["w_star"]])
    np.testing.assert_allclose(G[:, 0], G[:, 1], rtol=1e-7, atol=1e-12)


def _table(betas):
    rows = {f"C{i}": targets_at(b, 0.9) for i, b in enumerate(betas)}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_calibrate_many_checkpoint_resume(tmp_path):
    df = _table([1.5, 1.7, 2.0, 2.4])
    ckpt = tmp_path / "ckpt"
    seen = []

    def stop_after_two(uid, row):
        seen.append(uid)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        calibrate_many(M1(), df, FREE, checkpoint_dir=ckpt, progress=False, on_result=stop_after_two,
                       solve_kwargs=SK)
    assert sorted(p.name for p in ckpt.glob("C*.json")) == ["C0.json", "C1.json"]
    resumed = []
    out = calibrate_many(M1(), df, FREE, checkpoint_dir=ckpt, progress=False,
                         on_result=lambda u, r: resumed.append(u), solve_kwargs=SK)
    assert resumed == ["C2", "C3"]  # finished work is not redone
    full = calibrate_many(M1(), df, FREE, progress=False, solve_kwargs=SK)
    np.testing.assert_allclose(out.table["beta"].to_numpy(float), full.table["beta"].to_numpy(float), rtol=1e-8)
    np.testing.assert_allclose(out.table["beta"].to_numpy(float), [1.5, 1.7, 2.0, 2.4], rtol=1e-7)
    assert json.loads((ckpt / "C3.json").read_text())["converged"] is True
    with pytest.raises(ValueError, match="different calibration"):
        calibrate_many(M1(), df, {"beta": "log", "p": "logit"}, checkpoint_dir=ckpt, progress=False)


def test_calibrate_many_reports_non_converged():
    df = _table([1.7, 2.0])
    df.loc["BAD"] = {"skill_premium": 1.2, "g": 0.9}  # g <= 1/2 for h = 2 (spec O1): unreachable
    df.loc["GAP"] = {"skill_premium": 1.2, "g": np.nan}
    with pytest.warns(CalibrationWarning, match="BAD"):
        out = calibrate_many(M1(), df, FREE, progress=False, solve_kwargs=SK)
    assert list(out.table.index) == ["C0", "C1", "BAD", "GAP"]  # nothing dropped
    assert out.failed == ["BAD", "GAP"]
    assert out.table.loc["GAP", "status"] == "missing_target"
    assert out.table.loc["BAD", "status"] != "converged"
    assert bool(out.table.loc["C1", "converged"])


@pytest.mark.slow  # M2's calibration compiles on its own (~50 s); method="exact" runs by default on M1
# (test_exact_method_recovers_and_sensitivity_matches_recalibration)
def test_recovers_known_parameters_m2_exact():
    true = M2(beta=1.3, A_star=2.8)
    sol = jo.solve(true)
    tg = {"skill_premium": float(sol["skill_premium"]), "I": float(sol["I"])}
    res = calibrate(M2(), tg, {"beta": "log", "A_star": "log"}, method="exact", solve_kwargs=SK)
    assert res.converged
    assert res.params["beta"] == pytest.approx(1.3, rel=1e-7)
    assert res.params["A_star"] == pytest.approx(2.8, rel=1e-7)


@pytest.mark.slow
def test_optax_methods_multistart_and_vmap_batches():
    tg = targets_at(**TRUE)
    for method in ("adam", "lbfgs"):
        res = calibrate(M1(), tg, FREE, method=method, max_steps=3000, solve_kwargs=SK, rtol=1e-9)
        assert res.params["beta"] == pytest.approx(TRUE["beta"], rel=1e-4), method
    res = calibrate(M1(), tg, FREE, starts=4, spread=0.3, solve_kwargs=SK)
    assert len(res.starts) == 4 and res.converged
    assert res.params["beta"] == pytest.approx(TRUE["beta"], rel=1e-7)
    out = calibrate_many(M1(), _table([1.5, 1.7, 2.0]), FREE, batch_size=3, progress=False, solve_kwargs=SK)
    np.testing.assert_allclose(out.table["beta"].to_numpy(float), [1.5, 1.7, 2.0], rtol=1e-7)
