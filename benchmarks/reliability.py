"""Reliability figures for the README: random admissible points per sub-model, solved under vmap.

For every sub-model of every family: draw N parameter points around the defaults (each parameter
scaled by a factor in [0.75, 1.33], log-uniform), keep the admissible ones, solve them in one vmapped
call, and classify each point:

* converged: status 0 and the residuals, recomputed from the returned unknowns, below 1e-8, with
  every regime flag true;
* flagged: non-zero status (not converged, invalid, out of regime, non-finite), values NaN;
* wrong: status 0 but the recomputed residual or a regime flag says otherwise. Must be 0.

Usage: python benchmarks/reliability.py [--n 2000] [--families trading_tasks,...] [--out benchmarks/reliability.md]
"""
from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

import jaxoff as jo
from jaxoff import models


def _tie_similar_countries(p, d):
    # the model's premise: equal skill ratios H/L in both countries (an equality in its domain)
    if all(k in p for k in ("H_E", "L_E", "H_W", "L_W")):
        ratio = d["H_E"] / d["L_E"]
        p["H_E"], p["H_W"] = p["L_E"] * ratio, p["L_W"] * ratio


def _tie_equal_capital_ratios(p, d):
    if all(k in p for k in ("K_H", "L_H", "K_F", "L_F")):  # shadow migration C8: K_H/L_H = K_F/L_F
        p["K_F"] = p["L_F"] * p["K_H"] / p["L_H"]


# Equalities in a family's admissible domain, restored after the independent perturbations.
TIES = {"similar_countries": _tie_similar_countries, "shadow_migration": _tie_equal_capital_ratios}


def draw(cls, n, rng):
    base = cls()
    names = [k for k in cls.parameter_names() if np.ndim(getattr(base, k)) == 0]
    pts = {}
    for k in names:
        v = float(getattr(base, k))
        f = np.exp(rng.uniform(np.log(0.75), np.log(1.33), n))
        pts[k] = v * f if v > 0 else v + (f - 1.0)
    if cls.family in TIES:
        TIES[cls.family](pts, {k: float(getattr(base, k)) for k in names})
    ok = np.ones(n, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = jax.vmap(lambda p: base.with_params(**p).domain_ok())({k: jnp.asarray(v) for k, v in pts.items()})
    ok &= np.asarray(domain)
    return {k: v[ok] for k, v in pts.items()}, int(n)


def classify(cls, pts):
    base = cls()

    def one(p):
        m = base.with_params(**p)
        sol = jo.solve(m, mask=False)
        r = m.residuals(sol.unknowns)
        worst = jnp.max(jnp.stack([jnp.max(jnp.abs(jnp.asarray(v))) for v in r.values()]))
        return sol.status, worst, sol.in_regime

    status, worst, regime = jax.jit(jax.vmap(one))({k: jnp.asarray(v) for k, v in pts.items()})
    status, worst, regime = map(np.asarray, (status, worst, regime))
    converged = status == 0
    wrong = converged & (~(worst <= 1e-8) | ~regime)
    by_status = [int((status == k).sum()) for k in (3, 1, 4)]  # out of regime, not converged, non-finite
    return int(converged.sum() - wrong.sum()), int((~converged).sum()), int(wrong.sum()), by_status


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--families", default="")
    ap.add_argument("--out", default="benchmarks/reliability.md")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20261123)
    fams = [f for f in args.families.split(",") if f] or list(models.available())
    rows = ["| sub-model | drawn | admissible (tried) | converged | flagged | of which out of regime / "
            "not converged / non-finite | wrong |", "|---|---|---|---|---|---|---|"]
    totals = np.zeros(8, int)
    for fam in fams:
        for sid in models.family(fam).SUBMODELS:
            cls = models.get(f"{fam}/{sid}")
            t0 = time.perf_counter()
            pts, drawn = draw(cls, args.n, rng)
            tried = len(next(iter(pts.values()))) if pts else 0
            conv, flagged, wrong, by = classify(cls, pts) if tried else (0, 0, 0, [0, 0, 0])
            totals += [drawn, tried, conv, flagged, wrong, *by]
            rows.append(f"| {fam}/{sid} | {drawn} | {tried} | {conv} | {flagged} | "
                        f"{by[0]} / {by[1]} / {by[2]} | {wrong} |")
            print(rows[-1], f"({time.perf_counter() - t0:.1f} s)", flush=True)
    d, t, c, f, w, o, nc, nf = (int(x) for x in totals)
    rows.append(f"| **all** | {d} | {t} | {c} | {f} | {o} / {nc} / {nf} | {w} |")
    text = "\n".join(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
