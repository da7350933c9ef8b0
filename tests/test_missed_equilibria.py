"""Equilibria the default solver used to miss (issue 20, item 1): flagged points where one exists.

Each point below was reported `nonfinite` or `not_converged` by `jo.solve`'s default chain before it
ended with a homotopy from the model's defaults, while an independent search
(`benchmarks/reliability.py`: a damped Newton from several starts, scipy's MINPACK) found an
in-regime equilibrium. The oracle is scipy's `root` (hybr), polished from the recorded root: the
default `jo.solve` must now report `converged` at that same equilibrium (unknowns to 1e-8).
(With `homotopy_steps=0`, i.e. the former chain, each of them is still flagged; the last five
were also missed by the homotopy while it took 8 equal steps (the two SM-B points sit where w moves
steeply towards the knife edge w = 1): it now halves a step that fails.)

Two further classes of former misses have their own tests below: a root found on the wrong branch
of SM-B (the fallbacks now look for one on the requested branch) and SM-D with theta near 1, where
the equilibrium output is ~1e184 and the residuals' derivatives used to overflow.
"""
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jaxoff as jo
from jaxoff import models
from jaxoff.solve import Layout, residual_vector

# (sub-model, parameters, the equilibrium found by the independent search); drawn by
# benchmarks/reliability.py's sampler (each default scaled by a log-uniform factor in [0.75, 1.33]).
FORMERLY_MISSED = [
    ("trading_tasks/M2", {"beta": 1.3152953756073384, "h_L": 1.8795114334155107, "k_slope": 2.5677210615468944, "alpha_x": 0.47176236083489265, "alpha_y": 0.5432887989450723, "sigma_x": 1.2691097937787537, "sigma_y": 1.2028813814484718, "A_x": 0.8072827804641346, "A_y": 1.1242282022169674, "L": 1.234394494530857, "gamma_Y": 0.4957657989598523, "eps_D": 0.9745417309282176, "H": 1.2456256406325374, "kappa": 0.8183930546150556, "A_star": 2.3480280004580405, "L_star": 7.7619874361593535, "H_star": 3.28281889010863},
     {"w": 0.7515332083869386, "s": 1.0061617510324237, "w_star": 0.2726182628969018, "s_star": 0.4285135231931403, "I": 0.39367534020856104, "p": 0.6964294355195882, "x": 2.2519731192978054, "y": 0.4372523767365705, "x_star": 0.6372005581827906, "y_star": 3.6042302626322655}),
    ("similar_countries/SM-B", {"beta": 1.2243249411000392, "theta": 0.8579029708695005, "t_param": 1.3149258454863726, "sigma": 2.082615937526275, "f": 1.2889891439614443, "L_E": 1.1442515510176035, "L_W": 1.1185456846873116, "H_E": 1.1442515510176035, "H_W": 1.1185456846873116},
     {"w": 1.1263156284126252, "Q": 13.394797233697352, "Q_star": 8.144697944010888}),
    ("similar_countries/SM-B", {"beta": 1.826424992835767, "theta": 0.9278521221990021, "t_param": 1.1717239531575898, "sigma": 2.554261300696091, "f": 0.9852073037748212, "L_E": 1.0096601883208618, "L_W": 0.9314762029386431, "H_E": 1.0096601883208618, "H_W": 0.9314762029386431},
     {"w": 2.1744652517385026, "Q": 23.326988722232066, "Q_star": 2.957255298968007}),
    ("similar_countries/SM-B", {"beta": 1.5225733275339475, "theta": 0.725627273165928, "t_param": 1.049377862058465, "sigma": 1.7463183223823782, "f": 0.8009350801128966, "L_E": 1.06537264885594, "L_W": 1.0612572355308028, "H_E": 1.06537264885594, "H_W": 1.0612572355308028},
     {"w": 1.0064723118169687, "Q": 1.3630902164147178, "Q_star": 1.3251988629132814}),
    ("similar_countries/SM-B", {"beta": 1.843469993600627, "theta": 0.8128840971378184, "t_param": 0.7904075800199002, "sigma": 2.5765915886400492, "f": 0.9894035187921633, "L_E": 1.3807023162148409, "L_W": 1.0433233624255993, "H_E": 1.3807023162148409, "H_W": 1.0433233624255993},
     {"w": 2.20523445953994, "Q": 15.165877397230794, "Q_star": 1.3207625088493624}),
    ("export_magnification/SM-F", {"sigma": 3.5742951534401812, "alpha": 0.5869587098115745, "beta": 0.3639465681445612, "n": 3.45549081797817, "tau": 1.4573820782336206, "tau_I": 1.3381584908299382, "f_p": 0.7814996064652823, "f_I": 0.6106793167635595, "f_ex": 1.161668260981238, "f_e": 0.1509722023933223, "A_Y": 0.9747681643454217, "A_I": 0.9093357792697561, "A_Yw": 0.07968929092643819, "A_Iw": 0.2266998837620936, "L": 1.200174037292878, "L_w": 6.467383892883555, "pareto_b": 1.1247752667242596, "pareto_k": 4.916111208837206, "ln_mu": 0.01598550392139786, "ln_s": 0.5873634552769034, "pareto_bmax": float("inf")},
     {"phi_0": 1.9919689507302478, "phi_off": 1.9927527879846925, "phi_ex": 2.7064079691036436, "M_e": 0.4238684519948683, "P_X": 1.477101047863421, "p_w": 0.5468109679648883, "L_Y": 0.9479699563643375, "L_I": 5.826984682544192e-05, "L_X": 0.18815345735900169, "L_e": 0.06399235372271345}),
    # missed by the 8-equal-step homotopy (reliability run of 2026-12-06, n = 2000)
    ("similar_countries/SM-B", {"beta": 1.633989842619216, "theta": 0.7573690290831182, "t_param": 1.1886428049316249, "sigma": 1.5216484973937856, "f": 1.1983496064741095, "L_E": 1.1078773155185198, "L_W": 1.099420468117044, "H_E": 1.1078773155185198, "H_W": 1.099420468117044},
     {"w": 1.0082329801001677, "Q": 1.579338013358278, "Q_star": 1.5283361792615964}),
    ("similar_countries/SM-B", {"beta": 1.6278144389097164, "theta": 0.7971329713184444, "t_param": 1.288940933471599, "sigma": 1.6795809352475746, "f": 0.9393933989010865, "L_E": 0.8508905181267377, "L_W": 0.8445837031105753, "H_E": 0.8508905181267377, "H_W": 0.8445837031105753},
     {"w": 1.0148254946232826, "Q": 0.4967118681524884, "Q_star": 0.4690708921904961}),
    ("export_magnification/SM-F", {"sigma": 3.309265007049084, "alpha": 0.4824646658235019, "beta": 0.3211334830357075, "n": 4.635012353418513, "tau": 1.6615397880257345, "tau_I": 1.416913948063079, "f_p": 0.9444861729829676, "f_I": 0.512857997502471, "f_ex": 1.301982835193208, "f_e": 0.17406552273664505, "A_Y": 1.208191025545054, "A_I": 0.8952749386140575, "A_Yw": 0.11811880870145558, "A_Iw": 0.1976919165386499, "L": 1.073423835536442, "L_w": 6.190894639529266, "pareto_b": 0.7898905270680591, "pareto_k": 6.096381984738132, "ln_mu": -0.20224843802952142, "ln_s": 0.3889073454444642, "pareto_bmax": float("inf")},
     {"phi_0": 1.0708041999126168, "phi_off": 1.070974904957039, "phi_ex": 1.694513275480944, "M_e": 0.22668047930364033, "P_X": 4.430817688549873, "p_w": 0.6453822493033312, "L_Y": 0.8447304324064719, "L_I": 3.62573947084037e-05, "L_X": 0.18919988961108034, "L_e": 0.0394572561241814}),
    ("skill_upgrading/A", {"sigma": 2.313585506798084, "F_L": 0.822673708429547, "F_H": 1.7379511355199155, "F_I": 1.1444906901782008, "theta_south": 0.8623590727855769, "mu": 0.9610801693919981, "a_M": 0.12263064396660846, "a_L": 0.5494497577929041, "a_H": 0.5500372499839349, "L_bar": 0.9613860001488453},
     {"Z1": 2.1614152933536595, "Z_gap": 6029.444014209151}),
    ("skill_upgrading/A", {"sigma": 2.911849607782116, "F_L": 1.009225995014285, "F_H": 1.4269632045666427, "F_I": 0.8214057087716188, "theta_south": 0.8836191903012032, "mu": 0.754343792721414, "a_M": 0.10345671258769094, "a_L": 0.47149708064939694, "a_H": 0.7129239108050032, "L_bar": 1.1198284394163178},
     {"Z1": 5.621629260148471, "Z_gap": 77.376626866981}),
]


