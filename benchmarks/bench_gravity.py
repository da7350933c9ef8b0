"""Structural gravity: jaxoff against gegravity 0.3, measured in the same run (printed, never asserted).

Three tasks on gegravity's own example (30 countries, 2006, Canada-Japan PTA):

1. one counterfactual (baseline MRs + conditional + gegravity's "full GE"): gegravity's
   OneSectorGE (build_baseline + define_experiment + simulate, default tolerances 1e-8) against
   jaxoff `simulate(variant="gegravity")` after compilation (and `variant="full"`, the converged
   equilibrium gegravity does not compute);
2. one set of standard errors of every country result: jaxoff's delta method (exact Jacobian w.r.t.
   the 6 coefficients) against the only route gegravity offers, a Monte Carlo (its time per trial);
3. a 1,000-draw Monte Carlo: jaxoff's vmapped `monte_carlo` against gegravity's MonteCarloGE, whose
   time is measured on --peer-trials trials and extrapolated linearly to 1,000 (it is a Python loop
   of independent OneSectorGE solves).

Usage:
    python benchmarks/bench_gravity.py                    # writes benchmarks/results_gravity.md
    python benchmarks/bench_gravity.py --peer-trials 5 --repeats 5 --out /tmp/r.md
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxoff.models import structural_gravity as gravity  # noqa: E402

VARS = list(gravity.EXAMPLE_COEFFICIENTS)


def timed(fn, repeats=1):
    """Best wall time of `repeats` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def gegravity_peer(data, exp, sigma=5.0):
    import gegravity as ge

    data, exp = data.copy(), exp.copy()
    data["year"], exp["year"] = data["year"].astype(str), exp["year"].astype(str)
    base = ge.BaselineData(data, imp_var_name="importer", exp_var_name="exporter", year_var_name="year",
                           trade_var_name="trade", expend_var_name="E", output_var_name="Y")
    ests = gravity.example_coefficients().rename(columns={"variable": "var", "estimate": "coeff", "std_error": "stderr"})
    cc = ge.CostCoeffs(ests, identifier_col="var", coeff_col="coeff", stderr_col="stderr",
                       covar_matrix=gravity.example_covariance())

    def one():
        with contextlib.redirect_stdout(io.StringIO()):
            m = ge.OneSectorGE(base, year="2006", reference_importer="DEU", sigma=sigma, cost_variables=VARS,
                               cost_coeff_values=cc, quiet=True)
            m.build_baseline(omr_rescale=1)
            m.define_experiment(exp)
            m.simulate()
        return m

    def mc(trials):
        with contextlib.redirect_stdout(io.StringIO()):
            m = ge.MonteCarloGE(base, year="2006", trials=trials, reference_importer="DEU", sigma=sigma,
                                cost_variables=VARS, cost_coeff_values=cc, seed=1, allow_singular_covar=True)
            m.run_trials(exp, quiet=True)
        return m
    return one, mc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-trials", type=int, default=3, help="MonteCarloGE trials actually run (extrapolated)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results_gravity.md"))
    args = ap.parse_args()

    data = gravity.load_sample_data()
    exp = gravity.pta_experiment(data, ["CAN", "JPN"])
    model = gravity.baseline(data, gravity.example_coefficients(), VARS, year_value=2006, sigma=5,
                             reference_importer="DEU", covariance=gravity.example_covariance())
    rows = []

    # 1. one counterfactual
    t_c, _ = timed(lambda: gravity.simulate(model, exp, variant="gegravity"))          # compile
    t_j, res = timed(lambda: gravity.simulate(model, exp, variant="gegravity"), args.repeats)
    t_cf, _ = timed(lambda: gravity.simulate(model, exp, variant="full"))
    t_jf, _ = timed(lambda: gravity.simulate(model, exp, variant="full"), args.repeats)
    t_bl, _ = timed(lambda: gravity.baseline(data, gravity.example_coefficients(), VARS, year_value=2006, sigma=5,
                                             reference_importer="DEU"), args.repeats)
    one, mc = gegravity_peer(data, exp)
    t_p, peer = timed(one, max(1, args.repeats - 1))
    diff = np.max(np.abs(res.country_results.to_numpy() - peer.country_results.to_numpy()))
    rows.append(("counterfactual, SG-G (gegravity's numbers)", t_p, t_j, t_c,
                 f"max abs diff vs gegravity (its default tol 1e-8): {diff:.1e}"))
    rows.append(("counterfactual, SG-F (converged; no gegravity equivalent)", t_p, t_jf, t_cf, "peer = gegravity SG-G time"))
    rows.append(("baseline() incl. data preparation and SG-B solve", np.nan, t_bl, np.nan, "pandas-bound"))

    # 2. standard errors of all 11 x 30 country results
    t_sc, _ = timed(lambda: gravity.standard_errors(model, exp, variant="gegravity"))
    t_s, _ = timed(lambda: gravity.standard_errors(model, exp, variant="gegravity"), args.repeats)
    t_ps, _ = timed(lambda: mc(args.peer_trials))
    per_trial = t_ps / args.peer_trials
    rows.append(("standard errors, delta method vs gegravity MC (100 trials, extrapolated)", 100 * per_trial, t_s,
                 t_sc, "gegravity has no delta method; 100 trials is a small MC for SEs"))

    # 3. 1,000-draw Monte Carlo
    t_mc_c, _ = timed(lambda: gravity.monte_carlo(model, exp, trials=args.draws, seed=1, variant="gegravity"))
    t_mc, out = timed(lambda: gravity.monte_carlo(model, exp, trials=args.draws, seed=1, variant="gegravity"),
                      max(1, args.repeats - 1))
    rows.append((f"Monte Carlo, {args.draws} draws (gegravity: {args.peer_trials} trials run, extrapolated)",
                 per_trial * args.draws, t_mc, t_mc_c, f"failed draws: {out.n_failed}"))

    lines = ["# Structural gravity: jaxoff vs gegravity 0.3 (same run)", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared), "
             f"JAX {jax.__version__}, backend {jax.default_backend()}; repeats {args.repeats} (best wall time).",
             "Example: gegravity's sample data (30 countries, 2006), Canada-Japan PTA, sigma = 5.", "",
             "| task | gegravity (s) | jaxoff (s) | ratio | jaxoff first call incl. compile (s) | note |",
             "|---|---|---|---|---|---|"]
    for name, tp, tj, tc, note in rows:
        ratio = f"{tp / tj:.0f}x" if np.isfinite(tp) else "-"
        lines.append(f"| {name} | {tp:.3g} | {tj:.3g} | {ratio} | {tc:.3g} | {note} |")
    lines += ["", "Goals: >= 20x per counterfactual after compilation, >= 100x for the Monte Carlo."]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
