"""Figures for sweeps, comparative statics and calibrations, in one consistent style.

Every function takes plain pandas objects (the tidy frames of `jo.sweep`, `Solution.to_frame`,
`jo.statics` and `CalibrationResult.as_frame`, or any frame with the same columns), accepts `ax=`
to draw into an existing Axes, and returns what it drew on (an `Axes`, or a `Figure` when it made
several panels), so figures compose and can be tested without a display.

    import jaxoff as jo
    ax = jo.plot.plot_sweep(df, "beta", ["w", "s"])          # shaded where the regime flips
    ax = jo.plot.plot_statics(jo.statics(m, kind="elasticity"))
    ax = jo.plot.plot_fit(fit, "model", "data", "country")
    fig = jo.plot.plot_bars(params_by_country)
"""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence

import numpy as np
from cycler import cycler

__all__ = ["STYLE", "PALETTE", "style", "plot_sweep", "plot_statics", "plot_fit", "plot_bars",
           "regime_labels", "regime_spans", "save"]

# Okabe-Ito: distinguishable under the common colour-vision deficiencies and in greyscale print.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
# Pale fills for regime bands, so the lines drawn over them stay legible.
_BAND_COLORS = ["#FBE3D6", "#DCEAF7", "#E2F0D9", "#F2E0EC", "#FFF2CC", "#E7E6E6"]
_FAIL_COLOR = "#B00020"

STYLE = {
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "lines.linewidth": 1.8,
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
}

_STATUS_COL = "status"
_FAILURES = ["not_converged", "nonfinite", "not converged"]
_REGIME_PREFIX = "regime:"


@contextlib.contextmanager
def style():
    """Context manager applying jaxoff's matplotlib style (`STYLE`) to figures made inside it."""
    import matplotlib as mpl

    # Save and restore only our own keys. `plt.rc_context` restores every rcParam, including
    # `interactive`, which Jupyter's inline backend switches on when the first figure is made: a first
    # figure made inside rc_context would turn inline display off for all later figures.
    old = {k: mpl.rcParams[k] for k in STYLE}
    mpl.rcParams.update(STYLE)
    try:
        yield
    finally:
        mpl.rcParams.update(old)


