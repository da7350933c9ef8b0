"""Cross-section calibration scripts (calibration/*_oecd.py, TiVA 2009): they use the panel scripts' fixed
parameters (one home), LUX is fitted by Trading Tasks M1 with its moments matched, and export magnification
reports why LUX is out of reach. Oracle: the targets read from the shipped data, matched by an independent
`jo.solve` at the fitted parameters (not the calibration's own moments)."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "calibration"))

import export_magnification_oecd as emo  # noqa: E402
import export_magnification_panel as emp  # noqa: E402
import trading_tasks_oecd as tto  # noqa: E402
import trading_tasks_panel as ttp  # noqa: E402


def _lux_targets():
    import jaxoff.data as jd

    return jd.fva_share_exports(2009)["fva_share_exports"]["LUX"] / 100, jd.relative_earnings_tertiary()["LUX"] / 100


def _check_m1_fit(beta, p, share, premium, tol):
    import jaxoff as jo
    from jaxoff.models.trading_tasks import SUBMODELS

    sol = jo.solve(SUBMODELS["M1"](**{**tto.FIXED, "beta": beta, "p": p}))
    assert sol.converged
    assert float(sol["x"]) > 0 and float(sol["y"]) > 0                   # diversified: inside M1's cone
    assert beta * tto.FIXED["kappa"] >= 1                                 # the paper's beta t(0) >= 1
    assert float(sol["task_imports"] / sol["Q"]) == pytest.approx(share, abs=tol)
    assert float(sol["skill_premium"]) == pytest.approx(premium, abs=tol)


def test_cross_section_uses_the_panel_fixed_parameters():
    assert tto.FIXED is ttp.FIXED and tto.START is ttp.START
    assert tto.FIXED["alpha_y"] == 0.85 and tto.FIXED["w_star"] == 0.025
    assert emo.FIXED is emp.FIXED and emo.FREE is emp.FREE
    assert emo.FIXED["n"] == 40.0 and emo.FIXED["L_w"] == 500.0


def test_shipped_trading_tasks_table_fits_lux():
    """The tracked table (rounded to 6 significant digits) has LUX fitted; an independent solve at its
    rounded beta, p reproduces the TiVA 2009 share (0.59) and the EAG relative earnings."""
    t = pd.read_csv(ROOT / "calibration" / "results" / "trading_tasks_oecd.csv", index_col="iso3")
    assert t.loc["LUX", "status"] == "converged" and t.loc["LUX", "identification"] == "beta,p"
    assert set(t.alpha_y.dropna()) == {tto.FIXED["alpha_y"]} and set(t.w_star.dropna()) == {tto.FIXED["w_star"]}
    share, premium = _lux_targets()
    _check_m1_fit(float(t.loc["LUX", "beta"]), float(t.loc["LUX", "p"]), share, premium, tol=1e-4)


def test_shipped_export_magnification_table_says_why_lux_is_not_fitted():
    t = pd.read_csv(ROOT / "calibration" / "results" / "export_magnification_oecd.csv", index_col="iso3",
                    keep_default_na=False, na_values=[""])
    lux = t.loc["LUX"]
    assert lux.status == "targets_not_matched" and lux.reachable_in_regime_A in (False, "False")
    assert "1/2" in lux.unreachable_because
    assert lux["model:fva_share"] <= emp.regime_a_max_fva() + 1e-6
    ok = t.status == "converged"
    assert (t.loc[ok, "target:fva_share"] < emp.regime_a_max_fva()).all()
    assert t.loc[ok, "unreachable_because"].isna().all()


@pytest.mark.slow
def test_trading_tasks_cross_section_fits_lux(tmp_path):
    """Calibrate LUX from scratch with the script's own `run` (compiles M1's calibration, ~30 s CPU)."""
    df = tto.targets_table().loc[["LUX"]]
    t = tto.run(df, tmp_path, progress=False)
    row = t.loc["LUX"]
    assert row.status == "converged" and np.isfinite(row["se:beta"]) and row["se:beta"] > 0
    share, premium = _lux_targets()
    _check_m1_fit(float(row.beta), float(row.p), share, premium, tol=1e-8)
