"""Scale benchmark: the many-country Armington economy from 30 to ~10^4 unknowns, jaxoff against
plain NumPy/SciPy peers on the same equations, measured in the same run.

Cases: N = 10, 30, 100, 300, 1000 countries with one sector (3N unknowns), and a sector case
N = 200, J = 25 (N (2J + 1) = 10,200 unknowns). The economies come from
`jaxoff.models.armington.random_economy(N, J, seed=0)`.

For every case and jaxoff solver (the default solver for J = 1, plus `AndersonFixedPoint` for N >= 100: the
default is dense Newton up to `jaxoff.solvers.ANDERSON_MIN` unknowns, Anderson then Newton up to
`jaxoff.implicit.DENSE_MAX`, Anderson then Newton-Krylov above; `NewtonKrylov` and
`AndersonFixedPoint` for the sector case) it measures:

* compilation: the first `jo.solve` call minus the best later call (each worker starts with a
  fresh, empty persistent compilation cache, so the first call compiles cold; `--cache` uses the
  user's cache instead);
* solve: the best of `--repeat` calls after compilation (wall time, guess included, as a user sees
  it), and the part of it spent in the model's `guess()`, which `jo.solve` runs as a compiled call of
  its own before the solver's (timed the same way);
* gradient: ONE reverse-mode `jo.gradient` of country 0's welfare w.r.t. the whole N x N `tau`
  (one adjoint solve), best of `--repeat` after its own compilation, its ratio to one solve, and a
  check against a central finite difference along one random direction of tau (two solves);
* finite-difference cost of the same gradient: N^2 solves x one solve time (estimated, not run);
* peak memory: the worker's maximum resident set size (`resource.getrusage`) after the jaxoff part,
  and its RSS right after imports; the peers' peak Python-heap allocation (`tracemalloc`, which
  tracks NumPy buffers).

Peers (benchmarks/_armington_numpy.py, the same residuals in the same log coordinates, from the same
starting point): the model's fixed-point map iterated in NumPy until max |F| <= 1e-10;
`scipy.optimize.root(method="hybr")` (finite-difference Jacobian), skipped when one Jacobian alone
(n residual evaluations) would exceed the budget; `method="krylov"` for N >= 100. Every peer has a
wall-clock budget (`--peer-budget`, default 60 s) and reports "stopped (> X s)" past it. The max
abs difference of w between every converged method and jaxoff is printed.

Goals reported against (not asserted): solve >= 10x faster than scipy's root and faster than the
NumPy fixed-point loop; gradient <= 3x one solve.

Each jaxoff solver on each case runs in its own worker process (clean peak RSS, cold compilation,
and a wall-clock budget `--jaxoff-budget`: a worker past it is stopped and reported), and the peers of
a case in another.

Run:
    python benchmarks/bench_scale.py            # all cases, writes benchmarks/results_scale.md
    python benchmarks/bench_scale.py --quick    # N = 10, 30 only (smoke run), writes nothing
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results_scale.md")
TOL = 1e-10  # the peers stop at max |F| <= TOL (jaxoff's Newton step tolerances are 1e-10 too)

SIZES = [(10, 1), (30, 1), (100, 1), (300, 1), (1000, 1)]
SECTOR = (200, 25)
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
CHECK_MAX = 1000  # finite-difference check of the gradient up to this many unknowns (two more solves)


# ------------------------------------------------------------------------------------------------
# worker: one case, in its own process
# ------------------------------------------------------------------------------------------------
def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def jaxoff_worker(N: int, J: int, name: str, repeat: int) -> dict:
    """One jaxoff solver on one case: compile, solve, gradient, memory."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxoff as jo
    from jaxoff.models.armington import random_economy

    row: dict = {"rss_import_mb": _rss_mb()}
    model = random_economy(N, J, seed=0)
    eye = jnp.eye(N, dtype=bool)
    solver = {"default": None, "NewtonKrylov": jo.NewtonKrylov(), "Anderson": jo.AndersonFixedPoint()}[name]

    def perturbed(k: int):  # a slightly different economy per timed call: nothing can be reused
        return model.with_params(tau=jnp.where(eye, 1.0, model.tau * (1 + 1e-4 * k)))

    def clock(f):
        t = time.perf_counter()
        r = jax.block_until_ready(f())
        return r, time.perf_counter() - t

    models = {}

    def economy(k):  # built before the clock starts: the peers' timings do not include set-up either
        if k not in models:
            models[k] = perturbed(k)
        return models[k]

    def timed_repeats(f, n, cap=30.0):
        """Times of f(1), f(2), ...: n calls, fewer if they add up to more than `cap` seconds."""
        times = []
        for k in range(1, n + 1):
            economy(k)
            times.append(clock(lambda: f(k))[1])
            if sum(times) > cap:
                break
        return times

    def welfare0(s):
        return s["welfare"][0]

    try:
        sol, t_first = clock(lambda: jo.solve(model, solver=solver))
        converged = sol.status_name == "converged"
        times = timed_repeats(lambda k: jo.solve(economy(k), solver=solver), repeat if converged else 1)
        row.update(solve_first=t_first, solve=min(times), status=sol.status_name, steps=int(sol.steps),
                   residual=float(sol.residual_norm), compile=max(t_first - min(times), 0.0),
                   w=np.asarray(sol["w"]).tolist())
        # the same solve as one compiled call (how sweeps, calibration and user code under jax.jit run
        # it): no Python dispatch between the guess, the solver and the Solution
        import equinox as eqx
        compiled = eqx.filter_jit(lambda m: jo.solve(m, solver=solver).unknowns["w"])
        clock(lambda: compiled(model))
        row["solve_jit"] = min(timed_repeats(lambda k: compiled(economy(k)), repeat))
        # the model's guess as jo.solve runs it, a compiled call of its own before the solver's (part
        # of every `solve` time above; inside the compiled call it is part of the one program)
        guess_jit = eqx.filter_jit(lambda m: m.guess())
        clock(lambda: guess_jit(model))
        row["guess"] = min(timed_repeats(lambda k: guess_jit(economy(k)), repeat))
        row["rss_mb"] = _rss_mb()
        row["stage"] = "gradient"
        print(json.dumps(row), flush=True)  # partial result, kept if the worker is stopped later
        if not converged:
            row["error"] = f"status {sol.status_name} (max abs F {row['residual']:.1e} after {row['steps']} steps)"
        else:
            g, t_gfirst = clock(lambda: jo.gradient(model, welfare0, wrt=["tau"], sol=sol)["tau"])
            t_grad = min(timed_repeats(lambda k: jo.gradient(model, welfare0, wrt=["tau"], sol=sol)["tau"], repeat))
            row.update(grad_first=t_gfirst, grad=t_grad, grad_compile=max(t_gfirst - t_grad, 0.0),
                       grad_finite=bool(np.all(np.isfinite(np.asarray(g)))))
            if N * (2 * J + 1) <= CHECK_MAX:
                # check: d welfare_0 along a random direction of tau by central differences (two solves)
                direction = jnp.where(eye, 0.0, jnp.asarray(np.random.default_rng(1).normal(size=(N, N))))
                h = 1e-5
                up = jo.solve(model.with_params(tau=model.tau + h * direction), solver=solver)
                dn = jo.solve(model.with_params(tau=model.tau - h * direction), solver=solver)
                fd = (float(up["welfare"][0]) - float(dn["welfare"][0])) / (2 * h)
                ad = float(jnp.sum(g * direction))
                row.update(grad_dir=ad, fd_dir=fd, grad_check=abs(ad - fd) / max(abs(fd), 1e-12))
        row["stage"] = "done"
    except Exception as err:  # report, never hide: the lead needs the exact failure
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    row["rss_mb"] = _rss_mb()
    return row


