"""The main job on the embedded defaults (`jaxoff demo`).

Solves Grossman and Rossi-Hansberg's Trading Tasks model (spec defaults), prints wages, the
offshoring margin I and the exact dw/dbeta along a path of offshoring costs, checks it against the
paper's sufficient statistic d ln w / d ln beta = -E(I), then shows the large-country model's
comparative statics and a vectorized sweep's throughput.
"""
from __future__ import annotations

import time
import warnings

import numpy as np


def _table(rows, columns, fmt="{: .6f}"):
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    return df.to_string(index=False, float_format=lambda v: fmt.format(v))


def main(quick: bool = False) -> int:
    import jax
    import jax.numpy as jnp

    import jaxoff as jo
    from jaxoff.models import trading_tasks as tt

    M1, M2 = tt.SUBMODELS["M1"], tt.SUBMODELS["M2"]
    print("jaxoff demo - Grossman and Rossi-Hansberg (2008), 'Trading Tasks', AER 98(5)")
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform.upper()}; float64\n")

    m = M1()
    t0 = time.perf_counter()
    sol = jo.solve(m)
    print("1. Small open economy (M1) at the spec defaults:", m)
    print("  ", sol.message(), f"[{time.perf_counter() - t0:.1f} s incl. compilation]\n")

    betas = jnp.array([3.5, 3.0, 2.5, 2.0, 1.5, 1.2])
    solve_at = lambda b: jo.solve(M1(beta=b))  # noqa: E731
    path = jax.jit(jax.vmap(solve_at))(betas)
    dw = jax.jit(jax.vmap(jax.grad(lambda b: solve_at(b)["w"])))(betas)
    rows = []
    for i, b in enumerate(np.asarray(betas)):
        w, I = float(path["w"][i]), float(path["I"][i])
        rows.append([b, I, w, float(path["s"][i]), float(dw[i]), float(dw[i]) * b / w,
                     -float(path["E"][i]), str(path.status_name[i])])
    print("   Cheaper offshoring (lower beta) moves more tasks abroad and RAISES the low-skill wage")
    print("   (the productivity effect); dw/dbeta is exact, by the implicit function theorem:")
    print(_table(rows, ["beta", "I (offshored)", "w", "s", "dw/dbeta", "dlnw/dlnbeta", "-E(I) paper",
                        "status"]))
    err = max(abs(r[5] - r[6]) for r in rows)
    print(f"   max |dlnw/dlnbeta - (-E(I))| = {err:.1e}  (paper: d ln w/d ln beta = -E(I), spec O3)\n")

    print("2. Two large countries (M2): offshoring now moves the relative price p too")
    table = jo.statics(M2(), ["w", "s", "p", "I", "real_w", "welfare"], ["beta", "A_star"], kind="elasticity")
    print(table.to_string(float_format=lambda v: f"{v: .6f}"))
    if hasattr(tt, "wage_decomposition"):
        try:
            print("\n   Wage decomposition per 1% fall in beta (paper eqs. 6-7):")
            print(tt.wage_decomposition(M2()).to_string())
        except Exception as e:  # pragma: no cover - the demo never dies on an optional extra
            print(f"   (wage decomposition unavailable: {e})")
    if quick:
        return 0

    print("\n3. A vectorized sweep: equilibria + exact dw/dbeta over a grid of beta (M2), jo.sweep")
    n, chunk = 100_000, 4096
    grid = np.linspace(1.0, 2.9, n)
    sweep_m2 = lambda betas: jo.sweep(M2(), beta=betas, derivatives=[("w", "beta")],  # noqa: E731
                                      chunk_size=chunk, progress=False)
    t0 = time.perf_counter()
    sweep_m2(grid[:chunk])  # one full chunk: compiles the program every chunk of the real sweep reuses
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = sweep_m2(grid)
    t_run = time.perf_counter() - t0
    print(f"   {n:,} equilibria with dw/dbeta: {t_run:.2f} s ({n / t_run:,.0f} points/s; first call incl. "
          f"compilation {t_first:.1f} s); converged {df['converged'].mean():.1%}; "
          f"w in [{df['w'].min():.4f}, {df['w'].max():.4f}]")
    print("   (against a Python loop of scipy.optimize.root + finite differences on the same equations:"
          " benchmarks/bench_solve.py, README 'Performance')")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print("\n4. Every model family at its defaults:")
        from jaxoff import models

        for fam, subs in models.available().items():
            sid = subs[0]
            try:
                s = jo.solve(models.get(f"{fam}/{sid}")())
                print(f"   {fam}/{sid}: {s.status_name}, residual {float(s.residual_norm):.1e}, "
                      f"{sum(int(np.size(v)) for v in s.unknowns.values())} unknowns")
            except Exception as e:  # pragma: no cover
                print(f"   {fam}/{sid}: error {e}")
    print("\nNext: 'jaxoff models', 'jaxoff statics trading_tasks/M2 --wrt beta --kind elasticity', "
          "and notebooks/01_quickstart.ipynb.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
