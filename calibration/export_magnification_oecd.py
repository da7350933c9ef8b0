"""Calibrate the export-magnification model (Kleinert and Zorell 2012, sub-model SM-A) per OECD country.

    python calibration/export_magnification_oecd.py            # all countries, a few minutes on CPU
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
FREE = {"beta": "logit", "tau": "log"}
# Fixed parameters: spec section 3 defaults except alpha = 0.85 and tau_I = 1.7. The model's FVA share
# is alpha rho x/(x + alpha rho s_off) < alpha rho (x: export share of X revenue, s_off: offshorers'
# revenue share), so a high alpha and fewer offshorers (higher tau_I) widen the range of FVA shares the
# model can produce inside regime A (up to about 0.3).
FIXED = dict(alpha=0.85, tau_I=1.7)
START = dict(beta=0.4, tau=1.8)


def load_model():
    try:
        from jaxoff.models import export_magnification as em
    except ImportError as e:  # pragma: no cover - depends on the other module being present
        raise SystemExit(
            "calibration/export_magnification_oecd.py needs jaxoff.models.export_magnification "
            f"(SUBMODELS['SM-A'] with outputs 'exports_gdp' and 'fva_share'); it could not be imported: {e}"
        ) from None
    cls = em.SUBMODELS.get("SM-A")
    if cls is None:
        raise SystemExit(f"jaxoff.models.export_magnification has no sub-model 'SM-A' (has {list(em.SUBMODELS)})")
    return cls(**FIXED, **START)


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint-dir", default=str(HERE / "results" / "checkpoints" / "export_magnification_oecd"))
    ap.add_argument("--fresh", action="store_true", help="ignore existing checkpoints")
    ap.add_argument("--no-figures", action="store_true")
    args = ap.parse_args(argv)
    model = load_model()
    from jaxoff.calibrate import calibrate_many

    if args.fresh:
        import shutil

        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
    t0 = time.time()
    df, se = targets_table()
    out = calibrate_many(model, df, FREE, method="lm", moment_se=se, checkpoint_dir=args.checkpoint_dir,
                         max_steps=300)
    table = out.table
    res_path = HERE / "results" / "export_magnification_oecd.csv"
    from _figures import status_counts, tidy_table, write_csv_atomic

    write_csv_atomic(tidy_table(table), res_path)  # rounded, no run-dependent columns
    cols = [c for c in ["beta", "se:beta", "tau", "se:tau", "target:exports_gdp", "model:exports_gdp",
                        "target:fva_share", "model:fva_share", "status"] if c in table]
    print(table[cols].to_string(float_format="%.4f"))
    print(f"\n{status_counts(table)}")
    for s in ("targets_not_matched", "optimizer_not_converged", "missing_target"):
        ids = list(table.index[table["status"] == s])
        if ids:
            print(f"  {s}: {', '.join(map(str, ids))}")
    print(f"Results: {res_path} ({time.time() - t0:.0f} s)")
    if not args.no_figures:
        from _figures import fit_figure

        fig_path = HERE / "figures" / "export_magnification_oecd_fit.png"
        fit_figure(table, ["exports_gdp", "fva_share"], ["exports / GDP", "FVA share of gross exports"],
                   "Export magnification SM-A calibrated per OECD country (free: beta, tau)", fig_path)
        print(f"Figure: {fig_path}")
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
