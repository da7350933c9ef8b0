"""Comparative statics by the implicit function theorem, for scalar and array parameters.

At a solution z*(theta) of F(z, theta) = 0, dz/dtheta = -F_z^{-1} F_theta (`jaxoff.implicit`).

* Forward (`derivative`, `elasticity`, `jacobian`, `statics`, `total_derivatives`): F_z is
  factorized once (or solved matrix-free for large systems) and reused for every parameter
  direction; a derivative w.r.t. an array parameter has shape `output.shape + parameter.shape`.
* Directional (`directional_derivative`): the change of every output along one pytree of
  parameter changes (e.g. a whole tariff schedule), with one linear solve.
* Reverse (`gradient`): the gradient of any scalar function of the solution (a country's welfare,
  a calibration loss) w.r.t. any parameters by one adjoint solve F_z^T lambda = df/dz, whose cost
  does not grow with the number of parameters.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import implicit
from ._solution import CONVERGED, Solution
from .implicit import ParameterBlock
from .model import Model, is_concrete
from .solve import Layout, SolverOptions, assemble, ift_linear_solver, ift_residual, solve

__all__ = ["jacobian", "derivative", "elasticity", "statics", "total_derivatives", "directional_derivative",
           "gradient", "chain_rule", "own_solution", "total_derivatives_at", "elasticity_of", "CONVERGED"]


def _as_list(x) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _default_quantities(model: Model, u: dict) -> dict:
    return {**{k: u[k] for k in model.unknowns}, **model.outputs(u)}


def own_solution(model: Model, sol: Solution, what: str = "sol") -> Solution:
    """Check that `sol` is a converged, unbatched solution of exactly this model and parameter point.

    A solution of another point, another sub-model, a batch, or a failed solve would give silently
    wrong derivatives, so it is refused with a `ValueError` saying which of these it is."""
    if not isinstance(sol, Solution):
        raise TypeError(f"{what}= must be a jaxoff Solution, got {type(sol).__name__}")
    if type(sol.model) is not type(model):
        raise ValueError(f"{what}= is a solution of {sol.model.label()}, not of {model.label()}")
    if np.ndim(sol.status) != 0:
        raise ValueError(f"{what}= is a batched solution (status shape {np.shape(sol.status)}); pass one point")
    for k in model.option_names():
        if getattr(sol.model, k) != getattr(model, k):
            raise ValueError(f"{what}= was solved with option {k}={getattr(sol.model, k)!r}, the model has "
                             f"{getattr(model, k)!r}")
    if is_concrete(sol.model) and is_concrete(model):
        for k in model.parameter_names():
            a, b = np.asarray(getattr(sol.model, k)), np.asarray(getattr(model, k))
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
                raise ValueError(f"{what}= belongs to another parameter point: {k} = {_short(a)} there, "
                                 f"{_short(b)} in the model")
    if is_concrete(sol.status) and int(sol.status) != CONVERGED:
        raise ValueError(f"{what}= is not a converged equilibrium (status {sol.status_name}); derivatives "
                         "there are not defined")
    return sol


def _short(a: np.ndarray) -> str:
    return f"{float(a):.6g}" if a.ndim == 0 else f"array of shape {a.shape}"


def _solution_for(model: Model, sol: Solution | None, solve_kwargs: dict) -> Solution:
    if sol is not None:
        if solve_kwargs:
            raise TypeError(f"pass either sol= or solver options ({', '.join(solve_kwargs)}), not both")
        return own_solution(model, sol)
    solve_kwargs.setdefault("mask", False)
    return solve(model, **solve_kwargs)


def _point_of(model: Model, sol: Solution):
    layout = Layout.of(model, sol.unknowns)
    return layout, jax.lax.stop_gradient(layout.to_internal(model, sol.unknowns))


def _linearization(model: Model, layout: Layout, z):
    F = ift_residual(model, z.shape[0])
    return implicit.linearize(lambda zz: F(model, layout, zz), z, ift_linear_solver(model, z.shape[0], None))


def _residual_of_params(model: Model, layout: Layout, z, rebuild):
    """theta -> the (IFT) residual at fixed z, with the model rebuilt from theta by `rebuild`."""
    F = ift_residual(model, z.shape[0])
    return lambda th: F(rebuild(th), layout, z)


def total_derivatives(
    model: Model,
    wrt: Sequence[str],
    quantities: Callable[[Model, dict], dict] | None = None,
    *,
    sol: Solution | None = None,
    **solve_kwargs,
) -> tuple[dict, dict]:
    """Values and total derivatives of any quantities q(model, u) at the equilibrium.

    One factorization of F_z serves all directions in `wrt`.

    **Arguments:**

    - `model`: the model; `wrt`: parameter names (scalars or arrays).
    - `quantities`: a function `(model, u) -> dict` of the quantities to differentiate; by default
      every unknown and every output.
    - `sol`: a converged solution of exactly this model to reuse (else `jo.solve(model, **solve_kwargs)`).

    **Returns:** `(values, derivs)` where `values[name]` is the quantity and `derivs[name][param]`
    its total derivative, of shape `values[name].shape + param.shape`. NaN where the solution's
    status is not 0.
    """
    wrt = _as_list(wrt)
    model.require_parameters(wrt)
    quantities = quantities or _default_quantities
    sol = _solution_for(model, sol, solve_kwargs)
    return _total_derivatives(model, sol, tuple(wrt), quantities)


def total_derivatives_at(model: Model, sol: Solution, wrt: Sequence[str], quantities) -> tuple[dict, dict]:
    """As `total_derivatives` at a given (unchecked, possibly traced) solution: for code inside
    jit/vmap (sweeps, calibration). `quantities` must be hashable (it is a static argument)."""
    return _total_derivatives(model, sol, tuple(wrt), quantities)


@eqx.filter_jit
def _total_derivatives(model, sol, wrt, quantities):
    layout, z = _point_of(model, sol)
    block = ParameterBlock.of(model, wrt)
    F_theta = jax.jacfwd(_residual_of_params(model, layout, z, lambda th: block.apply(model, th)))(block.flatten(model))
    dz = implicit.tangent(_linearization(model, layout, z), F_theta)  # (n, P): all directions, one factorization
    return chain_rule(model, layout, z, dz, block, quantities, sol.status == CONVERGED)


def chain_rule(model: Model, layout: Layout, z, dz, wrt, quantities, fine) -> tuple[dict, dict]:
    """Values and total derivatives of `quantities(model, u)` given dz/dtheta at internal point z.

    `dz` has one column per entry of the flattened `wrt` parameters (a `ParameterBlock` or a
    sequence of names), from the implicit function theorem; `fine` (bool) masks values/derivatives
    to NaN where False. One JVP of the quantities per column.

    **Returns:** `(values, derivs)` with `derivs[name][param]` of shape `value.shape + param.shape`.
    """
    block = wrt if isinstance(wrt, ParameterBlock) else ParameterBlock.of(model, wrt)
    theta = block.flatten(model)

    def Q(zz, th):
        m = block.apply(model, th)
        return quantities(m, m.point(layout.to_natural(m, zz)))

    values = Q(z, theta)
    dq = jax.vmap(lambda dzk, ek: jax.jvp(Q, (z, theta), (dzk, ek))[1], in_axes=(1, 0), out_axes=-1)(
        dz, jnp.eye(block.size))
    nan_bad = lambda x: jnp.where(fine, x, jnp.nan)  # noqa: E731
    values = jax.tree_util.tree_map(nan_bad, values)
    derivs = {name: {k: nan_bad(v) for k, v in block.split(dq[name]).items()} for name in values}
    return values, derivs


def _check_names(model: Model, names: list[str], available) -> None:
    missing = [o for o in names if o not in available]
    if missing:
        hint = difflib.get_close_matches(missing[0], list(available), n=1, cutoff=0.5)
        raise KeyError(f"'{missing[0]}' is not an unknown or output of {model.label()}."
                       + (f" Did you mean '{hint[0]}'?" if hint else f" Names: {', '.join(available)}."))


def jacobian(model: Model, outputs: Iterable[str] | str | None = None, wrt: Iterable[str] | str | None = None,
             *, sol: Solution | None = None, **solve_kwargs) -> dict:
    """Derivatives of named unknowns/outputs w.r.t. named parameters: `{output: {param: array}}`,
    each of shape `output.shape + param.shape`."""
    outputs = _as_list(outputs)
    wrt = _as_list(wrt) or list(model.shocks) or list(model.parameter_names())
    model.require_parameters(wrt)
    return _jacobian_at(model, _solution_for(model, sol, solve_kwargs), outputs, wrt)


def _jacobian_at(model: Model, sol: Solution, outputs: list[str], wrt: list[str]) -> dict:
    values, derivs = _total_derivatives(model, sol, tuple(wrt), _default_quantities)
    _check_names(model, outputs, values)
    return {o: derivs[o] for o in (outputs or list(model.unknowns))}


def derivative(model: Model, output: str, wrt: str, **kwargs) -> jax.Array:
    """d output / d wrt at the equilibrium, exact by the implicit function theorem.

    **Arguments:** `model`; `output` (an unknown or output name); `wrt` (a parameter name, scalar
    or array); keyword arguments go to `jo.solve` (or pass `sol=` to reuse a solution).

    **Returns:** a float64 array of shape `output.shape + parameter.shape` (a scalar for scalar
    output and parameter); NaN if the solve failed or left its regime.
    """
    return jacobian(model, [output], [wrt], **kwargs)[output][wrt]


def elasticity_of(d, x, y):
    """Elasticities from derivatives d (shape y.shape + x.shape): d * x / y, elementwise."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    return d * x.reshape((1,) * y.ndim + x.shape) / y.reshape(y.shape + (1,) * x.ndim)


