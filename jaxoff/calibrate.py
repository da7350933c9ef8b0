"""Calibration: choose free parameters so that equilibrium moments match data targets.

    import jaxoff as jo
    from jaxoff.calibrate import Target
    res = jo.calibrate(M1(), targets={"skill_premium": 1.6, "g": Target(0.2, weight=100.0)},
                       free={"beta": "log", "p": (0.2, 5.0)})
    res.params, res.se, res.as_frame()

The objective is the weighted least-squares distance between model moments m(theta) and targets t,

    L(theta) = 1/2 sum_k w_k (m_k(theta) - t_k)^2,

where m(theta) is computed at the equilibrium `jo.solve(model(theta))`. Every evaluation is a nested
Newton solve, and its derivatives are exact: `jo.solve` attaches dz/dtheta by the implicit function
theorem, so `jax.jacfwd` (Levenberg-Marquardt) and `jax.grad` (optax) go straight through it.
Free parameters are optimized in an unconstrained space through transforms ("log" for positive,
"logit" for shares, `(lo, hi)` for bounds). `method="exact"` instead appends the free parameters to
the model's unknowns and the equations m_k(theta) = t_k to its residuals, and solves that square
system with `jo.solve` (for exactly identified calibrations).

Inference (see `CalibrationResult`): with G = dm/dtheta at the estimate (exact, by the IFT) and
W = diag(w), the delta-method / sandwich covariance of the estimate is

    V = (G'WG)^-1 G'W S W G (G'WG)^-1,

where S is the covariance of the data moments (`moment_se` or `moment_cov`). If S is not given but
the weights were given explicitly, they are taken to be the inverse variances of the moments
(S = W^-1, so V = (G'WG)^-1); with neither, standard errors are NaN. The singular values of the
scaled Jacobian diag(sqrt(w)) G diag(|theta|) are the identification diagnostic, and the
Andrews-Gentzkow-Shapiro (2017) sensitivity is Lambda = -(G'WG)^-1 G'W.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx

from ._solution import CONVERGED, STATUS_NAMES
from .model import Model
from .solve import solve
from .transforms import Free, Interval, Positive, Transform, Unit

__all__ = [
    "Target", "calibrate", "calibrate_many", "CalibrationResult", "ManyResult", "IdentificationWarning",
    "CalibrationWarning", "make_objective", "Objective", "exact_model",
]

_PENALTY = 1e3  # residual used where the inner solve fails: the optimizer then rejects the step


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
def _as_transform(name: str, spec) -> Transform:
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return Interval(float(spec[0]), float(spec[1]))
    key = (spec or "none").lower() if isinstance(spec, (str, type(None))) else None
    table = {"log": Positive(), "positive": Positive(), "logit": Unit(), "unit": Unit(), "none": Free(),
             "free": Free(), "identity": Free()}
    if key not in table:
        raise ValueError(f"free parameter '{name}': transform must be 'log', 'logit', 'none', a (lo, hi) "
                         f"tuple or a jaxoff Transform, got {spec!r}")
    return table[key]


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


# -- the nested objective (pure JAX) --------------------------------------------------------------
def _full_guess(model: Model, guess=None) -> dict:
    """A complete guess dict of float64 arrays, so every inner solve shares one compiled signature."""
    base = dict(model.guess())
    if guess is not None:
        base.update({k: v for k, v in dict(guess).items() if k in model.unknowns})
    return {k: jnp.asarray(base[k], dtype=jnp.float64) for k in model.unknowns}


def _solve_quiet(model, guess, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve(model, guess=_full_guess(model, guess), mask=False, **dict(spec.solve_kw))


def _moments_at(spec: _Spec, model: Model, theta: dict, guess: dict):
    m = model.with_params(**theta)
    sol = solve(m, guess=guess, mask=False, **dict(spec.solve_kw))
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


def _run_lm(spec, model, z0, t, sqrtw, guess, rtol, atol, max_steps):
    sol = optx.least_squares(_residuals, optx.LevenbergMarquardt(rtol=rtol, atol=atol), z0,
                             args=(spec, model, t, sqrtw, guess), max_steps=max_steps, throw=False)
    return sol.value, sol.result == optx.RESULTS.successful, sol.stats["num_steps"]


def _run_optax(spec, model, z0, t, sqrtw, guess, rtol, atol, max_steps, which, learning_rate):
    args = (spec, model, t, sqrtw, guess)
    f = lambda z: _loss(z, args)  # noqa: E731
    if which == "adam":
        opt = optax.adam(learning_rate)
    else:
        opt = optax.lbfgs()
    vg = optax.value_and_grad_from_state(f) if which == "lbfgs" else jax.value_and_grad(f)

    def step(carry):
        i, z, state, _, _ = carry
        value, grad = vg(z, state=state) if which == "lbfgs" else vg(z)
        grad = jnp.nan_to_num(grad)
        if which == "lbfgs":
            updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=f)
        else:
            updates, state = opt.update(grad, state, z)
        return i + 1, optax.apply_updates(z, updates), state, value, jnp.max(jnp.abs(grad))

    def cond(carry):
        i, _, _, value, gmax = carry
        return (i < max_steps) & (gmax > atol) & (value > rtol ** 2)

    init = (jnp.asarray(0), z0, opt.init(z0), jnp.asarray(jnp.inf), jnp.asarray(jnp.inf))
    i, z, _, value, gmax = jax.lax.while_loop(cond, step, init)
    # the exit test was passed at the last evaluated point (before its final small update)
    return z, (gmax <= atol) | (value <= rtol ** 2), i


_lm_jit = eqx.filter_jit(_run_lm)
_lm_vmap = eqx.filter_jit(eqx.filter_vmap(_run_lm, in_axes=(None, None, 0, None, None, None, None, None, None)))
_optax_jit = eqx.filter_jit(_run_optax)
_optax_vmap = eqx.filter_jit(eqx.filter_vmap(
    _run_optax, in_axes=(None, None, 0, None, None, None, None, None, None, None, None)))


def _lm_many_impl(spec, model, fixed_names, fixed_vals, z0, t, sqrtw, guess, rtol, atol, max_steps):
    m = model.with_params(**dict(zip(fixed_names, fixed_vals))) if fixed_names else model
    return _run_lm(spec, m, z0, t, sqrtw, guess, rtol, atol, max_steps)


_lm_many = eqx.filter_jit(eqx.filter_vmap(
    _lm_many_impl, in_axes=(None, None, None, 0, 0, 0, 0, None, None, None, None)))


@eqx.filter_jit
def _evaluate(spec, model, z, t, sqrtw, guess):
    """Moments, residuals and the exact moment Jacobian dm/dtheta (natural units) at internal z."""
    theta = spec.natural(z)
    th_vec = jnp.stack([theta[k] for k in spec.free])

    def mom(th):
        return _moments_at(spec, model, dict(zip(spec.free, th)), guess)[0]

    vec, ok, sol = _moments_at(spec, model, theta, guess)
    G = jax.jacfwd(mom)(th_vec)
    return th_vec, vec, ok, sol.status, G, sol


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


# -- results -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class CalibrationResult:
    """The outcome of `calibrate`.

    **Fields:** `params` (free parameters, natural units), `moments` (model moments at the estimate),
    `targets`, `weights`, `loss`, `converged` (optimizer success, inner solve fine and, for
    exactly identified problems, moments matched), `status` (a name), `steps`, `se` (delta-method
    standard errors, NaN if not computable; `se_assumption` says which S was used), `cov`,
    `jacobian` (DataFrame dm/dtheta, moments x params), `singular_values` and `condition_number`
    of the scaled Jacobian, `identified`, `unidentified` (parameter names), `sensitivity`
    (DataFrame, AGS Lambda = -(G'WG)^-1 G'W, params x moments: the change of the estimate per unit
    shift in the moment condition m - t; d theta_hat / d t = -Lambda), `model` (the calibrated model),
    `solution`, `method`, `starts` (multi-start table or None), `message`.
    """

    params: dict
    moments: dict
    targets: dict
    weights: dict
    loss: float
    converged: bool
    status: str
    steps: int
    se: dict
    cov: np.ndarray
    jacobian: Any
    singular_values: np.ndarray
    condition_number: float
    identified: bool
    unidentified: list
    sensitivity: Any
    se_assumption: str
    model: Model
    solution: Any
    method: str
    starts: Any = None
    message: str = ""

    def as_frame(self):
        """Parameters (estimate, s.e.) and moments (model, target, deviation, weight) in one DataFrame."""
        import pandas as pd

        rows = [{"kind": "parameter", "name": k, "value": v, "se": self.se.get(k, np.nan)}
                for k, v in self.params.items()]
        rows += [{"kind": "moment", "name": k, "value": self.moments[k], "target": self.targets[k],
                  "deviation": self.moments[k] - self.targets[k], "weight": self.weights[k]}
                 for k in self.targets]
        df = pd.DataFrame(rows, columns=["kind", "name", "value", "se", "target", "deviation", "weight"])
        df.attrs.update(loss=self.loss, converged=self.converged, status=self.status,
                        condition_number=self.condition_number, se_assumption=self.se_assumption)
        return df

    def to_row(self) -> dict:
        """One flat dict (used by `calibrate_many` for its table and checkpoints)."""
        row = {}
        for k, v in self.params.items():
            row[k] = v
            row[f"se:{k}"] = self.se.get(k, np.nan)
        for k in self.targets:
            row[f"model:{k}"] = self.moments[k]
            row[f"target:{k}"] = self.targets[k]
        row.update(loss=self.loss, converged=self.converged, status=self.status, steps=self.steps,
                   condition_number=self.condition_number, identified=self.identified, method=self.method)
        return row

    def __repr__(self):
        p = ", ".join(f"{k}={v:.6g} (se {self.se.get(k, np.nan):.3g})" for k, v in self.params.items())
        return (f"CalibrationResult({p}; loss={self.loss:.3g}, status={self.status}, steps={self.steps}, "
                f"cond={self.condition_number:.3g})")


def _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, names_theta, warn=True):
    k, p = G.shape
    W = np.diag(w)
    scale = np.where(np.abs(th) > 0, np.abs(th), 1.0)
    J = np.sqrt(w)[:, None] * G * scale[None, :]
    finite = np.all(np.isfinite(J))
    if finite:
        _, s, Vt = np.linalg.svd(J, full_matrices=True)
    else:
        s, Vt = np.full(min(k, p), np.nan), np.eye(p)
    s_full = np.concatenate([s, np.zeros(max(0, p - len(s)))])
    smax = s_full.max() if finite and s_full.size else np.nan
    smin = s_full.min() if finite and s_full.size else np.nan
    cond = float(smax / smin) if finite and smin > 0 else float("inf")
    identified = bool(finite and p <= k and cond < 1e8 and smin > 1e-10)
    unidentified = []
    if finite and not identified:
        # the weakly determined directions: right singular vectors of the (near-)zero singular values
        weak = [i for i in range(p) if s_full[i] <= max(1e-8 * smax, 1e-10)] or [p - 1]
        load = np.abs(Vt[weak, :]).max(axis=0)
        unidentified = [names_theta[j] for j in np.argsort(-load) if load[j] > 0.1]
        v = Vt[weak[-1]]
        combo = " ".join(f"{v[j]:+.3f}*dln({names_theta[j]})" for j in range(p) if abs(v[j]) > 0.1)
        msg = (f"parameter(s) {', '.join(unidentified)} not identified by the moments {list(spec.moment_names)}: "
               f"the scaled moment Jacobian has singular values {np.array2string(s_full, precision=3)} "
               f"(condition number {cond:.3g}); moving along {combo} leaves the moments unchanged to first order"
               + (" (fewer moments than free parameters)" if p > k else "")
               + ". Fix one of them or add a moment that separates them.")
        if warn:
            warnings.warn(msg, IdentificationWarning, stacklevel=3)
    A = G.T @ W @ G
    Ainv = np.linalg.pinv(A) if identified else np.full((p, p), np.nan)
    sens = -Ainv @ G.T @ W
    if moment_cov is not None:
        S, assumption = np.asarray(moment_cov, dtype=float), "moment_cov given"
    elif moment_se is not None:
        S, assumption = np.diag(np.asarray(moment_se, dtype=float) ** 2), "moment_se given (independent moments)"
    elif explicit_w:
        S, assumption = np.diag(1.0 / w), "weights are inverse variances of the moments (S = W^-1)"
    else:
        S, assumption = None, "none: pass moment_se/moment_cov (or explicit weights = inverse variances)"
    cov = Ainv @ G.T @ W @ S @ W @ G @ Ainv if S is not None else np.full((p, p), np.nan)
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if S is not None else np.full(p, np.nan)
    if S is not None and not identified:
        se = np.full(p, np.nan)
    return dict(cov=cov, se=se, sv=s_full, cond=cond, identified=identified, unidentified=unidentified,
                sens=sens, assumption=assumption)


def _finish(spec, model, z, success, steps, t, w, explicit_w, guess, method, moment_se, moment_cov,
            starts_table=None, warn=True, sol_override=None):
    import pandas as pd

    th, vec, ok, status, G, sol_fit = _evaluate(spec, model, jnp.asarray(z), jnp.asarray(t),
                                                jnp.sqrt(jnp.asarray(w)), guess)
    th, vec, G = np.asarray(th), np.asarray(vec), np.asarray(G)
    status = int(status)
    ok = bool(ok)
    inf = _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, list(spec.free), warn=warn)
    loss = float(0.5 * np.sum(w * (vec - t) ** 2)) if ok else float("nan")
    exact_id = len(spec.free) == len(spec.moment_names)
    matched = (not exact_id) or (ok and np.all(np.abs(vec - t) <= 1e-6 * np.maximum(1.0, np.abs(t))))
    converged = bool(success) and ok and bool(matched)
    if not ok:
        status_name = STATUS_NAMES.get(status, str(status)) if status != CONVERGED else "nonfinite_moments"
    elif not success:
        status_name = "optimizer_not_converged"
    elif not matched:
        status_name = "targets_not_matched"
    else:
        status_name = "converged"
    params = {k: float(v) for k, v in zip(spec.free, th)}
    fitted = model.with_params(**params)
    sol = sol_override if sol_override is not None else sol_fit
    names = list(spec.moment_names)
    res = CalibrationResult(
        params=params, moments=dict(zip(names, map(float, vec))), targets=dict(zip(names, map(float, t))),
        weights=dict(zip(names, map(float, w))), loss=loss, converged=converged, status=status_name,
        steps=int(steps), se=dict(zip(spec.free, map(float, inf["se"]))), cov=inf["cov"],
        jacobian=pd.DataFrame(G, index=names, columns=list(spec.free)), singular_values=inf["sv"],
        condition_number=inf["cond"], identified=inf["identified"], unidentified=inf["unidentified"],
        sensitivity=pd.DataFrame(inf["sens"], index=list(spec.free), columns=names),
        se_assumption=inf["assumption"], model=fitted, solution=sol, method=method, starts=starts_table,
    )
    res.message = (f"{model.label()} calibrated by {method}: {status_name} after {int(steps)} steps, "
                   f"loss {loss:.3g}")
    return res


# -- public API -------------------------------------------------------------------------------------
def _vec(d, names, what):
    if d is None:
        return None
    if isinstance(d, dict):
        missing = [k for k in names if k not in d]
        if missing:
            raise KeyError(f"{what} lacks {missing}")
        return np.asarray([float(d[k]) for k in names])
    return np.asarray(d, dtype=float)


def calibrate(
    model: Model,
    targets: dict,
    free: dict,
    moments: Callable | None = None,
    *,
    method: str = "lm",
    weights: dict | None = None,
    moment_se: dict | None = None,
    moment_cov=None,
    start: dict | None = None,
    guess=None,
    starts: int | dict | None = None,
    seed: int = 0,
    spread: float = 1.0,
    max_steps: int = 200,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    learning_rate: float = 0.05,
    solve_kwargs: dict | None = None,
    warn: bool = True,
) -> CalibrationResult:
    """Calibrate free parameters of `model` so that equilibrium moments match `targets`.

    **Arguments:**

    - `model`: a jaxoff Model; its current parameter values are the fixed values and the start.
    - `targets`: `{moment name: value or Target(value, weight)}`.
    - `free`: `{parameter: transform}` with transform "log" (positive), "logit" (in (0, 1)), "none",
      `(lo, hi)` bounds, or a `jaxoff.Transform`. All other parameters stay fixed.
    - `moments`: None (moments are unknowns/outputs of the solution, by target name) or a function
      `(sol, model) -> dict` (traceable JAX). In method="exact" it receives a view with `[name]`,
      `.unknowns`, `.outputs`.
    - `method`: "lm" (optimistix Levenberg-Marquardt on the weighted residuals), "adam" or "lbfgs"
      (optax on the loss), or "exact" (parameters moved into the unknowns; square problems only).
    - `weights`: per-moment weights overriding the targets'; `moment_se` / `moment_cov`: standard
      errors / covariance of the data moments for the sandwich formula.
    - `start`: starting values of free parameters (default: the model's values). `guess`: a warm start,
      either a previous `CalibrationResult` (its parameters and equilibrium) or a `Solution`/dict of
      unknowns for the inner solve.
    - `starts`: multi-start under `jax.vmap`: an int (that many starts drawn around the start in the
      transformed space with standard deviation `spread`, plus the start itself) or
      `{param: array}` of starting values. The best converged run is returned.
    - `max_steps`, `rtol`, `atol`: optimizer controls; `learning_rate` for adam;
      `solve_kwargs`: options for the inner `jo.solve` (e.g. `max_steps`).
    - `warn`: emit `IdentificationWarning` / `CalibrationWarning`.

    **Returns:** a `CalibrationResult`.
    """
    spec = _spec(model, targets, free, moments, solve_kwargs)
    t, w, explicit_w = _target_arrays(targets, weights)
    names = spec.moment_names
    mse, mcov = _vec(moment_se, names, "moment_se"), moment_cov
    if isinstance(guess, CalibrationResult):
        start = {**guess.params, **(start or {})}
        inner_guess = dict(guess.solution.unknowns)
    elif guess is not None:
        inner_guess = dict(guess.unknowns) if hasattr(guess, "unknowns") else dict(guess)
    else:
        inner_guess = None
    theta0 = {k: (start or {}).get(k, getattr(model, k)) for k in spec.free}
    model0 = model.with_params(**theta0)
    sol0 = _solve_quiet(model0, inner_guess, spec)
    inner = _full_guess(model, sol0.unknowns if int(sol0.status) == CONVERGED else inner_guess)
    z0 = spec.internal(theta0)
    if not bool(jnp.all(jnp.isfinite(z0))):
        raise ValueError(f"start {theta0} is outside the free parameters' transforms "
                         f"{dict(zip(spec.free, spec.transforms))}")
    sqrtw, tj = jnp.sqrt(jnp.asarray(w)), jnp.asarray(t)

    if method == "exact":
        if starts is not None:
            raise ValueError("multi-start is not available with method='exact'")
        wm = exact_model(model0, targets, free, moments, solve_kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = solve(wm, guess=_full_guess(wm, inner), mask=False,
                        **{"max_steps": max_steps, **dict(spec.solve_kw)})
        z = spec.internal({k: sol.unknowns[k] for k in spec.free})
        ok = int(sol.status) == CONVERGED
        inner_fit = _full_guess(model, {k: sol.unknowns[k] for k in model.unknowns})
        res = _finish(spec, model, z, ok, int(sol.steps), t, w, explicit_w, inner_fit, "exact", mse, mcov, warn=warn)
    elif method in ("lm", "adam", "lbfgs"):
        starts_table = None
        if starts is not None:
            Z0 = _start_points(spec, z0, starts, seed, spread)
            if method == "lm":
                Z, ok, steps = _lm_vmap(spec, model, Z0, tj, sqrtw, inner, rtol, atol, max_steps)
            else:
                Z, ok, steps = _optax_vmap(spec, model, Z0, tj, sqrtw, inner, rtol, atol, max_steps, method,
                                           learning_rate)
            losses = np.asarray(jax.vmap(lambda zz: _loss(zz, (spec, model, tj, sqrtw, inner)))(Z))
            ok = np.asarray(ok)
            import pandas as pd

            starts_table = pd.DataFrame({**{f"start:{k}": np.asarray(v) for k, v in spec.natural(Z0.T).items()},
                                         **{k: np.asarray(v) for k, v in spec.natural(Z.T).items()},
                                         "loss": losses, "success": ok, "steps": np.asarray(steps)})
            score = np.where(ok & np.isfinite(losses), losses, np.inf)
            best = int(np.argmin(np.where(np.isfinite(score), score, np.nan_to_num(losses, nan=np.inf) + 1e300)))
            z, success, nsteps = Z[best], bool(ok[best]), int(np.asarray(steps)[best])
        elif method == "lm":
            z, success, nsteps = _lm_jit(spec, model, z0, tj, sqrtw, inner, rtol, atol, max_steps)
        else:
            z, success, nsteps = _optax_jit(spec, model, z0, tj, sqrtw, inner, rtol, atol, max_steps, method,
                                            learning_rate)
        res = _finish(spec, model, z, bool(success), int(nsteps), t, w, explicit_w, inner, method, mse, mcov,
                      starts_table, warn=warn)
    else:
        raise ValueError(f"method must be 'lm', 'adam', 'lbfgs' or 'exact', got {method!r}")
    if warn and not res.converged:
        warnings.warn(res.message, CalibrationWarning, stacklevel=2)
    return res


def _start_points(spec, z0, starts, seed, spread):
    if isinstance(starts, dict):
        cols = [spec.transforms[i].to_internal(jnp.asarray(starts[k], dtype=jnp.float64))
                for i, k in enumerate(spec.free)]
        return jnp.stack(cols, axis=1)
    n = int(starts)
    key = jax.random.PRNGKey(seed)
    draws = z0[None, :] + spread * jax.random.normal(key, (max(n - 1, 0), z0.shape[0]))
    return jnp.concatenate([z0[None, :], draws], axis=0)


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


# -- many countries ------------------------------------------------------------------------------------
@dataclasses.dataclass
class ManyResult:
    """Outcome of `calibrate_many`: `table` (one row per unit, failures included), `results`
    (CalibrationResult by unit, for units computed in this run), `failed` (ids not converged)."""

    table: Any
    results: dict
    failed: list

    def __repr__(self):
        return f"ManyResult({len(self.table)} units, {len(self.failed)} not converged: {self.failed})"


def _jsonable(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, (np.floating, float)):
            out[k] = None if not math.isfinite(float(v)) else float(v)
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        elif isinstance(v, (np.bool_, bool)):
            out[k] = bool(v)
        else:
            out[k] = v
    return out


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)  # atomic: an interrupt never leaves a half-written checkpoint


def calibrate_many(
    model: Model,
    targets_table,
    free: dict,
    moments: Callable | None = None,
    *,
    method: str = "lm",
    weights: dict | None = None,
    moment_se=None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    warm_start: bool = True,
    batch_size: int = 1,
    on_result: Callable | None = None,
    **kwargs,
) -> ManyResult:
    """Calibrate one model per row of a table of targets (e.g. one row per country).

    **Arguments:**

    - `model`: the base model. Columns of `targets_table` named like a parameter of the model (and
      not free) set that parameter per row (e.g. an endowment ratio taken from data).
    - `targets_table`: a DataFrame indexed by unit id (e.g. iso3); the other columns are target
      moments. A row with a missing target is reported as `missing_target`, not dropped.
    - `free`, `moments`, `method`, `weights`: as in `calibrate` (weights per moment, same for all rows).
    - `moment_se`: None, a dict (same s.e. for all rows) or a DataFrame like `targets_table`.
    - `checkpoint_dir`: write one JSON file per finished unit there; units already present are skipped
      (resume after an interrupt; the settings must match the manifest written at the first run).
    - `progress`: show a tqdm progress bar. `warm_start`: start each unit from the previous unit's
      estimate and equilibrium. `batch_size > 1` (method "lm", no warm start across a batch):
      calibrate that many units at once under `jax.vmap`.
    - `on_result(unit_id, row)`: called after each unit is finished and saved.
    - `warn=False` silences the `CalibrationWarning` listing failed units; further keyword arguments
      go to `calibrate` (e.g. `max_steps`, `solve_kwargs`).

    **Returns:** a `ManyResult`; non-converged units are listed in `failed` (and a `CalibrationWarning`
    names them), never dropped.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    warn = kwargs.pop("warn", True)
    df = targets_table
    if not isinstance(df, pd.DataFrame):
        raise TypeError("targets_table must be a pandas DataFrame indexed by unit id")
    params = set(model.parameter_names())
    fixed_cols = [c for c in df.columns if c in params and c not in free]
    moment_cols = [c for c in df.columns if c not in fixed_cols]
    if not moment_cols:
        raise ValueError("targets_table has no target columns")
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    manifest = {"model": model.label(), "free": {k: repr(_as_transform(k, v)) for k, v in free.items()},
                "moments": moment_cols, "fixed": fixed_cols, "method": method}
    done: dict = {}
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        mpath = ckpt / "manifest.json"
        if mpath.exists():
            old = json.loads(mpath.read_text())
            if old != json.loads(json.dumps(manifest)):
                raise ValueError(f"checkpoint_dir {ckpt} holds a different calibration ({old}); use another "
                                 "directory or delete it")
        else:
            _write_json(mpath, manifest)
        for uid in df.index:
            f = ckpt / f"{uid}.json"
            if f.exists():
                done[uid] = json.loads(f.read_text())
    todo = [u for u in df.index if u not in done]
    results: dict = {}
    rows: dict = dict(done)
    bar = tqdm(total=len(df), initial=len(done), desc=f"calibrate {model.label()}", disable=not progress)
    prev = None

    def record(uid, row):
        row = _jsonable({"id": str(uid), **row})
        rows[uid] = row
        if ckpt is not None:
            _write_json(ckpt / f"{uid}.json", row)
        bar.update(1)
        if on_result is not None:
            on_result(uid, row)

    def unit_problem(uid):
        r = df.loc[uid]
        tg = {}
        for c in moment_cols:
            v = float(r[c])
            tg[c] = Target(v, weights.get(c)) if weights and c in weights else v
        se = None
        if isinstance(moment_se, pd.DataFrame):
            se = {c: float(moment_se.loc[uid, c]) for c in moment_cols}
        elif isinstance(moment_se, dict):
            se = moment_se
        fixed = {c: float(r[c]) for c in fixed_cols}
        return tg, se, fixed

    try:
        if batch_size > 1 and method == "lm":
            _many_batched(model, df, todo, free, moments, unit_problem, record, results, batch_size, kwargs)
        else:
            for uid in todo:
                tg, se, fixed = unit_problem(uid)
                if any(not math.isfinite(float(v if not isinstance(v, Target) else v.value)) for v in tg.values()):
                    record(uid, {"status": "missing_target", "converged": False,
                                 **{f"target:{k}": float(v if not isinstance(v, Target) else v.value)
                                    for k, v in tg.items()}})
                    continue
                try:
                    m = model.replace(**fixed) if fixed else model
                    res = calibrate(m, tg, free, moments, method=method, moment_se=se,
                                    guess=prev if warm_start else None, warn=False, **kwargs)
                    if not res.converged and warm_start and prev is not None:
                        # a bad warm start should not sink a unit: retry from the model's own start
                        res2 = calibrate(m, tg, free, moments, method=method, moment_se=se, warn=False, **kwargs)
                        res = res2 if (res2.converged or not np.isfinite(res.loss)) else res
                    results[uid] = res
                    if res.converged:
                        prev = res
                    row = {**res.to_row(), **fixed}
                    if res.unidentified:
                        row["unidentified"] = ",".join(res.unidentified)
                except Exception as e:  # a unit that raises is reported, not dropped
                    row = {"status": f"error: {type(e).__name__}: {e}", "converged": False}
                record(uid, row)
    except KeyboardInterrupt:
        bar.close()
        where = f"saved in {ckpt}; rerun with the same checkpoint_dir to resume" if ckpt else \
            "not saved (pass checkpoint_dir= to make runs resumable)"
        print(f"\ncalibrate_many interrupted: {len(rows)} of {len(df)} units finished, {where}.", file=sys.stderr)
        raise
    bar.close()
    table = pd.DataFrame([rows[u] for u in df.index], index=pd.Index(list(df.index), name=df.index.name or "id"))
    table = table.drop(columns=["id"], errors="ignore")
    failed = [u for u in df.index if not bool(table.loc[u].get("converged", False))]
    if failed and warn:
        stat = {u: table.loc[u, "status"] for u in failed}
        warnings.warn(f"{len(failed)} of {len(df)} calibrations did not converge: {stat}", CalibrationWarning,
                      stacklevel=2)
    return ManyResult(table, results, failed)


def _many_batched(model, df, todo, free, moments, unit_problem, record, results, batch_size, kwargs):
    """calibrate_many under jax.vmap: LM runs for `batch_size` units at once."""
    kwargs = dict(kwargs)
    solve_kwargs = kwargs.pop("solve_kwargs", None)
    max_steps, rtol, atol = kwargs.pop("max_steps", 200), kwargs.pop("rtol", 1e-10), kwargs.pop("atol", 1e-10)
    first_tg, _, first_fixed = unit_problem(todo[0]) if todo else ({}, None, {})
    if not todo:
        return
    spec = _spec(model, first_tg, free, moments, solve_kwargs)
    fixed_names = tuple(first_fixed)
    sol0 = _solve_quiet(model, None, spec)
    inner = _full_guess(model, sol0.unknowns if int(sol0.status) == CONVERGED else None)
    z0 = spec.internal({k: getattr(model, k) for k in spec.free})
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        probs = [unit_problem(u) for u in chunk]
        T, Wt, E, F = [], [], [], []
        for tg, _, fixed in probs:
            t, w, e = _target_arrays(tg, None)
            T.append(t), Wt.append(w), E.append(e), F.append([fixed[k] for k in fixed_names])
        T, Wt = np.asarray(T), np.asarray(Wt)
        Fv = jnp.asarray(np.asarray(F, dtype=float).reshape(len(chunk), len(fixed_names)))
        good = np.all(np.isfinite(T), axis=1)
        Tj = jnp.asarray(np.where(np.isfinite(T), T, 1.0))
        Wj = jnp.asarray(np.where(np.isfinite(Wt), Wt, 1.0))
        Z0 = jnp.broadcast_to(z0, (len(chunk), z0.shape[0]))
        Z, ok, steps = _lm_many(spec, model, fixed_names, tuple(Fv.T), Z0, Tj, jnp.sqrt(Wj), inner, rtol, atol,
                                max_steps)
        for j, uid in enumerate(chunk):
            tg, se, fixed = probs[j]
            if not good[j]:
                record(uid, {"status": "missing_target", "converged": False,
                             **{f"target:{k}": float(v) for k, v in zip(spec.moment_names, T[j])}})
                continue
            try:
                m = model.with_params(**fixed) if fixed else model
                mse = _vec(se, spec.moment_names, "moment_se")
                res = _finish(spec, m, Z[j], bool(ok[j]), int(steps[j]), T[j], Wt[j], E[j], inner, "lm (vmap)",
                              mse, None, warn=False)
                results[uid] = res
                row = {**res.to_row(), **fixed}
            except Exception as e:
                row = {"status": f"error: {type(e).__name__}: {e}", "converged": False}
            record(uid, row)
