"""Reproduce Figs. 3, 4, 6, 7, 8, 9 of Grossman and Rossi-Hansberg (2008, NBER WP 14554).

    JAX_PLATFORMS=cpu python examples/similar_countries_figures.py

Writes figures/similar_countries/fig{3,4,6,7,8,9}.png and prints the computed values at the
rows of the spec's tables (section 9) next to the spec's numbers, plus the paper's thresholds
(the w > 1 branch of Fig. 4 exists for L > 0.96; offshoring stops for beta > 1.92 in Fig. 8).
Every branch is traced by continuation (`similar_countries.continuation`) in the direction where
it is known to exist; all sweeps share two compilations (one for L, one for beta).
"""
from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import brentq  # noqa: E402

import jaxoff as jo  # noqa: E402
from jaxoff.models import similar_countries as sc  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "figures", "similar_countries")
N = 121  # points per sweep (all sweeps share one shape, hence one compilation per parameter)


def economy(beta, theta=0.8, sigma=2.0, L=1.0, branch=1.0):
    """The paper's normalisation: L + L* = 2, H = L, f = 1; branch as a traced code."""
    m = sc.UnequalWage(beta=beta, theta=theta, sigma=sigma, L_E=L, L_W=2 - L, H_E=L, H_W=2 - L)
    return sc.indexed(m, branch_code=branch)


def sweep(model, wrt, start, stop):
    values = np.linspace(start, stop, N)
    sol = sc.continuation(model, wrt, values)
    out = {k: np.asarray(sol[k]) for k in ("w", "I", "I_star", "J", "Q", "Q_star", "V", "V_star", "v", "v_star",
                                            "regime_id", "I_raw")}
    out["x"], out["status"] = values, np.asarray(sol.status)
    order = np.argsort(values)
    return {k: v[order] for k, v in out.items()}


def at(s, x, name):
    """Value of a swept output at x (exact grid point or linear interpolation)."""
    return float(np.interp(x, s["x"], s[name]))


def report(title, rows):
    print(f"\n{title}")
    for r in rows:
        print("  " + "  ".join(f"{v:>9.4f}" if isinstance(v, float) else f"{v!s:>9}" for v in r))


def fig3():
    plus = sweep(economy(2.0, L=1.5), "L", 1.5, 1.0001)
    minus = sweep(economy(2.0, L=0.5, branch=-1.0), "L", 0.5, 0.9999)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 7), sharex=True)
    for s, lw, col in ((plus, 2.2, "k"), (minus, 1.0, "0.55")):
        ax1.plot(s["x"], s["I"], color=col, lw=lw, label="I" if lw > 2 else None)
        ax1.plot(s["x"], s["I_star"], color=col, lw=lw, ls="--", label="I*" if lw > 2 else None)
        ax1.plot(s["x"], s["J"], color=col, lw=lw, ls=":", label="J" if lw > 2 else None)
        ax2.plot(s["x"], s["w"], color=col, lw=lw)
    ax1.set(ylim=(0, 1.05), ylabel="task thresholds",
            title="Fig. 3: high offshoring costs (beta = 2, theta = .8, sigma = 2)")
    ax1.legend(loc="upper center")
    ax2.set(ylim=(0, 3), xlabel="L = H = 2 - L* = 2 - H*", ylabel="w")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "fig3.png"), dpi=90)
    plt.close(fig)
    report("Fig. 3 (beta = 2): L, w, I, I*, J  [spec 9.2: w(1.2)=2.0566, I(1.3)=.8354, I(1.5)=1, I*(1.5)=.1475]",
           [(L, at(plus, L, "w"), at(plus, L, "I"), at(plus, L, "I_star"), at(plus, L, "J")) for L in (1.2, 1.3, 1.5)])
    return [plus, minus]