def _styled(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def _new_axes(ax, figsize=(6.0, 3.8)):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _is_numeric(col) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _status_names(df):
    """The status column as names ("converged", ...), also when it holds integer codes; None if absent."""
    if _STATUS_COL not in df:
        return None
    col = df[_STATUS_COL]
    if _is_numeric(col):
        from ._solution import STATUS_NAMES

        return np.array([STATUS_NAMES.get(int(v), str(v)) for v in col.to_numpy()], dtype=object)
    return col.astype(str).to_numpy(dtype=object)


def _ok_mask(df) -> np.ndarray:
    """True where a row is a fine equilibrium (status converged), from whatever columns exist."""
    ok = np.ones(len(df), dtype=bool)
    if _STATUS_COL in df:
        col = df[_STATUS_COL]
        numeric = _is_numeric(col)
        ok &= (col.to_numpy() == 0) if numeric else (col.astype(str).to_numpy() == "converged")
    elif "converged" in df:
        ok &= df["converged"].to_numpy(dtype=bool)
    return ok


# -- regimes ------------------------------------------------------------------------------------
def regime_labels(df, regime_col="auto") -> np.ndarray:
    """One readable regime label per row, "" where the row is a fine, in-regime equilibrium.

    **Arguments:**

    - `df`: a sweep frame.
    - `regime_col`: `"auto"` (use every `regime:<flag>` column and `status`), a column name (its
      values are the labels: a bool flag column labels its False rows), a list of flag columns,
      or `None` (no regimes: all labels "").

    **Returns:** a NumPy array of str. For `"auto"`, a failing point is labelled by its failing
    flags ("not diversified", "not diversified, not interior_cutoff"), or by its status
    ("not_converged", "nonfinite", "invalid_parameters") when no flag explains it.
    """
    n = len(df)
    if regime_col is None:
        return np.full(n, "", dtype=object)
    if isinstance(regime_col, str) and regime_col != "auto":
        col = df[regime_col]
        if col.dtype == bool:
            name = regime_col.removeprefix(_REGIME_PREFIX)
            return np.where(col.to_numpy(), "", f"not {name}").astype(object)
        return col.astype(str).to_numpy(dtype=object)
    flags = ([c for c in df.columns if isinstance(c, str) and c.startswith(_REGIME_PREFIX)]
             if regime_col == "auto" else _as_list(regime_col))
    status = _status_names(df)
    ok = _ok_mask(df)
    out = np.full(n, "", dtype=object)
    for c in flags:  # vectorised over rows: sweeps can have many points
        bad = ~df[c].to_numpy(dtype=bool)
        name = f"not {c.removeprefix(_REGIME_PREFIX)}"
        out[bad] = np.where(out[bad] == "", name, out[bad] + ", " + name)
    if status is not None:
        # The solver failed: its flags were computed at a garbage point, so say what happened.
        failed = ~np.isin(status, ["converged", "out_of_regime"])
        out[failed] = status[failed]
    out[(out == "") & ~ok] = status[(out == "") & ~ok] if status is not None else "not converged"
    return out


def regime_spans(x, labels) -> list[tuple[float, float, str]]:
    """Contiguous stretches of equal label along sorted `x`, as `(left, right, label)`.

    A boundary is placed halfway between the last point of one stretch and the first of the next
    (the flip happens somewhere in between; a finer grid or `jo.continuation` locates it).
    Stretches labelled "" are the baseline regime and are included too.
    """
    x = np.asarray(x, dtype=float)
    labels = np.asarray(labels, dtype=object)
    order = np.argsort(x, kind="stable")
    x, labels = x[order], labels[order]
    if x.size == 0:
        return []
    mids = (x[1:] + x[:-1]) / 2
    spans, start = [], 0
    for i in range(1, x.size + 1):
        if i == x.size or labels[i] != labels[start]:
            left = x[0] if start == 0 else mids[start - 1]
            right = x[-1] if i == x.size else mids[i - 1]
            spans.append((float(left), float(right), labels[start]))
            start = i
    return spans


def _event_list(events, x) -> list[tuple[float, str]]:
    """Normalise continuation events to (position, label): numbers, dicts, or DataFrames."""
    if events is None:
        return []
    if hasattr(events, "columns"):  # a DataFrame of events
        cols = list(events.columns)
        pos = next((c for c in (x, "at", "value", "x", "param_value", "location") if c in cols), None)
        if pos is None:
            num = [c for c in cols if _is_numeric(events[c])]
            if not num:
                raise ValueError(f"events frame has no numeric column to place lines at: {cols}")
            pos = num[0]
        lab = next((c for c in ("event", "flag", "name", "label", "regime", "kind") if c in cols), None)
        return [(float(p), str(lb) if lab else "") for p, lb in
                zip(events[pos], events[lab] if lab else [""] * len(events))]
    if isinstance(events, Mapping):
        return [(float(v), str(k)) for k, v in events.items()]
    if np.ndim(events) == 0:
        return [(float(events), "")]
    out = []
    for e in events:
        if hasattr(e, "value") and hasattr(e, "kind"):  # a jo.continuation Event
            flag = str(getattr(e, "flag", ""))
            out.append((float(e.value), flag if e.kind == "regime" else f"{e.kind}: {flag}"))
        elif isinstance(e, Mapping):
            p = next(e[k] for k in (x, "at", "value", "x") if k in e)
            out.append((float(p), str(e.get("event", e.get("flag", e.get("name", ""))))))
        elif isinstance(e, (tuple, list)) and len(e) == 2:
            a, b = e
            out.append((float(b), str(a)) if isinstance(a, str) else (float(a), str(b)))
        else:
            out.append((float(e), ""))
    return out


@_styled
def plot_sweep(df, x: str, ys: str | Sequence[str] | None = None, *, regime_col="auto", events=None,
               hue: str | None = None, ax=None, logx: bool = False, logy: bool = False,
               show_out_of_regime: bool = True, legend: bool = True, title: str | None = None,
               xlabel: str | None = None, ylabel: str | None = None):
    """Outputs against a swept parameter, with regimes shaded and failed points marked.

    Fine points (status converged) are joined by solid lines; a point that is not fine leaves a gap.
    Stretches of the parameter where the regime differs from the baseline are shaded as bands
    (one colour per regime, named in the legend); points where the solver failed are marked with a
    red cross on the axis; `events` (e.g. regime boundaries located by `jo.continuation`) are drawn
    as vertical lines. If a frame was solved with `mask=False`, the finite values of out-of-regime
    points are drawn dotted, to show where the regime's equations would lead.

    **Arguments:**

    - `df`: a tidy frame, one row per point: the parameter column `x`, the `ys` columns, and
      optionally `status`/`converged` and `regime:<flag>` columns (as `jo.sweep` and
      `Solution.to_frame` produce).
    - `x`: the parameter column; `ys`: one column or several (default: every numeric column that is
      not `x`, a diagnostic or a regime flag).
    - `regime_col`: `"auto"` (all `regime:*` flags and `status`), one column, a list of flags, or
      `None` for no shading (see `regime_labels`).
    - `events`: vertical lines: the event list of `jo.continuation`, a number, a list of numbers or
      `(label, x)` pairs, a dict label -> x, or a DataFrame with a position column (`x`, "at" or
      "value") and a label column.
    - `hue`: draw one line per value of this column (e.g. the second axis of a 2-D grid); regime
      bands are then not drawn, since they differ by line.
    - `ax`: an Axes to draw into (a new figure otherwise); `logx`/`logy`: log scales.

    **Returns:** the matplotlib `Axes`.
    """
    import matplotlib.transforms as mtransforms

    if x not in df:
        raise KeyError(f"plot_sweep: no column '{x}'; columns: {list(df.columns)}")
    skip = {x, _STATUS_COL, "converged", "residual_norm", "steps", hue}
    ys = _as_list(ys) or [c for c in df.columns if c not in skip and isinstance(c, str)
                          and not c.startswith(_REGIME_PREFIX) and _is_numeric(df[c])]
    missing = [y for y in ys if y not in df]
    if missing:
        raise KeyError(f"plot_sweep: no column {missing[0]!r}; columns: {list(df.columns)}")
    ax = _new_axes(ax)
    data = df.sort_values(x, kind="stable")
    ok = _ok_mask(data)
    labels = regime_labels(data, None if hue is not None else regime_col)
    xv = data[x].to_numpy(dtype=float)

    # Regime bands first, so lines draw over them.
    band_colors: dict[str, str] = {}
    if hue is None:
        # Solver failures are points, not regimes (marked below): bands bridge over them.
        known = ~np.isin(labels, _FAILURES)
        for left, right, lab in regime_spans(xv[known], labels[known]):
            if lab == "":
                continue
            first = lab not in band_colors
            color = band_colors.setdefault(lab, _BAND_COLORS[len(band_colors) % len(_BAND_COLORS)])
            ax.axvspan(left, right, color=color, alpha=0.9, lw=0, zorder=0,
                       label=lab if first else "_nolegend_")

    groups = [(None, data)] if hue is None else list(data.groupby(hue, sort=True))
    k = 0
    for gval, g in groups:
        gx = g[x].to_numpy(dtype=float)
        gok = _ok_mask(g)
        gstatus = _status_names(g)
        for y in ys:
            yv = g[y].to_numpy(dtype=float)
            color = PALETTE[k % len(PALETTE)]
            k += 1
            name = y if hue is None else (f"{y}, {hue}={gval:.4g}" if len(ys) > 1 else f"{hue}={gval:.4g}")
            ax.plot(gx, np.where(gok, yv, np.nan), color=color, label=name, zorder=3)
            # An isolated fine point has no neighbour to join: give it a marker so it is visible.
            lone = gok & ~np.r_[False, gok[:-1]] & ~np.r_[gok[1:], False]
            if lone.any():
                ax.plot(gx[lone], yv[lone], "o", ms=3.5, color=color, zorder=3)
            if show_out_of_regime and gstatus is not None:
                oor = gstatus == "out_of_regime"
                if oor.any() and np.isfinite(yv[oor]).any():
                    # Keep one fine neighbour on each side so the dotted continuation attaches.
                    near = oor | np.r_[oor[1:], False] | np.r_[False, oor[:-1]]
                    ax.plot(gx, np.where(near & np.isfinite(yv), yv, np.nan), ":", color=color,
                            lw=1.2, zorder=2, label="_nolegend_")

    failed = ~ok & np.isin(labels, _FAILURES)
    if hue is None and failed.any():
        trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
        ax.plot(xv[failed], np.full(failed.sum(), 0.02), "x", color=_FAIL_COLOR, ms=6, mew=1.5,
                transform=trans, zorder=4, clip_on=False, label="solver failed")

    seen = set()
    for pos, lab in _event_list(events, x):
        name = lab or "boundary"
        ax.axvline(pos, color="0.25", ls="--", lw=1.0, zorder=2.5,
                   label=name if name not in seen else "_nolegend_")
        seen.add(name)
        if lab:
            ax.annotate(lab, (pos, 0.98), xycoords=("data", "axes fraction"), rotation=90,
                        ha="right", va="top", fontsize=7.5, color="0.25")

    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    if ylabel or len(ys) == 1:
        ax.set_ylabel(ylabel or ys[0])
    if title:
        ax.set_title(title)
    if legend and (len(ys) > 1 or hue is not None or band_colors or failed.any() or events is not None):
        ax.legend(loc="best")
    return ax


# -- comparative statics --------------------------------------------------------------------------
@_styled
def plot_statics(table, *, ax=None, fmt: str = "{:.2f}", cmap: str = "RdBu_r", vmax: float | None = None,
                 robust: bool = True, annotate: bool = True, colorbar: bool = True, title: str | None = None):
    """A comparative-statics table as an annotated diverging heatmap (red up, blue down, 0 white).

    **Arguments:**

    - `table`: a DataFrame, rows outputs and columns parameters (as `jo.statics` returns); its
      index name (e.g. "dln(row)/dln(col)") becomes the title unless `title` is given.
    - `fmt`: format of the cell annotations; `vmax`: colour scale limit.
    - `robust`: without `vmax`, limit the colour scale to three times the median nonzero |value|
      (or max |value| if smaller), so that one large cell does not wash out all the others; cells
      beyond the limit get the end colour, the colour bar an arrow, and the annotations keep the
      exact numbers. `robust=False`: the limit is max |value|.
    - `cmap`: a diverging colormap; `annotate`/`colorbar`: draw the numbers / a colour bar.
    - `ax`: an Axes to draw into.

    **Returns:** the matplotlib `Axes`. NaN cells (failed solves) are grey and annotated "nan".
    """
    import matplotlib as mpl

    vals = np.asarray(table.to_numpy(dtype=float))
    if vals.ndim != 2 or vals.size == 0:
        raise ValueError("plot_statics: need a non-empty 2-D table (rows outputs, columns parameters)")
    nr, nc = vals.shape
    ax = _new_axes(ax, figsize=(1.1 * nc + 2.4, 0.45 * nr + 1.4))
    lim = vmax if vmax is not None else _colour_limit(vals, robust)
    lim = lim if lim > 0 else 1.0
    finite = np.abs(vals[np.isfinite(vals)])
    extend = "both" if finite.size and finite.max() > lim * (1 + 1e-12) else "neither"
    cm = mpl.colormaps[cmap].with_extremes(bad="0.85")
    norm = mpl.colors.Normalize(-lim, lim)
    im = ax.imshow(np.ma.masked_invalid(vals), cmap=cm, norm=norm, aspect="auto")
    ax.set_xticks(range(nc), [str(c) for c in table.columns])
    ax.set_yticks(range(nr), [str(r) for r in table.index])
    ax.tick_params(axis="x", top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)
    if annotate:
        for i in range(nr):
            for j in range(nc):
                v = vals[i, j]
                txt = "nan" if not np.isfinite(v) else fmt.format(0.0 if abs(v) < 1e-12 * lim else v)
                dark = np.isfinite(v) and abs(v) > 0.6 * lim
                ax.text(j, i, txt, ha="center", va="center", fontsize=8.5,
                        color="white" if dark else "0.1")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8, pad=0.02, extend=extend)
    t = title if title is not None else (table.index.name or "")
    if table.attrs.get("model") and title is None:
        t = f"{table.attrs['model']}\n{t}" if t else str(table.attrs["model"])
    if t:
        ax.set_title(t, fontsize=10)
    return ax


