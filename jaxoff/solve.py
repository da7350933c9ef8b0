"""`jo.solve`: Newton in transformed space with a fallback, and implicit differentiation.

The numerical root is found with no gradient tracking (so any solver path, including the fallback,
may be taken); derivatives are then attached by the implicit function theorem,
dz/dtheta = -F_z^{-1} F_theta, through a custom JVP. Forward mode (`jax.jvp`, `jax.jacfwd`) and
reverse mode (`jax.grad`, by transposition of that linear rule) both work, as do `jax.jit` and
`jax.vmap`, including on models built inside the transformed function from traced parameters.
"""
from __future__ import annotations

import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import implicit
from ._config import require_x64
from ._solution import (
    CONVERGED,
    INVALID_PARAMETERS,
    NONFINITE,
    NOT_CONVERGED,
    OUT_OF_REGIME,
    Solution,
)
from .model import Model, is_concrete
from .solvers import JaxoptGaussNewton, Solver, default_solver

__all__ = ["solve", "solve_from", "solve_batch", "newton_with_tangents", "batch_points", "assemble",
           "differentiable_root", "fixed_point_residual", "ift_residual",
           "SolverOptions", "ConvergenceWarning", "SolveError", "residual_vector", "Layout", "internal_point"]


class ConvergenceWarning(UserWarning):
    """An eager solve that did not end at a valid, converged, in-regime equilibrium."""


class SolveError(RuntimeError):
    """Raised by `solve(..., throw=True)` when the solution is not fine."""


class SolverOptions(eqx.Module):
    """How a point is solved and judged (all static: changing them recompiles).

    **Fields:** `solver` (a `jaxoff.solvers.Solver`; None = `default_solver` by size, with the
    tolerances below), `residual_tol` (a point is converged only if max |F| <= this), `mask` (NaN
    for points that are not fine), and the tolerances of the default solver.
    """

    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=100)
    residual_tol: float = eqx.field(static=True, default=1e-8)
    fallback: bool = eqx.field(static=True, default=True)
    mask: bool = eqx.field(static=True, default=True)
    homotopy_steps: int | None = eqx.field(static=True, default=None)
    solver: Solver | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        for k in ("rtol", "atol", "residual_tol"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and v > 0):
                raise ValueError(f"{k} must be a positive number, got {v!r}")
        for k in ("max_steps",):
            v = getattr(self, k)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"{k} must be a positive integer, got {v!r}")
        if self.homotopy_steps is not None and not (isinstance(self.homotopy_steps, int)
                                                    and self.homotopy_steps >= 0):
            raise ValueError(f"homotopy_steps must be None or a non-negative integer, got {self.homotopy_steps!r}")
        if self.solver is not None and not isinstance(self.solver, Solver):
            raise TypeError(f"solver must be a jaxoff solver (jo.Newton(), jo.NewtonKrylov(), ...), "
                            f"got {type(self.solver).__name__}")

    def solver_for(self, model: Model, n_unknowns: int) -> Solver:
        """The solver used for this model: the one given, else `default_solver` by size."""
        if self.solver is not None:
            return self.solver
        return default_solver(model, n_unknowns, rtol=self.rtol, atol=self.atol, max_steps=self.max_steps,
                              fallback=self.fallback, homotopy_steps=self.homotopy_steps)

    def linear_solver_for(self, model: Model, n_unknowns: int):
        """The lineax solver used for implicit differentiation at the root."""
        ls = self.solver_for(model, n_unknowns).linear_solver
        return implicit.default_linear_solver(n_unknowns) if ls is None else ls


class Layout(eqx.Module):
    """Order and shapes of the unknowns in the flat internal vector z (static)."""

    names: tuple[str, ...] = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    @staticmethod
    def of(model: Model, u: dict) -> Layout:
        names = tuple(model.unknowns)
        return Layout(names, tuple(tuple(jnp.shape(u[k])) for k in names))

    def to_internal(self, model: Model, u: dict) -> jax.Array:
        parts = [
            jnp.ravel(model.unknowns[k].to_internal(jnp.asarray(u[k], dtype=jnp.float64)))
            for k in self.names
        ]
        return jnp.concatenate(parts)

    def to_natural(self, model: Model, z: jax.Array) -> dict:
        u, i = {}, 0
        for k, shape in zip(self.names, self.shapes):
            n = int(np.prod(shape, dtype=int))
            u[k] = model.unknowns[k].to_natural(z[i:i + n].reshape(shape))
            i += n
        return u


