"""Reliability figures for the README: random admissible points per sub-model, solved under vmap.

For every sub-model of every family: draw N parameter points around the defaults (each parameter
scaled by a factor in [0.75, 1.33], log-uniform), keep the admissible ones, solve them in one vmapped
call, and classify each point:

* converged: status 0 and the residuals, recomputed from the returned unknowns, below 1e-8, with
  every regime flag true;
* flagged: non-zero status (not converged, invalid, out of regime, non-finite), values NaN;
* wrong: status 0 but the recomputed residual or a regime flag says otherwise. Must be 0;
* missed: flagged although an in-regime equilibrium exists. For every flagged point an independent
  search on the model's residuals in its own unknowns: a damped Newton of this file (batched) from
  the model's guess, the default-parameter solution, the end of a continuation from the default
  parameters to the point (32 Newton-corrected steps along the straight line in parameter space,
  each warm-started from the last solved one) and random perturbations of the default solution and
  of the continuation end; where that finds nothing, `scipy.optimize.root` (hybr) from the
  continuation end, with a few Newton steps of polish. A root counts only if its residual max-norm is below
  1e-10, every unknown lies strictly inside its domain and every regime check of the model holds.
  Must be 0.

Usage: python benchmarks/reliability.py [--n 2000] [--families trading_tasks,...] [--out benchmarks/reliability.md]
"""
from __future__ import annotations

import argparse
import time
import warnings

import scipy.optimize

import jax
import jax.numpy as jnp
import numpy as np

import jaxoff as jo
from jaxoff import models
from jaxoff.solve import Layout, residual_vector


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


def classify(cls, pts, homotopy_steps=None):
    base = cls()

    def one(p):
        m = base.with_params(**p)
        sol = jo.solve(m, mask=False, homotopy_steps=homotopy_steps)
        r = m.residuals(sol.unknowns)
        worst = jnp.max(jnp.stack([jnp.max(jnp.abs(jnp.asarray(v))) for v in r.values()]))
        return sol.status, worst, sol.in_regime

    status, worst, regime = jax.jit(jax.vmap(one))({k: jnp.asarray(v) for k, v in pts.items()})
    status, worst, regime = map(np.asarray, (status, worst, regime))
    converged = status == 0
    wrong = converged & (~(worst <= 1e-8) | ~regime)
    by_status = [int((status == k).sum()) for k in (3, 1, 4)]  # out of regime, not converged, non-finite
    return int(converged.sum() - wrong.sum()), int((~converged).sum()), int(wrong.sum()), by_status, status


# -- the independent search for equilibria at flagged points ------------------------------------------
CONTINUATION_STEPS = 32
ROOT_TOL = 1e-10
NEWTON_ITERATIONS = 40  # the batched multi-start's damped Newton
MAX_EVALS = 60  # per scipy run (lm: a third, each with a Jacobian): a root from a usable start takes a few dozen


