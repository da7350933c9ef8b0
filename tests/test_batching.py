"""`jaxoff._batching.fallback_unless`: under vmap the fallback runs (for the whole batch) only when
some element needs it. Oracle: the elementwise selection written in numpy, and the number of elements
the fallback was evaluated for (a debug callback inside the fallback runs once per evaluated element
under vmap)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxoff._batching import fallback_unless

N = 10


def _run(ok):
    seen = []

    def fallback(x):
        jax.debug.callback(lambda v: seen.append(float(v)), x)
        return x ** 2 + 1.0

    f = jax.jit(jax.vmap(lambda o, x: fallback_unless(o, x, fallback, x)))
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
    seen = _run(ok)
    assert len(seen) == (N if bad else 0)  # the whole batch, and only if some element fails


def test_unbatched_is_a_cond():
    f = jax.jit(lambda ok, x: fallback_unless(ok, x, lambda y: -y, x))
    assert float(f(True, 2.0)) == 2.0 and float(f(False, 2.0)) == -2.0
