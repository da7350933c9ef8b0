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
to it) and tau (the iceberg cost of X trade; identified by the FVA share, which beta does not move).
Fixed, the same for every economy-year so that tau is comparable across the table: spec defaults except
alpha = 0.85, tau_I = 1.7 (as in the cross-section script, see calibration/README.md), n = 40 and L_w = 500.

Why n = 40 (spec default 4), and the cap that remains. fva = alpha rho x/(x + alpha rho s_off) (x: export
share of X revenue, s_off: offshorers' revenue share). In regime A every exporter offshores, so x <= e s_off
with e = n tau^(1-sigma)/(1 + n tau^(1-sigma)) the export intensity of exporters (O10), with equality at
the A.2 boundary (phi_off = phi_ex, tau^(sigma-1) = f_I/(f_ex phat)): the supremum of the FVA share in
regime A is alpha rho e/(e + alpha rho) there (`regime_a_max_fva`), 0.305 at n = 4 (the former cap, 464
units fitted) and 0.3551 at n = 40. n is the number of export markets of each economy: 40 is the number of
partner economies in the WIOD table. L_w only has to keep the workbench interior for n + 1 = 41 buyers.

Economy-years above the cap are reported as `targets_not_matched` with the closest regime-A point (tau at
the A.2 boundary), never dropped; `reachable_in_regime_A` and `unreachable_because` say which and why.
Other regimes do not help much: beyond the A.2 boundary (regime C, then SM-J/SM-I where A.3 fails) the
share rises only to alpha rho (n/(n+1))/(n/(n+1) + alpha rho) = 0.3585 as tau -> 1, and for every
parameter value and regime fva < alpha rho/(1 + alpha rho) < 1/2 (imported intermediates are paid for by
Y exports without foreign value added): FVA shares above 1/2 (LUX 1997-2011, MLT 1995 and 2000) are
beyond the model.

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
# n = 40: every WIOD economy exports to the 40 other economies of the table (the spec default n = 4 caps
# the export intensity of exporters, n tau^(1-sigma)/(1 + n tau^(1-sigma)), and with it the FVA share, at
# 0.305 in regime A). L_w: W must produce Y (interior workbench, spec 5.5) for n + 1 = 41 buyers of its
# intermediates: (n+1) alpha rho beta (A_Y/A_Yw) L s_off < L_w needs L_w > 232 when beta s_off -> 1; L_w
# moves neither moment while W is interior. alpha, tau_I as in the cross-section script.
FIXED = dict(alpha=0.85, tau_I=1.7, n=40.0, L_w=500.0)
START = dict(beta=0.4, tau=1.8)
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
    cap = regime_a_max_fva()
    df["reachable_in_regime_A"] = df.fva_share < cap
    df["unreachable_because"] = np.select(
        [df.fva_share > 0.5, df.fva_share >= cap],
        ["fva_share > 1/2: above alpha rho/(1 + alpha rho) for every parameter value",
         f"fva_share >= {cap:.4f}: above the regime-A cap (A.2 boundary) at the fixed parameters"], "")
    return df


def regime_a_max_fva(**params) -> float:
    """Supremum of the FVA share in regime A at the fixed parameters (closed form, spec 5.3 and O16).

    fva = alpha rho x/(x + alpha rho s_off) with x = X_exp/R_X and, in A, every exporter offshores, so
    x <= e s_off with e = n tau^(1-sigma)/(1 + n tau^(1-sigma)) the export intensity of exporters (O10);
    x = e s_off exactly when the offshoring and export cutoffs meet, the A.2 boundary
    tau^(sigma-1) = f_I/(f_ex phat), phat = 1 - q^(alpha(sigma-1)). There e = n f_ex phat/(f_I + n f_ex phat)
    and fva = alpha rho e/(e + alpha rho); inside A (larger tau) it is lower. Beyond the boundary (regime
    C, and J/I where A.3 fails) e rises only to n/(n+1) as tau -> 1, and in every regime and for every
    parameter value fva < alpha rho/(1 + alpha rho) < 1/2 (imported intermediates are paid for by Y
    exports that carry no foreign value added).
    """
    m = SUBMODELS["SM-A"](**{**FIXED, **START, **params})
    rho = (m.sigma - 1.0) / m.sigma
    q = m.tau_I * (m.A_Yw / m.A_Iw) * (m.A_I / m.A_Y)
    phat = 1.0 - q ** (m.alpha * (m.sigma - 1.0))
    e = m.n * m.f_ex * phat / (m.f_I + m.n * m.f_ex * phat)
    ar = m.alpha * rho
    return float(ar * e / (e + ar))


def run(df, checkpoint_dir, progress=True):
    model = SUBMODELS["SM-A"](**FIXED, **START)
    out = calibrate_many(model, df[["exports_gdp", "fva_share"]], FREE, method="lm", moment_se=SE,
                         checkpoint_dir=checkpoint_dir, max_steps=300, progress=progress, warn=False)
    table = out.table.reindex(df.index)
    table.insert(0, "iso3", df.iso3)
    table.insert(1, "year", df.year)
    table["regime"] = "SM-A"
    table["reachable_in_regime_A"] = df.reachable_in_regime_A
    table["unreachable_because"] = df.unreachable_because
    return table


def main(argv=None):
    args = panel_arguments(__doc__.splitlines()[0], "export_magnification_panel", "export_magnification_panel_tau.png", argv)
    df = targets_table(args.only, args.years)
    table = run(df, args.checkpoint_dir)
    cols = ["iso3", "year", "beta", "se:beta", "tau", "se:tau", "target:exports_gdp", "model:exports_gdp",
            "target:fva_share", "model:fva_share", "status", "regime", "reachable_in_regime_A", "unreachable_because"]
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
                        "Export magnification SM-A: implied trade cost tau by economy (alpha = 0.85, tau_I = 1.7, n = 40)",
                        "tau")
        print(f"Figure: {args.figure}")
    return table


if __name__ == "__main__":
    main()
