"""Implicit differentiation: the one home of dz/dtheta = -F_z^{-1} F_theta and its transpose.

Every place that differentiates an equilibrium goes through this module: the custom JVP of
`jo.solve` (so `jax.jacfwd` and, by transposition, `jax.grad`), `jo.derivative` / `jo.statics`,
directional derivatives, the adjoint `jo.gradient`, the sweep's per-point tangents and the
continuation predictor.

A `Linearization` is F_z at a solved point, ready to solve with. Two kinds:

* **dense** (default for small systems): F_z is formed by forward mode and LU-factorized once;
  every right-hand side (one tangent, a matrix of tangents, an adjoint) reuses that factorization.
* **matrix-free** (large systems): F_z is never formed; restarted GMRES works on Jacobian-vector
  products, and the transpose (reverse mode) on vector-Jacobian products. Memory stays O(n), so
  10^3 - 10^4 unknowns are fine.
* **structured** (a model's own method): a `StructuredSolver` that knows the block structure of
  F_z (e.g. inner contractions and a small Schur complement) solves with JVPs and VJPs its own way.

Every solve is a linear map JAX can transpose (`lu_solve`, `gmres`, or `lax.custom_linear_solve`
around a structured solver), so JAX turns the JVP rule of `jo.solve` into one adjoint solve
F_z^T lambda = g.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

__all__ = ["Linearization", "linearize", "tangent", "tangents", "cotangent", "DENSE_MAX", "default_linear_solver",
           "ParameterBlock", "residual_tangent", "StructuredSolver", "small_gmres",
           "krylov_solver", "contraction_solver", "CONTRACTION_RESTART"]

#: Systems with more unknowns than this are differentiated matrix-free by default.
DENSE_MAX = 600

#: GMRES restart length on a fixed-point linearization I - G_z (see `contraction_solver`).
CONTRACTION_RESTART = 50


def krylov_solver(rtol: float = 1e-11, atol: float = 1e-13, *, restart: int = 200,
                  max_steps: int = 100) -> lx.AbstractLinearSolver:
    """The matrix-free linear solver used for large systems: restarted GMRES on JVPs.

    A long restart (200 Krylov vectors) matters: with short restarts GMRES stagnates on the
    nonsymmetric Jacobians of trade models (measured: restart 60 stagnates at 1e-4 relative on a
    150-unknown Armington economy, restart 150 converges in 3 cycles)."""
    return lx.GMRES(rtol=rtol, atol=atol, restart=restart, max_steps=max_steps)


def contraction_solver(solver: lx.AbstractLinearSolver) -> lx.AbstractLinearSolver:
    """The linear solver for a linearization I - G_z of z - G(z), G a contraction: a GMRES
    `solver`'s restart capped at `CONTRACTION_RESTART` (other solvers unchanged).

    The eigenvalues of I - G_z cluster around 1, so GMRES converges in a few dozen steps and a
    long Krylov basis buys nothing, while each step orthogonalizes against the whole (padded)
    basis: O(n restart) work per step. Measured on the Armington 200 x 25 economy (10,200
    unknowns): one adjoint solve to the same 1e-11 tolerance 81 ms with restart 200, 17 ms with 50
    (gradients equal to 3e-13)."""
    if isinstance(solver, lx.GMRES) and solver.restart > CONTRACTION_RESTART:
        return krylov_solver(rtol=solver.rtol, atol=solver.atol, restart=CONTRACTION_RESTART,
                             max_steps=solver.max_steps)
    return solver


def default_linear_solver(n: int) -> lx.AbstractLinearSolver:
    """Dense LU for n <= `DENSE_MAX` unknowns, restarted GMRES (matrix-free) above."""
    return lx.LU() if n <= DENSE_MAX else krylov_solver()


class StructuredSolver(eqx.Module):
    """A model-specific linear solver for F_z x = b (for systems whose block structure a generic
    method does not see), working with linearizations of the residual function.

    Subclasses implement `solve(residual, z, b, transpose)`: `residual` is the flat map z -> F(z)
    (parameters closed over), `z` the point; return x with F_z x = b (or F_z^T x = b when
    `transpose`). Linearize restricted pieces of `residual` (one block of unknowns, one block of
    equations) with `jax.linearize` / `jax.linear_transpose` so that each step only computes what
    it needs. jaxoff wraps the solve in `jax.lax.custom_linear_solve`, so forward and reverse mode
    both go through it.
    """

    def solve(self, residual: Callable, z: jax.Array, b: jax.Array, transpose: bool) -> jax.Array:
        raise NotImplementedError


def small_gmres(op: Callable, b: jax.Array, preconditioner: jax.Array | None = None, *, rtol: float = 1e-13,
                max_iter: int | None = None) -> tuple[jax.Array, jax.Array]:
    """GMRES without restarts, for operators that are costly to apply: right-preconditioned by a
    matrix M (x = M y), Givens rotations, stopping at the first step whose residual is below `rtol`
    |b|. Unlike `jax.scipy.sparse.linalg.gmres` it never transposes `op` (so `op` may contain while
    loops), and unlike a restarted GMRES it stops at the first converged step. Memory: `max_iter`
    vectors.

    **Arguments:** `op` (x -> A x), `b` (n,), `preconditioner` (n x n, approximately A^-1; default
    none), `rtol`, `max_iter` (Krylov dimension, default n).

    **Returns:** `(x, relative residual estimate)`.
    """
    n = b.shape[0]
    m = n if max_iter is None else min(int(max_iter), n)
    apply_M = (lambda v: v) if preconditioner is None else (lambda v: jnp.asarray(preconditioner, b.dtype) @ v)
    beta = jnp.linalg.norm(b)
    safe = jnp.where(beta > 0, beta, 1.0)
    rows = jnp.arange(m + 1)

    def rotate(i, h_cs_sn):
        h, cs, sn = h_cs_sn
        a, c = h[i], h[i + 1]
        return h.at[i].set(cs[i] * a + sn[i] * c).at[i + 1].set(-sn[i] * a + cs[i] * c), cs, sn

    def cond(c):
        k, *_, res = c
        return (res > rtol) & (k < m)

    def body(c):
        k, V, R, g, cs, sn, _ = c
        w = op(apply_M(V[k]))
        keep = rows <= k
        h = jnp.where(keep, V @ w, 0.0)          # classical Gram-Schmidt, twice (CGS2)
        w = w - h @ V
        h2 = jnp.where(keep, V @ w, 0.0)
        w = w - h2 @ V
        hn = jnp.linalg.norm(w)
        h = (h + h2).at[k + 1].set(hn)
        V = V.at[k + 1].set(jnp.where(hn > 0, w / jnp.where(hn > 0, hn, 1.0), 0.0))
        h, _, _ = jax.lax.fori_loop(0, k, rotate, (h, cs, sn))
        r = jnp.hypot(h[k], h[k + 1])
        r_safe = jnp.where(r > 0, r, 1.0)
        ck, sk = jnp.where(r > 0, h[k] / r_safe, 1.0), jnp.where(r > 0, h[k + 1] / r_safe, 0.0)
        h = h.at[k].set(r).at[k + 1].set(0.0)
        g = g.at[k + 1].set(-sk * g[k]).at[k].set(ck * g[k])
        return k + 1, V, R.at[:, k].set(h[:m]), g, cs.at[k].set(ck), sn.at[k].set(sk), jnp.abs(g[k + 1]) / safe

    V0 = jnp.zeros((m + 1, n), b.dtype).at[0].set(b / safe)
    g0 = jnp.zeros(m + 1, b.dtype).at[0].set(beta)
    init = (0, V0, jnp.zeros((m, m), b.dtype), g0, jnp.zeros(m, b.dtype), jnp.zeros(m, b.dtype),
            jnp.asarray(jnp.where(beta > 0, 1.0, 0.0), b.dtype))
    k, V, R, g, _, _, res = jax.lax.while_loop(cond, body, init)
    used = jnp.arange(m) < k
    R = jnp.where(used[:, None] & used[None, :], R, jnp.eye(m, dtype=b.dtype))
    y = jax.scipy.linalg.solve_triangular(R, jnp.where(used, g[:m], 0.0), lower=False)
    return apply_M(V[:m].T @ y), res


def _is_dense(solver: lx.AbstractLinearSolver) -> bool:
    return isinstance(solver, (lx.LU, lx.QR, lx.SVD, lx.AutoLinearSolver, lx.Cholesky))


class Linearization:
    """F_z at a point, ready to solve with: an LU factorization (dense) or a Krylov solver on
    Jacobian-vector products (matrix-free). Used inside traced code only.

    The solves themselves are JAX's (`jax.scipy.linalg.lu_solve`, `jax.scipy.sparse.linalg.gmres`):
    both are linear maps JAX can transpose (so `jax.grad` through `jo.solve` is one adjoint solve),
    and neither raises on non-finite input. lineax's differentiation rules raise unconditionally on
    NaN input, while jaxoff's contract is NaN derivatives at failed points (under vmap, next to good
    ones); so lineax solver objects only *specify* the method here (`lx.LU()`, `lx.GMRES(...)`) and
    serve optimistix's Newton steps.
    """

    def __init__(self, residual, z, solver, matrix=None):
        self.solver = solver
        self.dense = _is_dense(solver)
        self.structured = isinstance(solver, StructuredSolver)
        self._residual, self._z = residual, z
        if self.dense:
            matrix = jax.jacfwd(residual)(z) if matrix is None else matrix
            self.finite = jnp.all(jnp.isfinite(matrix))
            # a failed point's F_z (NaN) is replaced by I and its solutions by NaN, so that one bad
            # point of a batch does not poison the factorization work of the others
            safe = jnp.where(self.finite, matrix, jnp.eye(matrix.shape[0], dtype=matrix.dtype))
            self.lu = jax.scipy.linalg.lu_factor(safe)
        else:
            self.finite = jnp.all(jnp.isfinite(z))
            self._jvp = lambda v: jax.jvp(residual, (z,), (v,))[1]
            self._vjp = jax.vjp(residual, z)[1]

    @staticmethod
    def dense_from_matrix(matrix: jax.Array) -> Linearization:
        """A dense linearization from an already formed Jacobian matrix (LU-factorized once)."""
        return Linearization(None, None, lx.LU(), matrix)

    def _krylov(self, b, transpose: bool):
        s = self.solver
        op = (lambda v: self._vjp(v)[0]) if transpose else self._jvp
        restart = min(int(getattr(s, "restart", 200)), b.shape[0])
        # "incremental": each restart cycle stops at the first Krylov step whose residual is below
        # tolerance. "batched" (JAX's default) always builds the full `restart` vectors per cycle:
        # 200 operator applications and a 200-column Gram-Schmidt for an adjoint that converges in
        # ~30, which made one adjoint solve 13x the forward solve of a 10,200-unknown economy.
        x, _ = jax.scipy.sparse.linalg.gmres(op, b, tol=float(s.rtol), atol=float(s.atol), restart=restart,
                                             maxiter=int(getattr(s, "max_steps", None) or 100),
                                             solve_method="incremental")
        return x

    def _structured(self, b, transpose: bool):
        s, F, z = self.solver, self._residual, self._z
        return jax.lax.custom_linear_solve(
            (lambda y: self._vjp(y)[0]) if transpose else self._jvp, b,
            solve=lambda _, rhs: s.solve(F, z, rhs, transpose),
            transpose_solve=lambda _, rhs: s.solve(F, z, rhs, not transpose))

    def solve(self, b: jax.Array, *, transpose: bool = False) -> jax.Array:
        """x with F_z x = b (or F_z^T x = b). `b` is a vector (n,) or a matrix (n, k) of columns
        solved with the one factorization. NaN where F_z was not finite."""
        if self.dense:
            x = jax.scipy.linalg.lu_solve(self.lu, b, trans=1 if transpose else 0)
        elif self.structured:
            x = (self._structured(b, transpose) if jnp.ndim(b) == 1 else
                 jax.vmap(lambda col: self._structured(col, transpose), in_axes=1, out_axes=1)(b))
        elif jnp.ndim(b) == 1:
            x = self._krylov(b, transpose)
        else:
            x = jax.vmap(lambda col: self._krylov(col, transpose), in_axes=1, out_axes=1)(b)
        # times NaN (not a select): linear in b, so the transpose (reverse mode) is NaN there too
        return x * jnp.where(self.finite, 1.0, jnp.nan)


def linearize(residual: Callable[[jax.Array], jax.Array], z: jax.Array,
              solver: lx.AbstractLinearSolver | None = None) -> Linearization:
    """Linearize a residual function at z.

    **Arguments:** `residual`: z -> F(z) (flat vector to flat vector, parameters closed over);
    `z`: the point; `solver`: a lineax solver naming the method (`lx.LU()`: dense; `lx.GMRES(rtol,
    atol, restart, max_steps)`: matrix-free; default: `default_linear_solver(z.size)`).

    **Returns:** a `Linearization`.
    """
    solver = default_linear_solver(z.shape[0]) if solver is None else solver
    return Linearization(residual, z, solver)


def tangent(lin: Linearization, dF: jax.Array) -> jax.Array:
    """dz = -F_z^{-1} dF: the implicit-function-theorem tangent for a residual change dF
    (a vector, or a matrix with one column per direction)."""
    return -lin.solve(dF)


def cotangent(lin: Linearization, g: jax.Array) -> jax.Array:
    """lambda with F_z^T lambda = g: the adjoint of `tangent` (reverse mode)."""
    return lin.solve(g, transpose=True)


def residual_tangent(residual_of: Callable[[Any], jax.Array], primal: Any, direction: Any) -> jax.Array:
    """dF = d/dt F(primal + t direction) at t = 0, for any pytree of parameters (one JVP)."""
    return eqx.filter_jvp(residual_of, (primal,), (direction,))[1]


def tangents(lin: Linearization, residual_of: Callable[[Any], jax.Array], primal: Any, direction: Any) -> jax.Array:
    """The IFT tangent dz of the root along a pytree `direction` of parameter changes: one JVP of
    the residuals w.r.t. the parameters and one linear solve."""
    return tangent(lin, residual_tangent(residual_of, primal, direction))


class ParameterBlock(eqx.Module):
    """Some of a model's parameters (any shapes) as one flat vector theta, and back.

    Derivatives w.r.t. array parameters are taken w.r.t. theta and split back by name, each with
    the shape `quantity.shape + parameter.shape`.
    """

    names: tuple[str, ...] = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    @staticmethod
    def of(model, names) -> ParameterBlock:
        names = tuple(names)
        return ParameterBlock(names, tuple(tuple(jnp.shape(getattr(model, k))) for k in names))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(np.prod(s, dtype=int)) for s in self.shapes)

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def flatten(self, model) -> jax.Array:
        if not self.names:
            return jnp.zeros((0,))
        return jnp.concatenate([jnp.ravel(jnp.asarray(getattr(model, k), dtype=jnp.float64)) for k in self.names])

    def apply(self, model, theta: jax.Array):
        """The model with these parameters set from the flat vector `theta` (traceable)."""
        values, i = {}, 0
        for k, shape, n in zip(self.names, self.shapes, self.sizes):
            values[k] = theta[i:i + n].reshape(shape)
            i += n
        return model.with_params(**values) if values else model

    def split(self, a: jax.Array) -> dict:
        """Split the last axis of `a` (length `size`) by parameter, reshaped to each one's shape."""
        out, i = {}, 0
        lead = jnp.shape(a)[:-1]
        for k, shape, n in zip(self.names, self.shapes, self.sizes):
            out[k] = a[..., i:i + n].reshape(lead + shape)
            i += n
        return out
