"""`calibrate`: one model, one set of targets."""
from __future__ import annotations

import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model
from ._compiled import plan
from ._inference import CalibrationResult, _build, _finish
from ._objective import _loss, exact_model
from ._optimizers import _lm_vmap, _optax_vmap, _start_points
from ._problem import CONVERGED, CalibrationWarning, _full_guess, _solve_quiet, _target_arrays, _vec, solve_call


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
    solver=None,
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
    - `solver`: the solver object of the inner solves (as in `jo.solve`; default by size).
    - `warn`: emit `IdentificationWarning` / `CalibrationWarning`.

    **Returns:** a `CalibrationResult`.
    """
    if solver is not None:
        solve_kwargs = {**(solve_kwargs or {}), "solver": solver}
    if method not in ("lm", "adam", "lbfgs", "exact"):
        raise ValueError(f"method must be 'lm', 'adam', 'lbfgs' or 'exact', got {method!r}")
    problem = plan(model, targets, free, moments, solve_kwargs, method)
    spec, wrapper = problem.spec, problem.wrapper
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
    if starts is None and method != "exact":
        # the common path: one compiled program (start solve, optimizer, moments, exact Jacobian),
        # cached by problem structure, then numpy for the inference tables
        th0 = np.asarray([float(np.asarray(theta0[k])) for k in spec.free])
        g = None if inner_guess is None else {k: np.asarray(v, dtype=float) for k, v in inner_guess.items()
                                              if k in model.unknowns}
        fit = problem.fitter(model, g, method, rtol, atol, max_steps, learning_rate)
        t_arr, sqrtw = np.asarray(t, dtype=float), np.sqrt(np.asarray(w, dtype=float))
        # a square problem: compile and run Newton on the square system alone, and the whole program
        # (the square system's whole chain, then Levenberg-Marquardt on the objective where it
        # fails) only if that does not converge: the same result as the whole program (see _fit_impl)
        a, sol = fit(th0, t_arr, sqrtw, exact_only=wrapper is not None)
        if wrapper is not None and not a["success"]:
            a, sol = fit(th0, t_arr, sqrtw, exact_only=False)
        if not np.all(np.isfinite(a["z0"])):
            raise ValueError(f"start {theta0} is outside the free parameters' transforms "
                             f"{dict(zip(spec.free, spec.transforms))}")
        res = _build(spec, model, a["theta"], a["moments"], a["ok"], a["status"], a["G"], sol,
                     a["success"], a["steps"], t, w, explicit_w, method, mse, mcov, None, warn)
        if warn and not res.converged:
            warnings.warn(res.message, CalibrationWarning, stacklevel=2)
        return res
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
            sol = solve_call(wm, _full_guess(wm, inner), spec.solve_kw, max_steps=max_steps)
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
        res = _finish(spec, model, z, bool(success), int(nsteps), t, w, explicit_w, inner, method, mse, mcov,
                      starts_table, warn=warn)
    else:
        raise ValueError(f"method must be 'lm', 'adam', 'lbfgs' or 'exact', got {method!r}")
    if warn and not res.converged:
        warnings.warn(res.message, CalibrationWarning, stacklevel=2)
    return res
