"""Shared helpers of the calibration scripts: deterministic result tables and figures."""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Tracked tables are rounded so that they do not change between runs (the optimizer stops at slightly
# different points when run on another machine or in another order): 6 significant digits for
# estimates, standard errors and moments, 3 for condition numbers. The loss (1e-30-ish when fitted) is
# replaced by the largest absolute moment gap, rounded to 1e-6. No timings or timestamps are written.
SIGNIFICANT = 6
RUN_DEPENDENT = ("loss", "steps", "method", "identified")
STATUS_ORDER = ("converged", "targets_not_matched", "optimizer_not_converged", "missing_target")


def _sig(x, digits):
    if not isinstance(x, (float, np.floating)) or not math.isfinite(x) or x == 0:
        return x
    return float(f"{x:.{digits}g}")


def tidy_table(table: pd.DataFrame, digits: int = SIGNIFICANT) -> pd.DataFrame:
    """Round a `calibrate_many` table for a tracked CSV and drop run-dependent columns."""
    t = table.copy()
    moments = [c[len("target:"):] for c in t.columns if c.startswith("target:")]
    gaps = [(t[f"model:{m}"].astype(float) - t[f"target:{m}"].astype(float)).abs()
            for m in moments if f"model:{m}" in t.columns]
    if gaps:
        t["max_abs_moment_gap"] = pd.concat(gaps, axis=1).max(axis=1, skipna=False).round(6)
    t = t.drop(columns=[c for c in RUN_DEPENDENT if c in t.columns])
    for c in t.columns:
        if c == "max_abs_moment_gap" or not pd.api.types.is_float_dtype(t[c]):
            continue
        d = 3 if c == "condition_number" else digits
        t[c] = t[c].map(lambda v: _sig(v, d))
    return t


def write_csv_atomic(df: pd.DataFrame, path: Path, **kw) -> None:
    """Write a CSV through a temporary file and an atomic rename (a killed run leaves the old file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_csv(tmp, **kw)
    os.replace(tmp, path)


def status_counts(table: pd.DataFrame) -> str:
    """'697 units: 650 converged, 30 targets_not_matched, ...' (each status named as it is)."""
    vc = table["status"].fillna("unknown").value_counts()
    order = [s for s in STATUS_ORDER if s in vc.index] + sorted(s for s in vc.index if s not in STATUS_ORDER)
    return f"{len(table)} units: " + ", ".join(f"{int(vc[s])} {s}" for s in order)


def fit_figure(table, moments, labels, title, path):
    """One panel per moment: data (x) vs calibrated model (y), converged countries labelled, others marked
    with their status."""
    fig, axes = plt.subplots(1, len(moments), figsize=(5.2 * len(moments), 4.6))
    axes = np.atleast_1d(axes)
    # units without data for every target cannot be calibrated: they are listed in the results CSV
    table = table[table["status"] != "missing_target"]
    ok = table["status"] == "converged"
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
                       label=" / ".join(sorted(set(table.loc[bad, "status"]))))
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


def small_multiples(panel: pd.DataFrame, value: str, path, title: str, ylabel: str, group: str | None = None):
    """One small panel per economy: `value` over `year`; converged points as a line, others as red x.

    `panel` has columns iso3, year, status, `value` (and `group`: points of different groups, e.g. the
    identification used, get different markers).
    """
    econ = sorted(panel.iso3.unique())
    ncol = 7
    nrow = math.ceil(len(econ) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.1 * ncol, 1.55 * nrow), sharex=True, sharey=True)
    axes = np.atleast_1d(axes).ravel()
    groups = sorted(panel[group].dropna().unique()) if group else [None]
    markers = dict(zip(groups, ["o", "s", "^", "D"]))
    for ax, iso in zip(axes, econ):
        d = panel[panel.iso3 == iso].sort_values("year")
        ok = d.status == "converged"
        ax.plot(d.year[ok], d[value][ok], color="C0", lw=1)
        for g in groups:
            sel = ok & ((d[group] == g) if group else True)
            ax.scatter(d.year[sel], d[value][sel], s=6, color="C0", marker=markers[g])
        bad = ~ok
        if bad.any():
            yb = d[value][bad].where(np.isfinite(d[value][bad]), np.nan)
            ax.scatter(d.year[bad], yb.fillna(np.nanmin(panel[value]) if panel[value].notna().any() else 0),
                       s=10, color="C3", marker="x")
        ax.set_title(iso, fontsize=7, pad=2)
        ax.tick_params(labelsize=6)
    for ax in axes[len(econ):]:
        ax.set_visible(False)
    fig.supxlabel("year", fontsize=8)
    fig.supylabel(ylabel, fontsize=8)
    note = "red x: not fitted (status in the CSV)"
    if group:
        note += "; markers: " + ", ".join(f"{markers[g]} {g}" for g in groups)
    fig.suptitle(f"{title}\n{note}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def panel_arguments(description: str, name: str, figure: str, argv=None):
    """The command line shared by the panel scripts: checkpoints, --fresh, --only, --years, outputs.

    With --fresh the checkpoint directory is removed; the selected economies and years are parsed."""
    import argparse
    import shutil

    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--checkpoint-dir", default=str(here / "results" / "checkpoints" / name))
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--only", help="comma-separated iso3 codes (default: all)")
    ap.add_argument("--years", help="comma-separated years (default: 1995-2011)")
    ap.add_argument("--out", default=str(here / "results" / f"{name}.csv"))
    ap.add_argument("--figure", default=str(here / "figures" / figure))
    args = ap.parse_args(argv)
    if args.fresh:
        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
    args.only = args.only.split(",") if args.only else None
    args.years = [int(y) for y in args.years.split(",")] if args.years else None
    return args