def elasticity(model: Model, output: str, wrt: str, **kwargs) -> jax.Array:
    """d ln output / d ln wrt at the equilibrium (exact; elementwise for arrays, shape as `derivative`)."""
    model.require_parameters([wrt])
    sol = _solution_for(model, kwargs.pop("sol", None), kwargs)
    d = _jacobian_at(model, sol, [output], [wrt])[output][wrt]
    return elasticity_of(d, getattr(model, wrt), sol[output])


def directional_derivative(model: Model, direction: dict, outputs: Iterable[str] | str | None = None, *,
                           sol: Solution | None = None, **solve_kwargs) -> dict:
    """The change of outputs along a direction in parameter space, with one linear solve.

    d/dt q(z*(theta + t v), theta + t v) at t = 0, for a direction v given as `{param: change}`
    (arrays of the parameters' shapes, e.g. a whole tariff change `{"tariffs": new - old}`).

    **Arguments:** `model`; `direction` (`{name: array}`; parameters not named do not move);
    `outputs` (unknown/output names, default all unknowns and outputs); `sol` or solver options.

    **Returns:** `{output: array}` of each output's shape.
    """
    if not isinstance(direction, dict) or not direction:
        raise TypeError("direction must be a non-empty dict {parameter name: change}")
    model.require_parameters(direction)
    v = {}
    for k, dv in direction.items():
        dv = jnp.asarray(dv, dtype=jnp.float64)
        want = jnp.shape(getattr(model, k))
        if dv.shape != want:
            raise ValueError(f"direction['{k}'] has shape {dv.shape}; parameter {k} has shape {want}")
        v[k] = dv
    sol = _solution_for(model, sol, solve_kwargs)
    values, dq = _directional(model, sol, v)
    outputs = _as_list(outputs)
    _check_names(model, outputs, values)
    return {o: dq[o] for o in (outputs or values)}


