"""Figures for the heterogeneous-workers offshoring model (jaxoff.models.skill_upgrading).

Writes to figures/skill_upgrading/:

* wage_schedule.png: ln W(Z) before and after a fall in F_I (spec 9, Fig. 4: F_I = 0.6 -> 0.5), and
  the closed economy (Fig. 1), with the cutoffs Z1, Z2 marked;
* regime_map.png: which regime (A closed, C partial H offshoring, B the paper's equilibrium,
  D partial L offshoring, or outside the model) holds on a grid of (F_I, theta_south);
* regime_path.png: cutoffs, HQ wage rates, welfare and the price index as F_I falls from 1.0 to
  0.38, with the thresholds F_I_max, F_I_low, F_I_L (spec 9, proposed extra figure).

Run: python examples/skill_upgrading_figures.py
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import jaxoff  # noqa: E402,F401
from jaxoff.models import skill_upgrading as su  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "figures", "skill_upgrading")


@jax.jit
def _solve_many(F_I, theta):
    return jax.vmap(lambda f, t: su.solve_regime(F_I=f, theta_south=t))(F_I, theta)


def _pick(rs, i):
    return jax.tree_util.tree_map(lambda x: x[i] if jnp.ndim(x) else x, rs)


def wage_figure():
    F = jnp.array([1.0, 0.6, 0.5])
    rs = _solve_many(F, jnp.full(3, 0.8))
    Z = np.linspace(0.0, 5.0, 501)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = [("closed economy (A, F_I = 1.0)", "0.55", ":"), ("F_I = 0.6 (B)", "tab:blue", "--"),
              ("F_I = 0.5 (B)", "tab:red", "-")]
    for i, (lab, col, ls) in enumerate(styles):
        r = _pick(rs, i)
        ax.plot(Z, np.log(np.asarray(su.wage_schedule(r, Z))), color=col, ls=ls, lw=2, label=lab)
        for k in ("Z1", "Z2"):
            ax.axvline(float(r[k]), color=col, ls=ls, lw=0.8)
    ax.set_xlabel("skill Z")
    ax.set_ylabel("ln W(Z)  (MF efficiency wage = 1)")
    ax.set_title("Wage schedule: globalization (F_I falls) moves both kinks left")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "wage_schedule.png"), dpi=110)
    plt.close(fig)


def regime_map():
    fi = np.linspace(0.2, 1.2, 61)
    th = np.linspace(0.70, 0.95, 41)
    FI, TH = np.meshgrid(fi, th)
    rs = _solve_many(jnp.asarray(FI.ravel()), jnp.asarray(TH.ravel()))
    rid = np.asarray(rs.regime_id).reshape(FI.shape)
    # order along F_I: outside, D, B, C, A
    code = np.select([rid == 3, rid == 1, rid == 2, rid == 0], [1, 2, 3, 4], 0)
    cmap = ListedColormap(["0.85", "tab:purple", "tab:red", "tab:orange", "tab:blue"])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.pcolormesh(FI, TH, code, cmap=cmap, vmin=-0.5, vmax=4.5, shading="nearest")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(k)) for k in range(5)]
    ax.legend(handles, ["outside (no regime / F_I <= F_I_0)", "D: partial L offshoring", "B: paper's open eq.",
                        "C: partial H offshoring", "A: closed"], loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_xlabel("F_I (fixed cost of offshoring)")
    ax.set_ylabel("theta_south (Southern unit cost)")
    ax.set_title("Regime map (other parameters at the spec benchmark)")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "regime_map.png"), dpi=110)
    plt.close(fig)


def regime_path():
    F = np.linspace(1.0, 0.38, 249)
    rs = _solve_many(jnp.asarray(F), jnp.full(F.shape, 0.8))
    th = {k: float(v) for k, v in su.regime_thresholds(su.OpenEconomy()).items()}
    panels = [("Z1", "Z2"), ("C_L", "C_H"), ("V",), ("P",), ("offshoring_intensity",), ("nonproduction_share",)]
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), sharex=True)
    for ax, keys in zip(axes.ravel(), panels):
        for k in keys:
            ax.plot(F, np.asarray(rs[k]), lw=2, label=k)
        for name in ("F_I_max", "F_I_low", "F_I_L"):
            ax.axvline(th[name], color="0.6", lw=0.8, ls="--")
        ax.legend(frameon=False, fontsize=8)
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
    for ax in axes[1]:
        ax.set_xlabel("F_I (falls to the right)")
    fig.suptitle("Regimes A -> C -> B -> D as F_I falls (dashed: F_I_max, F_I_low, F_I_L)")
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "regime_path.png"), dpi=100)
    plt.close(fig)


def main():
    os.makedirs(OUT, exist_ok=True)
    wage_figure()
    regime_map()
    regime_path()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)) // 1024, "KB")


if __name__ == "__main__":
    main()
