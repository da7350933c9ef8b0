"""Root-finding strategies as objects: pass one as `solver=` to solve, sweep, continuation, calibrate.

    jo.solve(model)                                        # default: picked by size (see `default_solver`)
    jo.solve(model, solver=jo.Newton(max_steps=50))        # dense Newton only
    jo.solve(model, solver=jo.NewtonKrylov())              # matrix-free Newton (10^3 - 10^4 unknowns)
    jo.solve(model, solver=jo.AndersonFixedPoint())        # the model's own fixed-point map, accelerated
    jo.solve(model, solver=jo.Chain(jo.Newton(), jo.Then(jo.LevenbergMarquardt(), jo.Newton())))

Every solver is an `equinox.Module` whose settings are static (changing one recompiles; the same
settings share one compilation). `run(fn, z0, model, layout, residual_tol)` returns
`(z, ok, steps)`: the internal-space point, whether it is a root (solver success *and*
max |F| <= residual_tol), and the number of iterations. Solvers never raise inside jit/vmap.

Derivatives never depend on which solver found the root: `jo.solve` attaches them by the implicit
function theorem (`jaxoff.implicit`) at whatever root was found.
"""
from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx

from . import implicit
from ._batching import fallback_unless

__all__ = ["Solver", "Newton", "NewtonKrylov", "LevenbergMarquardt", "AndersonFixedPoint", "JaxoptGaussNewton",
           "Then", "Chain", "Homotopy", "default_solver"]

ResidualFn = Callable[[jax.Array, object], jax.Array]


def _is_small(fn: ResidualFn, z, model, residual_tol: float):
    r = fn(z, model)
    return jnp.all(jnp.isfinite(r)) & (jnp.max(jnp.abs(r)) <= residual_tol)


def _on_branch(model, layout, z):
    """The model's `on_branch` hook at internal point z (True for models without the hook)."""
    if not model.has_hook("on_branch"):
        return jnp.asarray(True)
    return jnp.all(jnp.asarray(model.on_branch(model.point(layout.to_natural(model, z))), dtype=bool))


def _check_tolerances(name: str, **values) -> None:
    for k, v in values.items():
        if v is not None and not v > 0:
            raise ValueError(f"{name}: {k} must be positive, got {v!r}")


class Solver(eqx.Module):
    """Base class of root-finding strategies (see the module docstring)."""

    def run(self, fn: ResidualFn, z0: jax.Array, model, layout, residual_tol: float):
        raise NotImplementedError

    @property
    def linear_solver(self) -> lx.AbstractLinearSolver | None:
        """The linear solver used for implicit differentiation at the root (None: by size)."""
        return None


class Newton(Solver):
    """Newton's method (optimistix) with a dense LU of the forward-mode Jacobian.

    **Arguments:** `rtol`, `atol` (step tolerances, Cauchy termination), `max_steps`.
    """

    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100)

    def __check_init__(self):
        _check_tolerances("Newton", rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)

    def _linear(self) -> lx.AbstractLinearSolver:
        return lx.AutoLinearSolver(well_posed=None)

    def run(self, fn, z0, model, layout, residual_tol):
        sol = optx.root_find(fn, optx.Newton(rtol=self.rtol, atol=self.atol, linear_solver=self._linear()), z0,
                             args=model, max_steps=self.max_steps, throw=False)
        ok = (sol.result == optx.RESULTS.successful) & _is_small(fn, sol.value, model, residual_tol)
        return sol.value, ok, sol.stats["num_steps"]


