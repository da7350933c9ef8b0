"""Benchmark: jo.calibrate (Levenberg-Marquardt with exact IFT Jacobians) vs scipy.optimize.least_squares
with finite-difference Jacobians around the same nested equilibrium solve.

    python benchmarks/bench_calibrate.py [--n 20]

Problem: Trading Tasks M1, free (beta, p) in logs, targets (skill premium, g) generated from n parameter
points. Both sides use the same jitted inner `jo.solve` (compiled before timing), the same start and the
same weighted residuals; scipy runs `least_squares(method="lm", jac="2-point")`. Compilation time of
jo.calibrate is reported separately. Prints the time ratio (not a test).
"""
from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares

import jaxoff as jo
from jaxoff.calibrate import calibrate
from jaxoff.models.trading_tasks import SUBMODELS

M1 = SUBMODELS["M1"]
FREE = {"beta": "log", "p": "log"}
NAMES = ("skill_premium", "g")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    # inside the diversified offshoring regime of M1 (R = p^2/(beta w*) > 1, x, y > 0)
    truths = np.column_stack([rng.uniform(1.4, 2.6, args.n), rng.uniform(0.9, 1.0, args.n)])
    base = M1()

    @jax.jit
    def moments(theta):  # natural (beta, p) -> moment vector, one nested solve
        sol = jo.solve(base.with_params(beta=theta[0], p=theta[1]), mask=False)
        return jnp.stack([sol[k] for k in NAMES])

    targets = [dict(zip(NAMES, map(float, moments(jnp.asarray(t))))) for t in truths]

    t0 = time.perf_counter()
    calibrate(base, targets[0], FREE, warn=False)  # compile
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = [calibrate(base, tg, FREE, warn=False) for tg in targets]
    ours_s = time.perf_counter() - t0

    # the optimization alone (jitted LM loop with IFT Jacobians, no start-up solve, no inference tables)
    from jaxoff.calibrate import _full_guess, _lm_jit, _spec

    spec = _spec(base, targets[0], FREE, None, None)
    inner = _full_guess(base, jo.solve(base, mask=False).unknowns)
    zs = spec.internal({"beta": base.beta, "p": base.p})
    args_ = [(jnp.asarray([tg[k] for k in NAMES]), 1.0 / jnp.abs(jnp.asarray([tg[k] for k in NAMES])))
             for tg in targets]
    _lm_jit(spec, base, zs, *args_[0], inner, 1e-10, 1e-10, 200)[0].block_until_ready()
    t0 = time.perf_counter()
    for t, sw in args_:
        _lm_jit(spec, base, zs, t, sw, inner, 1e-10, 1e-10, 200)[0].block_until_ready()
    loop_s = time.perf_counter() - t0

    # many units at once under jax.vmap (calibrate_many with batch_size = n), inference included
    import pandas as pd

    from jaxoff.calibrate import calibrate_many

    table = pd.DataFrame(targets, index=[f"u{i}" for i in range(args.n)])
    calibrate_many(base, table, FREE, batch_size=args.n, progress=False, warn=False)  # compile
    t0 = time.perf_counter()
    many = calibrate_many(base, table, FREE, batch_size=args.n, progress=False, warn=False)
    vmap_s = time.perf_counter() - t0
    assert not many.failed

    z0 = np.log([float(base.beta), float(base.p)])
    t0 = time.perf_counter()
    theirs, nfev = [], 0
    for tg in targets:
        t = np.array([tg[k] for k in NAMES])
        sw = 1.0 / np.abs(t)  # same default weights as jo.calibrate (relative deviations)

        def resid(z):
            m = np.asarray(moments(jnp.asarray(np.exp(z))))
            return np.where(np.isfinite(m), sw * (m - t), 1e3)  # noqa: B023 (called within this iteration)

        r = least_squares(resid, z0, method="lm", jac="2-point", xtol=1e-12, ftol=1e-12, gtol=1e-12)
        theirs.append(np.exp(r.x))
        nfev += r.nfev
    scipy_s = time.perf_counter() - t0

    err_ours = max(abs(r.params["beta"] / b - 1) for r, (b, _) in zip(ours, truths))
    err_scipy = max(abs(x[0] / b - 1) for x, (b, _) in zip(theirs, truths))
    steps = sum(r.steps for r in ours)
    print(f"{args.n} calibrations of Trading Tasks M1 (free beta, p; 2 moments):")
    print(f"  jo.calibrate (LM, IFT Jacobian): {ours_s:.3f} s  ({steps} LM steps; one-off compile {compile_s:.1f} s; "
          f"max rel. error in beta {err_ours:.1e})")
    print(f"  scipy least_squares (LM, 2-point FD Jacobian): {scipy_s:.3f} s  ({nfev} residual evaluations "
          f"incl. FD; max rel. error in beta {err_scipy:.1e})")
    print(f"  jo.calibrate's jitted LM loop alone: {loop_s:.3f} s")
    print(f"  calibrate_many under jax.vmap (all {args.n} at once, with SEs): {vmap_s:.3f} s")
    print(f"  time ratio scipy / jo.calibrate = {scipy_s / ours_s:.2f}  (full calls, with SEs and diagnostics)")
    print(f"  time ratio scipy / LM loop alone = {scipy_s / loop_s:.2f}")
    print(f"  time ratio scipy / vmapped calibrate_many = {scipy_s / vmap_s:.2f}")
    print(f"  (jo.calibrate's one-off compile, {compile_s:.0f} s here, is not in these ratios)")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main()
