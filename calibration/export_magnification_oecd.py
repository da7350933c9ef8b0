"""Calibrate the export-magnification model (Kleinert and Zorell 2012, sub-model SM-A) per OECD country.

    python calibration/export_magnification_oecd.py            # all countries, a few minutes on CPU
    python calibration/export_magnification_oecd.py --fresh    # ignore checkpoints
    python calibration/export_magnification_oecd.py --no-figures

Targets (shipped real data, see jaxoff/data/PROVENANCE.md), reference year 2009:

* exports/GDP: World Bank WDI NE.EXP.GNFS.ZS, 2009, bulk-CSV vintage 2023-12-18, as a fraction;
* foreign value-added share of gross exports: TiVA May 2013 country notes, 2009 (100 - EXGRDVA_EX, or
  EXGR_FVASH where printed), as a fraction.

Model moments (spec O16): `exports_gdp` = (X_exp + T_I)/(w L) and `fva_share` = alpha rho X_exp/(X_exp + T_I)
(the model's outputs of the same names).

Free parameters and what identifies them (see calibration/README.md):

* beta (expenditure share of differentiated X): every cutoff and share in SM-A is independent of
  beta (R_X = beta w L only scales X revenue), so exports/GDP is proportional to beta and fva_share does
  not depend on it: beta is identified by exports/GDP given the rest.
* tau (iceberg cost of X trade among advanced economies): it sets the export share x of X revenue and
  hence the mix of X exports (foreign content alpha rho) and Y exports that pay for intermediates
  (no foreign content) in gross exports, so it is identified by the FVA share, which beta does not move.
tau_I and A_Iw/A_Yw are not separately identified (only q enters), so both are fixed.

Fixed parameters: the panel script's (calibration/export_magnification_panel.py: FIXED, START, FREE and
the regime-A cap `regime_a_max_fva` are imported from it, so the two calibrations of SM-A cannot drift
apart): spec defaults except alpha = 0.85, tau_I = 1.7, n = 40 export markets (the partner economies of
the WIOD table; the spec default n = 4 capped the FVA share in regime A at 0.305, n = 40 at 0.3551) and
L_w = 500 (keeps the workbench interior for n + 1 buyers; moves neither moment). Countries whose FVA
share regime A cannot reach are reported as `targets_not_matched` with the closest regime-A point and
the reason in `unreachable_because` (column `reachable_in_regime_A`), never dropped; above 1/2 (LUX,
0.59) the share is beyond the model for every parameter value.

Writes calibration/results/export_magnification_oecd.csv and
calibration/figures/export_magnification_oecd_fit.png.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The fixed parameters, the starting point, the free parameters and the regime-A cap are the panel's (one
# home: calibration/export_magnification_panel.py, whose docstring says why n = 40 and L_w = 500).
from export_magnification_panel import FIXED, FREE, START, regime_a_max_fva  # noqa: E402


def load_model():
    from jaxoff.models.export_magnification import SUBMODELS

    return SUBMODELS["SM-A"](**FIXED, **START)


def targets_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Targets by OECD member (union of the sources; a missing target stays NaN) and moment s.e."""
    import jaxoff.data as jd

    fva = jd.fva_share_exports(2009)["fva_share_exports"] / 100.0
    exp09 = jd.exports_pct_gdp(2009, "worldbank_exports_2023") / 100.0
    idx = sorted(set(fva.index) | set(exp09.index))
    df = pd.DataFrame({"exports_gdp": exp09.reindex(idx), "fva_share": fva.reindex(idx)})
    df.index.name = "iso3"
    # Moment standard errors (an assumption, documented in README.md): for exports/GDP the revision
    # between the two shipped WDI vintages for 2010, the closest year both cover; for the TiVA share
    # the rounding of the printed integer percentage (0.5/sqrt(3) points).
    rev = (jd.exports_pct_gdp(2010, "worldbank_exports_2023") - jd.exports_pct_gdp(2010, "wdi_exports_imports")).abs()
    se = pd.DataFrame({"exports_gdp": (rev / 100.0).reindex(idx).clip(lower=1e-4).fillna(np.nan),
                       "fva_share": 0.005 / np.sqrt(3)}, index=df.index)
    return df, se


def reachability(df: pd.DataFrame) -> pd.DataFrame:
    """Columns `reachable_in_regime_A` and `unreachable_because` (empty when reachable or without data),
    as in the panel script: the regime-A cap at the fixed parameters, and 1/2 (beyond every regime)."""
    cap = regime_a_max_fva()
    fva = df["fva_share"]
    out = pd.DataFrame(index=df.index)
    out["reachable_in_regime_A"] = (fva < cap).where(fva.notna(), np.nan)
    out["unreachable_because"] = np.select(
        [fva > 0.5, fva >= cap],
        ["fva_share > 1/2: above alpha rho/(1 + alpha rho) for every parameter value",
         f"fva_share >= {cap:.4f}: above the regime-A cap (A.2 boundary) at the fixed parameters"], "")
    return out


def run(df, se, checkpoint_dir, progress=True):
    """Fit every country of `df` (from `targets_table`) in regime A at the panel's fixed parameters."""
    from jaxoff.calibrate import calibrate_many

    out = calibrate_many(load_model(), df[["exports_gdp", "fva_share"]], FREE, method="lm", moment_se=se,
                         checkpoint_dir=checkpoint_dir, max_steps=300, progress=progress, warn=False)
    table = out.table.reindex(df.index)
    table["regime"] = "SM-A"
    table = table.join(reachability(df))
    table["n"] = FIXED["n"]
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-dir", default=str(HERE / "results" / "checkpoints" / "export_magnification_oecd"))
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    if args.fresh:
        import shutil

        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
    t0 = time.time()
    df, se = targets_table()
    table = run(df, se, args.checkpoint_dir)
    res_path = HERE / "results" / "export_magnification_oecd.csv"
    from _figures import status_counts, tidy_table, write_csv_atomic

    write_csv_atomic(tidy_table(table), res_path)  # rounded, no run-dependent columns
    cols = [c for c in ["beta", "se:beta", "tau", "se:tau", "target:exports_gdp", "model:exports_gdp",
                        "target:fva_share", "model:fva_share", "status", "reachable_in_regime_A"] if c in table]
    print(table[cols].to_string(float_format="%.4f"))
    print(f"\n{status_counts(table)}")
    for s in ("targets_not_matched", "optimizer_not_converged", "missing_target"):
        ids = list(table.index[table["status"] == s])
        if ids:
            print(f"  {s}: {', '.join(map(str, ids))}")
    for why, ids in table[table.unreachable_because != ""].groupby("unreachable_because").groups.items():
        print(f"  {', '.join(map(str, ids))}: {why}")
    print(f"Results: {res_path} ({time.time() - t0:.0f} s)")
    if not args.no_figures:
        from _figures import fit_figure

        fig_path = HERE / "figures" / "export_magnification_oecd_fit.png"
        fit_figure(table, ["exports_gdp", "fva_share"], ["exports / GDP", "FVA share of gross exports"],
                   f"Export magnification SM-A calibrated per OECD country (free: beta, tau; n = {FIXED['n']:g})",
                   fig_path)
        print(f"Figure: {fig_path}")
    return table


if __name__ == "__main__":
    main()