def peer_worker(N: int, J: int, peers: list[str], repeat: int, peer_budget: float) -> dict:
    """The NumPy / SciPy peers on one case, each with a wall-clock budget; tracemalloc for memory."""
    import tracemalloc

    import numpy as np

    from jaxoff.models.armington import random_economy

    sys.path.insert(0, HERE)
    import _armington_numpy as peer

    e = peer.Economy.of(random_economy(N, J, seed=0))
    x0 = peer.guess(e)
    t = time.perf_counter()
    for _ in range(3):
        peer.residuals(e, x0)
    t_eval = (time.perf_counter() - t) / 3
    out: dict = {"eval": t_eval}
    n = e.n_unknowns
    for name in peers:
        fn = {"fixed_point": peer.solve_fixed_point, "hybr": peer.solve_hybr, "krylov": peer.solve_krylov}[name]
        if name == "hybr" and n * t_eval > peer_budget:
            out[name] = {"message": f"skipped (> {peer_budget:g} s: one FD Jacobian alone is {n} evaluations x "
                                    f"{t_eval * 1e3:.0f} ms = {n * t_eval:.0f} s)"}
            continue
        if name == "hybr" and n ** 3 * 1e-9 > peer_budget:
            # MINPACK's unblocked QR of the n x n Jacobian (~n^3 flops at ~1 GFlop/s) cannot be
            # stopped by the budget check in F: at n = 10,200 it ran for > 6 min before being killed
            out[name] = {"message": f"skipped (> {peer_budget:g} s: one dense QR of the {n} x {n} Jacobian "
                                    f"is ~{n ** 3 * 1e-9:.0f} s)"}
            continue
        best, runs = None, 0
        tracemalloc.start()
        while runs < repeat:
            t = time.perf_counter()
            res = fn(e, TOL, budget=peer_budget, x0=x0)
            dt = time.perf_counter() - t
            runs += 1
            best = dt if best is None else min(best, dt)
            if not res.ok or dt > 5.0:  # long runs: once is enough
                break
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {"time": best, "ok": res.ok, "residual": res.residual, "iterations": res.iterations,
                     "message": res.message, "peak_mb": peak / 2**20,
                     "w": res.w(e).tolist() if res.ok else None}
    return out


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------
def _fmt_t(t) -> str:
    if t is None:
        return "-"
    if t < 0.01:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e3:.0f} ms" if t < 1 else f"{t:.1f} s"