class NewtonKrylov(Solver):
    """Inexact Newton with matrix-free steps: restarted GMRES on Jacobian-vector products.

    The Jacobian is never formed, so memory is O(n) and a step costs a few dozen JVPs: the method
    for 10^3 - 10^4 unknowns. Each step solves F_z dz = -F to `krylov_rtol` (relative), then
    z <- z + dz, halving the step while the residual norm does not fall (at most 8 halvings).
    Termination: step below atol + rtol |z| and max |F| below atol (as `Newton`). Implicit
    derivatives at the root are matrix-free too.

    With a model that defines a fixed-point map G (the `fixed_point` hook), the Newton steps are
    taken on z - G(z) (same roots): its Jacobian I - G_z is close to the identity for a contracting
    map, so GMRES needs a few iterations where it can stall on the raw residuals' Jacobian
    (measured on a 630-unknown Armington economy: restarted GMRES on F_z stagnates at 60% of the
    initial residual, on I - G_z it converges). `on="residuals"` forces the raw residuals.

    **Arguments:** `rtol`, `atol`, `max_steps` as `Newton`; `krylov_rtol` (relative tolerance of
    each linear solve); `restart` (GMRES restart length); `on` ("auto", "fixed_point", "residuals").
    """

    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100)
    krylov_rtol: float = eqx.field(static=True, default=1e-8)
    restart: int = eqx.field(static=True, default=60)
    on: str = eqx.field(static=True, default="auto")

    def __check_init__(self):
        _check_tolerances("NewtonKrylov", rtol=self.rtol, atol=self.atol, max_steps=self.max_steps,
                          krylov_rtol=self.krylov_rtol, restart=self.restart)
        if self.on not in ("auto", "fixed_point", "residuals"):
            raise ValueError(f"NewtonKrylov: on must be 'auto', 'fixed_point' or 'residuals', got {self.on!r}")

    @property
    def linear_solver(self):
        return implicit.krylov_solver(restart=self.restart)

    def run(self, fn, z0, model, layout, residual_tol):
        use_map = self.on == "fixed_point" or (self.on == "auto" and model.has_hook("fixed_point"))
        if use_map:
            from .solve import fixed_point_residual

            F = lambda z: fixed_point_residual(model, layout, z)  # noqa: E731
        else:
            F = lambda z: fn(z, model)  # noqa: E731
        restart = min(self.restart, z0.shape[0])

        def newton_step(z, f):
            # lineax GMRES on JVPs: no transposition of F is needed (the map may hold while_loops)
            op = lx.JacobianLinearOperator(lambda zz, _: F(zz), z, None)
            krylov = implicit.krylov_solver(rtol=self.krylov_rtol, atol=1e-14, restart=restart, max_steps=20)
            return lx.linear_solve(op, -f, krylov, throw=False).value

        def line_search(z, f, dz):
            norm0 = jnp.sum(f * f)

            def shrink(carry):
                t, _, _, k = carry
                t = 0.5 * t
                f_new = F(z + t * dz)
                return t, f_new, jnp.sum(f_new * f_new), k + 1

            def worse(carry):
                _, _, norm, k = carry
                return ~(norm < norm0) & (k < 8)

            f1 = F(z + dz)
            t, f_new, _, _ = jax.lax.while_loop(worse, shrink, (jnp.asarray(1.0), f1, jnp.sum(f1 * f1),
                                                                 jnp.asarray(0)))
            return t * dz, f_new

        def body(carry):
            z, f, _, k = carry
            step, f_new = line_search(z, f, newton_step(z, f))
            z_new = z + step
            small = jnp.max(jnp.abs(step) / (self.atol + self.rtol * jnp.abs(z_new))) < 1
            done = small & (jnp.max(jnp.abs(f_new)) < self.atol)
            done = done | _is_small(fn, z_new, model, 1e-3 * residual_tol)
            return z_new, f_new, done | ~jnp.all(jnp.isfinite(z_new)), k + 1

        def keep_going(carry):
            _, _, done, k = carry
            return ~done & (k < self.max_steps)

        z, f, _, k = jax.lax.while_loop(keep_going, body, (z0, F(z0), jnp.asarray(False), jnp.asarray(0)))
        return z, _is_small(fn, z, model, residual_tol), k


