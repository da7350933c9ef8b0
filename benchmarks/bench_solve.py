"""Throughput of jo.sweep (equilibria plus one exact derivative per point) against a scipy loop.

For each model family installed (`jaxoff.models.available()`, found at run time) and the chosen
sub-models, sweep the first shock parameter over +-10% of its default for each size in --sizes, with
`derivatives=[(first unknown, shock)]`, and time it. The peer, measured in the same run on the same
equations, is scipy.optimize.root (hybr) in a Python loop with central finite differences
(benchmarks/_peer.py), on --peer-points points; its per-point time is extrapolated. Printed, never
asserted. Writes a markdown report (default benchmarks/results.md).

Usage:
    python benchmarks/bench_solve.py                      # sizes 1e3,1e4,1e5
    python benchmarks/bench_solve.py --full               # adds 1e6 and a 1e6-point TT M2 d w/d beta sweep
    python benchmarks/bench_solve.py --sizes 1e3,1e4 --models trading_tasks/M1,trading_tasks/M2
    python benchmarks/bench_solve.py --all-submodels      # every sub-model, not one per family
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxoff as jo  # noqa: E402
from jaxoff import models  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _peer import ScipyPeer  # noqa: E402


def has_array_unknowns(spec: str) -> bool:
    """Whether the default instance of `spec` has vector/matrix unknowns (a many-country model)."""
    try:
        return any(np.ndim(v) != 0 for v in models.get(spec)().guess().values())
    except Exception:  # a family under construction: let bench_model report it
        return False


def pick_models(args) -> tuple[list[str], list[str]]:
    """(chosen, left out): the sub-models to sweep; by default the families with scalar unknowns,
    since this table sweeps one scalar parameter and differentiates one scalar unknown per point.
    Many-country models (array unknowns) are measured by bench_scale.py, bench_gravity.py and
    bench_caliendo_parro.py."""
    if args.models:
        return [s.strip() for s in args.models.split(",") if s.strip()], []
    chosen, left_out = [], []
    for fam, subs in models.available().items():  # discovered at run time
        if not subs:
            continue
        if has_array_unknowns(f"{fam}/{subs[0]}"):
            left_out.append(fam)
            continue
        chosen += [f"{fam}/{s}" for s in (subs if args.all_submodels else subs[:1])]
        if fam == "trading_tasks" and not args.all_submodels:
            chosen += [f"{fam}/{s}" for s in ("M2",) if s in subs]
    return chosen, left_out


def setup(spec: str):
    cls = models.get(spec)
    m = cls()
    scalars = [k for k in cls.parameter_names() if np.ndim(getattr(m, k)) == 0]
    param = next((s for s in cls.shocks if s in scalars), scalars[0])
    v0 = float(np.asarray(getattr(m, param)))
    lo, hi = (v0 * 0.9, v0 * 1.1) if v0 != 0 else (-0.1, 0.1)
    scalar_unknowns = [k for k in cls.unknowns if np.ndim(m.guess()[k]) == 0]
    q = scalar_unknowns[0] if scalar_unknowns else list(cls.unknowns)[0]
    return m, param, q, (min(lo, hi), max(lo, hi))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def bench_model(spec, sizes, args, rows, summary):
    m, param, q, (lo, hi) = setup(spec)
    kw = dict(outputs=[], derivatives=[(q, param)], chunk_size=args.chunk, progress=args.progress)
    col = f"d{q}/d{param}"
    print(f"\n## {spec}: {len(m.unknowns)} unknowns, sweep {param} in [{lo:.4g}, {hi:.4g}], d{q}/d{param}",
          flush=True)

    first_n = min(sizes)
    t0 = time.perf_counter()
    df = jo.sweep(m, **{param: np.linspace(lo, hi, first_n)}, **kw)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jo.sweep(m, **{param: np.linspace(lo, hi, first_n)}, **kw)
    t_cached = time.perf_counter() - t0
    print(f"time to first result ({first_n} points, includes compilation): {t_first:.2f} s; "
          f"cached re-solve: {t_cached:.3f} s", flush=True)

    # the peer, on a few hundred points of the same interval
    peer_vals = np.linspace(lo, hi, args.peer_points)
    solver = ScipyPeer(m, param, q)
    runs = [solver.run(peer_vals) for _ in range(2)]  # best of two, like our best of --repeat
    peer = min(runs, key=lambda r: r["seconds_per_point"])
    ours = jo.sweep(m, **{param: peer_vals}, **kw)
    fine = peer["ok"] & (ours["status"] == "converged").to_numpy()
    err_q = float(np.max(np.abs(peer["q"][fine] - ours[q].to_numpy()[fine]))) if fine.any() else float("nan")
    err_d = float(np.max(np.abs(peer["dq"][fine] - ours[col].to_numpy()[fine]))) if fine.any() else float("nan")
    peer_us = peer["seconds_per_point"] * 1e6
    print(f"scipy hybr + central FD loop: {peer_us:.0f} us/point on {args.peer_points} points "
          f"(converged {peer['ok'].mean():.0%}); max |diff| vs jaxoff: {q} {err_q:.1e}, {col} {err_d:.1e}",
          flush=True)

    largest = max(sizes)
    per_point = {}
    for n in sorted(sizes):
        vals = np.linspace(lo, hi, int(n))
        if n == largest:
            tracemalloc.start()
        sec = np.inf
        for _ in range(1 if n == largest and n >= 1_000_000 else args.repeat):  # best of --repeat
            t0 = time.perf_counter()
            df = jo.sweep(m, **{param: vals}, **kw)
            sec = min(sec, time.perf_counter() - t0)
        py_peak = None
        if n == largest:
            py_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        us = sec / n * 1e6
        per_point[n] = us
        conv = float((df["status"] == "converged").mean())
        ratio = peer_us / us
        rows.append((spec, len(m.unknowns), int(n), sec, n / sec, us, ratio, conv))
        print(f"  {int(n):>9,d} points: {sec:8.3f} s  {n / sec:12,.0f} points/s  {us:8.2f} us/point  "
              f"{ratio:8.0f}x scipy  converged {conv:.1%}"
              + (f"  (python heap peak {py_peak:.0f} MiB, process max RSS {rss_mb():.0f} MiB)" if py_peak else ""),
              flush=True)
    ns = sorted(per_point)
    scaling = per_point[ns[-1]] / per_point[ns[0]] if len(ns) > 1 else 1.0
    summary.append((spec, param, q, t_first, t_cached, peer_us, peer_us / per_point[largest], err_q, err_d,
                    scaling, rss_mb()))


def bench_continuation(spec, args, cont_rows):
    m, param, q, (lo, hi) = setup(spec)
    vals = np.linspace(lo, hi, args.path_points)
    kw = dict(outputs=[], derivatives=[(q, param)])
    jo.continuation(m, param, vals[:20], **kw)  # compile
    jo.sweep(m, **{param: vals}, chunk_size=args.chunk, progress=False, **kw)
    t0 = time.perf_counter()
    dc, _ = jo.continuation(m, param, vals, **kw)
    t_c = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = jo.sweep(m, **{param: vals}, chunk_size=args.chunk, progress=False, **kw)
    t_s = time.perf_counter() - t0
    diff = float(np.nanmax(np.abs(dc[q].to_numpy() - ds[q].to_numpy())))
    cont_rows.append((spec, len(vals), dc["steps"].mean(), ds["steps"].mean(), t_c, t_s, diff,
                      float((dc["status"] == "converged").mean()), float((ds["status"] == "converged").mean())))
    print(f"continuation {spec}: {len(vals)} points, mean Newton steps warm {dc['steps'].mean():.2f} vs cold "
          f"{ds['steps'].mean():.2f}; {t_c:.3f} s sequential scan vs {t_s:.3f} s batched cold sweep; "
          f"max |diff| {diff:.1e}", flush=True)


def full_m2(args):
    """1e6-point TT M2 sweep with d w/d beta: bounded memory, progress bar."""
    M2 = models.get("trading_tasks/M2")
    n = 1_000_000
    rss0 = rss_mb()
    t0 = time.perf_counter()
    df = jo.sweep(M2(), beta=np.linspace(1.0, 2.5, n), outputs=[], derivatives=[("w", "beta")],
                  chunk_size=args.chunk, progress=True)
    sec = time.perf_counter() - t0
    line = (f"TT M2, 1,000,000 points with dw/dbeta: {sec:.1f} s ({n / sec:,.0f} points/s), "
            f"converged {float((df['status'] == 'converged').mean()):.2%}, chunk {df.attrs['chunk_size']} x "
            f"{df.attrs['n_chunks']}, result frame {df.memory_usage(deep=True).sum() / 2**20:.0f} MiB, "
            f"process max RSS {rss_mb():.0f} MiB (before: {rss0:.0f} MiB)")
    print(line, flush=True)
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e4,1e5", help="comma-separated sweep sizes")
    ap.add_argument("--full", action="store_true", help="add 1e6 and the 1e6-point TT M2 sweep")
    ap.add_argument("--models", default="", help="comma-separated family/ID list (default: discovered)")
    ap.add_argument("--all-submodels", action="store_true", help="every sub-model of every family")
    ap.add_argument("--peer-points", type=int, default=200)
    ap.add_argument("--path-points", type=int, default=200, help="continuation path length")
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per size (best kept; 1 for 1e6)")
    ap.add_argument("--progress", action="store_true", help="progress bars on every sweep")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.md"))
    args = ap.parse_args(argv)
    sizes = sorted({int(float(s)) for s in args.sizes.split(",") if s.strip()})
    if args.full:
        sizes = sorted(set(sizes) | {1_000_000})
    warnings.simplefilter("ignore")

    specs, left_out = pick_models(args)
    print(f"jaxoff sweep benchmark: {specs}; sizes {sizes}; devices {jax.devices()}", flush=True)
    if left_out:
        print(f"left out (array unknowns; see bench_scale.py, bench_gravity.py, bench_caliendo_parro.py): "
              f"{', '.join(left_out)}", flush=True)
    rows, summary, cont_rows, failures = [], [], [], []
    for spec in specs:
        try:
            bench_model(spec, sizes, args, rows, summary)
            bench_continuation(spec, args, cont_rows)
        except Exception as e:  # a family under construction must not stop the others
            failures.append((spec, f"{type(e).__name__}: {e}"[:200]))
            print(f"  skipped {spec}: {failures[-1][1]}", flush=True)
    full_line = full_m2(args) if args.full else None

    load = os.getloadavg()
    md = ["# jaxoff sweep benchmark", "",
          f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"load average {load[0]:.1f} during the run (shared machine: absolute times are noisy; ratios are "
          f"measured in the same run). JAX {jax.__version__} on {jax.devices()[0].platform}, "
          f"{len(jax.devices())} device(s), float64. Command: `python benchmarks/bench_solve.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])}`.", "",
          "Peer: scipy.optimize.root (hybr) in a Python loop on the same residual function (jitted, called "
          "with NumPy arrays), plus central finite differences (two more solves) for the derivative; "
          f"{args.peer_points} points, best of two runs, per-point time extrapolated. jaxoff times: best of "
          f"{args.repeat} runs (one run at 1e6 points), chunk size {args.chunk}, after compilation.", "",
          *([f"Families with array (many-country) unknowns are measured by their own benchmarks "
             f"(bench_scale.py, bench_gravity.py, bench_caliendo_parro.py): {', '.join(left_out)}.", ""]
            if left_out else []),
          "## Throughput: equilibria plus one exact derivative per point", "",
          "| model | unknowns | points | seconds | points/s | us/point | vs scipy loop | converged |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for spec, nu, n, sec, pps, us, ratio, conv in rows:
        md.append(f"| {spec} | {nu} | {n:,} | {sec:.3f} | {pps:,.0f} | {us:.2f} | {ratio:,.0f}x | {conv:.1%} |")
    md += ["", "## Compilation, peer and scaling", "",
           "| model | swept | derivative | first result (s, incl. compile) | cached re-solve (s) | scipy us/point "
           "| speed-up at largest size | max abs diff vs scipy (value, derivative) | us/point largest / smallest "
           "| process max RSS (MiB) |",
           "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for spec, param, q, tf, tc, peer_us, ratio, eq, ed, scaling, rss in summary:
        md.append(f"| {spec} | {param} | d{q}/d{param} | {tf:.2f} | {tc:.3f} | {peer_us:.0f} | {ratio:,.0f}x | "
                  f"{eq:.1e}, {ed:.1e} | {scaling:.2f} | {rss:.0f} |")
    if cont_rows:
        md += ["", "## Continuation (warm starts) vs cold starts", "",
               "| model | points | mean Newton steps, warm | mean Newton steps, cold | continuation (s) "
               "| batched cold sweep (s) | max abs diff | converged warm / cold |",
               "|---|---:|---:|---:|---:|---:|---:|---|"]
        for spec, n, sw, sc, tc, ts, diff, cw, cc in cont_rows:
            md.append(f"| {spec} | {n} | {sw:.2f} | {sc:.2f} | {tc:.3f} | {ts:.3f} | {diff:.1e} "
                      f"| {cw:.0%} / {cc:.0%} |")
    if full_line:
        md += ["", "## 1e6 points", "", full_line]
    if failures:
        md += ["", "## Not benchmarked", ""] + [f"- {s}: {msg}" for s, msg in failures]
    text = "\n".join(md) + "\n"
    print("\n" + text)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
