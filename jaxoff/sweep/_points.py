"""What a sweep computes at each point: the solve, derivatives, flags (one compiled body)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ..model import Model
from ..solve import SolverOptions, internal_point, newton_with_tangents, solve_from
from ..statics import CONVERGED, chain_rule, elasticity_of, total_derivatives_at


# -- what to compute at each point -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Pick:
    """Hashable `quantities` function for `statics.total_derivatives_at`: a few unknowns/outputs."""

    names: tuple[str, ...]

    def __call__(self, model: Model, u: dict) -> dict:
        allq = {**u, **model.outputs(u)}
        return {k: allq[k] for k in self.names}


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Static description of the per-point computation (part of the compilation cache key)."""

    outputs: tuple[str, ...]
    derivatives: tuple[tuple[str, str], ...]
    elasticities: tuple[tuple[str, str], ...]
    opts: SolverOptions
    mask: bool

    @property
    def wrt(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for _, p in self.derivatives + self.elasticities))

    @property
    def differentiated(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for q, _ in self.derivatives + self.elasticities))


def _dname(q: str, p: str) -> str:
    return f"d{q}/d{p}"


def _ename(q: str, p: str) -> str:
    return f"dln{q}/dln{p}"


def _record(m: Model, sol, spec: _Spec, dz=None) -> dict:
    """Everything recorded at one solved point: unknowns, outputs, derivatives, flags, diagnostics.

    `dz`: dz/dtheta from the solver's own factorization (fast path), else the IFT is done here.
    Derivatives w.r.t. array parameters have the parameter's shape per point."""
    out = {"unknowns": dict(sol.unknowns), "outputs": {k: sol.outputs[k] for k in spec.outputs}}
    if spec.wrt:
        # exact IFT statics, one LU of F_z for all parameters (jaxoff.statics internals)
        if dz is None:
            values, derivs = total_derivatives_at(m, sol, spec.wrt, _Pick(spec.differentiated))
        else:
            layout, z = internal_point(sol)
            values, derivs = chain_rule(m, layout, z, dz, spec.wrt, _Pick(spec.differentiated),
                                        sol.status == CONVERGED)
        out["derivatives"] = {_dname(q, p): derivs[q][p] for q, p in spec.derivatives}
        out["elasticities"] = {_ename(q, p): elasticity_of(derivs[q][p], getattr(m, p), values[q])
                               for q, p in spec.elasticities}
    if spec.mask:
        fine = sol.status == CONVERGED
        out = jax.tree_util.tree_map(lambda x: jnp.where(fine, x, jnp.nan), out)
    out.update(regime=dict(sol.regime), status=sol.status, converged=sol.converged,
               residual_norm=sol.residual_norm, steps=sol.steps)
    return out


def _point(m: Model, guess: dict, spec: _Spec) -> dict:
    start = {**m.guess(), **guess}  # complete start: the model's guess at this point, user values on top
    if not spec.opts.fallback and spec.opts.solver is None:
        # first pass: Newton sharing its last factorization with the IFT (failures are redone below)
        sol, dz = newton_with_tangents(m, start, spec.opts, spec.wrt)
        return _record(m, sol, spec, dz)
    return _record(m, solve_from(m, start, spec.opts), spec)  # opts.mask is False: raw values for the IFT


def _batch(base: Model, params: dict, guess: dict, spec: _Spec) -> dict:
    return jax.vmap(lambda p: _point(base.with_params(**p), guess, spec))(params)


