"""jaxoff.plot on frames built from real solves (Trading Tasks M1 over a vmapped grid).

Oracles: the regime bands must sit exactly where the sweep's own regime flag flips (checked against
an independent recomputation of the flag from the frame's x and y columns), the heatmap must show
the statics table's numbers, and the fit/bar charts must draw the values they were given.
"""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

import jaxoff as jo
from jaxoff import plot as jp
from jaxoff.models import trading_tasks as tt

M1 = tt.SUBMODELS["M1"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def grid_frame():
    """M1 over (p, beta), one vmapped solve: diversified only in a cone of p around 1 (M1 regime c)."""
    pp, bb = jnp.meshgrid(jnp.linspace(0.8, 1.2, 41), jnp.array([2.0, 2.5]))
    sol = jax.jit(jax.vmap(lambda p, b: jo.solve(M1(p=p, beta=b), mask=False)))(pp.ravel(), bb.ravel())
    df = sol.to_frame()  # the batched parameters come as columns
    np.testing.assert_array_equal(df["beta"], np.asarray(bb.ravel()))
    np.testing.assert_array_equal(df["p"], np.asarray(pp.ravel()))
    return df


@pytest.fixture(scope="module")
def p_sweep(grid_frame):
    return grid_frame[grid_frame.beta == 2.0].reset_index(drop=True)


@pytest.fixture(scope="module")
def statics_table():
    return jo.statics(M1(), ["w", "s", "I", "x", "y"], ["beta", "p", "w_star"], kind="elasticity")


def _bands(ax):
    """(left, right) of the axvspan rectangles, in data coordinates."""
    out = []
    for p in ax.patches:
        if isinstance(p, Rectangle):
            x0 = p.get_x()
            out.append((x0, x0 + p.get_width(), p.get_label()))
    return sorted(out)


# -- regimes ---------------------------------------------------------------------------------------
def test_sweep_frame_has_both_regimes(p_sweep):
    # Guard: the fixture must actually cross the cone of diversification on both sides.
    div = p_sweep["regime:diversified"].to_numpy()
    assert div.any() and (~div).any()
    assert not div[0] and not div[-1]


def test_regime_labels_match_independent_flag(p_sweep):
    labels = jp.regime_labels(p_sweep)
    diversified = (p_sweep["x"] > 0) & (p_sweep["y"] > 0)  # spec M1 regime (c), recomputed here
    assert np.array_equal(labels == "", diversified.to_numpy() & (p_sweep["status"] == "converged").to_numpy())
    assert set(labels[~diversified.to_numpy()]) == {"not diversified"}


def test_regime_spans_bracket_each_flip(p_sweep):
    x = p_sweep["p"].to_numpy()
    labels = jp.regime_labels(p_sweep)
    spans = jp.regime_spans(x, labels)
    assert [s[2] for s in spans] == ["not diversified", "", "not diversified"]
    assert spans[0][0] == x[0] and spans[-1][1] == x[-1]
    for (_l0, r0, _), (l1, _r1, _) in zip(spans, spans[1:]):
        assert r0 == l1  # contiguous
        i = np.searchsorted(x, r0)  # first grid point right of the boundary
        assert labels[i] != labels[i - 1]  # a flip lies between the two neighbours ...
        assert r0 == pytest.approx((x[i] + x[i - 1]) / 2)  # ... and the boundary is halfway


def test_plot_sweep_shades_where_flag_flips(p_sweep):
    ax = jp.plot_sweep(p_sweep, "p", ["w", "s"])
    bands = _bands(ax)
    assert len(bands) == 2  # the two out-of-cone stretches, none over the diversified cone
    fine = p_sweep.loc[p_sweep["regime:diversified"], "p"]
    for left, right, _ in bands:
        assert right <= fine.min() or left >= fine.max()  # no band covers a fine point
    covered = lambda v: any(l <= v <= r for l, r, _ in bands)  # noqa: E731
    for v in p_sweep.loc[~p_sweep["regime:diversified"], "p"]:
        assert covered(v)
    assert [b[2] for b in bands].count("not diversified") == 1  # one legend entry per regime
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "not diversified" in legend and "w" in legend and "s" in legend


def test_plot_sweep_lines_have_gaps_and_dotted_continuation(p_sweep):
    ax = jp.plot_sweep(p_sweep, "p", "w")
    solid = [ln for ln in ax.get_lines() if ln.get_label() == "w"]
    assert len(solid) == 1
    y = np.asarray(solid[0].get_ydata(), dtype=float)
    ok = (p_sweep["status"] == "converged").to_numpy()
    assert np.array_equal(np.isfinite(y), ok)  # gaps exactly at the points that are not fine
    np.testing.assert_allclose(y[ok], p_sweep["w"].to_numpy()[ok])
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert dotted, "mask=False values of out-of-regime points are drawn dotted"
    assert ax.get_xlabel() == "p" and ax.get_ylabel() == "w"


def test_plot_sweep_masked_frame_and_no_regime(p_sweep):
    masked = p_sweep.copy()
    bad = masked["status"] != "converged"
    masked.loc[bad, ["w", "s"]] = np.nan  # what jo.solve(mask=True) returns
    ax = jp.plot_sweep(masked, "p", "w", show_out_of_regime=True)
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(_bands(ax)) == 2
    ax2 = jp.plot_sweep(masked, "p", "w", regime_col=None)
    assert _bands(ax2) == []


def test_plot_sweep_marks_solver_failures(p_sweep):
    df = p_sweep.copy()
    i = int(np.flatnonzero(df["regime:diversified"].to_numpy())[3])
    df.loc[i, "status"] = "not_converged"
    df.loc[i, "converged"] = False
    ax = jp.plot_sweep(df, "p", "w")
    marks = [ln for ln in ax.get_lines() if ln.get_label() == "solver failed"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [df.loc[i, "p"]]
    # A failure inside the fine stretch is a point, not a regime: no band is drawn for it.
    assert len(_bands(ax)) == 2
    y = [ln for ln in ax.get_lines() if ln.get_label() == "w"][0].get_ydata()
    assert np.isnan(y[i])


def test_plot_sweep_events_and_ax_passthrough(p_sweep):
    fig, (a1, a2) = plt.subplots(1, 2)
    out = jp.plot_sweep(p_sweep, "p", "w", events={"x = 0": 1.095}, ax=a2)
    assert out is a2 and not a1.get_lines()
    vlines = [ln for ln in a2.get_lines() if ln.get_label() == "x = 0"]
    assert len(vlines) == 1 and np.allclose(vlines[0].get_xdata(), 1.095)
    ev = pd.DataFrame({"p": [0.83, 1.1], "event": ["y = 0", "x = 0"]})
    ax = jp.plot_sweep(p_sweep, "p", "w", events=ev)
    got = sorted((ln.get_xdata()[0], ln.get_label()) for ln in ax.get_lines() if ln.get_linestyle() == "--")
    assert got == [(0.83, "y = 0"), (1.1, "x = 0")]


def test_plot_sweep_hue_draws_one_line_per_value(grid_frame):
    ax = jp.plot_sweep(grid_frame, "p", "w", hue="beta")
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("beta=")]
    assert len(lines) == 2
    assert _bands(ax) == []  # regimes differ by line: no shared bands
    for ln in lines:  # each line carries its own group's data, fine points only
        g = grid_frame[np.isclose(grid_frame.beta, float(ln.get_label().split("=")[1]))]
        want = np.where(g.status == "converged", g.w, np.nan)
        np.testing.assert_allclose(np.asarray(ln.get_ydata(), dtype=float), want)
    assert not np.allclose(*[np.nan_to_num(np.asarray(ln.get_ydata(), dtype=float)) for ln in lines])


def test_plot_sweep_errors_name_the_column(p_sweep):
    with pytest.raises(KeyError, match="wage"):
        jp.plot_sweep(p_sweep, "p", "wage")
    with pytest.raises(KeyError, match="'q'"):
        jp.plot_sweep(p_sweep, "q", "w")


# -- statics heatmap -------------------------------------------------------------------------------
def test_plot_statics_heatmap(statics_table):
    ax = jp.plot_statics(statics_table, robust=False)
    im = ax.get_images()[0]
    np.testing.assert_allclose(np.asarray(im.get_array()), statics_table.to_numpy())
    lo, hi = im.get_clim()
    assert lo == -hi and hi == pytest.approx(np.abs(statics_table.to_numpy()).max())  # diverging, 0 centred
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == statics_table.size
    assert f"{statics_table.loc['w', 'p']:.2f}" in texts
    assert "-0.00" not in texts  # numerical zeros print as 0.00
    assert [t.get_text() for t in ax.get_xticklabels()] == list(statics_table.columns)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(statics_table.index)
    assert "dln(row)/dln(col)" in ax.get_title()


def test_plot_statics_one_large_cell_does_not_wash_out_the_rest():
    """Issue 20: a single dominant elasticity made every other cell near-white."""
    vals = np.array([[0.2, -0.4, 0.6], [-0.3, 0.5, 40.0], [0.1, -0.2, 0.0]])
    t = pd.DataFrame(vals, index=["a", "b", "c"], columns=["x", "y", "z"])
    ax = jp.plot_statics(t)
    im = ax.get_images()[0]
    lo, hi = im.get_clim()
    median_nonzero = np.median(np.abs(vals[vals != 0]))  # 0.35
    assert lo == -hi and hi == pytest.approx(3 * median_nonzero)  # the documented robust limit
    colours = im.to_rgba(np.ma.masked_invalid(vals))[..., :3]
    white = np.ones(3)
    # every nonzero ordinary cell is visibly coloured (was < 2% of the scale with the max limit) ...
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1)]:
        assert np.abs(colours[i, j] - white).max() > 0.08, (i, j, colours[i, j])
    # ... the large cell saturates at the end colour, its number is still printed exactly, the bar shows it
    np.testing.assert_allclose(colours[1, 2], im.cmap(1.0)[:3])
    assert "40.00" in [x.get_text() for x in ax.texts]
    assert ax.figure.axes[-1].get_label() == "<colorbar>" and im.colorbar.extend == "both"
    assert jp.plot_statics(t, robust=False).get_images()[0].get_clim()[1] == 40.0