@eqx.filter_jit
def _directional(model, sol, v):
    layout, z = _point_of(model, sol)
    names = tuple(v)

    def with_v(vals):
        return model.with_params(**dict(zip(names, vals)))

    theta = tuple(getattr(model, k) for k in names)
    dirs = tuple(v[k] for k in names)
    dz = implicit.tangents(_linearization(model, layout, z), _residual_of_params(model, layout, z, with_v),
                           theta, dirs)

    def Q(zz, th):
        m = with_v(th)
        return _default_quantities(m, m.point(layout.to_natural(m, zz)))

    values, dq = jax.jvp(Q, (z, theta), (dz, dirs))
    fine = sol.status == CONVERGED
    return (jax.tree_util.tree_map(lambda x: jnp.where(fine, x, jnp.nan), values),
            jax.tree_util.tree_map(lambda x: jnp.where(fine, x, jnp.nan), dq))


def gradient(model: Model, f: Callable[[Solution], jax.Array], wrt: Iterable[str] | str | None = None, *,
             sol: Solution | None = None, **solve_kwargs) -> dict:
    """Gradient of a scalar function of the equilibrium w.r.t. parameters, by one adjoint solve.

    With F(z, theta) = 0 at the solution and f = f(solution(z, theta), theta), the gradient is
    df/dtheta = f_theta - lambda^T F_theta with F_z^T lambda = f_z: one transposed linear solve
    (dense LU, or GMRES on vector-Jacobian products for large systems) and one reverse pass through
    the residuals, whatever the number of parameters (a 31 x 31 cost matrix, 20 x 31 x 31 tariffs).

    **Arguments:**

    - `model`; `f`: a function of a `Solution` returning a scalar, e.g.
      `lambda s: s["welfare"][3]` or a calibration loss. It sees unmasked values.
    - `wrt`: parameter names (default: every parameter).
    - `sol` (a converged solution of this model to reuse) or solver options for `jo.solve`.

    **Returns:** `{param: gradient}`, each of the parameter's shape (NaN if the solve failed).
    """
    if not callable(f):
        raise TypeError("f must be a function of a Solution returning a scalar")
    wrt = _as_list(wrt) or list(model.parameter_names())
    model.require_parameters(wrt)
    sol = _solution_for(model, sol, solve_kwargs)
    return _gradient(model, sol, tuple(wrt), f)


