"""Calibration problems: targets, free parameters and their transforms, the static spec, and the one
function through which every equilibrium solve of the calibration code goes."""
from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .. import STATUS_NAMES
from ..model import Model
from ..solve import solve
from ..transforms import Free, Interval, Positive, Transform, Unit

CONVERGED = next(k for k, v in STATUS_NAMES.items() if v == "converged")  # the only "fine" status
_PENALTY = 1e3  # residual used where the inner solve fails: the optimizer then rejects the step


def solve_call(model: Model, guess: dict, solve_kw, **overrides):
    """The one place the calibration code calls `jo.solve` (unmasked, so failed points keep their
    values and carry a status). `solve_kw` is the spec's sorted tuple (or a dict) of the user's
    `solve_kwargs`; `overrides` are defaults the caller sets (user options win)."""
    kw = {**overrides, **dict(solve_kw or ())}
    return solve(model, guess=guess, mask=False, **kw)


class IdentificationWarning(UserWarning):
    """The moments do not pin down the named free parameter(s) (singular or ill-conditioned Jacobian)."""


class CalibrationWarning(UserWarning):
    """A calibration (or some countries of `calibrate_many`) did not converge."""


class Target(NamedTuple):
    """A data target: `value`, and `weight` w_k in the loss 1/2 sum w_k (m_k - t_k)^2.

    `weight=None` means 1/value^2 (relative deviations; 1 if value is 0). Explicit weights are read
    as inverse variances of the data moments when standard errors are computed without `moment_se`.
    """

    value: float
    weight: float | None = None


# -- problem specification ------------------------------------------------------------------------
_TRANSFORMS = {"log": Positive(), "positive": Positive(), "logit": Unit(), "unit": Unit(), "none": Free(),
               "free": Free(), "identity": Free()}


def _as_transform(name: str, spec) -> Transform:
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return Interval(float(spec[0]), float(spec[1]))
    key = (spec or "none").lower() if isinstance(spec, (str, type(None))) else None
    if key not in _TRANSFORMS:
        raise ValueError(f"free parameter '{name}': transform must be 'log', 'logit', 'none', a (lo, hi) "
                         f"tuple or a jaxoff Transform, got {spec!r}")
    return _TRANSFORMS[key]


class _Spec(eqx.Module):
    """Static description of a calibration problem (hashable: one compilation per problem shape)."""

    free: tuple = eqx.field(static=True)
    transforms: tuple
    moment_names: tuple = eqx.field(static=True)
    moments_fn: Any = eqx.field(static=True)
    solve_kw: tuple = eqx.field(static=True)

    def natural(self, z):
        return {k: t.to_natural(z[i]) for i, (k, t) in enumerate(zip(self.free, self.transforms))}

    def internal(self, theta: dict):
        return jnp.stack([t.to_internal(jnp.asarray(theta[k], dtype=jnp.float64))
                          for k, t in zip(self.free, self.transforms)])

    def moment_vector(self, sol, model):
        mom = self.moments_fn(sol, model) if self.moments_fn is not None else {k: sol[k] for k in self.moment_names}
        missing = [k for k in self.moment_names if k not in mom]
        if missing:
            raise KeyError(f"moments function returned no '{missing[0]}'; it returned {list(mom)}")
        return jnp.stack([jnp.asarray(mom[k], dtype=jnp.float64).reshape(()) for k in self.moment_names])


def _spec(model: Model, targets: dict, free: dict, moments, solve_kwargs) -> _Spec:
    if not isinstance(model, Model):
        raise TypeError(f"calibrate expects a jaxoff Model instance, got {type(model).__name__}")
    if not free:
        raise ValueError("name at least one free parameter: free={'beta': 'log', ...}")
    if isinstance(free, str):
        free = [free]
    if not isinstance(free, dict):
        # a plain list of names: log for positive parameters, no transform otherwise
        free = {k: ("log" if k in model.parameter_names() and float(np.min(np.asarray(getattr(model, k)))) > 0
                    else "none") for k in free}
    if not targets:
        raise ValueError("give at least one target: targets={'moment': value, ...}")
    names = model.parameter_names()
    for k in free:
        if k not in names:
            import difflib

            hint = difflib.get_close_matches(k, names, n=1, cutoff=0.5)
            raise KeyError(f"{model.label()} has no parameter '{k}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                           + f" Parameters: {', '.join(names)}.")
        if np.ndim(getattr(model, k)) != 0:
            raise ValueError(f"free parameter '{k}' must be a scalar")
    return _Spec(tuple(free), tuple(_as_transform(k, v) for k, v in free.items()), tuple(targets), moments,
                 tuple(sorted((solve_kwargs or {}).items())))


def _target_arrays(targets: dict, weights: dict | None):
    t, w, explicit = [], [], False
    for k, v in targets.items():
        val, wt = (v.value, v.weight) if isinstance(v, Target) else (v, None)
        if weights and k in weights:
            wt = weights[k]
        if wt is None:
            val_f = float(val)
            wt = 1.0 / val_f ** 2 if val_f != 0 and math.isfinite(val_f) else 1.0
        else:
            explicit = True
        t.append(float(val))
        w.append(float(wt))
    return np.asarray(t), np.asarray(w), explicit


def _full_guess(model: Model, guess=None) -> dict:
    """A complete guess dict of float64 arrays, so every inner solve shares one compiled signature."""
    base = dict(model.guess())
    if guess is not None:
        base.update({k: v for k, v in dict(guess).items() if k in model.unknowns})
    return {k: jnp.asarray(base[k], dtype=jnp.float64) for k in model.unknowns}


def _solve_quiet(model, guess, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve_call(model, _full_guess(model, guess), spec.solve_kw)


def _vec(d, names, what):
    if d is None:
        return None
    if isinstance(d, dict):
        missing = [k for k in names if k not in d]
        if missing:
            raise KeyError(f"{what} lacks {missing}")
        return np.asarray([float(d[k]) for k in names])
    return np.asarray(d, dtype=float)