def _colour_limit(vals: np.ndarray, robust: bool) -> float:
    """Symmetric colour limit of a heatmap: max |v|, or with `robust` at most 3 x median nonzero |v|."""
    a = np.abs(vals[np.isfinite(vals)])
    if a.size == 0:
        return 1.0
    top = float(a.max())
    nz = a[a > 1e-12 * top] if top > 0 else a[:0]
    if not robust or nz.size < 3:
        return top
    return min(top, 3.0 * float(np.median(nz)))


# -- calibration ----------------------------------------------------------------------------------
_MODEL_COLS = ("model", "fitted", "predicted", "model_value", "simulated")
_DATA_COLS = ("data", "target", "observed", "data_value", "empirical")


def _fit_frame(df, model_col, data_col, label_col, group_col):
    """Bring the calibration module's frames into one-row-per-point form."""
    import pandas as pd

    cols = set(df.columns)
    if model_col is None and data_col is None and {"kind", "name", "value", "target"} <= cols:
        # CalibrationResult.as_frame(): parameter rows and moment rows in one frame.
        return df[df["kind"] == "moment"], "value", "target", label_col or "name", group_col
    pairs = [c[len("model:"):] for c in df.columns if isinstance(c, str) and c.startswith("model:")
             and f"target:{c[len('model:'):]}" in cols]
    if pairs and data_col is None and (model_col is None or model_col.startswith("model:")):
        chosen = [model_col[len("model:"):]] if model_col else pairs
        unit = df.index.name or "unit"
        parts = []
        for m in chosen:
            part = pd.DataFrame({unit: df.index.astype(str), "moment": m,
                                 "model": df[f"model:{m}"].to_numpy(dtype=float),
                                 "data": df[f"target:{m}"].to_numpy(dtype=float)})
            parts.append(part)
        long = pd.concat(parts, ignore_index=True)
        if len(chosen) > 1 and group_col is None:
            group_col = "moment"
        return long, "model", "data", label_col or unit, group_col
    return df, model_col, data_col, label_col, group_col


