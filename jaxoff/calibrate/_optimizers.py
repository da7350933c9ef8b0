"""Optimizers of the calibration objective: Levenberg-Marquardt (optimistix) and optax (adam,
L-BFGS), single, multi-start and batched under `jax.vmap`."""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import optimistix as optx

from ._objective import _loss, _residuals


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