def _flatten_residuals(model: Model, r: dict, n_unknowns: int) -> jax.Array:
    vec = jnp.concatenate([jnp.ravel(jnp.asarray(v, dtype=jnp.float64)) for v in r.values()])
    if vec.shape[0] != n_unknowns:
        sizes = {k: int(np.size(v)) for k, v in r.items()}
        raise ValueError(
            f"{model.label()}: the system is not square: {vec.shape[0]} residuals {sizes} for "
            f"{n_unknowns} unknowns {list(model.unknowns)}."
        )
    return vec


def residual_vector(model: Model, layout: Layout, z: jax.Array) -> jax.Array:
    """The model's residuals as a flat vector, at internal unknowns z."""
    return _flatten_residuals(model, model.residuals(model.point(layout.to_natural(model, z))), z.shape[0])


def fixed_point_residual(model: Model, layout: Layout, z: jax.Array) -> jax.Array:
    """z - G(z) in internal coordinates, for a model with the `fixed_point` hook G: the same roots
    as the residuals, and for a contraction G a Jacobian I - G_z that Krylov methods solve in a few
    iterations (the model's own residual Jacobian can stall restarted GMRES on large systems)."""
    return z - layout.to_internal(model, model.fixed_point(model.point(layout.to_natural(model, z))))


def ift_residual(model: Model, n_unknowns: int):
    """The residual function implicit differentiation linearizes: the model's residuals, or for a
    large system (above `implicit.DENSE_MAX` unknowns, solved matrix-free) of a model with a
    fixed-point map, z - G(z). Both have the same roots, so dz/dtheta is the same."""
    if n_unknowns > implicit.DENSE_MAX and model.has_hook("fixed_point") and model.differentiable_fixed_point:
        return fixed_point_residual
    return residual_vector


def ift_linear_solver(model: Model, n_unknowns: int, linear_solver):
    """The linear solver for the `ift_residual` linearization: `linear_solver` (default by size),
    with a shorter GMRES restart when that residual is z - G(z) (`implicit.contraction_solver`)."""
    linear_solver = implicit.default_linear_solver(n_unknowns) if linear_solver is None else linear_solver
    if ift_residual(model, n_unknowns) is fixed_point_residual:
        return implicit.contraction_solver(linear_solver)
    return linear_solver


# -- implicit differentiation (the rule lives in jaxoff.implicit) --------------------------------
@eqx.filter_custom_jvp
def _implicit_root(model, z, *, layout, linear_solver):
    """Identity on the numeric root z; its JVP is the implicit function theorem."""
    return z


@_implicit_root.def_jvp
def _implicit_root_jvp(primals, tangents, *, layout, linear_solver):
    model, z = primals
    t_model, _ = tangents  # z is a stop-gradient numeric root: its own tangent is irrelevant
    if t_model is None:
        return z, jnp.zeros_like(z)
    F = ift_residual(model, z.shape[0])
    lin = implicit.linearize(lambda zz: F(model, layout, zz), z, ift_linear_solver(model, z.shape[0], linear_solver))
    return z, implicit.tangents(lin, lambda m: F(m, layout, z), model, t_model)


def differentiable_root(model: Model, layout: Layout, z, linear_solver=None):
    """z (a root of `model`, found by any means) as a differentiable function of the model's
    parameters: forward and reverse derivatives follow the implicit function theorem, without
    solving again."""
    linear_solver = implicit.default_linear_solver(z.shape[0]) if linear_solver is None else linear_solver
    return _implicit_root(model, jax.lax.stop_gradient(z), layout=layout, linear_solver=linear_solver)