@eqx.filter_jit
def _residuals(model, z):
    return residual_vector(model, Layout.of(model, model.guess()), z)


_jacobian = eqx.filter_jit(jax.jacfwd(_residuals, argnums=1))


def _oracle(model, root):
    """scipy's hybr on the model's residuals (logs/logits of the unknowns), from the recorded root."""
    layout = Layout.of(model, root)
    z0 = np.asarray(layout.to_internal(model, {k: jnp.asarray(v) for k, v in root.items()}))
    res = scipy.optimize.root(lambda z: np.asarray(_residuals(model, z)), z0,
                              jac=lambda z: np.asarray(_jacobian(model, z)), method="hybr", options={"xtol": 1e-14})
    assert float(np.max(np.abs(np.asarray(_residuals(model, res.x))))) < 1e-10
    return {k: float(v) for k, v in layout.to_natural(model, jnp.asarray(res.x)).items()}


@pytest.mark.parametrize("spec, params, root", FORMERLY_MISSED,
                         ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(FORMERLY_MISSED)])
def test_default_solve_finds_the_equilibrium(spec, params, root):
    model = models.get(spec)(**params)
    expected = _oracle(model, root)
    with warnings.catch_warnings():
        warnings.simplefilter("error", jo.ConvergenceWarning)
        sol = jo.solve(model)
    assert sol.status_name == "converged"
    assert all(bool(np.all(np.asarray(v))) for v in sol.regime.values())
    for k, v in expected.items():
        np.testing.assert_allclose(float(sol[k]), v, rtol=1e-8, atol=1e-8, err_msg=f"{spec}: {k}")