class LevenbergMarquardt(Solver):
    """Levenberg-Marquardt on 1/2 |F|^2 (optimistix): robust from far-away starts, slow near the root.
    Follow it by `Newton` with `Then(LevenbergMarquardt(), Newton())` for a quadratic finish."""

    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100)

    def __check_init__(self):
        _check_tolerances("LevenbergMarquardt", rtol=self.rtol, atol=self.atol, max_steps=self.max_steps)

    def run(self, fn, z0, model, layout, residual_tol):
        sol = optx.least_squares(fn, optx.LevenbergMarquardt(rtol=self.rtol, atol=self.atol), z0, args=model,
                                 max_steps=self.max_steps, throw=False)
        return sol.value, _is_small(fn, sol.value, model, residual_tol), sol.stats["num_steps"]


class AndersonFixedPoint(Solver):
    """Anderson-accelerated iteration of the model's fixed-point map (the `fixed_point` hook).

    Quantitative trade models are usually solved by iterating a map u -> G(u) (update wages from
    excess demand, prices from costs, ...). Anderson acceleration (type II, `memory` past iterates,
    a ridge-regularised least-squares mix) turns that linearly convergent loop into a robust,
    much faster one. The iteration runs in the solver's internal coordinates (logs of positive
    unknowns), and a point counts as solved only when the model's residuals are below tolerance.

    The ridge term is relative (`regularization` times the trace of the least-squares Gram matrix),
    so the mix stays active however small the differences of residuals become. (An absolute ridge
    of 1e-12 switched the acceleration off once the residuals fell below ~1e-6, i.e. for the
    whole approach to the usual tolerances: on the Armington scale benchmark Anderson then took as
    many map evaluations as the plain loop, 45 after the 25-round guess at N = 1000; relative, with
    memory 10, it takes 20.)

    **Arguments:** `memory` (past iterates mixed), `max_steps`, `tol` (max |G(z) - z| at which to
    stop), `damping` (in (0, 1]: weight on the map's new value), `regularization` (ridge term,
    relative to the trace of the Gram matrix of residual differences).
    """

    memory: int = eqx.field(static=True, default=10)
    max_steps: int = eqx.field(static=True, default=2000)
    tol: float = eqx.field(static=True, default=1e-12)
    damping: float = eqx.field(static=True, default=1.0)
    regularization: float = eqx.field(static=True, default=1e-12)

    def __check_init__(self):
        _check_tolerances("AndersonFixedPoint", memory=self.memory, max_steps=self.max_steps, tol=self.tol,
                          damping=self.damping)
        if self.damping > 1:
            raise ValueError(f"AndersonFixedPoint: damping must lie in (0, 1], got {self.damping}")

    def run(self, fn, z0, model, layout, residual_tol):
        if not model.has_hook("fixed_point"):
            raise TypeError(f"AndersonFixedPoint needs a fixed-point map: {model.label()} does not define "
                            "fixed_point(u). Use Newton() or NewtonKrylov().")

        def G(z):
            return layout.to_internal(model, model.fixed_point(layout.to_natural(model, z)))

        n, m = z0.shape[0], self.memory
        g0 = G(z0)
        # History as rows (contiguous updates) and its Gram matrix kept up to date one row per step:
        # O(n m) work per step besides the map, not O(n m^2) (measured: 0.67 -> 0.14 ms per step
        # at n = 10,200, m = 10, where the Armington map itself costs ~0.4 ms).
        init = (g0, z0, g0 - z0, jnp.zeros((m, n)), jnp.zeros((m, n)), jnp.zeros((m, m)), jnp.asarray(1),
                jnp.asarray(False))

        def step(carry):
            g_prev, z_prev, r_prev, dR, dG, gram, k, _ = carry
            beta = self.damping
            # Anderson mix of the last `memory` iterates: minimise |r_k - dR^T gamma| (ridge-regularised)
            scale = jnp.trace(gram)
            ridge = self.regularization * jnp.where(scale > 0, scale, 1.0) * jnp.eye(m)
            gamma = jnp.linalg.solve(gram + ridge, dR @ r_prev)
            z = z_prev + beta * r_prev - gamma @ (dG - (1 - beta) * dR)
            z = jnp.where(jnp.all(jnp.isfinite(z)), z, g_prev)  # a bad mix falls back to the plain step
            g = G(z)
            r = g - z
            row = (k - 1) % m
            d = r - r_prev
            dR = dR.at[row].set(d)
            dG = dG.at[row].set(g - g_prev)
            inner = dR @ d  # the new row's products with every stored row (itself included)
            gram = gram.at[row, :].set(inner).at[:, row].set(inner)
            done = jnp.max(jnp.abs(r)) < self.tol * (1.0 + jnp.max(jnp.abs(z)))
            return g, z, r, dR, dG, gram, k + 1, done

        def keep_going(carry):
            _, _, r, _, _, _, k, done = carry
            return ~done & (k < self.max_steps) & jnp.all(jnp.isfinite(r))

        g, z, r, *_, k, done = jax.lax.while_loop(keep_going, step, init)
        # The last map value is the better point (one plain iteration past z).
        return g, _is_small(fn, g, model, residual_tol), k