def _solve_impl(model: Model, start: dict, opts: SolverOptions) -> Solution:
    layout = Layout.of(model, start)
    z0 = jax.lax.stop_gradient(layout.to_internal(model, start))
    frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, model)
    n = z0.shape[0]
    fn = lambda z, m: residual_vector(m, layout, z)  # noqa: E731
    z_num, solver_ok, steps = opts.solver_for(model, n).run(fn, z0, frozen, layout, opts.residual_tol)
    z = differentiable_root(model, layout, z_num, opts.linear_solver_for(model, n))
    return assemble(model, layout, z, solver_ok, steps, opts)


def solve_from(model: Model, start: dict, opts: SolverOptions) -> Solution:
    """Traceable solve from a complete starting point (every unknown, natural units) with explicit
    `SolverOptions`: the body of `jo.solve`, for code that is already inside jit/vmap (sweeps,
    continuation, calibration). No checks, no warnings."""
    return _solve_impl(model, start, opts)


def assemble(model: Model, layout: Layout, z, solver_ok, steps, opts: SolverOptions) -> Solution:
    """The `Solution` at internal point z: residuals, outputs, regime flags, status, masking.

    Public so that code which finds roots its own way (a batched Newton, a calibration) reports
    them exactly as `jo.solve` does."""
    u = layout.to_natural(model, z)
    p = model.point(u)  # intermediates computed once, shared by residuals, outputs and regime
    residuals = model.residuals(p)
    rvec = _flatten_residuals(model, residuals, z.shape[0])
    residual_norm = jnp.max(jnp.abs(rvec))
    outputs = model.outputs(p)
    regime = {k: jnp.asarray(v, dtype=bool) for k, v in model.regime(p).items()}
    in_regime = jnp.asarray(True)
    for v in regime.values():
        in_regime = in_regime & jnp.all(v)

    finite = jnp.all(jnp.isfinite(z)) & jnp.all(jnp.isfinite(rvec))
    converged = jnp.asarray(solver_ok) & finite & (residual_norm <= opts.residual_tol)
    status = jnp.where(
        ~model.domain_ok(), INVALID_PARAMETERS,
        jnp.where(~finite, NONFINITE,
                  jnp.where(~converged, NOT_CONVERGED,
                            jnp.where(~in_regime, OUT_OF_REGIME, CONVERGED))),
    ).astype(jnp.int32)

    if opts.mask:
        fine = status == CONVERGED
        # Derivatives of a failed point must be NaN too, not 0: NaN * x carries a NaN tangent, and
        # the inner where keeps that NaN out of the reverse-mode cotangent of good points.
        def nan_where_bad(x):
            return jnp.where(fine, x, jnp.nan * jnp.where(fine, 0.0, x))
        u = jax.tree_util.tree_map(nan_where_bad, u)
        outputs = jax.tree_util.tree_map(nan_where_bad, outputs)
    return Solution(
        unknowns=u, outputs=outputs, regime=regime, residuals=residuals,
        converged=converged, status=status, residual_norm=residual_norm,
        steps=jnp.asarray(steps, dtype=jnp.int32), model=model,
    )


