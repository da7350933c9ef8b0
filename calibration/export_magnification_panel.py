"""Calibrate export magnification (Kleinert and Zorell 2012, SM-A) to every economy-year of the WIOD panel.

    python calibration/export_magnification_panel.py                # all 697 economy-years (resumable)
    python calibration/export_magnification_panel.py --only DEU,KOR --years 2000,2011 --no-figures

Targets, both from the shipped WIOD 2013 tables (jaxoff/data/multicountry/PROVENANCE.md), so every
economy-year has both:

* exports_gdp = gross exports / value added of the economy-year, from the country x country table
  (`jaxoff.data.input_output.wiod2013_table`; value added = gross output - intermediate inputs, which
  includes net product taxes and margins because the tables have no value-added row);
* fva_share = foreign value-added share of gross exports computed from the full WIOD tables
  (`wiod2013_fva_derived`, TiVA EXGR_FVASH concept; a computed indicator, not an official statistic).

Model moments (spec O16): `exports_gdp` = (X_exp + T_I)/(w L), `fva_share` = alpha rho X_exp/(X_exp + T_I).

Free parameters: beta (expenditure share of X, logit; identified by exports/GDP, which is proportional
to it) and FREE_FVA (default tau, the iceberg cost of X trade; identified by the FVA share, which beta
does not move). Fixed: spec defaults except alpha = 0.85, tau_I = 1.7 (see calibration/README.md).
Regime A caps the FVA share at about 0.305 at these values (tau reaches the A.2 boundary): economy-years
above it are reported as `targets_not_matched` with the closest regime-A point, never dropped; the
column `reachable_in_regime_A` says which they are.

Writes calibration/results/export_magnification_panel.csv and
calibration/figures/export_magnification_panel_tau.png (small multiples over time).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jaxoff.data.input_output as jio  # noqa: E402
from jaxoff.blocks.input_output import gross_exports  # noqa: E402
from jaxoff.calibrate import calibrate_many  # noqa: E402
from jaxoff.models.export_magnification import SUBMODELS  # noqa: E402

from _figures import panel_arguments, small_multiples, status_counts, tidy_table, write_csv_atomic  # noqa: E402

FREE = {"beta": "logit", "tau": "log"}
FIXED = dict(alpha=0.85, tau_I=1.7)
START = dict(beta=0.4, tau=1.8)
REGIME_A_MAX_FVA = 0.305  # the closest regime-A point of the cross-section calibration (A.2 boundary)
# Precision of the data moments: exports and value added are integer USD million sums (relative rounding
# below 1e-6 for every economy-year; s.e. 1e-6 used), the FVA share is printed in percent with 3 decimals
# (0.0005/sqrt(3) points). Printing precision only: not sampling or model uncertainty.
SE = {"exports_gdp": 1e-6, "fva_share": 0.000005 / np.sqrt(3)}


def targets_table(only=None, years=None) -> pd.DataFrame:
    """One row per economy-year of the WIOD panel, indexed 'ISO-YEAR'."""
    fva = jio.wiod2013_fva_derived().set_index(["iso3", "year"]).fva_share
    rows = []
    for y in sorted(set(fva.index.get_level_values(1))):
        if years and y not in years:
            continue
        t = jio.wiod2013_table(y)
        E = np.asarray(gross_exports(t.Z, t.F, t.n_countries))
        VA = t.X - t.Z.sum(axis=0)
        for c, e, va in zip(t.countries, E, VA):
            if only and c not in only:
                continue
            rows.append({"iso3": c, "year": y, "exports_gdp": e / va, "fva_share": fva.get((c, y), np.nan)})
    df = pd.DataFrame(rows)
    df.index = [f"{i}-{y}" for i, y in zip(df.iso3, df.year)]
    df.index.name = "unit"
    df["reachable_in_regime_A"] = df.fva_share <= REGIME_A_MAX_FVA
    return df


def run(df, checkpoint_dir, progress=True):
    model = SUBMODELS["SM-A"](**FIXED, **START)
    out = calibrate_many(model, df[["exports_gdp", "fva_share"]], FREE, method="lm", moment_se=SE,
                         checkpoint_dir=checkpoint_dir, max_steps=300, progress=progress, warn=False)
    table = out.table.reindex(df.index)
    table.insert(0, "iso3", df.iso3)
    table.insert(1, "year", df.year)
    table["regime"] = "SM-A"
    table["reachable_in_regime_A"] = df.reachable_in_regime_A
    return table


def main(argv=None):
    args = panel_arguments(__doc__.splitlines()[0], "export_magnification_panel", "export_magnification_panel_tau.png", argv)
    df = targets_table(args.only, args.years)
    table = run(df, args.checkpoint_dir)
    cols = ["iso3", "year", "beta", "se:beta", "tau", "se:tau", "target:exports_gdp", "model:exports_gdp",
            "target:fva_share", "model:fva_share", "status", "regime", "reachable_in_regime_A"]
    tidy = tidy_table(table)
    tidy = tidy[[c for c in cols if c in tidy.columns] + [c for c in tidy.columns if c not in cols]]
    write_csv_atomic(tidy, Path(args.out), index=False)
    print(status_counts(table))
    for s in ("targets_not_matched", "optimizer_not_converged", "missing_target"):
        ids = list(table.index[table.status == s])
        if ids:
            print(f"  {s}: {', '.join(ids[:30])}{' ...' if len(ids) > 30 else ''}")
    print(f"Results: {args.out}")
    if not args.no_figures:
        small_multiples(table.reset_index(drop=True), "tau", args.figure,
                        "Export magnification SM-A: implied trade cost tau by economy (alpha = 0.85, tau_I = 1.7)",
                        "tau")
        print(f"Figure: {args.figure}")
    return table


if __name__ == "__main__":
    main()
