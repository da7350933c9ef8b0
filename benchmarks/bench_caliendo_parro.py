"""Benchmark: Caliendo-Parro (2015) on the shipped 1993 data, jaxoff vs a plain NumPy implementation
of the authors' fixed-point algorithm (benchmarks/_cp_numpy_peer.py), measured in the same run.

Three tasks: one counterfactual (NAFTA), the gradient of one region's welfare with respect to all
20 x 31 x 31 tariffs, and a batch of random tariff cuts (default 100). The NumPy peer has no
derivatives: its gradient is central finite differences, 2 solves per tariff (19,220 tariffs, so it
is extrapolated from one solve). Its batch is a Python loop (extrapolated from `CP_BENCH_PEER_RUNS`
measured runs). Goals (no assertions): counterfactual >= 10x faster than the loop after compilation,
gradient <= 3x one counterfactual, batch >= 50x faster than the loop.

Run: python benchmarks/bench_caliendo_parro.py   (writes benchmarks/results_caliendo_parro.md)
"""
from __future__ import annotations

import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cp_numpy_peer as peer  # noqa: E402

from jaxoff.models import caliendo_parro as cp  # noqa: E402

BATCH = int(os.environ.get("CP_BENCH_BATCH", "100"))
PEER_RUNS = int(os.environ.get("CP_BENCH_PEER_RUNS", "3"))
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results_caliendo_parro.md")


def timed(f, *a, **k):
    t = time.perf_counter()
    out = f(*a, **k)
    jax.block_until_ready(out) if not isinstance(out, (tuple, list)) or True else None
    return out, time.perf_counter() - t


def main():
    rows = []
    base = cp.baseline()
    pct = cp.nafta_tariffs(base)

    # --- one counterfactual
    _, t_first = timed(lambda: cp.counterfactual(base, pct).values["w_hat"])
    t_cf = min(timed(lambda: cp.counterfactual(base, pct * (1 - 1e-3 * k)).values["w_hat"])[1] for k in range(3))
    pb, d = peer.baseline()
    tau = peer.gross_tariff(pct, pb["tau"].shape[0])
    sols = []
    t_peer = []
    for k in range(PEER_RUNS):
        s, t = timed(peer.solve, pb, peer.gross_tariff(pct * (1 - 1e-3 * k), pb["tau"].shape[0]))
        sols.append(s)
        t_peer.append(t)
    t_peer = min(t_peer)
    agree = float(np.max(np.abs(cp.counterfactual(base, pct).values["w_hat"] - peer.solve(pb, tau)["w_hat"])))
    rows.append(("one counterfactual (NAFTA)", t_first, t_cf, t_peer, t_peer / t_cf, ">= 10x"))

    # --- gradient of MEX welfare w.r.t. all tariffs (one reverse pass)
    _, t_gfirst = timed(lambda: cp.welfare_gradient(base, "MEX", pct)[1])
    t_grad = min(timed(lambda: cp.welfare_gradient(base, "MEX", pct * (1 - 1e-3 * k))[1])[1] for k in range(2))
    n_tariffs = base.JT * base.N * (base.N - 1)
    t_peer_grad = 2 * n_tariffs * t_peer
    rows.append((f"welfare gradient, {n_tariffs} tariffs", t_gfirst, t_grad, t_peer_grad, t_peer_grad / t_grad,
                 f"<= 3x one counterfactual (here {t_grad / t_cf:.1f}x)"))

    # --- batch of random tariff cuts
    rng = np.random.default_rng(0)
    cuts = jnp.asarray(base.tariffs[None] * rng.uniform(0, 1, size=(BATCH,) + base.tariffs.shape))
    f = jax.jit(jax.vmap(lambda p: cp.equilibrium(base, p)["welfare_exact"]))
    w, t_bfirst = timed(f, cuts)
    _, t_batch = timed(f, cuts * 0.999)
    t_loop = []
    for k in range(PEER_RUNS):
        t_loop.append(timed(peer.solve, pb, peer.gross_tariff(np.asarray(cuts[k]), pb["tau"].shape[0]))[1])
    t_peer_batch = BATCH * float(np.mean(t_loop))
    rows.append((f"batch of {BATCH} random tariff cuts (vmap)", t_bfirst, t_batch, t_peer_batch,
                 t_peer_batch / t_batch, ">= 50x"))
    ok = int(np.all(np.isfinite(np.asarray(w))))

    lines = [
        "# Caliendo-Parro (2015) benchmark: jaxoff vs NumPy fixed-point loop",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared), JAX {jax.__version__}, "
        f"float64, {jax.default_backend()}. 1993 data, 31 regions x 40 sectors (2,511 unknowns).",
        f"Peer: plain NumPy, the authors' nested fixed point (tolerance 1e-14); max |w_hat difference| "
        f"jaxoff vs peer on NAFTA: {agree:.1e}. Peer batch time = {BATCH} x mean of {PEER_RUNS} measured runs; "
        f"peer gradient = 2 x {n_tariffs} x one run (central differences).",
        "",
        "| task | jaxoff first call (s, incl. compile) | jaxoff (s) | NumPy peer (s) | speed-up | goal |",
        "|---|---|---|---|---|---|",
    ]
    for name, a, b, c, r, goal in rows:
        lines.append(f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} | {r:.1f}x | {goal} |")
    lines += ["", f"All {BATCH} batch points finite: {bool(ok)}.", ""]
    text = "\n".join(lines)
    print(text)
    with open(OUT, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
