"""The named peer for benchmarks: scipy.optimize.root (hybr) in a Python loop, derivatives by central
finite differences.

The peer solves exactly the same equations as jaxoff: the model's own residual function, in the same
transformed unknowns, compiled once with `jax.jit` and called with NumPy arrays from scipy at every
function evaluation (MINPACK's hybrd builds its own finite-difference Jacobian). It starts from the
model's own guess, like a cold `jo.sweep` point. d quantity / d param is the central difference of two
more root solves at param +- h, warm-started from the solution.
"""
from __future__ import annotations

import time

import jax
import numpy as np
from scipy.optimize import root

from jaxoff.solve import Layout, residual_vector


class ScipyPeer:
    """Per-point scipy solver for `model` varying scalar `param`, reporting `quantity`.

    **Arguments:** `model` (a jaxoff Model), `param` (a scalar parameter name), `quantity` (an
    unknown or output name), `h_rel` (relative finite-difference step).
    """

    def __init__(self, model, param: str, quantity: str, h_rel: float = 1e-6):
        self.model, self.param, self.quantity, self.h_rel = model, param, quantity, h_rel
        self.layout = Layout.of(model, model.guess())

        def F(z, th):
            return residual_vector(model.with_params(**{param: th}), self.layout, z)

        def start(th):
            m = model.with_params(**{param: th})
            return self.layout.to_internal(m, m.guess())

        def Q(z, th):
            m = model.with_params(**{param: th})
            u = self.layout.to_natural(m, z)
            return {**u, **m.outputs(u)}[quantity]

        self._F, self._start, self._Q = jax.jit(F), jax.jit(start), jax.jit(Q)

    def _solve(self, z0, th):
        fun = lambda z: np.asarray(self._F(z, th))  # noqa: E731
        sol = root(fun, z0, method="hybr", options={"xtol": 1e-12})
        ok = sol.success and np.max(np.abs(sol.fun)) < 1e-8
        return sol.x, ok

    def point(self, th: float):
        """(quantity, d quantity/d param, converged) at one parameter value."""
        z, ok = self._solve(np.asarray(self._start(th)), th)
        h = self.h_rel * max(1.0, abs(th))
        zp, okp = self._solve(z, th + h)
        zm, okm = self._solve(z, th - h)
        q = float(self._Q(z, th))
        dq = (float(self._Q(zp, th + h)) - float(self._Q(zm, th - h))) / (2 * h)
        return q, dq, ok and okp and okm

    def run(self, values) -> dict:
        """Solve every value in a Python loop; returns arrays and seconds per point."""
        self.point(float(values[0]))  # compile the jitted residual outside the timing
        t0 = time.perf_counter()
        out = [self.point(float(v)) for v in values]
        sec = time.perf_counter() - t0
        q, dq, ok = (np.array(x) for x in zip(*out))
        return {"q": q, "dq": dq, "ok": ok.astype(bool), "seconds_per_point": sec / len(values)}