def _named(role, col):
    return role if col == role else f"{role} ({col})"


def _pick(df, col, options, what):
    if col is not None:
        if col not in df:
            raise KeyError(f"no column '{col}'; columns: {list(df.columns)}")
        return col
    for c in options:
        if c in df:
            return c
    raise KeyError(f"cannot tell which column holds the {what}; pass it by name. Columns: {list(df.columns)}")


@_styled
def plot_fit(df, model_col: str | None = None, data_col: str | None = None, label_col: str | None = None,
             *, kind: str = "scatter", group_col: str | None = None, ax=None, title: str | None = None):
    """Calibration fit: model moments against their data targets.

    **Arguments:**

    - `df`: one row per target, with a model column, a data column and optionally a label column
      (country, moment name); columns are guessed when not given ("model"/"fitted"/"predicted" and
      "data"/"target"/"observed"). Also understood as they are: `CalibrationResult.as_frame()`
      (its moment rows: "value" against "target", labelled by "name") and the `table` of
      `calibrate_many` (columns "model:<m>" against "target:<m>", one point per unit and moment,
      coloured by moment; pass `model_col="model:<m>"` to show one moment).
    - `kind`: `"scatter"`: data on x, model on y, with the 45-degree line and a label per point
      (points on the line fit exactly); `"bars"`: paired bars of data and model per label.
    - `group_col`: colour points by this column (e.g. the moment when several are pooled).
    - `ax`: an Axes to draw into.

    **Returns:** the matplotlib `Axes`.
    """
    df, model_col, data_col, label_col, group_col = _fit_frame(df, model_col, data_col, label_col, group_col)
    model_col = _pick(df, model_col, _MODEL_COLS, "model values")
    data_col = _pick(df, data_col, _DATA_COLS, "data targets")
    if label_col is None and df.index.name is not None:
        labels = df.index.astype(str).to_numpy()
    elif label_col is not None:
        labels = df[label_col].astype(str).to_numpy()
    else:
        labels = np.array([str(i) for i in df.index])
    mv = df[model_col].to_numpy(dtype=float)
    dv = df[data_col].to_numpy(dtype=float)
    if kind == "scatter":
        ax = _new_axes(ax, figsize=(4.6, 4.4))
        both = np.concatenate([mv[np.isfinite(mv)], dv[np.isfinite(dv)]])
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        pad = 0.08 * (hi - lo if hi > lo else max(abs(hi), 1.0))
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--", zorder=1, label="45°: exact fit")
        if group_col is not None:
            for k, (g, idx) in enumerate(df.groupby(group_col, sort=True).indices.items()):
                ax.scatter(dv[idx], mv[idx], s=28, color=PALETTE[k % len(PALETTE)], zorder=3, label=str(g))
        else:
            ax.scatter(dv, mv, s=28, color=PALETTE[0], zorder=3)
        for xi, yi, lab in zip(dv, mv, labels):
            if np.isfinite(xi) and np.isfinite(yi):
                right = xi > lo + 0.7 * (hi - lo)  # keep labels near the right edge inside the axes
                ax.annotate(lab, (xi, yi), xytext=(-4 if right else 4, 3), textcoords="offset points",
                            fontsize=7.5, ha="right" if right else "left")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(_named("data", data_col))
        ax.set_ylabel(_named("model", model_col))
        ax.legend(loc="upper left")
    elif kind == "bars":
        ax = _new_axes(ax, figsize=(max(4.0, 0.5 * len(df) + 2), 3.6))
        pos = np.arange(len(df))
        w = 0.4
        ax.bar(pos - w / 2, dv, w, color=PALETTE[5], label=_named("data", data_col))
        ax.bar(pos + w / 2, mv, w, color=PALETTE[0], label=_named("model", model_col))
        ax.set_xticks(pos, labels, rotation=45 if len(df) > 6 else 0, ha="right" if len(df) > 6 else "center")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.grid(axis="x", visible=False)
        ax.legend()
    else:
        raise ValueError(f"kind must be 'scatter' or 'bars', got {kind!r}")
    if title:
        ax.set_title(title)
    return ax