class Search:
    """Residuals of one sub-model in its own unknowns (internal coordinates: logs of positive
    unknowns, logits of bounded ones, so that no iterate leaves the domain), compiled once and
    called from NumPy with the parameters packed into one vector."""

    def __init__(self, cls, names):
        self.base = cls()
        self.names = list(names)
        guess = self.base.guess()
        self.layout = Layout.of(self.base, guess)

        def model_at(pv):
            return self.base.with_params(**{k: pv[i] for i, k in enumerate(self.names)})

        def F(z, pv):
            return residual_vector(model_at(pv), self.layout, z)

        def check(z, pv):
            # judged in natural units, independently of the solver: residuals, domain, regime
            m = model_at(pv)
            u = self.layout.to_natural(m, z)
            p = m.point(u)
            r = jnp.concatenate([jnp.ravel(jnp.asarray(v, dtype=jnp.float64)) for v in m.residuals(p).values()])
            inside = jnp.asarray(True)
            for k, t in m.unknowns.items():
                inside = inside & jnp.all(t.contains(u[k])) & jnp.all(jnp.isfinite(u[k]))
            regime = jnp.asarray(True)
            for v in m.regime(p).values():
                regime = regime & jnp.all(jnp.asarray(v, dtype=bool))
            return jnp.max(jnp.abs(r)), inside, regime

        def damped_newton(z, pv):
            # an independent Newton (not jaxoff's chain): full steps halved until |F| falls
            def sq(zz):
                f = F(zz, pv)
                return jnp.where(jnp.all(jnp.isfinite(f)), jnp.sum(f * f), jnp.inf)

            def body(_, z):
                f = F(z, pv)
                dz = -jnp.linalg.solve(jax.jacfwd(F)(z, pv), f)
                dz = jnp.where(jnp.all(jnp.isfinite(dz)), dz, 0.0)
                n0 = jnp.sum(f * f)

                def shrink(c):
                    t, _ = c
                    return 0.5 * t, sq(z + 0.5 * t * dz)

                t, _ = jax.lax.while_loop(lambda c: (c[1] >= n0) & (c[0] > 1e-3), shrink, (1.0, sq(z + dz)))
                return z + t * dz

            return jax.lax.fori_loop(0, NEWTON_ITERATIONS, body, z)

        def search_all(pv, pv0, z_default, noise):
            # continuation: straight line from the defaults to the point, each step warm-started
            # from the last one that solved; its end (or last solved point) is one of the starts
            def step(z, t):
                pv_t = (1 - t) * pv0 + t * pv
                z_new = damped_newton(z, pv_t)
                f = F(z_new, pv_t)
                ok = jnp.all(jnp.isfinite(z_new)) & jnp.all(jnp.isfinite(f)) & (jnp.max(jnp.abs(f)) < 1e-9)
                return jnp.where(ok, z_new, z), None

            ts = jnp.linspace(0.0, 1.0, CONTINUATION_STEPS + 1)[1:]
            z_cont, _ = jax.lax.scan(step, z_default, ts)
            m = model_at(pv)
            z_guess = self.layout.to_internal(m, m.guess())
            k = noise.shape[0] // 2
            zs = jnp.concatenate([jnp.stack([z_cont, z_default, z_guess]), z_default + noise[:k], z_cont + noise[k:]])
            zs = jnp.where(jnp.isfinite(zs), zs, 0.0)
            ends = jax.vmap(damped_newton, in_axes=(0, None))(zs, pv)
            worst, inside, regime = jax.vmap(check, in_axes=(0, None))(ends, pv)
            good = (worst < ROOT_TOL) & inside & regime & jnp.all(jnp.isfinite(ends), axis=1)
            return jnp.any(good), ends[jnp.argmax(good)], z_cont

        self.F = jax.jit(F)
        self.J = jax.jit(jax.jacfwd(F))
        self.check = jax.jit(check)
        self.search_all = jax.jit(jax.vmap(search_all, in_axes=(0, None, None, 0)))
        self.pv0 = np.array([float(getattr(self.base, k)) for k in self.names])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol0 = jo.solve(self.base, mask=False)
        self.z_default = np.asarray(self.layout.to_internal(self.base, sol0.unknowns))

    def polish(self, z, pv):
        for _ in range(6):
            f = np.asarray(self.F(z, pv))
            if not np.all(np.isfinite(f)) or np.max(np.abs(f)) < 1e-13:
                break
            try:
                z = z - np.linalg.solve(np.asarray(self.J(z, pv)), f)
            except np.linalg.LinAlgError:
                break
        return z

    def accept(self, z, pv):
        if not np.all(np.isfinite(z)):
            return False
        worst, inside, regime = (np.asarray(a) for a in self.check(z, pv))
        return bool(worst < ROOT_TOL and inside and regime)

    def find(self, pv, starts, methods=("hybr", "lm")):
        """An in-regime root from any start (internal coordinates), or None."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fun = lambda z: np.nan_to_num(np.asarray(self.F(z, pv)), nan=1e6, posinf=1e6, neginf=-1e6)  # noqa: E731
            jac = lambda z: np.nan_to_num(np.asarray(self.J(z, pv)), nan=0.0, posinf=0.0, neginf=0.0)  # noqa: E731
            for z0 in starts:
                if not np.all(np.isfinite(z0)):
                    continue
                for method in methods:
                    options = {"maxfev": MAX_EVALS} if method == "hybr" else {"maxiter": MAX_EVALS // 3}
                    try:
                        res = scipy.optimize.root(fun, z0, jac=jac, method=method, options=options)
                    except (ValueError, np.linalg.LinAlgError):
                        continue
                    z = self.polish(res.x, pv)
                    if self.accept(z, pv):
                        return z
        return None


def missed_points(cls, pts, status, rng, n_random=6):
    """Indices of flagged points at which the independent search finds an in-regime equilibrium.

    Every flagged point: a batched damped Newton (this file's own, under vmap) from the model's
    guess, the default solution, the continuation end and `n_random` perturbations of the default
    solution and of the continuation end; where that finds nothing, scipy's hybr (MINPACK) from the
    continuation end."""
    idx = np.flatnonzero(status != 0)
    if idx.size == 0:
        return idx, {}
    names = [k for k in cls.parameter_names() if k in pts]
    search = Search(cls, names)
    pv_all = np.stack([pts[k] for k in names], axis=1)
    noise = rng.normal(0.0, 0.3, (idx.size, n_random, search.z_default.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hit, roots_ms, z_cont = (np.asarray(a) for a in search.search_all(
            jnp.asarray(pv_all[idx]), jnp.asarray(search.pv0), jnp.asarray(search.z_default), jnp.asarray(noise)))
    found, roots = [], {}
    for j, i in enumerate(idx):
        z = roots_ms[j] if hit[j] else search.find(pv_all[i], [z_cont[j]], methods=("hybr",))
        if z is not None:
            found.append(i)
            roots[int(i)] = z
    return np.asarray(found, dtype=int), roots


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--families", default="trading_tasks,similar_countries,shadow_migration,"
                    "export_magnification,skill_upgrading")
    ap.add_argument("--submodels", default="", help="comma-separated family/ID to run (default: all)")
    ap.add_argument("--no-search", action="store_true", help="skip the search for missed equilibria")
    ap.add_argument("--missed-out", default="", help="write the missed points (parameters) to this JSON file")
    ap.add_argument("--homotopy-steps", type=int, default=None,
                    help="jo.solve's homotopy_steps (default: its own; 0: the chain without the homotopy)")
    ap.add_argument("--out", default="benchmarks/reliability.md")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20261123)
    fams = [f for f in args.families.split(",") if f] or list(models.available())
    only = {s for s in args.submodels.split(",") if s}
    rows = ["| sub-model | drawn | admissible (tried) | converged | flagged | of which out of regime / "
            "not converged / non-finite | missed | wrong |", "|---|---|---|---|---|---|---|---|"]
    totals = np.zeros(9, int)
    missed_log = {}
    for fam in fams:
        for sid in models.family(fam).SUBMODELS:
            cls = models.get(f"{fam}/{sid}")
            pts, drawn = draw(cls, args.n, rng)  # drawn for every sub-model: the same points whatever is run
            if only and f"{fam}/{sid}" not in only:
                continue
            t0 = time.perf_counter()
            tried = len(next(iter(pts.values()))) if pts else 0
            conv, flagged, wrong, by, status = classify(cls, pts, args.homotopy_steps) if tried else (0, 0, 0, [0, 0, 0], None)
            t1 = time.perf_counter()
            missed = "-"
            if tried and not args.no_search:
                found, _ = missed_points(cls, pts, status, np.random.default_rng(7))
                missed = len(found)
                if missed:
                    missed_log[f"{fam}/{sid}"] = [{k: float(v[i]) for k, v in pts.items()} | {"status": int(status[i])}
                                                  for i in found]
            totals += [drawn, tried, conv, flagged, wrong, *by, missed if missed != "-" else 0]
            rows.append(f"| {fam}/{sid} | {drawn} | {tried} | {conv} | {flagged} | "
                        f"{by[0]} / {by[1]} / {by[2]} | {missed} | {wrong} |")
            print(rows[-1], f"(solve {t1 - t0:.1f} s, search {time.perf_counter() - t1:.1f} s)", flush=True)
    d, t, c, f, w, o, nc, nf, ms = (int(x) for x in totals)
    rows.append(f"| **all** | {d} | {t} | {c} | {f} | {o} / {nc} / {nf} | {ms if not args.no_search else '-'} | {w} |")
    text = "\n".join(rows)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if args.missed_out:
        import json
        with open(args.missed_out, "w") as f:
            json.dump(missed_log, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