def test_save_is_atomic_and_checks_format(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    p = jp.save(ax, tmp_path / "f.png", dpi=50)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.listdir(tmp_path) == ["f.png"]
    old = p.read_bytes()
    with pytest.raises(FileExistsError):
        jp.save(fig, p, force=False)
    with pytest.raises(ValueError, match="unknown figure format 'xyz'"):
        jp.save(fig, tmp_path / "f.xyz")

    def crash(self, fname, **kw):  # a writer killed half-way: partial bytes, then an exception
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(type(fig), "savefig", crash)
    with pytest.raises(OSError, match="disk full"):
        jp.save(fig, p)
    assert p.read_bytes() == old and os.listdir(tmp_path) == ["f.png"]  # old file intact, no temp left


def test_plot_statics_nan_cells_and_ax(statics_table):
    t = statics_table.copy()
    t.iloc[0, 0] = np.nan
    fig, ax = plt.subplots()
    out = jp.plot_statics(t, ax=ax, colorbar=False)
    assert out is ax
    assert np.ma.getmaskarray(ax.get_images()[0].get_array())[0, 0]
    assert ax.texts[0].get_text() == "nan"


# -- calibration fit and bars ----------------------------------------------------------------------
@pytest.fixture()
def fit_frame():
    return pd.DataFrame({"country": ["DEU", "FRA", "USA", "JPN"], "model": [0.30, 0.42, 0.25, 0.18],
                         "data": [0.31, 0.40, 0.25, 0.20]})


def test_plot_fit_scatter(fit_frame):
    ax = jp.plot_fit(fit_frame, "model", "data", "country")
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets, fit_frame[["data", "model"]].to_numpy())
    diag = [ln for ln in ax.get_lines() if "45" in ln.get_label()][0]
    xd, yd = diag.get_xdata(), diag.get_ydata()
    assert np.allclose(xd, yd)  # the 45-degree line
    assert xd[0] < fit_frame[["data", "model"]].min().min() and xd[1] > fit_frame[["data", "model"]].max().max()
    assert sorted(t.get_text() for t in ax.texts) == sorted(fit_frame.country)