def newton_with_tangents(model: Model, start: dict, opts: SolverOptions, wrt: tuple[str, ...] = ()):
    """Newton's method that also returns dz/dtheta from its own last factorization of F_z.

    The batched fast path of sweeps and calibrations (use it under `jax.vmap`). Each step
    factorizes F_z once (lineax LU) and solves for the Newton step and -F_theta together, so the
    implicit-function-theorem derivative costs no factorization of its own; from a converged start
    (a warm start in a sweep) that halves the work. The first step runs outside the loop: under vmap
    a while_loop pays per-point selects on every iteration, and from a good start the first step is
    usually the last. Termination is optimistix's Cauchy test (step below atol + rtol |z|, max |F|
    below atol). No fallback: a point that fails keeps `converged=False`; `solve_batch` re-solves
    such points with the full `jo.solve` chain.

    **Arguments:** `model`; `start` (a complete starting point in natural units, every unknown);
    `opts` (`SolverOptions`: tolerances, `max_steps`, `residual_tol`, `mask`); `wrt` (parameter
    names, scalars or arrays).

    **Returns:** `(solution, dz)`: an (unmasked if `opts.mask` is False) `Solution`, and
    dz/dtheta in the solver's internal coordinates, shape (n_unknowns, P) with P the total size of
    the `wrt` parameters (`jaxoff.implicit.ParameterBlock` order); `jaxoff.statics.chain_rule` turns
    it into derivatives of any output. The Jacobian is the one at the last iterate, within the step
    tolerance of the root, so dz agrees with `jo.derivative` to about that tolerance.
    """
    layout = Layout.of(model, start)
    block = implicit.ParameterBlock.of(model, wrt)
    z0 = jax.lax.stop_gradient(layout.to_internal(model, start))
    theta = block.flatten(model)
    n = z0.shape[0]

    def F(z, th):
        return residual_vector(block.apply(model, th), layout, z)

    def step(carry):
        z, _, _, _, k = carry
        f = F(z, theta)
        f_z, f_theta = jax.jacfwd(F, argnums=(0, 1))(z, theta)
        lin = implicit.Linearization.dense_from_matrix(f_z)
        sol = lin.solve(jnp.concatenate([f[:, None], -f_theta], axis=1))
        diff = sol[:, 0]
        z_new = z - diff
        small_step = jnp.max(jnp.abs(diff) / (opts.atol + opts.rtol * jnp.abs(z_new))) < 1
        converged = small_step & (jnp.max(jnp.abs(f)) < opts.atol)
        finite = jnp.all(jnp.isfinite(z_new))
        return z_new, sol[:, 1:], converged, ~finite, k + 1

    def keep_going(carry):
        _, _, converged, broken, k = carry
        return ~converged & ~broken & (k < opts.max_steps)

    init = (z0, jnp.zeros((n, block.size)), jnp.asarray(False), jnp.asarray(False), jnp.asarray(0))
    z, dz, converged, _, steps = jax.lax.while_loop(keep_going, step, step(init))
    return assemble(model, layout, z, converged, steps, opts), dz


def batch_points(base: Model, params: dict, guess: dict, opts: SolverOptions, wrt: tuple[str, ...] = (),
                 rescue: bool = True):
    """Traceable body of `solve_batch`: every point by `newton_with_tangents`; the points that it
    does not solve, again by `jo.solve`'s full chain (a branch taken only when some point needs it)."""

    def start_at(m: Model) -> dict:
        return {**m.guess(), **guess}

    def fast(p):
        m = base.with_params(**p)
        return newton_with_tangents(m, start_at(m), opts, wrt)

    def full(p):
        m = base.with_params(**p)
        sol = _solve_impl(m, start_at(m), SolverOptions(opts.rtol, opts.atol, opts.max_steps, opts.residual_tol,
                                                        True, False, opts.homotopy_steps, opts.solver))
        layout = Layout.of(m, sol.unknowns)
        z = jax.lax.stop_gradient(layout.to_internal(m, sol.unknowns))
        block = implicit.ParameterBlock.of(m, wrt)
        lin = implicit.linearize(lambda zz: residual_vector(m, layout, zz), z)
        F_theta = jax.jacfwd(lambda th: residual_vector(block.apply(m, th), layout, z))(block.flatten(m))
        return assemble(m, layout, z, sol.converged, sol.steps, opts), implicit.tangent(lin, F_theta)

    out = jax.vmap(fast)(params)
    if not rescue:
        return out
    need = ~out[0].converged

    def redo():
        again = jax.vmap(full)(params)

        def pick(a, b):
            return jnp.where(need.reshape(need.shape + (1,) * (jnp.ndim(a) - 1)), b, a)
        return jax.tree_util.tree_map(pick, out, again)

    return jax.lax.cond(jnp.any(need), redo, lambda: out)


_batch_jit = eqx.filter_jit(batch_points)


