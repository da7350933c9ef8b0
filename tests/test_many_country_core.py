"""The many-country core: array parameters, forward / reverse / directional derivatives, solver
objects on small and large systems, diagnose on vector residuals, refusal of foreign solutions.

Oracles: central finite differences of independent re-solves, `jax.jacfwd`/`jax.grad` through
`jo.solve`, and agreement between different solvers (dense Newton, Newton-Krylov, Anderson on the
model's fixed-point map) on the same equations.
"""
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxoff as jo
from jaxoff import implicit
from jaxoff.models import armington as arm

N = 30  # countries: the issue asks for derivative checks on a model of at least 30 countries


@pytest.fixture(scope="module")
def economy():
    m = arm.random_economy(N, 1, seed=3)
    return m, jo.solve(m, mask=False)


def _fd(m, name, entry, f, h=1e-6):
    """Central finite difference of f(solution) w.r.t. one entry of parameter `name` (re-solves)."""
    base = np.asarray(getattr(m, name), dtype=float)
    vals = []
    for sgn in (1, -1):
        p = base.copy()
        p[entry] += sgn * h
        vals.append(f(jo.solve(m.replace(**{name: p}), guess=jo.solve(m, mask=False))))
    return (vals[0] - vals[1]) / (2 * h)


def test_solution_is_an_equilibrium(economy):
    m, sol = economy
    assert sol.status_name == "converged" and float(sol.residual_norm) < 1e-10
    assert sol["w"].shape == (N,) and sol["P"].shape == (N, 1)
    # accounting identity, independent of the residuals: world wage bill = world value added
    assert np.isclose(float(jnp.sum(sol["w"] * m.L)), float(jnp.sum(m.L)), rtol=1e-12)
    d = jo.diagnose(m)
    assert d.ok and abs(d.walras["labor_market_0"]) < 1e-10


def test_forward_derivative_wrt_cost_matrix(economy):
    m, sol = economy
    d = jo.derivative(m, "welfare", "tau", sol=sol)
    assert d.shape == (N, N, N)  # output.shape + parameter.shape
    ref = jax.jacfwd(lambda t: jo.solve(m.with_params(tau=t), mask=False)["welfare"])(m.tau)
    np.testing.assert_allclose(d, ref, atol=1e-11)
    for entry in [(0, 1), (5, 17), (29, 2)]:
        fd = _fd(m, "tau", entry, lambda s: float(s["welfare"][4]))
        assert abs(float(d[(4,) + entry]) - fd) < 1e-6 * max(1.0, abs(fd))
    e = jo.elasticity(m, "real_wage", "tau", sol=sol)
    np.testing.assert_allclose(e, d * np.asarray(m.tau)[None] , atol=1e-11)  # d ln(rw)/d ln tau = d welfare * tau


def test_reverse_gradient_is_one_adjoint_solve(economy):
    m, sol = economy
    g = jo.gradient(m, lambda s: s["welfare"][7], ["tau", "L"], sol=sol)
    assert g["tau"].shape == (N, N) and g["L"].shape == (N,)
    ref = jax.grad(lambda t: jo.solve(m.with_params(tau=t), mask=False)["welfare"][7])(m.tau)
    np.testing.assert_allclose(g["tau"], ref, atol=1e-11)
    fwd = jo.derivative(m, "welfare", "L", sol=sol)[7]
    np.testing.assert_allclose(g["L"], fwd, atol=1e-11)
    fd = _fd(m, "tau", (7, 12), lambda s: float(s["welfare"][7]))
    assert abs(float(g["tau"][7, 12]) - fd) < 1e-6


def test_directional_derivative_along_a_whole_matrix(economy):
    m, sol = economy
    rng = np.random.default_rng(0)
    v = rng.uniform(0, 0.1, (N, N)) * (1 - np.eye(N))
    dd = jo.directional_derivative(m, {"tau": v}, ["welfare", "w"], sol=sol)
    full = jo.derivative(m, "welfare", "tau", sol=sol)
    np.testing.assert_allclose(dd["welfare"], np.tensordot(full, v, axes=2), atol=1e-11)
    h = 1e-6
    up = jo.solve(m.replace(tau=np.asarray(m.tau) + h * v))["welfare"]
    dn = jo.solve(m.replace(tau=np.asarray(m.tau) - h * v))["welfare"]
    np.testing.assert_allclose(dd["welfare"], (up - dn) / (2 * h), atol=1e-7)


def test_sweep_with_an_array_parameter_derivative():
    m = arm.Armington()
    df = jo.sweep(m, sigma=np.array([4.0, 5.0]), derivatives=[("welfare", "tau")], progress=False)
    d = jo.derivative(m.replace(sigma=4.0), "welfare", "tau")
    cols = [f"dwelfare/dtau[{i},{j},{k}]" for i in range(3) for j in range(3) for k in range(3)]
    np.testing.assert_allclose(df.loc[0, cols].to_numpy(float), np.asarray(d).ravel(), atol=1e-10)


