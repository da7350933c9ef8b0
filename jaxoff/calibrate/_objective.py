"""The nested calibration objective (pure JAX), its public form `make_objective`, and
`method="exact"` (free parameters appended to the model's unknowns)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..model import Model
from ._problem import _PENALTY, CONVERGED, _full_guess, _solve_quiet, _Spec, _spec, _target_arrays, solve_call


def _moments_at(spec: _Spec, model: Model, theta: dict, guess: dict):
    m = model.with_params(**theta)
    sol = solve_call(m, guess, spec.solve_kw)
    vec = spec.moment_vector(sol, m)
    ok = (sol.status == CONVERGED) & jnp.all(jnp.isfinite(vec))
    return vec, ok, sol


def _residuals(z, args):
    spec, model, t, sqrtw, guess = args
    vec, ok, _ = _moments_at(spec, model, spec.natural(z), guess)
    return jnp.where(ok, sqrtw * (vec - t), _PENALTY)


def _loss(z, args):
    r = _residuals(z, args)
    return 0.5 * jnp.sum(r ** 2)


# -- method="exact": parameters as unknowns -----------------------------------------------------------
class _PointView:
    """What a moments function sees in method='exact': `view[name]`, `.unknowns`, `.outputs`, `.model`."""

    def __init__(self, unknowns, outputs, model):
        self.unknowns, self.outputs, self.model = unknowns, outputs, model

    def __getitem__(self, k):
        if k in self.unknowns:
            return self.unknowns[k]
        return self.outputs[k]

    def __contains__(self, k):
        return k in self.unknowns or k in self.outputs


_EXACT_CLASSES: dict = {}


def _exact_class(cls, spec: _Spec):
    """The wrapper class for (model class, problem); cached so each problem shape compiles once.

    Target values are parameters of the wrapper (fields `target_0`, `target_1`, ...), not constants,
    so that calibrating many countries reuses one compilation.
    """
    key = (cls, spec)
    if key in _EXACT_CLASSES:
        return _EXACT_CLASSES[key]
    inner = dict(cls.unknowns)
    clash = [k for k in spec.free if k in inner]
    if clash:
        raise ValueError(f"free parameter(s) {clash} share a name with an unknown of {cls.label()}")
    tnames = [f"target_{i}" for i in range(len(spec.moment_names))]

    def split(self, u):
        theta = {k: u[k] for k in spec.free}
        return self.with_params(**theta), {k: u[k] for k in inner}

    def residuals(self, u):
        m, uo = split(self, u)
        r = dict(cls.residuals(m, uo))
        if spec.moments_fn is not None:
            vec = spec.moment_vector(_PointView(uo, cls.outputs(m, uo), m), m)
        else:
            view = {**uo, **cls.outputs(m, uo)}
            vec = jnp.stack([jnp.asarray(view[k], dtype=jnp.float64).reshape(()) for k in spec.moment_names])
        for i, k in enumerate(spec.moment_names):
            t = getattr(self, tnames[i])
            scale = jnp.where(t != 0, jnp.abs(t), 1.0)
            r[f"target:{k}"] = (vec[i] - t) / scale  # moment = target, relative
        return r

    def outputs(self, u):
        m, uo = split(self, u)
        return dict(cls.outputs(m, uo))

    def regime(self, u):
        m, uo = split(self, u)
        return {**cls.regime(m, uo), "free parameters admissible": m.domain_ok()}

    def guess(self):
        return {**cls.guess(self), **{k: getattr(self, k) for k in spec.free}}

    ns = {"__annotations__": {n: float for n in tnames}, **{n: 0.0 for n in tnames},
          "unknowns": {**inner, **dict(zip(spec.free, spec.transforms))}, "residuals": residuals,
          "outputs": outputs, "regime": regime, "guess": guess, "__module__": cls.__module__,
          "description": f"{cls.description} [exact calibration of {', '.join(spec.free)}]"}
    wrapper = type(f"{cls.__name__}Exact", (cls,), ns)
    _EXACT_CLASSES[key] = wrapper
    return wrapper


def exact_model(model: Model, targets: dict, free: dict, moments=None, solve_kwargs=None):
    """A Model whose unknowns are `model`'s unknowns plus the free parameters and whose residuals add
    (m_k - t_k)/|t_k| = 0 for each target (used by `calibrate(method="exact")`).

    **Arguments:** as `calibrate`; the number of targets must equal the number of free parameters.

    **Returns:** an instance of a subclass of `type(model)` created on the fly (cached per problem
    shape); `jo.solve` it. The free parameters appear among the solution's unknowns under their own
    names; the target values are its parameters `target_0`, `target_1`, ...
    """
    spec = _spec(model, targets, free, moments, solve_kwargs)
    if len(spec.free) != len(spec.moment_names):
        raise ValueError(f"method='exact' needs as many targets as free parameters; got {len(spec.moment_names)} "
                         f"targets {list(spec.moment_names)} for {len(spec.free)} parameters {list(spec.free)}")
    wrapper = _exact_class(type(model), spec)
    t, _, _ = _target_arrays(targets, None)
    fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    fields.update({f"target_{i}": float(v) for i, v in enumerate(t)})
    return wrapper(**fields)


# -- objective for users who want gradients themselves ----------------------------------------------
class Objective(NamedTuple):
    """The calibration objective as JAX functions of the free parameters in natural units.

    `residuals(theta)` (weighted, sqrt(w) (m - t)), `moments(theta)`, `loss(theta)` =
    1/2 ||residuals||^2; `theta` is a vector ordered as `names`. All are differentiable
    (`jax.grad`, `jax.jacfwd`) through the nested equilibrium solve.
    """

    names: tuple
    moment_names: tuple
    residuals: Callable
    moments: Callable
    loss: Callable
    theta0: jax.Array


def make_objective(model: Model, targets: dict, free, moments=None, *, weights=None,
                   solve_kwargs=None) -> Objective:
    """Build the calibration objective without optimizing it (see `Objective`).

    **Arguments:** as `calibrate` (`free` may be a list of names: transforms do not matter here).

    **Returns:** an `Objective`.
    """
    free = {k: None for k in free} if not isinstance(free, dict) else free
    spec = _spec(model, targets, free, moments, solve_kwargs)
    t, w, _ = _target_arrays(targets, weights)
    tj, sqrtw = jnp.asarray(t), jnp.sqrt(jnp.asarray(w))
    guess = _full_guess(model, _solve_quiet(model, None, spec).unknowns)

    def mom(theta):
        return _moments_at(spec, model, dict(zip(spec.free, theta)), guess)[0]

    def res(theta):
        return sqrtw * (mom(theta) - tj)

    def loss(theta):
        return 0.5 * jnp.sum(res(theta) ** 2)

    theta0 = jnp.stack([getattr(model, k) for k in spec.free])
    return Objective(spec.free, spec.moment_names, res, mom, loss, theta0)


