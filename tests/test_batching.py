"""`jaxoff._batching.fallback_unless`: under vmap the fallback runs only when some element needs it,
and with `parts=q` only for the failing elements, in sub-batches of ceil(N/q). Oracle: the elementwise
selection written in numpy, and the number of elements the fallback was evaluated for (a debug
callback inside the fallback runs once per evaluated element under vmap)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxoff._batching import fallback_unless

N = 10


def _run(parts, ok):
    seen = []

    def fallback(x):
        jax.debug.callback(lambda v: seen.append(float(v)), x)
        return x ** 2 + 1.0

    f = jax.jit(jax.vmap(lambda o, x: fallback_unless(o, x, fallback, x, parts=parts)))
    x = jnp.arange(N, dtype=jnp.float64)
    out = np.asarray(f(jnp.asarray(ok), x))
    jax.effects_barrier()
    want = np.where(ok, np.arange(N), np.arange(N) ** 2 + 1.0)
    np.testing.assert_array_equal(out, want)
    return seen


@pytest.mark.parametrize("bad", [[], [3], [3, 7], [0, 1, 2, 3, 4], list(range(N))])
def test_selection_and_fallback_evaluations(bad):
    ok = np.ones(N, dtype=bool)
    ok[bad] = False
    whole = _run(1, ok)
    assert len(whole) == (N if bad else 0)  # parts=1: the whole batch, and only if some element fails
    failing = _run(4, ok)
    size = -(-N // 4)  # 3
    passes = -(-len(bad) // size)
    assert len(failing) == passes * size  # parts=4: only sub-batches holding failing elements
    assert set(np.arange(N)[~ok].astype(float)) <= set(failing)


def test_unbatched_is_a_cond():
    f = jax.jit(lambda ok, x: fallback_unless(ok, x, lambda y: -y, x, parts=4))
    assert float(f(True, 2.0)) == 2.0 and float(f(False, 2.0)) == -2.0