def fig4():
    thick = sweep(economy(1.1, L=1.5), "L", 1.5, 0.9609)
    medium = sweep(economy(1.1, L=0.5, branch=-1.0), "L", 0.5, 1.0391)
    Ls = np.linspace(0.96084, 1.03916, 41)
    thin = {"x": Ls, "M_E": [], "M_W": [], "I": []}
    for L in Ls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = jo.solve(sc.EqualWage(beta=1.1, L_E=L, L_W=2 - L, H_E=L, H_W=2 - L), mask=False, fallback=False)
        for k in ("M_E", "M_W", "I"):
            thin[k].append(float(d[k]))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 7), sharex=True)
    for s, lw, col in ((thick, 2.4, "k"), (medium, 1.4, "0.4")):
        ax1.plot(s["x"], s["I"], color=col, lw=lw)
        ax1.plot(s["x"], s["I_star"], color=col, lw=lw, ls="--")
        ax1.plot(s["x"], s["J"], color=col, lw=lw, ls=":")
        ax2.plot(s["x"], s["w"], color=col, lw=lw)
    ax1.plot(Ls, thin["I"], color="0.6", lw=0.8, label="I = I* (w = 1)")
    ax1.plot(Ls, thin["M_E"], color="0.6", lw=0.8, ls="-.", label="M(E) (w = 1)")
    ax1.plot(Ls, thin["M_W"], color="0.6", lw=0.8, ls=(0, (1, 3)), label="M(W) (w = 1)")
    ax2.plot(Ls, np.ones_like(Ls), color="0.6", lw=0.8)
    ax1.set(ylim=(0.2, 1.02), ylabel="I (solid), I* (dashed), J (dotted)",
            title="Fig. 4: low offshoring costs (beta = 1.1): three equilibrium families")
    ax1.legend(loc="lower right", fontsize=8)
    ax2.set(ylim=(0.7, 1.4), xlabel="L = H = 2 - L* = 2 - H*", ylabel="w")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "fig4.png"), dpi=90)
    plt.close(fig)

    # the paper's threshold: the w > 1 branch exists for L > 0.96 (brentq on the model's w(L) - 1)
    start = {"w": np.array([1.02]), "Q": np.array([3.0]), "Q_star": np.array([2.6])}

    def wm1(L):
        return float(sc.solve_many([sc.shift_size(economy(1.1), L)], start, mask=False)["w"][0]) - 1.0

    L0 = brentq(wm1, 0.95, 0.99, xtol=1e-10)
    report("Fig. 4 (beta = 1.1): thick-branch threshold L0 [paper 0.96, spec 0.960838]; w, I, I*, J at L = 1",
           [(f"{L0:.6f}", at(thick, 1.0, "w"), at(thick, 1.0, "I"), at(thick, 1.0, "I_star"), at(thick, 1.0, "J"))])
    return [thick, medium]


def fig67():
    sweeps = {}
    for key, kw in (("th0.7", dict(theta=0.7)), ("th0.8", dict(theta=0.8)), ("th0.9", dict(theta=0.9)),
                    ("sg1.6", dict(sigma=1.6)), ("sg2.4", dict(sigma=2.4))):
        sweeps[key] = sweep(economy(1.8, L=1.5, **kw), "L", 1.5, 1.0)
    sweeps["sg2.0"] = sweeps["th0.8"]
    for fig_no, keys, labels in ((6, ("th0.7", "th0.8", "th0.9"), ("theta = .7", "theta = .8", "theta = .9")),
                                 (7, ("sg1.6", "sg2.0", "sg2.4"), ("sigma = 1.6", "sigma = 2", "sigma = 2.4"))):
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 7), sharex=True)
        for k, lab, lw in zip(keys, labels, (0.9, 1.7, 2.6)):
            s = sweeps[k]
            ax1.plot(s["x"], s["I"], color="k", lw=lw, label=f"I, {lab}")
            ax1.plot(s["x"], s["I_star"], color="0.5", lw=lw, ls="--", label=f"I*, {lab}")
            ax2.plot(s["x"], s["w"], color="k", lw=lw, label=lab)
        what = "economies of scale (sigma = 2)" if fig_no == 6 else "product differentiation (theta = .8)"
        ax1.set(ylim=(0, 1.05), ylabel="I (solid), I* (dashed)", title=f"Fig. {fig_no}: {what}, beta = 1.8")
        ax1.legend(fontsize=7, ncol=2)
        ax2.set(ylim=(1, 2.2), xlabel="L = H = 2 - L* = 2 - H*", ylabel="w")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(OUT, f"fig{fig_no}.png"), dpi=90)
        plt.close(fig)
    report("Figs. 6-7 (beta = 1.8) at L = 1.2: case, w, I, I*  [spec: th.7 1.6010 .0928 .0346; th.9 2.0358 .9039 .2631;"
           " s1.6 1.6007 .2662 .0613; s2.4 2.1178 .9175 .2612]",
           [(k, at(s, 1.2, "w"), at(s, 1.2, "I"), at(s, 1.2, "I_star")) for k, s in sweeps.items()])
    return list(sweeps.values())[:5]