@_styled
def plot_bars(data, *, err=None, columns=None, ax=None, sort: bool = False, title: str | None = None,
              ylabel: str | None = None, ncols: int = 3, reference: Mapping[str, float] | float | None = None):
    """Calibrated parameters by country (or any labelled values) as bar charts.

    **Arguments:**

    - `data`: a Series (index: countries; one panel) or a DataFrame (index: countries, one column
      per parameter; one panel per parameter, since parameters have different scales). A long
      frame with columns ("parameter", "value") and one label column is pivoted first. The
      calibration module's frames work as they are: `calibrate_many(...).table` (parameter columns
      with their "se:<p>" standard errors; diagnostics are left out) and
      `CalibrationResult.as_frame()` (its parameter rows, one panel).
    - `columns`: the columns (parameters) to draw, in order.
    - `err`: standard errors of the same shape (Series/DataFrame), drawn as error bars.
    - `sort`: order bars by value (per panel); `reference`: a horizontal line per panel (a number,
      or a dict parameter -> number, e.g. the spec's default).
    - `ax`: an Axes (Series) or a sequence of Axes, one per column (DataFrame).
    - `ncols`: panels per row when a new figure is made.

    **Returns:** the `Axes` when there is one panel (a Series, or one parameter), else the `Figure`.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    if isinstance(data, pd.DataFrame) and {"kind", "name", "value"} <= set(data.columns):
        # CalibrationResult.as_frame(): its parameter rows, with standard errors.
        rows = data[data["kind"] == "parameter"].set_index("name")
        if err is None and "se" in rows:
            err = rows["se"].astype(float).rename("value")
        data = rows["value"].astype(float).rename(title or "estimate")
    elif isinstance(data, pd.DataFrame) and any(isinstance(c, str) and c.startswith("se:") for c in data.columns):
        # calibrate_many's table: parameter columns, "se:<p>" columns and diagnostics.
        params = [c[3:] for c in data.columns if isinstance(c, str) and c.startswith("se:") and c[3:] in data]
        if err is None:
            err = pd.DataFrame({p: data[f"se:{p}"] for p in params}, index=data.index).astype(float)
        data = data[params].astype(float)
    if isinstance(data, pd.DataFrame) and {"parameter", "value"} <= set(data.columns) and data.shape[1] >= 3:
        label = next(c for c in data.columns if c not in ("parameter", "value", "se", "std_err"))
        se_col = next((c for c in ("se", "std_err") if c in data.columns), None)
        if se_col is not None and err is None:
            err = data.pivot(index=label, columns="parameter", values=se_col)
        data = data.pivot(index=label, columns="parameter", values="value")
    if columns is not None and isinstance(data, pd.DataFrame):
        data = data[_as_list(columns)]
    if isinstance(data, pd.Series):
        frame, single = data.to_frame(name=data.name or ylabel or "value"), True
        if err is not None and isinstance(err, pd.Series):
            err = err.to_frame(name=frame.columns[0])
    else:
        frame, single = data, False
    cols = list(frame.columns)
    if ax is not None:
        axes = [ax] if not isinstance(ax, (list, tuple, np.ndarray)) else list(np.ravel(ax))
        if len(axes) < len(cols):
            raise ValueError(f"plot_bars: {len(cols)} columns need {len(cols)} Axes, got {len(axes)}")
        fig = axes[0].figure
    else:
        n = len(cols)
        nc = min(ncols, n)
        nr = -(-n // nc)
        width = max(3.2, 0.32 * len(frame) + 1.4)
        fig, axs = plt.subplots(nr, nc, figsize=(width * nc, 2.9 * nr), squeeze=False)
        axes = list(axs.ravel())
        for extra in axes[n:]:
            extra.set_visible(False)
    for k, (c, a) in enumerate(zip(cols, axes)):
        s = frame[c].astype(float)
        e = err[c].reindex(s.index).astype(float) if err is not None and c in getattr(err, "columns", []) else None
        if sort:
            order = s.sort_values().index
            s = s.loc[order]
            e = e.loc[order] if e is not None else None
        pos = np.arange(len(s))
        a.bar(pos, s.to_numpy(), 0.7, color=PALETTE[k % len(PALETTE)],
              yerr=None if e is None else e.to_numpy(), capsize=2.5 if e is not None else 0,
              error_kw={"lw": 1, "ecolor": "0.25"})
        longest = max((len(str(i)) for i in s.index), default=0)
        rot = 60 if len(s) > 8 else (30 if longest * len(s) > 36 else 0)  # long labels would overlap
        a.set_xticks(pos, [str(i) for i in s.index], rotation=rot, ha="right" if rot else "center", fontsize=8.5)
        a.grid(axis="x", visible=False)
        a.axhline(0, color="0.3", lw=0.8)
        ref = reference.get(c) if isinstance(reference, Mapping) else reference
        if ref is not None:
            a.axhline(float(ref), color="0.3", lw=1, ls="--", label="reference")
        a.set_title(str(c) if not single else (title or str(c)))
        if ylabel and single:
            a.set_ylabel(ylabel)
    if title and not single:
        fig.suptitle(title)
    return axes[0] if len(cols) == 1 else fig


# -- saving ---------------------------------------------------------------------------------------
def save(fig, path, *, force: bool = True, **savefig_kwargs):
    """Save a figure atomically: a run killed mid-write leaves the previous file intact.

    **Arguments:**

    - `fig`: a matplotlib `Figure` or an `Axes` (its figure is saved), as the plot functions return.
    - `path`: the destination; its extension picks the format (`.png`, `.pdf`, `.svg`, ...).
    - `force`: overwrite an existing file (default); `False` raises `FileExistsError` instead.
    - `**savefig_kwargs`: passed to `Figure.savefig` (e.g. `dpi=150`, `bbox_inches="tight"`).

    **Returns:** the path written, as a `pathlib.Path`.
    """
    import os
    from pathlib import Path

    from ._files import atomic_path

    figure = getattr(fig, "figure", fig)
    if not hasattr(figure, "savefig"):
        raise TypeError(f"save: expected a matplotlib Figure or Axes, got {type(fig).__name__}")
    path = Path(os.fspath(path))
    ext = path.suffix.lstrip(".").lower()
    supported = figure.canvas.get_supported_filetypes()
    fmt = savefig_kwargs.pop("format", None) or ext
    if fmt not in supported:
        raise ValueError(f"save: unknown figure format '{fmt or '(no extension)'}' for {path}; "
                         f"use one of {', '.join(sorted(supported))}")
    if path.exists() and not force:
        raise FileExistsError(f"save: {path} exists (pass force=True to overwrite)")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=fmt, **savefig_kwargs)
    return path
