"""Batching helpers: fallbacks that run under `jax.vmap` only when some element of the batch needs them."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def fallback_unless(ok, value, fallback, *operands, parts: int = 1):
    """`value` where `ok`, else `fallback(*operands)` (a pytree like `value`).

    Unbatched this is a `lax.cond`. Under `jax.vmap` a `lax.cond` on a batched predicate becomes a
    select that runs `fallback` for every element; here a custom batching rule runs it only when at
    least one element is not `ok`. With `parts=1` it then runs for the whole batch; with `parts=q > 1`
    only for the failing elements, in sub-batches of 1/q of the batch (`_failing_only`): cheaper
    when few fail (a panel of calibrations), at the price of a longer compilation (measured on a
    vmapped solve chain: +30%), so the solver chains keep `parts=1`. `fallback` must not close over
    batched values: pass them as `operands`.
    """

    def pick(ok, value, *operands):
        return jax.lax.cond(ok, lambda: value, lambda: fallback(*operands))

    guarded = jax.custom_batching.custom_vmap(pick)

    @guarded.def_vmap
    def _batched(axis_size, in_batched, ok, value, *operands):
        args = (ok, value, *operands)

        def bcast(x, batched):
            return x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

        args = jax.tree_util.tree_map(bcast, args, tuple(in_batched))
        out = jax.lax.cond(jnp.all(args[0]), lambda: args[1], lambda: _failing_only(pick, axis_size, args, parts))
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return guarded(jnp.asarray(ok, dtype=bool), value, *operands)


def _failing_only(pick, axis_size, args, parts):
    """`vmap(pick)(*args)` computed only for the elements whose `ok` (args[0]) is False: they are
    gathered into sub-batches of ceil(axis_size / parts) (one compiled sub-batch shape), which run in
    a loop until every failing element is done, and scattered back. With parts = 4, a panel of 680
    calibrations with 18 failures pays a quarter of the full fallback; a batch where everything
    fails pays about the same as the full batch (four passes of a quarter)."""
    size = -(-axis_size // parts)
    if size >= axis_size:
        return jax.vmap(pick)(*args)
    ok = args[0]
    order = jnp.argsort(ok.astype(jnp.int32), stable=True)  # failing elements first
    n_bad = jnp.sum(~ok)

    def body(carry):
        start, out = carry
        # the last sub-batch is shifted left to fit: it may redo elements, which gives the same values
        idx = jax.lax.dynamic_slice(order, (jnp.minimum(start, axis_size - size),), (size,))
        sub = jax.vmap(pick)(*jax.tree_util.tree_map(lambda x: x[idx], args))
        return start + size, jax.tree_util.tree_map(lambda o, r: o.at[idx].set(r), out, sub)

    _, out = jax.lax.while_loop(lambda c: c[0] < n_bad, body, (jnp.asarray(0, n_bad.dtype), args[1]))
    return out
