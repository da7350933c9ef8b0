"""Optimizers of the calibration objective: Levenberg-Marquardt (optimistix) and optax (adam,
L-BFGS), single, multi-start and batched under `jax.vmap`."""
from __future__ import annotations

import collections

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import optimistix as optx

from .._batching import fallback_unless
from ._inference import _evaluate_at_root_impl, _evaluate_impl
from ._objective import _loss, _residuals
from ._problem import CONVERGED, solve_call

# How many times each compiled entry point has been traced (read by tests: a repeated call with the
# same problem structure must not retrace).
TRACES: collections.Counter = collections.Counter()


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




def _start_points(spec, z0, starts, seed, spread):
    if isinstance(starts, dict):
        cols = [spec.transforms[i].to_internal(jnp.asarray(starts[k], dtype=jnp.float64))
                for i, k in enumerate(spec.free)]
        return jnp.stack(cols, axis=1)
    n = int(starts)
    key = jax.random.PRNGKey(seed)
    draws = z0[None, :] + spread * jax.random.normal(key, (max(n - 1, 0), z0.shape[0]))
    return jnp.concatenate([z0[None, :], draws], axis=0)




# -- one compiled program per calibration: start solve, optimizer, moments and Jacobian -------------
def _complete_guess(model, z0, spec, guess):
    """A full float64 guess of the model's unknowns at the start: `guess` (None or a partial dict)
    completed from the model's own guess at the starting parameters."""
    m0 = model.with_params(**spec.natural(z0))
    full = dict(m0.guess())
    if guess is not None:
        full.update(guess)
    return m0, {k: jnp.asarray(full[k], dtype=jnp.float64) for k in model.unknowns}


def _start_equilibrium(spec, model, z0, guess):
    """The equilibrium at the start (inner warm start of every objective evaluation); the guess
    itself where that solve fails."""
    m0, full = _complete_guess(model, z0, spec, guess)
    sol0 = solve_call(m0, full, spec.solve_kw)
    ok = sol0.status == CONVERGED
    return {k: jnp.where(ok, jnp.asarray(sol0.unknowns[k], dtype=jnp.float64), full[k]) for k in full}


def _exact_first(spec, model, wrapper, z0, t, guess, max_steps, first_stage=False):
    """Newton on the square system (free parameters appended to the unknowns, moment = target): one
    nested solve instead of an optimizer loop of them. Returns (internal z, ok, steps, equilibrium).

    `first_stage=True` runs only the first solver of the default chain (unless the user chose the
    solver or the fallback), as an eager `jo.solve` does first: a program less than half the size,
    and its size is most of the time of a small calibration. The chain returns that solver's root
    whenever it converges, so running the whole chain only where it does not gives the same result."""
    fields = {n: getattr(model, n) for n in model.parameter_names()}
    fields.update({f"target_{i}": t[i] for i in range(len(spec.moment_names))})
    wm = wrapper.with_params(**fields)
    _, full = _complete_guess(model, z0, spec, guess)
    g = {**full, **spec.natural(z0)}
    g = {k: jnp.asarray(g[k], dtype=jnp.float64) for k in wrapper.unknowns}
    user = dict(spec.solve_kw)
    first = {"fallback": False} if first_stage and not {"solver", "fallback", "backend"} & set(user) else {}
    sol = solve_call(wm, g, spec.solve_kw, max_steps=max_steps, **first)
    z = jnp.stack([tr.to_internal(sol.unknowns[k]) for k, tr in zip(spec.free, spec.transforms)])
    ok = (sol.status == CONVERGED) & jnp.all(jnp.isfinite(z))
    eq = {k: jnp.asarray(sol.unknowns[k], dtype=jnp.float64) for k in model.unknowns}
    return z, ok, sol.steps, eq