def _fmt_n(t) -> str:
    if t is None:
        return "-"
    for unit, s in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= s:
            return f"{t / s:.1f} {unit}"
    return _fmt_t(t)


def run_worker(N, J, what: list[str], args, timeout: float) -> dict:
    """Run one worker process; a crash or a timeout becomes {"error": ...}."""
    env = dict(os.environ)
    # One BLAS thread for jaxoff and the peers alike: on a shared machine OpenBLAS's spinning worker
    # threads make a 300 x 300 LU take 90 ms instead of 1 ms (measured), which says nothing about
    # either program.
    for var in BLAS_THREAD_VARS:
        env.setdefault(var, "1")
    tmp = None
    if not args.cache:  # a fresh, empty persistent cache: cold compilation, then cache hits as for a user
        tmp = tempfile.mkdtemp(prefix="jaxoff_bench_scale_")
        env["JAXOFF_CACHE_DIR"] = tmp
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{N},{J}", *what, "--repeat", str(args.repeat),
           "--peer-budget", str(args.peer_budget)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as stopped:
        partial = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")
        lines = [ln for ln in partial.splitlines() if ln.startswith("{")]
        res = json.loads(lines[-1]) if lines else {}
        where = f" during the {res['stage']}" if "stage" in res else ""
        res["error"] = f"did not finish within {timeout:.0f} s{where} (worker stopped)"
        res["timed_out"] = res.get("stage", "start")
        res["wall"] = time.perf_counter() - t
        return res
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": f"worker exit {p.returncode}: {' | '.join(tail)}", "wall": wall}
    res = json.loads(lines[-1])
    res["wall"] = wall
    return res


def run_case(N, J, solvers, peers, args) -> dict:
    res = {"N": N, "J": J, "unknowns": N * (2 * J + 1), "jaxoff": {}}
    for name in solvers:
        print(f"  jaxoff {name} ...", end=" ", flush=True)
        res["jaxoff"][name] = r = run_worker(N, J, ["--solver", name], args, args.jaxoff_budget)
        print(f"{r['wall']:.0f} s" + (f" ({r['error']})" if "error" in r else ""), flush=True)
    print("  peers ...", end=" ", flush=True)
    # each peer run is capped by its budget; up to `repeat` short runs each
    res["peers"] = r = run_worker(N, J, ["--peers", ",".join(peers)], args, 10 * args.peer_budget * len(peers))
    print(f"{r['wall']:.0f} s", flush=True)
    return res