class JaxoptGaussNewton(Solver):
    """The optional jaxopt backend (Gauss-Newton); `pip install jaxoff[jaxopt]`. Unmaintained
    upstream, so nothing depends on it; kept as a cross-check of the default solvers."""

    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100)

    def run(self, fn, z0, model, layout, residual_tol):
        try:
            import jaxopt
        except ImportError as e:  # pragma: no cover - exercised only without the extra
            raise ImportError("JaxoptGaussNewton needs the optional extra: pip install jaxoff[jaxopt]") from e
        solver = jaxopt.GaussNewton(residual_fun=fn, tol=self.atol, maxiter=self.max_steps, implicit_diff=False)
        res = solver.run(z0, model)
        return res.params, _is_small(fn, res.params, model, residual_tol), res.state.iter_num


class Then(Solver):
    """Run `first`, then `second` from where `first` stopped (e.g. LM, then a Newton polish)."""

    first: Solver
    second: Solver

    def run(self, fn, z0, model, layout, residual_tol):
        z1, _, n1 = self.first.run(fn, z0, model, layout, residual_tol)
        z1 = jnp.where(jnp.all(jnp.isfinite(z1)), z1, z0)
        z2, ok2, n2 = self.second.run(fn, z1, model, layout, residual_tol)
        return z2, ok2, n1 + n2

    @property
    def linear_solver(self):
        return self.second.linear_solver


