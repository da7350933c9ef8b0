"""Shared figure: model moments vs data targets by country."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def fit_figure(table, moments, labels, title, path):
    """One panel per moment: data (x) vs calibrated model (y), converged countries labelled, failures marked."""
    fig, axes = plt.subplots(1, len(moments), figsize=(5.2 * len(moments), 4.6))
    axes = np.atleast_1d(axes)
    ok = table["converged"].fillna(False).astype(bool)
    # units without data for every target cannot be calibrated: they are listed in the results CSV
    table = table[table["status"] != "missing_target"]
    ok = ok[table.index]
    for ax, m, lab in zip(axes, moments, labels):
        x, y = table[f"target:{m}"].astype(float), table.get(f"model:{m}")
        y = y.astype(float) if y is not None else x * np.nan
        lo, hi = np.nanmin(x) * 0.9, np.nanmax(x) * 1.1
        ax.plot([lo, hi], [lo, hi], color="0.7", lw=1, zorder=0)
        ax.scatter(x[ok], y[ok], s=18, color="C0", label="converged")
        for iso in table.index[ok]:
            ax.annotate(iso, (x[iso], y[iso]), fontsize=7, xytext=(2, 2), textcoords="offset points")
        bad = ~ok & x.notna()
        if bad.any():
            ax.scatter(x[bad], np.where(np.isfinite(y[bad]), y[bad], lo), marker="x", color="C3",
                       label="not converged")
            for iso in table.index[bad]:
                ax.annotate(iso, (x[iso], y[iso] if np.isfinite(y[iso]) else lo), fontsize=7, color="C3",
                            xytext=(2, -8), textcoords="offset points")
        ax.set_xlabel(f"data: {lab}")
        ax.set_ylabel("model")
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
