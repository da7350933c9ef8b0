"""The structured-solver hook of jaxoff.implicit and its small GMRES.

Oracles: numpy.linalg.solve on the same matrices; derivatives through a structured solver against
the dense LU path of the same implicit-function rule.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from jaxoff import implicit  # noqa: E402


def _matrix(n, seed):
    rng = np.random.default_rng(seed)
    return np.eye(n) * 3 + rng.normal(size=(n, n)) / np.sqrt(n)


@pytest.mark.parametrize("precondition", [False, True])
def test_small_gmres_solves_like_numpy(precondition):
    A = _matrix(25, 0)
    b = np.random.default_rng(1).normal(size=25)
    M = np.linalg.inv(A + 0.05 * _matrix(25, 2)) if precondition else None

    def op(x):  # a while loop inside the operator: jax's own gmres would have to transpose it
        return jax.lax.while_loop(lambda c: c[1] < 1, lambda c: (jnp.asarray(A) @ c[0], c[1] + 1), (x, 0))[0]

    x, res = jax.jit(lambda bb: implicit.small_gmres(op, bb, M))(jnp.asarray(b))
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)
    assert res < 1e-12


def test_small_gmres_stops_early_with_a_good_preconditioner():
    A = _matrix(40, 3)
    b = np.ones(40)
    good = np.linalg.inv(A) @ (np.eye(40) + 1e-3 * _matrix(40, 4))
    op = lambda x: jnp.asarray(A) @ x  # noqa: E731
    # six Krylov steps suffice with an approximate inverse, not without one
    x, res = implicit.small_gmres(op, jnp.asarray(b), good, max_iter=6)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-9)
    assert res < 1e-12
    _, res_plain = implicit.small_gmres(op, jnp.asarray(b), None, max_iter=6)
    assert res_plain > 1e-6