def tables(results: list[dict]) -> tuple[str, str, str]:
    import numpy as np

    a = ["| N x J | unknowns | jaxoff solver | compile | solve | solve, compiled call | of which guess | Newton/AA steps | max abs F | "
         "gradient (all N^2 tau) | gradient / solve | gradient compile | check vs FD | FD gradient (N^2 solves, est.) "
         "| max RSS (after import) |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    b = ["| N x J | unknowns | NumPy fixed-point loop | scipy hybr (FD Jacobian) | scipy krylov | jaxoff vs hybr | "
         "jaxoff vs FP loop | compiled call vs hybr | compiled call vs FP loop | max abs dw vs jaxoff | "
         "peer peak heap (tracemalloc) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    blank = " | " * 11
    for r in results:
        case, n, N = f"{r['N']} x {r['J']}", r["unknowns"], r["N"]
        best_solve, best_jit, w_ref = None, None, None
        for name, j in r["jaxoff"].items():
            if "solve" not in j:
                a.append(f"| {case} | {n} | {name} | failed: {j.get('error')}{blank}|")
                notes.append(f"* {case}, jaxoff {name}: {j.get('error')}")
                continue
            if j.get("status") == "converged":
                if best_solve is None or j["solve"] < best_solve:
                    best_solve = j["solve"]
                if "solve_jit" in j and (best_jit is None or j["solve_jit"] < best_jit):
                    best_jit = j["solve_jit"]
                if w_ref is None:
                    w_ref = (name, np.asarray(j["w"]))
            if "grad" in j:
                check = f"rel. err {j['grad_check']:.0e}" if "grad_check" in j else "not run (size)"
                grad = (_fmt_t(j["grad"]), f"{j['grad'] / j['solve']:.1f}x", _fmt_t(j["grad_compile"]), check)
            elif j.get("timed_out") == "gradient":
                grad = (f"did not finish (worker stopped after {_fmt_t(j['wall'])})", "-", "-", "-")
                notes.append(f"* {case}, jaxoff {name}: converged (solve {_fmt_t(j['solve'])}), but the first "
                             f"`jo.gradient` {j['error'].replace('did not finish', 'did not return')}")
            else:
                grad = ("not run (not converged)", "-", "-", "-")
                notes.append(f"* {case}, jaxoff {name}: {j.get('error')}; first call {_fmt_t(j['solve_first'])}")
            a.append(f"| {case} | {n} | {name} | {_fmt_t(j['compile'])} | {_fmt_t(j['solve'])} | "
                     f"{_fmt_t(j.get('solve_jit'))} | "
                     f"{_fmt_t(j.get('guess'))} | {j['steps']} | {j['residual']:.0e} | {' | '.join(grad)} | "
                     f"{_fmt_n(N * N * j['solve'])} | {j['rss_mb']:.0f} MB ({j['rss_import_mb']:.0f} MB) |")
        peers = r["peers"]
        if "error" in peers:
            b.append(f"| {case} | {n} | peers failed: {peers['error']} | | | | | | |")
            notes.append(f"* {case}, peers: {peers['error']}")
            continue
        cells, dws, peaks = [], [], []
        for name in ("fixed_point", "hybr", "krylov"):
            p = peers.get(name)
            if p is None:
                cells.append("not run")
                continue
            if "time" not in p:
                cells.append(p["message"])
                continue
            it = "iterations" if name == "fixed_point" else "F evals"
            cells.append(f"{_fmt_t(p['time'])} ({p['iterations']} {it})" if p["ok"] else
                         f"{p['message']} after {_fmt_t(p['time'])}")
            peaks.append(f"{name} {p['peak_mb']:.1f} MB")
            if p.get("w") is not None and w_ref is not None:
                dws.append(f"{name} {np.max(np.abs(np.asarray(p['w']) - w_ref[1])):.0e}")
        for name, j in r["jaxoff"].items():
            if w_ref is not None and name != w_ref[0] and j.get("status") == "converged":
                dws.append(f"jaxoff {name} {np.max(np.abs(np.asarray(j['w']) - w_ref[1])):.0e}")

        def ratio(name, t=best_solve):
            p = peers.get(name, {})
            if t is None or not p.get("ok"):
                return "-"
            return f"{p['time'] / t:.1f}x"

        def vs_scipy(t):
            out = ratio("hybr", t)
            if out == "-" and peers.get("krylov", {}).get("ok"):
                out = f"{ratio('krylov', t)} (krylov)"
            return out

        vs_root = vs_scipy(best_solve)
        ref = f" (vs jaxoff {w_ref[0]})" if w_ref is not None else ""
        b.append(f"| {case} | {n} | {cells[0]} | {cells[1]} | {cells[2]} | {vs_root} | {ratio('fixed_point')} | "
                 f"{vs_scipy(best_jit)} | {ratio('fixed_point', best_jit)} | "
                 f"{', '.join(dws) + ref if dws else '-'} | {', '.join(peaks) or '-'} |")
    return "\n".join(a), "\n".join(b), "\n".join(notes)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 10, 30 only (smoke run); writes no results file")
    ap.add_argument("--no-sector", action="store_true", help="skip the N=200, J=25 case")
    ap.add_argument("--sizes", help="comma-separated N (J = 1) instead of 10,30,100,300,1000")
    ap.add_argument("--anderson-all", action="store_true", help="AndersonFixedPoint on every J = 1 case (default: N >= 300)")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per measurement (best kept)")
    ap.add_argument("--peer-budget", type=float, default=60.0, help="wall-clock budget per peer run (s)")
    ap.add_argument("--jaxoff-budget", type=float, default=240.0,
                    help="wall-clock budget of one jaxoff worker (one solver on one case: compile, solves, gradient)")
    ap.add_argument("--cache", action="store_true", help="use the user's persistent compilation cache (warm)")
    ap.add_argument("--out", default=None, help=f"results file (default {OUT}; none with --quick)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--solver", help=argparse.SUPPRESS)
    ap.add_argument("--peers", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        N, J = (int(v) for v in args.worker.split(","))
        if args.solver:
            res = jaxoff_worker(N, J, args.solver, args.repeat)
        else:
            res = peer_worker(N, J, [p for p in args.peers.split(",") if p], args.repeat, args.peer_budget)
        print(json.dumps(res))
        return

    if args.quick:
        cases = [(10, 1), (30, 1)]
    elif args.sizes:
        cases = [(int(v), 1) for v in args.sizes.split(",")]
    else:
        cases = list(SIZES)
    if not args.quick and not args.no_sector:
        cases.append(SECTOR)

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    results = []
    for N, J in cases:
        if J > 1:
            solvers = ["NewtonKrylov", "Anderson"]
        else:
            solvers = ["default"] + (["Anderson"] if args.anderson_all or N >= 100 else [])
        peers = ["fixed_point", "hybr"] + (["krylov"] if N >= 100 else [])
        print(f"case N={N}, J={J} ({N * (2 * J + 1)} unknowns)", flush=True)
        results.append(run_case(N, J, solvers, peers, args))
    total = time.perf_counter() - t0
    load1 = os.getloadavg()

    import jax
    import numpy
    import scipy

    try:  # which core was measured (others may be editing jaxoff/ while the benchmark runs)
        root = os.path.dirname(HERE)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "jaxoff"], cwd=root, capture_output=True,
                               text=True).stdout.strip()
        core = f"jaxoff at commit {head}" + (" with uncommitted changes in jaxoff/" if dirty else "")
    except OSError:
        core = "jaxoff (git not available)"
    a, b, notes = tables(results)
    header = [
        "# Scale benchmark: many-country Armington economy",
        "",
        f"`python benchmarks/bench_scale.py{' --quick' if args.quick else ''}`; {platform.platform()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}, JAX {jax.__version__}, "
        f"NumPy {numpy.__version__}, SciPy {scipy.__version__}; {core} (at the end of the run); "
        f"total wall time {total:.0f} s.",
        "",
        f"**The machine is heavily loaded**: {os.cpu_count()} cores shared by several engineers, load average "
        f"{load0[0]:.1f} at the start and {load1[0]:.1f} at the end of the run. Absolute times are inflated and "
        "noisy; jaxoff and its peers run in the same run, case by case (seconds to minutes apart), so the ratios "
        "are less affected than the absolute times. Every process runs with one BLAS thread "
        "(OPENBLAS_NUM_THREADS=1 unless set): on a shared machine OpenBLAS's spinning threads made a "
        "300 x 300 LU 90x slower, for jaxoff's dense Newton and SciPy alike.",
        "",
        "Times are wall-clock (best of the repeats). jaxoff `solve` is `jo.solve(model, solver=...)` as a user "
        "calls it, including the model's `guess()` (25 rounds of the fixed-point map, a compiled call of its own before "
        "the solver's; its time, measured the same way, is the `of which guess` column); `compile` is the first call minus the best later one, each "
        "worker starting from an empty persistent compilation cache. `gradient` is ONE `jo.gradient` of welfare[0] "
        "w.r.t. the whole N x N tau (one adjoint solve, at a given solution), checked against a central "
        "difference along a random direction. Memory: jaxoff = max RSS (`resource.getrusage`) of the "
        "process that ran that solver on that case (compile, solves, gradient; in brackets: right after importing "
        "jax and jaxoff); peers = peak Python-heap allocations during the peer runs (`tracemalloc`, NumPy buffers included).",
        "",
        "## jaxoff",
        "",
        a,
        "",
        f"## Peers on the same equations (stop at max abs F <= {TOL:g}; budget {args.peer_budget:g} s per run)",
        "",
        b,
        "",
        "Goals (not asserted): solve >= 10x faster than scipy's root (hybr; krylov where hybr is skipped) and "
        "faster than the NumPy fixed-point loop (ratios = peer time / best jaxoff solve time; > 1 means jaxoff "
        "is faster); gradient <= 3x one solve. `FD gradient` = N^2 x one jaxoff solve (not run).",
    ]
    if notes:
        header += ["", "Failures and non-converged points:", "", notes]
    text = "\n".join(header) + "\n"
    print()
    print(text)
    out = args.out or (None if args.quick else OUT)
    if out:
        with open(out, "w") as f:
            f.write(text)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
