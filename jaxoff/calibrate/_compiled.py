"""The common path of `calibrate` (no multi-start, not method="exact"): the problem's set-up cached by
structure, and one compiled call that returns every number of the fit in one array.

A small calibration is mostly overhead: measured on Trading Tasks M1 (2 parameters, 2 moments), a
whole call took ~1.4 ms, of which the compiled fit's execution was ~0.3 ms and the rest was set-up in
Python, equinox's filtering of the arguments and the transfer of ~60 result arrays. Hence: the spec
and the square wrapper are built once per problem structure; the model's parameters enter the
compiled function as a flat list of arrays (no equinox filtering per call); the fit's arrays and the
equilibrium (`Solution`) come back packed in one float64 vector, and the `Solution` is rebuilt from
it only when the user asks for it.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model
from ._objective import _exact_class
from ._optimizers import _fit, _fit_impl
from ._problem import _spec

_PLANS: dict = {}
_WRAPPERS: dict = {}


class Plan:
    """A problem's static parts: the spec, the square wrapper (or None), the compiled fit and the
    layouts of its packed output (recorded when the fit is traced)."""

    def __init__(self, spec, wrapper):
        self.spec, self.wrapper = spec, wrapper
        self.free, self.p, self.k = tuple(spec.free), len(spec.free), len(spec.moment_names)
        self.run = jax.jit(partial(_fit_packed, self), static_argnums=(5, 6, 7, 8, 9, 10, 11))
        self.layouts: dict = {}

    def fitter(self, model, guess, method, rtol, atol, max_steps, learning_rate):
        """`fit(th0, t, sqrtw, exact_only)` -> (dict of the fit's numbers, Solution or a function that
        builds it)."""
        leaves, treedef = jax.tree_util.tree_flatten(model)
        spec, wrapper = self.spec, self.wrapper
        if not all(isinstance(x, (jax.Array, np.ndarray, float, int)) for x in leaves):
            def fit(th0, t, sqrtw, exact_only):  # a model with other leaves: equinox's filtered jit
                arrays, sol, _ = _fit(spec, model, th0, t, sqrtw, guess, rtol, atol, max_steps, method,
                                      learning_rate, wrapper, exact_only=exact_only)
                return _numbers(jax.device_get(arrays)), sol
            return fit

        def fit(th0, t, sqrtw, exact_only):
            static = (treedef, rtol, atol, max_steps, method, learning_rate, bool(exact_only))
            v = np.asarray(self.run(leaves, th0, t, sqrtw, guess, *static))
            sol_def, shapes = self.layouts[_signature(static, leaves, guess)]
            a, i = _unpack(v, self.p, self.k)
            return a, partial(_rebuild, sol_def, shapes, v[i:])
        return fit


def plan(model, targets, free, moments, solve_kwargs, method) -> Plan:
    """The `Plan` of a problem. Validated and built once per structure (model class and options, free
    parameters and transforms, target names, moments function, solve options, method); only the
    per-instance checks run on every call."""
    try:
        key = (type(model), tuple(getattr(model, n) for n in model.option_names()), tuple(free.items()),
               tuple(targets), moments, tuple(sorted((solve_kwargs or {}).items())), method)
        found = _PLANS.get(key)
    except (TypeError, AttributeError):  # unhashable options or transforms, or `free` given as a list
        key, found = None, None
    if found is None:
        spec = _spec(model, targets, free, moments, solve_kwargs)
        found = Plan(spec, _square_wrapper(spec, model, method))
        if key is not None:
            _PLANS[key] = found
    else:
        if not isinstance(model, Model):
            raise TypeError(f"calibrate expects a jaxoff Model instance, got {type(model).__name__}")
        for k in found.free:
            if np.ndim(getattr(model, k)) != 0:
                raise ValueError(f"free parameter '{k}' must be a scalar")
    return found


def _square_wrapper(spec, model, method):
    """An instance of the exact-calibration model (Newton first) for square "lm" problems, else None.
    Its parameter values are placeholders: the compiled fit sets them (so it is cached by structure)."""
    if method != "lm" or len(spec.free) != len(spec.moment_names):
        return None
    try:
        cls = _exact_class(type(model), spec)
    except ValueError:  # a free parameter named like an unknown
        return None
    try:
        key = (cls, tuple((n, getattr(model, n)) for n in model.option_names()))
        inst = _WRAPPERS.get(key)
    except TypeError:  # unhashable options: build it every time
        key, inst = None, None
    if inst is None:
        fields = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
        inst = cls(**fields)
        if key is not None:
            _WRAPPERS[key] = inst
    return inst


# -- packing -----------------------------------------------------------------------------------------
_FIELDS = (("z0", "p"), ("z", "p"), ("theta", "p"), ("moments", "k"), ("G", "kp"), ("success", 1), ("steps", 1),
           ("ok", 1), ("status", 1))


def _fit_packed(plan, leaves, th0, t, sqrtw, guess, treedef, rtol, atol, max_steps, method, learning_rate,
                exact_only):
    model = jax.tree_util.tree_unflatten(treedef, leaves)
    arrays, sol, _ = _fit_impl(plan.spec, model, th0, t, sqrtw, guess, rtol, atol, max_steps, method,
                               learning_rate, plan.wrapper, exact_only)
    sol_leaves, sol_def = jax.tree_util.tree_flatten(sol)
    # recorded while tracing (every compiled signature is traced in this process first)
    static = (treedef, rtol, atol, max_steps, method, learning_rate, exact_only)
    plan.layouts[_signature(static, leaves, guess)] = (
        sol_def, tuple((jnp.shape(x), jnp.result_type(x)) for x in sol_leaves))
    parts = [jnp.asarray(arrays[name], dtype=jnp.float64) for name, _ in _FIELDS] + \
            [jnp.asarray(x).astype(jnp.float64) for x in sol_leaves]
    return jnp.concatenate([jnp.ravel(x) for x in parts])


def _signature(static, leaves, guess):
    """What the packed output's layout depends on: the static arguments and the shapes of the
    model's parameters and of the guess (a model class with array parameters of another size is
    traced again, and must not read the other size's layout)."""
    gl, gdef = jax.tree_util.tree_flatten(guess)
    return static, gdef, tuple(np.shape(x) for x in leaves), tuple(np.shape(x) for x in gl)


def _unpack(v, p, k):
    out, i = {}, 0
    for name, size in _FIELDS:
        n = {"p": p, "k": k, "kp": k * p}.get(size, size)
        out[name] = v[i:i + n]
        i += n
    out["G"] = out["G"].reshape(k, p)
    return _numbers(out), i


def _numbers(a):
    """Flags and counts as Python scalars."""
    for name in ("success", "ok"):
        a[name] = bool(np.asarray(a[name]).ravel()[0])
    for name in ("steps", "status"):
        a[name] = int(np.asarray(a[name]).ravel()[0])
    return a


def _rebuild(sol_def, shapes, v):
    """The `Solution` from its packed leaves (device arrays, as `jo.solve` returns)."""
    leaves, i = [], 0
    for shape, dtype in shapes:
        n = int(np.prod(shape, dtype=int))
        leaves.append(v[i:i + n].reshape(shape).astype(dtype))
        i += n
    return jax.tree_util.tree_unflatten(sol_def, jax.device_put(leaves))
