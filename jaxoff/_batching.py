"""Batching helpers: fallbacks that run under `jax.vmap` only when some element of the batch needs them."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def fallback_unless(ok, value, fallback, *operands):
    """`value` where `ok`, else `fallback(*operands)` (a pytree like `value`).

    Unbatched this is a `lax.cond`. Under `jax.vmap` a `lax.cond` on a batched predicate becomes a
    select that runs `fallback` for every element; here a custom batching rule runs it (for the whole
    batch, then selects) only when at least one element is not `ok`. `fallback` must not close over
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
        out = jax.lax.cond(jnp.all(args[0]), lambda: args[1], lambda: jax.vmap(pick)(*args))
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return guarded(jnp.asarray(ok, dtype=bool), value, *operands)