def test_plot_fit_bars_and_column_guessing(fit_frame):
    fig, ax = plt.subplots()
    out = jp.plot_fit(fit_frame.rename(columns={"data": "target"}), label_col="country", kind="bars", ax=ax)
    assert out is ax
    heights = [r.get_height() for r in ax.patches if isinstance(r, Rectangle)]
    assert sorted(heights) == sorted([*fit_frame.model, *fit_frame.data])
    with pytest.raises(KeyError, match="pass it by name"):
        jp.plot_fit(fit_frame.rename(columns={"model": "m"}))


def test_plot_bars_series_and_frame():
    s = pd.Series({"DEU": 1.8, "FRA": 2.1, "USA": 1.4}, name="beta")
    ax = jp.plot_bars(s, sort=True)
    bars = [r for r in ax.patches if isinstance(r, Rectangle)]
    assert [b.get_height() for b in bars] == [1.4, 1.8, 2.1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["USA", "DEU", "FRA"]

    df = pd.DataFrame({"beta": [1.8, 2.1, 1.4], "h_L": [1.0, 2.0, 3.0]}, index=["DEU", "FRA", "USA"])
    fig = jp.plot_bars(df, err=df * 0.1, reference={"beta": 2.0})
    axes = [a for a in fig.axes if a.get_visible()]
    assert [a.get_title() for a in axes] == ["beta", "h_L"]
    assert [r.get_height() for r in axes[1].patches] == [1.0, 2.0, 3.0]
    assert any(type(c).__name__ == "ErrorbarContainer" for c in axes[0].containers)  # standard errors
    assert any(ln.get_label() == "reference" for ln in axes[0].get_lines())

    long = df.reset_index(names="country").melt(id_vars="country", var_name="parameter", value_name="value")
    fig2 = jp.plot_bars(long)
    assert [a.get_title() for a in fig2.axes if a.get_visible()] == ["beta", "h_L"]

    fig3, axs = plt.subplots(1, 2)
    assert jp.plot_bars(df, ax=axs) is fig3
    with pytest.raises(ValueError, match="2 Axes"):
        jp.plot_bars(df, ax=axs[0])


def test_style_is_scoped():
    before = matplotlib.rcParams["axes.spines.top"]
    with jp.style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] == before


