"""Comparative statics by the implicit function theorem.

At a solution z*(theta) of F(z, theta) = 0, dz/dtheta = -F_z^{-1} F_theta. The Jacobian F_z is
LU-factorized once and reused for every parameter direction; the derivative of any derived quantity
q(z, theta) then follows by the chain rule (one JVP per direction).
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from ._solution import CONVERGED, Solution
from .model import Model
from .solve import Layout, residual_vector, solve

__all__ = ["jacobian", "derivative", "elasticity", "statics", "total_derivatives"]


def _as_list(x) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _default_quantities(model: Model, u: dict) -> dict:
    return {**u, **model.outputs(u)}


def total_derivatives(
    model: Model,
    wrt: Sequence[str],
    quantities: Callable[[Model, dict], dict] | None = None,
    *,
    sol: Solution | None = None,
    **solve_kwargs,
) -> tuple[dict, dict]:
    """Values and total derivatives of any quantities q(model, u) at the equilibrium.

    One LU factorization of F_z serves all directions in `wrt`.

    **Arguments:**

    - `model`: the model; `wrt`: parameter names (scalars).
    - `quantities`: a function `(model, u) -> dict` of the quantities to differentiate; by default
      every unknown and every output.
    - `sol`: a solution of `model` to reuse (else `jo.solve(model, **solve_kwargs)` is called).

    **Returns:** `(values, derivs)` where `values[name]` is the quantity and
    `derivs[name][param]` its total derivative. NaN where the solution's status is not 0.
    """
    wrt = _as_list(wrt)
    model.require_scalar_parameters(wrt, "differentiation")
    quantities = quantities or _default_quantities
    if sol is None:
        solve_kwargs.setdefault("mask", False)
        sol = solve(model, **solve_kwargs)
    return _total_derivatives(model, sol, tuple(wrt), quantities)


@eqx.filter_jit
def _total_derivatives(model, sol, wrt, quantities):
    layout = Layout.of(model, sol.unknowns)
    z = jax.lax.stop_gradient(layout.to_internal(model, sol.unknowns))
    theta = _theta(model, wrt)

    def F(zz, th):
        return residual_vector(model.with_params(**dict(zip(wrt, th))), layout, zz)

    lu = jsl.lu_factor(jax.jacfwd(F, argnums=0)(z, theta))
    F_theta = jax.jacfwd(F, argnums=1)(z, theta)  # (n, k)
    dz = -jsl.lu_solve(lu, F_theta)  # (n, k): one factorization, all directions
    return chain_rule(model, layout, z, dz, wrt, quantities, sol.status == CONVERGED)


def _theta(model: Model, wrt: Sequence[str]) -> jax.Array:
    return jnp.stack([getattr(model, k) for k in wrt]) if wrt else jnp.zeros((0,))


def chain_rule(model: Model, layout: Layout, z, dz, wrt: Sequence[str], quantities, fine) -> tuple[dict, dict]:
    """Values and total derivatives of `quantities(model, u)` given dz/dtheta at internal point z.

    `dz` has one column per name in `wrt` (from the IFT); `fine` (bool) masks values/derivatives
    to NaN where False. One JVP of the quantities per direction.
    """
    theta = _theta(model, wrt)

    def Q(zz, th):
        m = model.with_params(**dict(zip(wrt, th)))
        return quantities(m, layout.to_natural(m, zz))

    eye = jnp.eye(theta.shape[0])
    values = Q(z, theta)
    dq = jax.vmap(lambda dzk, ek: jax.jvp(Q, (z, theta), (dzk, ek))[1], in_axes=(1, 0))(dz, eye)
    nan_bad = lambda x: jnp.where(fine, x, jnp.nan)  # noqa: E731
    values = jax.tree_util.tree_map(nan_bad, values)
    derivs = {name: {k: nan_bad(dq[name][i]) for i, k in enumerate(wrt)} for name in values}
    return values, derivs


def jacobian(model: Model, outputs: Iterable[str] | str | None = None, wrt: Iterable[str] | str | None = None,
             *, sol: Solution | None = None, **solve_kwargs) -> dict:
    """Derivatives of named unknowns/outputs w.r.t. named parameters: `{output: {param: value}}`."""
    outputs = _as_list(outputs)
    wrt = _as_list(wrt) or list(model.shocks) or list(model.parameter_names())
    values, derivs = total_derivatives(model, wrt, sol=sol, **solve_kwargs)
    missing = [o for o in outputs if o not in values]
    if missing:
        import difflib

        hint = difflib.get_close_matches(missing[0], list(values), n=1, cutoff=0.5)
        raise KeyError(f"'{missing[0]}' is not an unknown or output of {model.label()}."
                       + (f" Did you mean '{hint[0]}'?" if hint else ""))
    outputs = outputs or list(model.unknowns)
    return {o: derivs[o] for o in outputs}


def derivative(model: Model, output: str, wrt: str, **kwargs) -> jax.Array:
    """d output / d wrt at the equilibrium, exact by the implicit function theorem.

    **Arguments:** `model`; `output` (an unknown or output name); `wrt` (a parameter name);
    keyword arguments go to `jo.solve` (or pass `sol=` to reuse a solution).

    **Returns:** a float64 scalar array (NaN if the solve failed or left its regime).
    """
    return jacobian(model, [output], [wrt], **kwargs)[output][wrt]


def elasticity(model: Model, output: str, wrt: str, **kwargs) -> jax.Array:
    """d ln output / d ln wrt at the equilibrium (exact; see `derivative`)."""
    sol = kwargs.pop("sol", None) or solve(model, mask=False, **kwargs)
    d = derivative(model, output, wrt, sol=sol)
    return d * getattr(model, wrt) / sol[output]


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

    **Returns:** a pandas DataFrame, with the solution's status in `df.attrs["status"]`.
    """
    import pandas as pd

    if kind not in ("derivative", "elasticity", "semi"):
        raise ValueError(f"kind must be 'derivative', 'elasticity' or 'semi', got {kind!r}")
    outputs = _as_list(outputs) or list(model.unknowns)
    wrt = _as_list(wrt) or list(model.shocks) or list(model.parameter_names())
    if sol is None:
        sol = solve(model, mask=False, **solve_kwargs)
    jac = jacobian(model, outputs, wrt, sol=sol)
    table = {}
    for o in outputs:
        y = float(np.asarray(sol[o]))
        row = {}
        for k in wrt:
            d = float(np.asarray(jac[o][k]))
            x = float(np.asarray(getattr(model, k)))
            row[k] = {"derivative": d, "elasticity": d * x / y, "semi": d / y}[kind]
        table[o] = row
    df = pd.DataFrame.from_dict(table, orient="index")[wrt]
    df.index.name = {"derivative": "d(row)/d(col)", "elasticity": "dln(row)/dln(col)",
                     "semi": "dln(row)/d(col)"}[kind]
    df.attrs["status"] = sol.status_name
    df.attrs["model"] = model.label()
    return df