def solve_batch(model: Model, params: dict, guess: dict | None = None, *, wrt=(), rescue: bool = True,
                rtol: float = 1e-10, atol: float = 1e-10, max_steps: int = 100, residual_tol: float = 1e-8,
                mask: bool = True):
    """Solve many parameter points at once, with exact tangents: the public batched solve.

    Each point runs `newton_with_tangents` (Newton sharing its factorization with the implicit
    derivative); with `rescue=True` the points it does not solve are solved again by `jo.solve`'s
    fallback chain (Levenberg-Marquardt, then Newton; then a homotopy from the model's defaults), a
    branch taken only when some point needs it.
    One compilation serves every batch of the same size and parameter names.

    **Arguments:**

    - `model`: the base model (parameters not in `params` keep its values).
    - `params`: `{name: array}` with a leading batch axis of the same length for every name.
    - `guess`: a starting point in natural units shared by all points (default: each point's guess).
    - `wrt`: parameter names to differentiate by (scalars or arrays).
    - tolerances as in `jo.solve`; `mask`: NaN values at points that are not fine.

    **Returns:** `(solution, dz)`: a batched `Solution` and dz/dtheta per point, shape
    (batch, n_unknowns, P) in internal coordinates (see `newton_with_tangents`).
    """
    if not isinstance(model, Model):
        raise TypeError(f"solve_batch expects a jaxoff Model instance, got {type(model).__name__}")
    model.require_parameters(list(params) + list(wrt))
    sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in params.items()}
    if any(v is None for v in sizes.values()) or len(set(sizes.values())) > 1:
        raise ValueError(f"solve_batch: every parameter array needs the same leading batch length; got {sizes}")
    opts = SolverOptions(rtol, atol, max_steps, residual_tol, True, mask)
    guess = _complete_guess(model, guess, partial=True)
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}
    return _batch_jit(model, params, guess, opts, tuple(wrt), rescue)


def _complete_guess(model: Model, guess, partial: bool = False) -> dict:
    """A float64 starting point from a dict / Solution / None, checked by name and shape.

    With `partial=False` the result has every unknown (missing ones from `model.guess()`), built
    outside compiled code so that solves with and without a user guess share one compilation."""
    if isinstance(guess, Solution):
        if np.ndim(guess.status) != 0 and is_concrete(guess.status):
            raise ValueError("guess: a batched Solution cannot start a single solve; index one point "
                             "(jax.tree_util.tree_map(lambda x: x[i], sol)) or pass a dict")
        guess = dict(guess.unknowns)
    if guess is not None and not isinstance(guess, dict):
        raise TypeError(f"guess must be a dict of unknowns or a Solution, got {type(guess).__name__}")
    guess = {} if guess is None else dict(guess)
    unknown = [k for k in guess if k not in model.unknowns]
    if unknown:
        raise KeyError(f"guess names unknown(s) {unknown}; {model.label()} has {list(model.unknowns)}")
    if partial:
        return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in guess.items()}
    base = _guess_jit(model)
    start = {**base, **guess}
    out = {}
    for k in model.unknowns:
        want = jnp.shape(base[k])
        v = jnp.asarray(start[k], dtype=jnp.float64)
        if k in guess and jnp.shape(v) != want and jnp.ndim(v) != 0:
            raise ValueError(f"guess['{k}'] has shape {jnp.shape(v)}; {model.label()} expects {want}")
        out[k] = jnp.broadcast_to(v, want)
    return out


_solve_jit = eqx.filter_jit(_solve_impl)
# A model's guess may itself be a computation (a few rounds of its fixed-point map): compiled once
# per model structure rather than re-traced on every eager call.
_guess_jit = eqx.filter_jit(lambda model: model.guess())