def test_intermediates_match_the_textbook_formulas():
    """The model evaluates ARM.1-ARM.2 as two N x N matrix products (tau^(1 - sigma) times scaled
    costs); here the same quantities from the N x N x J trade shares written out as in the docstring."""
    m = arm.random_economy(12, 3, seed=2)
    rng = np.random.default_rng(0)
    u = {"w": rng.uniform(0.5, 2, 12), "P": rng.uniform(0.5, 2, (12, 3)), "Y": rng.uniform(0.5, 2, (12, 3))}
    p = m.point({k: jnp.asarray(v) for k, v in u.items()})
    tau, A, L, alpha = (np.asarray(getattr(m, k)) for k in ("tau", "A", "L", "alpha"))
    sigma, gamma = float(m.sigma), float(m.gamma)
    c = u["w"][:, None] ** gamma * u["P"] ** (1 - gamma) / A
    terms = (tau[:, :, None] * c[None]) ** (1 - sigma)  # (n, i, s)
    pi = terms / terms.sum(axis=1, keepdims=True)
    X = alpha[None] * (u["w"] * L)[:, None] + (1 - gamma) * u["Y"]
    np.testing.assert_allclose(np.exp(p["log_P_new"]), terms.sum(axis=1) ** (1 / (1 - sigma)), rtol=1e-13)
    np.testing.assert_allclose(p["sales"], np.einsum("nis,ns->is", pi, X), rtol=1e-13)
    np.testing.assert_allclose(m.outputs(p)["trade"], (pi * X[:, None, :]).sum(axis=2), rtol=1e-13)


def test_numpy_peer_evaluates_the_same_equations():
    """benchmarks/_armington_numpy.py (the scale benchmark's NumPy/SciPy peers, matrix form) gives
    jaxoff's residuals and fixed-point map at the same point, to rounding."""
    import os
    import sys

    from jaxoff.solve import Layout, residual_vector

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    try:
        import _armington_numpy as peer
    finally:
        sys.path.pop(0)
    m = arm.random_economy(12, 3, seed=2)
    e = peer.Economy.of(m)
    x = peer.guess(e) + np.random.default_rng(0).normal(0, 0.1, e.n_unknowns)
    u = {k: jnp.asarray(v) for k, v in zip(("w", "P", "Y"), peer.split(e, x))}
    layout = Layout.of(m, u)
    r = residual_vector(m, layout, layout.to_internal(m, u))
    np.testing.assert_allclose(np.asarray(r), peer.residuals(e, x), rtol=0, atol=1e-14)
    g = m.fixed_point(m.point(u))
    for k, v in zip(("w", "P", "Y"), peer.fixed_point(e, *peer.split(e, x))):
        np.testing.assert_allclose(np.asarray(g[k]), v, rtol=1e-14)


# -- solver objects -----------------------------------------------------------------------------
@pytest.mark.parametrize("solver", [jo.Newton(), jo.NewtonKrylov(), jo.AndersonFixedPoint(),
                                    jo.Chain(jo.Newton(max_steps=2), jo.Then(jo.LevenbergMarquardt(), jo.Newton())),
                                    jo.JaxoptGaussNewton()],
                         ids=["newton", "newton_krylov", "anderson", "chain", "jaxopt"])
def test_each_solver_on_a_small_system(solver):
    if isinstance(solver, jo.JaxoptGaussNewton):
        pytest.importorskip("jaxopt")
    m = arm.Armington()
    ref = jo.solve(m)
    sol = jo.solve(m, solver=solver)
    assert sol.status_name == "converged"
    np.testing.assert_allclose(sol["w"], ref["w"], rtol=1e-9)
    # derivatives never depend on the solver that found the root
    np.testing.assert_allclose(jo.derivative(m, "w", "sigma", sol=jo.solve(m, solver=solver, mask=False)),
                               jo.derivative(m, "w", "sigma"), rtol=1e-8)


def test_homotopy_reaches_a_far_point():
    m = arm.Armington(sigma=9.0)
    sol = jo.solve(m, solver=jo.Homotopy(steps=4))
    assert sol.status_name == "converged"
    np.testing.assert_allclose(sol["w"], jo.solve(m)["w"], rtol=1e-9)


@pytest.fixture(scope="module")
def large():
    m = arm.random_economy(70, 4, seed=5)  # 70 x (2 x 4 + 1) = 630 unknowns: above the dense threshold
    assert 70 * 9 > implicit.DENSE_MAX
    return m


