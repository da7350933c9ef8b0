"""Calibrate Trading Tasks (Grossman and Rossi-Hansberg 2008, sub-model M1) to every OECD country.

    python calibration/trading_tasks_oecd.py            # all countries, ~1-3 min on CPU
    python calibration/trading_tasks_oecd.py --fresh    # ignore checkpoints
    python calibration/trading_tasks_oecd.py --no-figures

Targets (shipped real data, see jaxoff/data/PROVENANCE.md):

* offshoring share = foreign value-added share of gross exports, TiVA May 2013 country notes, 2009
  (100 - EXGRDVA_EX, or EXGR_FVASH where printed), as a fraction;
* skill premium s/w = relative earnings of tertiary vs upper-secondary educated adults, OECD Education
  at a Glance 2017 (reference year 2015, some 2012-2014), index / 100.

Model moments (spec section 6 and 10): the offshoring share is the imported task content of gross
output M_T/Q = sum_j theta_Lj g(I) p_j q_j / sum_j p_j q_j, which is the foreign value-added share of
exports when exports have the output mix (it needs no assumption on preferences, which M1 lacks);
the skill premium is s/w.

Free parameters: beta (offshoring cost) and p (world relative price of the labor-intensive good Y).
beta and w_star are NOT separately identified (only beta * kappa * w_star enters M1; spec section 10),
so w_star is fixed; H/L moves no factor price in M1 (spec P9), so the skill premium cannot identify it.

Fixed parameters: the panel script's (calibration/trading_tasks_panel.py: FIXED, START, GROUPS are
imported from it, so the two calibrations of M1 cannot drift apart): Cobb-Douglas, h_L = 1, kappa = 1,
alpha_x = 0.4, alpha_y = 0.85 (M1's diversification cone caps the offshoring share at alpha_y g(I): at
the former 0.7, LUX's 0.59 was out of reach) and w* = 0.025 (keeps beta kappa >= 1 at LUX; only
beta w* is identified), H = L = 1; a country without earnings data would get p = 0.85 and beta from
the FVA share alone (column `identification`; every country with a TiVA 2009 figure has earnings data).
The reasons are in the panel script's docstring and calibration/README.md.

Writes calibration/results/trading_tasks_oecd.csv and calibration/figures/trading_tasks_oecd_fit.png.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jaxoff.data as jd  # noqa: E402

# The fixed parameters, the starting point and the identification groups are the panel's (one home:
# calibration/trading_tasks_panel.py, whose docstring says why alpha_y = 0.85, w* = 0.025, p = 0.85).
from trading_tasks_panel import FIXED, GROUPS, START, fit_groups, moments  # noqa: E402, F401  (START, moments: re-exported)

FREE = GROUPS["beta,p"][0]
# Moment standard errors, the only precision information the sources give: TiVA shares are printed as
# rounded integer percentages (uniform rounding error: 0.5/sqrt(3) percentage points); EAG relative
# earnings are printed to 0.001 index points (0.0005/sqrt(3) index points). They are measurement
# precision only, not sampling error.
SE = {"offshoring_share": 0.005 / math.sqrt(3), "skill_premium": 0.000005 / math.sqrt(3)}


def targets_table() -> pd.DataFrame:
    """One row per OECD member present in either source; a missing target stays NaN (reported, not dropped)."""
    fva = jd.fva_share_exports(2009)["fva_share_exports"] / 100.0
    rel = jd.relative_earnings_tertiary() / 100.0
    idx = sorted(set(fva.index) | set(rel.index))
    df = pd.DataFrame({"offshoring_share": fva.reindex(idx), "skill_premium": rel.reindex(idx)})
    df.index.name = "iso3"
    df["identification"] = np.where(df.skill_premium.notna(), "beta,p", "beta|p=0.85")
    return df


def run(df, checkpoint_dir, progress=True):
    """Fit every country of `df` (a `targets_table`) by identification group, as the panel script does."""
    table = fit_groups(df, checkpoint_dir, SE, progress)
    table.insert(0, "n_countries_with_both_targets",
                 int(df[["offshoring_share", "skill_premium"]].notna().all(axis=1).sum()))
    table["w_star"] = FIXED["w_star"]
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-dir", default=str(HERE / "results" / "checkpoints" / "trading_tasks_oecd"))
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    if args.fresh:
        import shutil

        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
    t0 = time.time()
    df = targets_table()
    table = run(df, args.checkpoint_dir)
    res_path = HERE / "results" / "trading_tasks_oecd.csv"
    from _figures import status_counts, tidy_table, write_csv_atomic

    write_csv_atomic(tidy_table(table), res_path)  # rounded, no run-dependent columns
    print(table[["beta", "se:beta", "p", "se:p", "target:offshoring_share", "model:offshoring_share",
                 "target:skill_premium", "model:skill_premium", "status", "identification"]].to_string(float_format="%.4f"))
    print(f"\n{status_counts(table)}")
    for s in ("targets_not_matched", "optimizer_not_converged", "missing_target"):
        ids = list(table.index[table["status"] == s])
        if ids:
            print(f"  {s}: {', '.join(map(str, ids))}")
    print(f"Results: {res_path} ({time.time() - t0:.0f} s)")
    if not args.no_figures:
        from _figures import fit_figure

        fig_path = HERE / "figures" / "trading_tasks_oecd_fit.png"
        fit_figure(table, ["offshoring_share", "skill_premium"],
                   ["offshoring share (FVA share of exports)", "skill premium (tertiary / upper secondary)"],
                   f"Trading Tasks M1 calibrated per OECD country (free: beta, p; alpha_y = {FIXED['alpha_y']}, "
                   f"w* = {FIXED['w_star']})", fig_path)
        print(f"Figure: {fig_path}")
    return table


if __name__ == "__main__":
    main()