class Homotopy(Solver):
    """Continuation from the model's default parameters: move every parameter linearly from its
    default to the requested value, correcting with `inner` at each step.

    Rescues points far from where the model's `guess` is good. The path starts with `steps` equal
    steps and adapts: a step whose corrector fails is retried at half the length (the point stays
    at the last parameter value that solved), and after a success the step grows again (doubling,
    at most back to 1/`steps`), so steep stretches (an equilibrium that moves fast near a threshold)
    are crossed in small steps and smooth ones in large. The path gives up after `max_halvings`
    consecutive halvings or `4 * steps + 8 * max_halvings` corrector runs. One `while_loop` does it
    all (the solve at the defaults from their guess is its first step, so `inner` is compiled once).
    Needs parameters of the same shapes as the defaults (otherwise it reports failure and leaves the
    point to the rest of a chain)."""

    steps: int = eqx.field(static=True, default=8)
    inner: Solver = Newton()
    max_halvings: int = eqx.field(static=True, default=6)

    def __check_init__(self):
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"Homotopy: steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.max_halvings, int) and self.max_halvings >= 0):
            raise ValueError(f"Homotopy: max_halvings must be a non-negative integer, got {self.max_halvings!r}")

    def run(self, fn, z0, model, layout, residual_tol):
        fail = (z0, jnp.asarray(False), jnp.asarray(0))
        try:
            base = model.at_defaults()
        except Exception:  # a model that cannot be built at its defaults (data-driven, required fields)
            return fail
        same = jax.tree_util.tree_structure(base) == jax.tree_util.tree_structure(model) and all(
            jnp.shape(a) == jnp.shape(b)
            for a, b in zip(jax.tree_util.tree_leaves(base), jax.tree_util.tree_leaves(model)))
        if not same:
            return fail

        dt_max = 1.0 / self.steps
        dt_min = dt_max / 2.0 ** self.max_halvings
        max_runs = 4 * self.steps + 8 * self.max_halvings
        z_base = layout.to_internal(base, base.guess())
        # state: (t solved so far, next step, point at t, last corrector output, runs, Newton steps);
        # t = -dt_max to start: the first run solves the defaults themselves from their guess
        init = (jnp.asarray(-dt_max), jnp.asarray(dt_max), z_base, z_base, jnp.asarray(0), jnp.asarray(0))

        def keep_going(state):
            t, dt, *_, runs, _ = state
            return (t < 1.0) & (dt >= dt_min * (1 - 1e-9)) & (runs < max_runs)

        def body(state):
            t, dt, z, _, runs, nsum = state
            t_new = jnp.minimum(t + dt, 1.0)
            s = jnp.maximum(t_new, 0.0)
            m_t = jax.tree_util.tree_map(lambda a, b: (1 - s) * a + s * b, base, model)
            z_new, ok, n = self.inner.run(fn, z, m_t, layout, 10 * residual_tol)
            ok = jnp.asarray(ok, dtype=bool) & jnp.all(jnp.isfinite(z_new))
            t = jnp.where(ok, t_new, t)
            dt = jnp.where(ok, jnp.minimum(2 * dt, dt_max), dt / 2)
            return t, dt, jnp.where(ok, z_new, z), z_new, runs + 1, nsum + jnp.asarray(n, dtype=nsum.dtype)

        t, _, z, z_last, _, nsum = jax.lax.while_loop(keep_going, body, init)
        # a path that did not reach t = 1 is reported as its last corrector ended (e.g. non-finite)
        z = jnp.where(t >= 1.0, z, z_last)
        return z, _is_small(fn, z, model, residual_tol) & (t >= 1.0), nsum


class Chain(Solver):
    """Try solvers in order, each from the original start, until one succeeds: a fallback chain.

    Under `jax.vmap` a plain `lax.cond` would run every fallback for every point (its predicate is
    batched, so it becomes a select), which made healthy sweeps ~20x slower. The rest of the chain
    runs (`jaxoff._batching.fallback_unless`) for the whole batch only when at least one point needs it.
    """

    stages: tuple[Solver, ...]

    def __init__(self, *stages: Solver):
        if not stages:
            raise ValueError("Chain needs at least one solver")
        for s in stages:
            if not isinstance(s, Solver):
                raise TypeError(f"Chain takes jaxoff solvers, got {type(s).__name__}")
        self.stages = tuple(stages)

    @property
    def linear_solver(self):
        return self.stages[0].linear_solver

    def run(self, fn, z0, model, layout, residual_tol):
        first, rest = self.stages[0], self.stages[1:]
        z1, ok1, n1 = first.run(fn, z0, model, layout, residual_tol)
        if not rest:
            return z1, ok1, n1
        tail = Chain(*rest)
        dyn, static = eqx.partition(model, eqx.is_array)
        root1 = jnp.asarray(ok1, dtype=bool)
        ok1 = root1 & _on_branch(model, layout, z1)

        def fallback(dyn, z0, z1, root1, n1):
            m = eqx.combine(dyn, static)
            z2, root2, n2 = tail.run(fn, z0, m, layout, residual_tol)
            root2 = jnp.asarray(root2, dtype=bool)
            on2 = root2 & _on_branch(m, layout, z2)
            # no root on the branch: return the first root found (off the branch; the model's
            # regime check flags it), so that an existing root is never reported as a failure
            z = jnp.where(on2 | ~root1, z2, z1)
            return z, root1 | root2, (n1 + n2).astype(jnp.int32)

        n1 = jnp.asarray(n1, dtype=jnp.int32)
        return fallback_unless(ok1, (z1, ok1, n1), fallback, dyn, z0, z1, root1, n1)