def test_large_system_matrix_free(large):
    sol = jo.solve(large)  # default for this size: Anderson on the fixed-point map, then Newton-Krylov
    nk = jo.solve(large, solver=jo.NewtonKrylov())
    assert nk.status_name == "converged"
    np.testing.assert_allclose(nk["w"], sol["w"], rtol=1e-9)
    assert isinstance(jo.default_solver(large, 630), jo.Chain)
    assert isinstance(jo.default_solver(large, 630).stages[0], jo.AndersonFixedPoint)
    assert sol.status_name == "converged"
    fp = jo.solve(large, solver=jo.AndersonFixedPoint())
    assert fp.status_name == "converged"
    # the plain map needs 80 rounds after the guess (NumPy peer); Anderson 26. Its mix must stay
    # active near the root: an absolute ridge once switched it off below residuals of ~1e-6 (56 steps)
    assert int(fp.steps) <= 40
    np.testing.assert_allclose(fp["w"], sol["w"], rtol=1e-8)
    # reverse mode through the matrix-free linearization (GMRES on the transposed operator)
    g = jo.gradient(large, lambda s: s["welfare"][0], ["L"], sol=jo.solve(large, mask=False))
    h = 1e-4  # re-solves to 1e-14 by Newton-Krylov, so the central difference is accurate to ~h^2
    L = np.asarray(large.L)
    e = np.zeros_like(L)
    e[3] = h
    fd = (jo.solve(large.replace(L=L + e), guess=nk, solver=jo.NewtonKrylov())["welfare"][0]
          - jo.solve(large.replace(L=L - e), guess=nk, solver=jo.NewtonKrylov())["welfare"][0]) / (2 * h)
    assert abs(float(g["L"][3]) - float(fd)) < 1e-7 * max(1.0, abs(float(fd))) + 1e-8


def test_solver_arguments_are_validated():
    with pytest.raises(ValueError, match="rtol"):
        jo.Newton(rtol=-1.0)
    with pytest.raises(ValueError, match="damping"):
        jo.AndersonFixedPoint(damping=1.5)
    with pytest.raises(ValueError, match="positive"):
        jo.solve(arm.Armington(), residual_tol=-1e-8)
    with pytest.raises(TypeError, match="fixed-point map"):
        from jaxoff.models import trading_tasks as tt
        jo.solve(tt.SUBMODELS["M1"](), solver=jo.AndersonFixedPoint())
    with pytest.raises(ValueError, match="not both"):
        jo.solve(arm.Armington(), solver=jo.Newton(), homotopy_steps=3)


# -- batched solve, foreign solutions, diagnose on vector residuals, status -----------------------
def test_public_batched_solve_matches_single_solves():
    m = arm.Armington()
    sigmas = np.array([3.0, 5.0, 8.0])
    sol, dz = jo.solve_batch(m, {"sigma": sigmas}, wrt=["sigma"])
    assert sol["w"].shape == (3, 3) and dz.shape[0] == 3
    for i, s in enumerate(sigmas):
        np.testing.assert_allclose(sol["w"][i], jo.solve(m.replace(sigma=s))["w"], rtol=1e-10)


def test_foreign_solutions_are_refused():
    m = arm.Armington()
    sol = jo.solve(m, mask=False)
    with pytest.raises(ValueError, match="another parameter point"):
        jo.derivative(m.replace(sigma=6.0), "w", "sigma", sol=sol)
    from jaxoff.models import trading_tasks as tt
    with pytest.raises(ValueError, match="not of"):
        jo.derivative(tt.SUBMODELS["M1"](), "w", "beta", sol=sol)
    batch, _ = jo.solve_batch(m, {"sigma": np.array([3.0, 4.0])})
    with pytest.raises(ValueError, match="batched"):
        jo.statics(m, ["w"], ["sigma"], sol=batch)


class ScalarInVector(jo.Model):
    """A one-equation model whose residual has shape (1,) (the shape that once crashed diagnose)."""

    a: float = 2.0
    unknowns: ClassVar[dict] = {"x": jo.Positive()}

    def guess(self):
        return {"x": jnp.ones(1)}

    def residuals(self, u):
        return {"square": u["x"] ** 2 / self.a - 1.0}


def test_diagnose_vector_and_shape_one_residuals():
    d = jo.diagnose(ScalarInVector())
    assert d.ok and d.residual_sizes == {"square": 1}
    assert isinstance(d.residuals_at_solution["square"], np.ndarray)
    d = jo.diagnose(arm.Armington())
    assert d.ok and d.jacobian_rank == 15 and "goods_market" in d.residual_sizes
    assert "shape" in repr(jo.solve(arm.Armington()))


def test_status_enumeration():
    assert jo.Status(0) is jo.Status.CONVERGED and jo.Status.OUT_OF_REGIME.label == "out_of_regime"
    assert jo.STATUS_NAMES == {int(s): s.label for s in jo.Status}
    assert "regime" in jo.Status.OUT_OF_REGIME.message