def test_plot_sweep_continuation_events_one_legend_entry_per_flag(p_sweep):
    from types import SimpleNamespace

    # Duck-typed like jo.continuation's Event (value, kind, flag).
    ev = [SimpleNamespace(value=0.838, kind="regime", flag="diversified"),
          SimpleNamespace(value=1.098, kind="regime", flag="diversified"),
          SimpleNamespace(value=1.15, kind="fold", flag="det_sign")]
    ax = jp.plot_sweep(p_sweep, "p", "w", events=ev)
    v = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(float(ln.get_xdata()[0]) for ln in v) == [0.838, 1.098, 1.15]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend.count("diversified") == 1 and "fold: det_sign" in legend


def test_calibration_frames_are_understood_as_they_are():
    # The shapes of CalibrationResult.as_frame() and calibrate_many(...).table (jaxoff/calibrate.py).
    as_frame = pd.DataFrame([
        {"kind": "parameter", "name": "beta", "value": 1.7, "se": 0.1},
        {"kind": "parameter", "name": "h_L", "value": 2.2, "se": np.nan},
        {"kind": "moment", "name": "skill_premium", "value": 1.61, "target": 1.6, "deviation": 0.01, "weight": 1.0},
        {"kind": "moment", "name": "g", "value": 0.19, "target": 0.2, "deviation": -0.01, "weight": 1.0},
    ], columns=["kind", "name", "value", "se", "target", "deviation", "weight"])
    ax = jp.plot_fit(as_frame)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[1.6, 1.61], [0.2, 0.19]])
    assert sorted(t.get_text() for t in ax.texts) == ["g", "skill_premium"]
    ax = jp.plot_bars(as_frame)
    assert [r.get_height() for r in ax.patches] == [1.7, 2.2]

    table = pd.DataFrame({"beta": [1.5, 2.0], "se:beta": [0.1, 0.2], "model:g": [0.2, 0.3],
                          "target:g": [0.21, 0.3], "model:sp": [1.5, 1.7], "target:sp": [1.5, 1.6],
                          "loss": [1e-6, 1e-7], "converged": [True, True], "status": ["converged"] * 2},
                         index=pd.Index(["DEU", "USA"], name="iso3"))
    ax = jp.plot_bars(table)  # one parameter: one panel, with its standard errors
    assert [r.get_height() for r in ax.patches] == [1.5, 2.0]
    assert any(type(c).__name__ == "ErrorbarContainer" for c in ax.containers)
    ax = jp.plot_fit(table)
    assert len(ax.collections) == 2  # one colour per moment
    assert sorted(t.get_text() for t in ax.texts) == ["DEU", "DEU", "USA", "USA"]
    ax = jp.plot_fit(table, model_col="model:sp")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[1.5, 1.5], [1.6, 1.7]])


def test_style_leaves_interactive_mode_alone():
    # Jupyter's inline backend switches interactive mode on when the first figure is made; if the
    # style context restored it, figures made in later cells would never be displayed.
    was = matplotlib.is_interactive()
    try:
        matplotlib.interactive(False)
        with jp.style():
            matplotlib.interactive(True)
        assert matplotlib.is_interactive()
    finally:
        matplotlib.interactive(was)


def test_plot_sweep_default_columns_and_integer_status(p_sweep):
    ax = jp.plot_sweep(p_sweep[["p", "w", "s", "status", "converged", "residual_norm", "regime:diversified"]], "p")
    assert sorted(ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")) == ["s", "w"]
    codes = {v: k for k, v in jo.STATUS_NAMES.items()}
    df = p_sweep.assign(status=p_sweep["status"].astype(str).map(codes))  # integer status codes
    ax = jp.plot_sweep(df, "p", "w")
    y = [ln for ln in ax.get_lines() if ln.get_label() == "w"][0].get_ydata()
    assert np.array_equal(np.isfinite(np.asarray(y, dtype=float)), (df["status"] == 0).to_numpy())
    assert [b[2] for b in _bands(ax)] == ["not diversified", "_nolegend_"]  # same bands as with names