#: Steps of the `Homotopy` that ends the default chain of small systems (`homotopy_steps=None`).
DEFAULT_HOMOTOPY_STEPS = 8

#: Above this many unknowns (and up to `implicit.DENSE_MAX`) the default chain of a model with a
#: fixed-point map starts with `AndersonFixedPoint` instead of dense `Newton`.
ANDERSON_MIN = 200


def default_solver(model, n_unknowns: int, *, rtol: float = 1e-10, atol: float = 1e-10, max_steps: int = 100,
                   fallback: bool = True, homotopy_steps: int | None = None) -> Solver:
    """The solver `jo.solve` uses when none is given.

    * up to `jaxoff.implicit.DENSE_MAX` unknowns: `Newton`, then (if it fails)
      `Then(LevenbergMarquardt, Newton)` from the same start, then a `Homotopy` from the model's
      default parameters in `homotopy_steps` adaptive Newton-corrected steps (None: `DEFAULT_HOMOTOPY_STEPS`
      for a model whose parameters are all scalars; 0: none); for a model with a fixed-point map and
      more than `ANDERSON_MIN` unknowns, `AndersonFixedPoint` (to 1e-14, at most 200 steps) comes
      first and `Newton` is its fallback;
    * larger systems of a model with a fixed-point map: `AndersonFixedPoint`, then `NewtonKrylov`;
      without a map: `NewtonKrylov`, then dense `Newton` (and a `Homotopy` only if `homotopy_steps > 0`).

    Each later stage runs only for points the earlier ones did not solve (under `jax.vmap`: only
    when some point of the batch needs it), so the points Newton solves are unchanged by the rest.
    """
    dense = n_unknowns <= implicit.DENSE_MAX
    if dense:
        first = Newton(rtol, atol, max_steps)
        stages = [first, Then(LevenbergMarquardt(rtol, atol, max_steps), first)]
        if n_unknowns > ANDERSON_MIN and model.has_hook("fixed_point"):
            # Each Newton step forms the dense Jacobian (n JVPs) and factorizes it; the model's map,
            # accelerated, is cheaper from ~100 unknowns on (Armington, measured: 300 unknowns
            # 8.6 -> 1.8 ms, 600: 47 -> 3.5 ms). A tighter tolerance than Anderson's default keeps
            # the residuals near Newton's (4e-14 against 1e-15); Newton (then the rest of the
            # chain, from the same start) solves what Anderson does not within 200 steps.
            stages.insert(0, AndersonFixedPoint(tol=1e-14, max_steps=200))
    elif model.has_hook("fixed_point"):
        # The model's own map, accelerated: measured fastest and most robust on the many-country
        # families (Caliendo-Parro's 2,511 unknowns: 3 s to 2e-12; Newton-Krylov from the data start
        # stalls there). Newton-Krylov is the fallback.
        first = AndersonFixedPoint()
        stages = [first, NewtonKrylov(rtol, atol, max_steps)]
    else:
        first = NewtonKrylov(rtol, atol, max_steps)
        stages = [first, Newton(rtol, atol, max_steps)]
    if not fallback:
        return stages[0]
    if homotopy_steps is None:
        # The default-parameter start rescues points where the model's guess fails (measured by
        # benchmarks/reliability.py); models built from data arrays have no meaningful defaults path.
        scalar = all(jnp.ndim(getattr(model, k)) == 0 for k in model.parameter_names())
        homotopy_steps = DEFAULT_HOMOTOPY_STEPS if dense and scalar else 0
    if homotopy_steps > 0:
        stages.append(Homotopy(homotopy_steps, first))
    return Chain(*stages)