@eqx.filter_jit
def _gradient(model, sol, wrt, f):
    layout, z = _point_of(model, sol)
    block = ParameterBlock.of(model, wrt)
    theta = block.flatten(model)
    raw = SolverOptions(mask=False)

    def h(zz, th):
        value = f(assemble(block.apply(model, th), layout, zz, True, 0, raw))
        if jnp.shape(value) != ():
            raise ValueError(f"gradient: f must return a scalar, got shape {jnp.shape(value)}")
        return value

    f_z, f_theta = jax.grad(h, argnums=(0, 1))(z, theta)
    lam = implicit.cotangent(_linearization(model, layout, z), f_z)
    _, vjp = jax.vjp(_residual_of_params(model, layout, z, lambda th: block.apply(model, th)), theta)
    g = f_theta - vjp(lam)[0]
    g = jnp.where(sol.status == CONVERGED, g, jnp.nan)
    return block.split(g)


def statics(
    model: Model,
    outputs: Iterable[str] | str | None = None,
    wrt: Iterable[str] | str | None = None,
    *,
    kind: str = "derivative",
    sol: Solution | None = None,
    **solve_kwargs,
):
    """A table of comparative statics: rows are outputs, columns parameters.

    **Arguments:**

    - `outputs`: names of unknowns/outputs (default: all unknowns).
    - `wrt`: parameter names (default: the model's `shocks`, else all parameters).
    - `kind`: "derivative" (d y/d x), "elasticity" (d ln y/d ln x) or "semi" (d ln y/d x).

    Array-valued outputs and parameters are expanded entry by entry (rows `q[i]`, columns `p[i,j]`).

    **Returns:** a pandas DataFrame, with the solution's status in `df.attrs["status"]`.
    """
    import pandas as pd

    if kind not in ("derivative", "elasticity", "semi"):
        raise ValueError(f"kind must be 'derivative', 'elasticity' or 'semi', got {kind!r}")
    outputs = _as_list(outputs) or list(model.unknowns)
    wrt = _as_list(wrt) or list(model.shocks) or list(model.parameter_names())
    model.require_parameters(wrt)
    sol = _solution_for(model, sol, solve_kwargs)
    jac = _jacobian_at(model, sol, outputs, wrt)
    table = {}
    for o in outputs:
        y = np.asarray(sol[o], dtype=float)
        for idx_o in np.ndindex(y.shape):
            row = {}
            for k in wrt:
                x = np.asarray(getattr(model, k), dtype=float)
                d = np.asarray(jac[o][k]).reshape(y.shape + x.shape)
                for idx_p in np.ndindex(x.shape):
                    dv = float(d[idx_o + idx_p])
                    yv, xv = float(y[idx_o]), float(x[idx_p])
                    row[_entry(k, idx_p)] = {"derivative": dv, "elasticity": dv * xv / yv, "semi": dv / yv}[kind]
            table[_entry(o, idx_o)] = row
    df = pd.DataFrame.from_dict(table, orient="index")
    df = df.reindex(index=list(table), columns=list(next(iter(table.values()), {})))  # the requested order
    df.index.name = {"derivative": "d(row)/d(col)", "elasticity": "dln(row)/dln(col)",
                     "semi": "dln(row)/d(col)"}[kind]
    df.attrs["status"] = sol.status_name
    df.attrs["model"] = model.label()
    return df


def _entry(name: str, idx: tuple) -> str:
    return name if not idx else f"{name}[{','.join(str(i) for i in idx)}]"
