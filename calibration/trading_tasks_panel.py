"""Calibrate Trading Tasks M1 to every economy-year of the WIOD 2013 panel (41 economies, 1995-2011).

    python calibration/trading_tasks_panel.py                  # all 697 economy-years (resumable)
    python calibration/trading_tasks_panel.py --only DEU,KOR --years 2000,2011 --no-figures

Targets (shipped data; provenance in jaxoff/data/multicountry/PROVENANCE.md and jaxoff/data/PROVENANCE.md):

* offshoring share = foreign value-added share of gross exports of the economy-year, computed from the
  full WIOD 2013 world input-output tables (`jaxoff.data.input_output.wiod2013_fva_derived`, the TiVA
  EXGR_FVASH concept; a computed indicator, not an official statistic);
* skill premium s/w = OECD Education at a Glance 2017 relative earnings of tertiary vs upper-secondary
  educated adults / 100. It is the only earnings source shipped and has ONE reference year (2015,
  some 2012-2014): it is used for every year of a country, i.e. the calibration assumes a constant
  skill premium and lets p absorb it. Economies without it (non-OECD, ISL, RoW) cannot identify p.

Identification (column `identification`):

* `beta,p`: both targets exist -> beta (offshoring cost) and p (relative price of Y) exactly identified,
  as in calibration/trading_tasks_oecd.py;
* `beta|p=0.85`: no earnings data -> p fixed at 0.85 (the value used since the first panel run; why it
  is kept is below) and beta identified by the FVA share alone.

Regime (column `regime`): every unit is fitted in M1's diversified regime (both goods produced), with
the same fixed parameters for every unit, so beta (and p) are comparable across the whole table.

Why alpha_y = 0.85 (spec default 0.7; the paper gives no numbers). Under Cobb-Douglas, with z the ratio
of H payments to L-task-bundle payments (z = s H (1-I)/(W L)) and g = g(I) the foreign share of L-task
costs, M1 gives (any power schedule h):

    offshoring share = g/(1 + z),    skill premium s/w = z (L/H)/(1 - g),

and the economy is diversified iff (1-alpha_y)/alpha_y < z < (1-alpha_x)/alpha_x (the edges of the cone,
spec 5.1(c); outside it, it specializes in Y or X). So the offshoring share is below alpha_y g < alpha_y:
the L-task cost share of the labor-intensive good caps it. Each unit's two targets give z and g in closed
form; LUX (FVA 0.53-0.61 with relative earnings 1.58) needs z down to 0.311, below the Y edge 0.429 of
alpha_y = 0.7 (that was the former cap of about 0.49-0.51), and the highest-FVA unit without earnings
data (MLT-2000, 0.520) needs alpha_y g(I) > 0.52 at p = 0.85. alpha_y = 0.85 (edge 0.176) is the smallest
value on a 0.05 grid that puts every unit strictly inside the cone (alpha_y = 0.8 covers the `beta,p`
units but caps p = 0.85 units at 0.514); the X edge 1.5 (alpha_x = 0.4) is kept (largest z: USA-1998,
1.37). H/L cannot do this: it scales both edges together, and LUX needs H/L > 2.18 while USA-1998 needs
H/L < 1.11. Raising alpha_y changes the levels of p (W/s = p^(1/(alpha_y - alpha_x)) under
Cobb-Douglas), not the fit: s/w and the offshoring share depend on (z, g) only.

Why w* = 0.025 (was 0.05). Only beta w* enters M1 (spec O3), so w* only sets the unit of beta (every
`beta,p` beta of the former table doubles exactly: beta w* is unchanged; with p fixed, the `beta|p=0.85`
betas also move with alpha_y, by a factor of about 2.3) and, through the paper's assumption beta t(0) >= 1
(model domain `beta * kappa >= 1`), a lower bound on the home/foreign wage gap, w/w* >= t(I)/t(0). Under
Cobb-Douglas the targets give beta w* = W/(1 + ell) in closed form (h = 1: tOmega(I) = kappa (1 + ell),
ell = -ln(1-I) = g/(1-g); W = (s/W)^-(1-alpha_x), independent of alpha_y): LUX 2001 and 2004-2011 need
beta w* down to 0.0341 (LUX-2008), so at w* = 0.05 beta would fall below 1. w* = 0.025 satisfies the bound
at every unit (smallest beta: LUX-2008, 1.36).

p for units without earnings data stays 0.85: at alpha_y = 0.85 every FVA share in that group
(0.052-0.520) is reachable for p between about 0.78 (below it RUS's low shares would put the economy at
the X edge) and 1.07 (above it MLT-2000 would be beyond the Y edge). The median p of the `beta,p` units
(about 0.73) is outside that interval, so it is not used.

Tertiary-education shares (H/L) are not used: in M1 no factor price depends on endowments (spec P9); they
only move the diversification cone, and with p fixed by the skill premium the data's H/L puts many
economies outside the cone. H = L = 1 as in the cross-section script (the column `tertiary_share` reports
the data where available, for reference).

Writes calibration/results/trading_tasks_panel.csv (columns iso3, year, beta, se:beta, p, se:p,
target:/model: moments, status, identification, ...) and calibration/figures/trading_tasks_panel_beta.png
(small multiples of the implied offshoring cost beta by economy over time).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jaxoff.data as jd  # noqa: E402
import jaxoff.data.input_output as jio  # noqa: E402
from jaxoff.calibrate import calibrate_many  # noqa: E402
from jaxoff.models.trading_tasks import SUBMODELS  # noqa: E402

from _figures import panel_arguments, small_multiples, status_counts, tidy_table, write_csv_atomic  # noqa: E402

FIXED = dict(h_L=1.0, kappa=1.0, w_star=0.025, alpha_x=0.4, alpha_y=0.85, sigma_x=1.0, sigma_y=1.0, L=1.0, H=1.0)
START = dict(beta=8.0, p=0.85)
GROUPS = {
    "beta,p": ({"beta": "log", "p": "log"}, ["offshoring_share", "skill_premium"]),
    "beta|p=0.85": ({"beta": "log"}, ["offshoring_share"]),
}
# Precision of the data moments (the sources publish no sampling errors): the WIOD-derived FVA share is
# printed in percent with 3 decimals (rounding s.e. 0.0005/sqrt(3) points, i.e. 5e-6/sqrt(3) as a
# fraction); EAG earnings to 0.001 index points (0.0005/sqrt(3)/100). These standard errors measure only
# this printing precision, not sampling or model uncertainty.
SE = {"offshoring_share": 0.000005 / math.sqrt(3), "skill_premium": 0.000005 / math.sqrt(3)}


def moments(sol, model):
    """Offshoring share M_T/Q and skill premium s/w of an M1 equilibrium."""
    return {"offshoring_share": sol["task_imports"] / sol["Q"], "skill_premium": sol["skill_premium"]}


def moments_fva_only(sol, model):
    return {"offshoring_share": sol["task_imports"] / sol["Q"]}


def targets_table(only=None, years=None) -> pd.DataFrame:
    """One row per economy-year of the WIOD panel, indexed 'ISO-YEAR'; missing targets stay NaN."""
    fva = jio.wiod2013_fva_derived()
    rel = jd.relative_earnings_tertiary() / 100.0
    edu = jio.adult_education("TRY").set_index(["iso3", "year"]).share
    df = pd.DataFrame({"iso3": fva.iso3, "year": fva.year, "offshoring_share": fva.fva_share})
    if only:
        df = df[df.iso3.isin(only)]
    if years:
        df = df[df.year.isin(years)]
    df["skill_premium"] = df.iso3.map(rel)
    df["tertiary_share"] = [edu.get((i, y), np.nan) for i, y in zip(df.iso3, df.year)]
    df["identification"] = np.where(df.skill_premium.notna(), "beta,p", "beta|p=0.85")
    df.index = [f"{i}-{y}" for i, y in zip(df.iso3, df.year)]
    df.index.name = "unit"
    return df


def fit_groups(df, checkpoint_dir, se, progress=True):
    """Fit every unit of `df` (column `identification` names its group in GROUPS) with the fixed values
    above; `se`: moment -> standard error of the data. Shared with the TiVA 2009 cross-section script."""
    model = SUBMODELS["M1"](**FIXED, **START)
    parts = []
    for gname, (free, moms) in GROUPS.items():
        sub = df[df.identification == gname]
        if sub.empty:
            continue
        fn = moments if len(moms) == 2 else moments_fva_only
        ck = Path(checkpoint_dir) / gname.replace("|", "_").replace(",", "_").replace("=", "")
        out = calibrate_many(model, sub[moms], free, fn, method="lm", moment_se={k: se[k] for k in moms},
                             checkpoint_dir=ck, max_steps=300, progress=progress, warn=False)
        parts.append(out.table)
    table = pd.concat(parts).reindex(df.index)
    table["identification"] = df.identification
    table["regime"] = "M1 diversified"
    table["alpha_y"] = FIXED["alpha_y"]
    if "p" in table.columns:
        table["p"] = table["p"].where(table.identification == "beta,p", START["p"])
        table.loc[table.status == "missing_target", "p"] = np.nan
    return table


def run(df, checkpoint_dir, progress=True):
    table = fit_groups(df, checkpoint_dir, SE, progress)
    table.insert(0, "iso3", df.iso3)
    table.insert(1, "year", df.year)
    table["tertiary_share"] = df.tertiary_share
    return table


def main(argv=None):
    args = panel_arguments(__doc__.splitlines()[0], "trading_tasks_panel", "trading_tasks_panel_beta.png", argv)
    df = targets_table(args.only, args.years)
    table = run(df, args.checkpoint_dir)
    cols = ["iso3", "year", "beta", "se:beta", "p", "se:p", "target:offshoring_share", "model:offshoring_share",
            "target:skill_premium", "model:skill_premium", "status", "identification", "regime", "alpha_y"]
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
        small_multiples(table.reset_index(drop=True), "beta", args.figure,
                        "Trading Tasks M1 (alpha_y = 0.85): implied offshoring cost beta by economy, WIOD 2013 FVA shares",
                        "beta (offshoring cost, w* = 0.025)", group="identification")
        print(f"Figure: {args.figure}")
    return table


if __name__ == "__main__":
    main()