def solve(
    model: Model,
    guess: dict | Solution | None = None,
    *,
    solver: Solver | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 100,
    residual_tol: float = 1e-8,
    fallback: bool = True,
    mask: bool = True,
    backend: str = "optimistix",
    homotopy_steps: int | None = None,
    throw: bool = False,
) -> Solution:
    """Solve a model's equilibrium.

    By default (see `jaxoff.solvers.default_solver`): dense Newton for small systems, matrix-free
    Newton-Krylov above `jaxoff.implicit.DENSE_MAX` unknowns, each with a fallback chain. Derivatives
    with respect to the model's parameters come from the implicit function theorem
    (`jaxoff.implicit`), so `jax.grad`, `jax.jacfwd`, `jax.jvp`, `jax.vmap` and `jax.jit` all work
    through this function, whichever solver found the root. It never raises inside jit/vmap:
    failed points carry a non-zero `status` and (with `mask=True`) NaN values.

    **Arguments:**

    - `model`: a `jaxoff.Model` instance (parameters already validated by its constructor).
    - `guess`: starting values in natural units, as a dict (missing unknowns from `model.guess()`)
      or a previous `Solution` (a warm start).
    - `solver`: a solver object (`jo.Newton()`, `jo.NewtonKrylov()`, `jo.AndersonFixedPoint()`,
      `jo.Chain(...)`, ...). When given, `fallback`, `backend` and `homotopy_steps` must stay at
      their defaults (they describe the default solver).
    - `rtol`, `atol`, `max_steps`: tolerances of the default solver (per stage).
    - `residual_tol`: a point counts as converged only if max |scaled residual| <= this.
    - `fallback`: use the default fallback chain when the first method fails.
    - `mask`: replace unknowns/outputs of points with non-zero status by NaN.
    - `backend`: "optimistix" (default) or "jaxopt" (shorthand for `solver=jo.JaxoptGaussNewton()`).
    - `homotopy_steps`: the default chain of a small system ends with a `Homotopy` from the model's
      default parameters in this many Newton-corrected steps to start (a step whose corrector
      fails is halved, see `jo.Homotopy`); None (default): 8 for models whose
      parameters are all scalars, none otherwise; 0: no homotopy. It runs only for points that
      Newton and Levenberg-Marquardt did not solve.
    - `throw`: raise `SolveError` (eager calls only) instead of warning when the point is not fine.

    **Returns:** a `Solution` (a pytree): `sol["w"]`, `sol.converged`, `sol.status`,
    `sol.residual_norm`, `sol.steps`, `sol.regime`.
    """
    if not isinstance(model, Model):
        raise TypeError(f"solve expects a jaxoff Model instance, got {type(model).__name__}")
    require_x64("jo.solve")
    if backend not in ("optimistix", "jaxopt"):
        raise ValueError(f"unknown backend {backend!r}; use 'optimistix' or 'jaxopt'")
    if solver is not None and (backend != "optimistix" or homotopy_steps or not fallback):
        raise ValueError("pass either solver=... or the default solver's options (backend, homotopy_steps, "
                         "fallback), not both")
    if backend == "jaxopt":
        solver = JaxoptGaussNewton(atol=atol, max_steps=max_steps)
    opts = SolverOptions(rtol, atol, max_steps, residual_tol, fallback, mask, homotopy_steps, solver)
    start = _complete_guess(model, guess)
    if solver is None and fallback and is_concrete((model, start)):
        # An eager call compiles and runs the chain's first stage alone, and the whole chain (a
        # program about three times larger) only when that stage does not give a fine point: the
        # result is the same, because the chain returns its first stage's root whenever it succeeds.
        first = SolverOptions(rtol, atol, max_steps, residual_tol, False, mask, homotopy_steps)
        sol = _solve_jit(model, start, first)
        if not bool(np.all(np.asarray(sol.status) == CONVERGED)):
            sol = _solve_jit(model, start, opts)
    else:
        sol = _solve_jit(model, start, opts)
    # Only eager calls can warn: under jacfwd/grad the status is concrete but the residuals are traced.
    if is_concrete(sol) and np.ndim(sol.status) == 0 and int(sol.status) != CONVERGED:
        if throw:
            raise SolveError(sol.message())
        warnings.warn(sol.message(), ConvergenceWarning, stacklevel=2)
    return sol


def internal_point(sol: Solution) -> tuple[Layout, jax.Array]:
    """The layout and internal-space vector z of a (unmasked or converged) solution."""
    layout = Layout.of(sol.model, sol.unknowns)
    return layout, layout.to_internal(sol.model, sol.unknowns)


def as_dict(x: Any) -> dict:
    return dict(x) if x is not None else {}