def test_sweep_rescues_like_solve():
    # the sweep's fallback pass is jo.solve's default chain: the same points converge there
    spec = "similar_countries/SM-B"
    pts = [p for s, p, _ in FORMERLY_MISSED if s == spec]
    base = models.get(spec)(**{k: v for k, v in pts[0].items() if k != "sigma"})
    df = jo.sweep(base, grid="zip", progress=False, sigma=np.array([pts[0]["sigma"]]))
    assert list(df["status"]) == ["converged"]


def test_boundary_point_is_out_of_regime_not_unconverged():
    # M1 at beta = 2, w* = 0.125, p = 1.5: the equations' root has x < 0 (Home not diversified):
    # reported as out of regime (a root outside the sub-model's regime), not as a solver failure
    model = models.get("trading_tasks/M1")(beta=2.0, w_star=0.125, p=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = jo.solve(model, mask=False)
    assert sol.status_name == "out_of_regime"
    assert float(sol.residual_norm) < 1e-10
    assert not bool(sol.regime["diversified"])


# SM-B on branch "+" (w > 1): the default chain used to stop at a root with w < 1 (w = 0.41 and 0.58
# here), off the requested branch, and report it out of regime, while the independent search found
# roots with w > 1 (w = 2.03 and 2.00; the model has several). Since the `on_branch` hook, a root off
# the branch sends the chain on to its fallbacks.
WRONG_BRANCH = [
    ({"beta": 1.8136108570210019, "theta": 0.9606542846608774, "t_param": 0.7991934401652934, "sigma": 2.6283105031008285, "f": 1.2965988977537544, "L_E": 0.9114131290374292, "L_W": 1.0112240097310925, "H_E": 0.9114131290374292, "H_W": 1.0112240097310925},
     {"w": 0.40659165249580964, "Q": 3.0159249730310727, "Q_star": 17.43259290723999}),
    ({"beta": 1.937712607548514, "theta": 0.9695737001608162, "t_param": 1.2714230424389037, "sigma": 2.2720489368153407, "f": 0.9429063024321066, "L_E": 0.8553477841892418, "L_W": 0.8832682451865941, "H_E": 0.8553477841892418, "H_W": 0.8832682451865941},
     {"w": 0.5822636662766247, "Q": 0.023238904673053916, "Q_star": 0.06643144864947235}),
]


def test_wrong_branch_root_is_not_the_answer():
    spec = "similar_countries/SM-B"
    for params, off_branch in WRONG_BRANCH:
        model = models.get(spec)(**params)
        off = _oracle(model, off_branch)  # scipy confirms the root off the branch (w < 1) exists
        assert off["w"] < 1.0
        sol = jo.solve(model)
        assert sol.status_name == "converged"
        assert float(sol["w"]) > 1.0 and all(bool(np.all(np.asarray(v))) for v in sol.regime.values())
        # independent check of the root: the residuals in the model's own coordinates
        layout = Layout.of(model, sol.unknowns)
        z = layout.to_internal(model, sol.unknowns)
        assert float(np.max(np.abs(np.asarray(_residuals(model, z))))) < 1e-9


def test_equal_wage_near_theta_one_matches_closed_form():
    # SM-D at theta = 0.9986: Q = 9.3e183. The solver used to return non-finite values because the
    # residuals' derivatives divided by A(2Q)^2 ~ 1e367. Oracle: the closed form of spec 5.4 for power
    # A(X) = X^theta and t(i) = 1 + i (the defaults), written out here with NumPy.
    params = {"beta": 1.011331106826094, "theta": 0.9986157125181493, "t_param": 0.875696460409252, "sigma": 2.073197063493606, "f": 0.7546983816146584, "L_E": 1.1530582898798087, "L_W": 1.132800964634581, "H_E": 1.1530582898798087, "H_W": 1.132800964634581}
    model = models.get("similar_countries/SM-D")(**params)
    sol = jo.solve(model)
    assert sol.status_name == "converged"
    b, th, sig = params["beta"], params["theta"], params["sigma"]
    L_E, L_W, H_E, H_W = params["L_E"], params["L_W"], params["H_E"], params["H_W"]
    I = 2.0 ** th / b - 1.0  # beta t(I) = A(2Q)/A(Q) = 2^theta
    T_I = I + 0.5 * I * I
    Ls = L_E + L_W
    lQ = np.log(Ls / (2.0 ** (-th) * (I + b * T_I) + 2 * (1 - I))) / (1 - th)
    k = np.exp(lQ - th * (np.log(2.0) + lQ))  # Q / A(2Q)
    rho = (H_E / H_W) ** (1 / sig)
    skew = Ls * (rho - 1) / (rho + 1)
    M_E = (I + ((L_E - L_W) + skew) / (2 * k)) / 2
    T_E = (T_I + ((L_E - L_W) - skew) / (2 * k * b)) / 2
    np.testing.assert_allclose(np.log(float(sol["Q"])), lQ, rtol=1e-12)
    np.testing.assert_allclose([float(sol["M_E"]), float(sol["T_E"])], [M_E, T_E], rtol=1e-9)