def _fit_impl(spec, model, theta0, t, sqrtw, guess, rtol, atol, max_steps, method, learning_rate,
              wrapper=None, exact_only=False):
    """Everything numerical of one `calibrate` call, traced once per problem structure.

    With `wrapper` (the exact-calibration model class of a square problem, method "lm"): with
    `exact_only=True`, Newton on the square system alone (the first solver of its chain); otherwise
    the square system's whole chain, then Levenberg-Marquardt on the objective (from the start, with
    the start's equilibrium as the inner warm start) where it fails. `calibrate` and `calibrate_many`
    run the first and, only for units where it fails, the second: the chain returns its first
    solver's root whenever that converges, so the result is the whole program's. The moments and
    their Jacobian are evaluated at the root found."""
    TRACES["fit"] += 1
    z0 = jnp.stack([tr.to_internal(theta0[i]) for i, tr in enumerate(spec.transforms)])

    if method == "lm" and wrapper is not None:
        # every path ends at a point z with its equilibrium: (z, success, steps, equilibrium,
        # inner solve converged, inner steps); moments, status and Jacobian are evaluated there once
        def exact_fit(first_stage):
            zx, okx, stepsx, eq = _exact_first(spec, model, wrapper, z0, t, guess, max_steps, first_stage)
            ok, stepsx = jnp.asarray(okx, dtype=bool), jnp.asarray(stepsx, dtype=jnp.int32)
            return ok, (zx, ok, stepsx, eq, ok, stepsx)

        if exact_only:
            _, found = exact_fit(True)
        else:
            dyn, static = eqx.partition(model, eqx.is_array)

            def lm(dyn, z0, t, sqrtw, guess):
                m = eqx.combine(dyn, static)
                inner = _start_equilibrium(spec, m, z0, guess)
                zz, ss, nn = _run_lm(spec, m, z0, t, sqrtw, inner, rtol, atol, max_steps)
                sol = solve_call(m.with_params(**spec.natural(zz)), inner, spec.solve_kw)
                eq = {k: jnp.asarray(sol.unknowns[k], dtype=jnp.float64) for k in m.unknowns}
                return (zz, jnp.asarray(ss, dtype=bool), jnp.asarray(nn, dtype=jnp.int32), eq,
                        jnp.asarray(sol.converged, dtype=bool), jnp.asarray(sol.steps, dtype=jnp.int32))

            # the square system's whole chain, then Levenberg-Marquardt on the objective where it fails
            # (under vmap: only if some unit needs it)
            ok_chain, chain = exact_fit(False)
            found = fallback_unless(ok_chain, chain, lm, dyn, z0, t, sqrtw, guess)
        z, success, steps, inner, root_ok, root_steps = found
        evaluated = _evaluate_at_root_impl(spec, model, z, inner, root_ok, root_steps)
        if evaluated is None:  # solve options that SolverOptions cannot express: solve again at z
            evaluated = _evaluate_impl(spec, model, z, inner)
    else:
        inner = _start_equilibrium(spec, model, z0, guess)
        if method == "lm":
            z, success, steps = _run_lm(spec, model, z0, t, sqrtw, inner, rtol, atol, max_steps)
        else:
            z, success, steps = _run_optax(spec, model, z0, t, sqrtw, inner, rtol, atol, max_steps, method,
                                           learning_rate)
        evaluated = _evaluate_impl(spec, model, z, inner)
    th, vec, ok, status, G, sol = evaluated
    arrays = {"z0": z0, "z": z, "success": success, "steps": steps, "theta": th, "moments": vec, "ok": ok,
              "status": status, "G": G}
    return arrays, sol, inner


def _fit_fixed_impl(spec, model, fixed_names, fixed_vals, theta0, t, sqrtw, guess, rtol, atol, max_steps,
                    method, learning_rate, wrapper=None, exact_only=False):
    TRACES["fit_many"] += 1
    m = model.with_params(**dict(zip(fixed_names, fixed_vals))) if fixed_names else model
    arrays, sol, inner = _fit_impl(spec, m, theta0, t, sqrtw, guess, rtol, atol, max_steps, method,
                                   learning_rate, wrapper, exact_only)
    TRACES["fit"] -= 1  # counted as fit_many
    return arrays, sol, inner


_fit = eqx.filter_jit(_fit_impl)
# many units (rows of a panel) in one program: fixed parameters, starts and targets batched
_fit_many = eqx.filter_jit(eqx.filter_vmap(
    _fit_fixed_impl, in_axes=(None, None, None, 0, 0, 0, 0, None, None, None, None, None, None, None, None)))