def fig89():
    s8 = sweep(economy(2.0, theta=0.8, L=1.1), "beta", 2.0, 1.0)
    s7 = sweep(economy(2.0, theta=0.7, L=1.1), "beta", 2.0, 1.0)
    fig, axes = plt.subplots(2, 1, figsize=(6, 7), sharex=True)
    for ax, s, th in ((axes[0], s8, 0.8), (axes[1], s7, 0.7)):
        ax.plot(s["x"], s["I"], "k", lw=2, label="I")
        ax.plot(s["x"], s["I_star"], "k--", lw=2, label="I*")
        J = np.where((s["I"] > 0) | (s["I_star"] > 0), s["J"], np.nan)
        ax.plot(s["x"], J, "k:", lw=2, label="J")
        ax.set(ylim=(0, 1.05), title=f"Fig. 8: offshoring costs, theta = {th} (L = 1.1, L* = .9, sigma = 2)")
        ax.legend(fontsize=8)
    axes[1].set(xlabel="beta")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "fig8.png"), dpi=90)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 7), sharex=True)
    ax1.plot(s8["x"], s8["w"], "k", lw=2.4, label="theta = 0.8")
    ax1.plot(s7["x"], s7["w"], "k", lw=1.0, label="theta = 0.7")
    ax1.set(ylim=(1.1, 1.55), ylabel="w", title="Fig. 9: wages and welfare (L = 1.1, L* = .9, sigma = 2)")
    ax1.legend()
    for s, lw, th in ((s8, 2.4, ".8"), (s7, 1.0, ".7")):
        ax2.plot(s["x"], s["v"], color="0.6", lw=lw, label=f"East welfare (theta = {th})")
        ax2.plot(s["x"], s["v_star"], color="k", lw=lw, label=f"West welfare (theta = {th})")
    ax2.set(ylim=(0, 10), xlabel="beta", ylabel="welfare: real income per head, V/(L+H)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "fig9.png"), dpi=90)
    plt.close(fig)

    # the paper's threshold: offshoring stops for beta > 1.92 (brentq on I_raw(beta) of SM-B)
    def I_raw(beta, theta):
        return float(sc.solve_many([economy(beta, theta=theta, L=1.1)], mask=False)["I_raw"][0])

    b8 = brentq(lambda b: I_raw(b, 0.8), 1.7, 2.0, xtol=1e-10)
    b7 = brentq(lambda b: I_raw(b, 0.7), 1.5, 2.0, xtol=1e-10)
    report("Figs. 8-9: beta_c(theta=.8) [paper 1.92, spec 1.917899], beta_c(.7) [spec 1.688169]; "
           "w, I, I*, J, v, v* at beta = 1.5 (theta=.8) [spec 1.4105 .4387 .1821 .3501 2.0539 1.3798]",
           [(f"{b8:.6f}", f"{b7:.6f}"), (at(s8, 1.5, "w"), at(s8, 1.5, "I"), at(s8, 1.5, "I_star"), at(s8, 1.5, "J"),
                       at(s8, 1.5, "v"), at(s8, 1.5, "v_star"))])
    return [s8, s7]


def main():
    os.makedirs(OUT, exist_ok=True)
    t0 = time.time()
    for f in (fig3, fig4, fig67, fig89):
        t = time.time()
        failed = [int(np.sum(s["status"] != 0)) for s in f()]
        print(f"  [{f.__name__}: {time.time() - t:.1f} s; failed points per sweep: {failed}]")
    print(f"\nwrote {sorted(os.listdir(OUT))} to {os.path.normpath(OUT)} in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
