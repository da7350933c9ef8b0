"""Data preparation for the Caliendo-Parro (2015) family: reading and checking the long tables, and
turning flows into the model's baseline objects (shares, absorption, value added, deficits, final
shares), as the authors' replication code does.

Tables (long form; the shipped 1993 files are `jaxoff/data/multicountry/cp2015_*.csv`):

| key | file | columns |
|---|---|---|
| `countries` | `cp2015_countries.csv` | position, iso3_added (order of regions; the last is the rest of the world) |
| `bilateral_trade` | `cp2015_bilateral_trade_1993_long.csv` | sector_id, sector, importer, exporter, value_thousand_usd (tariff-exclusive) |
| `tariffs` | `cp2015_tariffs_1993_2005_long.csv` | sector_id, sector, importer, exporter, tariff_1993_pct[, tariff_2005_pct] |
| `io_coefficients` | `cp2015_io_coefficients_long.csv` | country, input_sector_id, using_sector_id, io_share |
| `value_added` | `cp2015_value_added_share_gross_output.csv` | sector_id, sector, country, value_added_share, gross_output_usd |
| `theta` | `cp2015_theta_tradable_sectors.csv` | sector_id, sector, theta (tradable sectors only) |

Sectors with an id in the theta table are tradable (they must be 1..JT); the others are services
with no trade. Money is converted to units of 1e10 USD (results do not depend on the unit).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

FILES = {
    "countries": "cp2015_countries.csv",
    "bilateral_trade": "cp2015_bilateral_trade_1993_long.csv",
    "tariffs": "cp2015_tariffs_1993_2005_long.csv",
    "io_coefficients": "cp2015_io_coefficients_long.csv",
    "value_added": "cp2015_value_added_share_gross_output.csv",
    "theta": "cp2015_theta_tradable_sectors.csv",
}
COLUMNS = {
    "countries": ("position", "iso3_added"),
    "bilateral_trade": ("sector_id", "importer", "exporter", "value_thousand_usd"),
    "tariffs": ("sector_id", "importer", "exporter", "tariff_1993_pct"),
    "io_coefficients": ("country", "input_sector_id", "using_sector_id", "io_share"),
    "value_added": ("sector_id", "sector", "country", "value_added_share", "gross_output_usd"),
    "theta": ("sector_id", "theta"),
}
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "multicountry")
MONEY_UNIT = 1e10          # model money unit, USD
IO_TOL = 1e-5              # tolerance of IO column sums (the source rounds to 7 digits)
IO_NEG_TOL = 1e-3          # the 1993 source has one entry of -0.000846 (CAN, input Other, used by Basic
                           # metals), kept as the authors use it; anything more negative is an error


class TableError(ValueError):
    """A data table that breaks a rule; the message names the table, the row and the rule."""


def _fail(table: str, row, rule: str, detail: str = "") -> None:
    where = f"table '{table}'" + (f", row {row}" if row is not None else "")
    raise TableError(f"{where}: {rule}" + (f" ({detail})" if detail else ""))


def read_tables(data=None) -> dict[str, pd.DataFrame]:
    """The six tables as DataFrames.

    **Arguments:** `data`: None (the shipped 1993 tables), a folder holding files named as in `FILES`,
    or a dict {key: DataFrame or path} with the keys of `FILES`.

    **Returns:** dict key -> DataFrame.
    """
    if data is None:
        data = SHIPPED
    if isinstance(data, (str, os.PathLike)):
        data = {k: os.path.join(data, f) for k, f in FILES.items()}
    if not isinstance(data, dict):
        raise TypeError(f"data must be None, a folder or a dict of tables; got {type(data).__name__}")
    missing = [k for k in FILES if k not in data]
    if missing:
        raise TableError(f"data lacks the table(s) {missing}; needed: {list(FILES)}")
    out = {}
    for k in FILES:
        t = data[k]
        if not isinstance(t, pd.DataFrame):
            if not os.path.exists(t):
                raise TableError(f"table '{k}': file not found: {t}")
            t = pd.read_csv(t)
        lacking = [c for c in COLUMNS[k] if c not in t.columns]
        if lacking:
            _fail(k, None, f"missing column(s) {lacking}", f"columns present: {list(t.columns)}")
        out[k] = t.reset_index(drop=True)
    return out


def _cube(t: pd.DataFrame, name: str, col: str, sectors: list[int], pos: dict, N: int) -> np.ndarray:
    """A long (sector, importer, exporter) table -> array (JT, N, N), checking completeness."""
    JT = len(sectors)
    spos = {s: k for k, s in enumerate(sectors)}
    for c, d in (("importer", pos), ("exporter", pos)):
        bad = ~t[c].isin(list(d))
        if bad.any():
            r = int(np.argmax(bad.to_numpy()))
            _fail(name, r + 2, f"{c} must be one of the regions of table 'countries'", f"got {t[c].iloc[r]!r}")
    bad = ~t["sector_id"].isin(sectors)
    if bad.any():
        r = int(np.argmax(bad.to_numpy()))
        _fail(name, r + 2, "sector_id must be a tradable sector (an id of table 'theta')",
              f"got {t['sector_id'].iloc[r]!r}")
    if len(t) != JT * N * N:
        _fail(name, None, f"shape: needs exactly one row per (sector, importer, exporter) = {JT}x{N}x{N} = "
              f"{JT * N * N} rows", f"has {len(t)}")
    dup = t.duplicated(["sector_id", "importer", "exporter"])
    if dup.any():
        r = int(np.argmax(dup.to_numpy()))
        _fail(name, r + 2, "each (sector_id, importer, exporter) must appear once", "duplicate")
    vals = pd.to_numeric(t[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        r = int(np.argmax(bad))
        _fail(name, r + 2, f"{col} must be a finite number", f"got {t[col].iloc[r]!r}")
    out = np.zeros((JT, N, N))
    out[t["sector_id"].map(spos).to_numpy(), t["importer"].map(pos).to_numpy(), t["exporter"].map(pos).to_numpy()] = vals
    return out, vals


@dataclass
class RawData:
    """Arrays read from the tables (money in 1e10 USD; tariffs in percent)."""

    regions: list
    sectors: list
    JT: int
    imports: np.ndarray        # (J,N,N) tariff-exclusive imports, zero for services
    tariffs: np.ndarray        # (JT,N,N) percent
    tariffs_2005: np.ndarray | None
    io_share: np.ndarray       # (N,J,J) [country, input, using]
    va_share: np.ndarray       # (J,N)
    gross_output: np.ndarray   # (J,N)
    theta_tradable: np.ndarray  # (JT,)


def parse(tables: dict[str, pd.DataFrame]) -> RawData:
    """Check the tables and convert them to arrays; every failure names table, row and rule.

    **Arguments:** `tables` from `read_tables`.

    **Returns:** a `RawData`.
    """
    c = tables["countries"].sort_values("position")
    regions = [str(r) for r in c["iso3_added"]]
    if len(set(regions)) != len(regions):
        _fail("countries", None, "region codes must be unique")
    N = len(regions)
    pos = {r: k for k, r in enumerate(regions)}

    va = tables["value_added"]
    sec = va.drop_duplicates("sector_id").sort_values("sector_id")
    sector_ids = [int(s) for s in sec["sector_id"]]
    J = len(sector_ids)
    if sector_ids != list(range(1, J + 1)):
        _fail("value_added", None, "sector_id must run 1..J without gaps", f"got {sector_ids[:5]}...")
    sectors = [str(s) for s in sec["sector"]]

    th = tables["theta"].sort_values("sector_id")
    tradable = [int(s) for s in th["sector_id"]]
    JT = len(tradable)
    if tradable != list(range(1, JT + 1)):
        _fail("theta", None, "tradable sectors must be the first JT sector ids, 1..JT", f"got {tradable}")
    theta = pd.to_numeric(th["theta"], errors="coerce").to_numpy(float)
    for r, v in enumerate(theta):
        if not (np.isfinite(v) and v > 0):
            _fail("theta", r + 2, "theta must be > 0", f"got {v}")

    # value added shares and gross output
    bad = ~va["country"].isin(regions)
    if bad.any():
        r = int(np.argmax(bad.to_numpy()))
        _fail("value_added", r + 2, "country must be a region of table 'countries'", f"got {va['country'].iloc[r]!r}")
    if len(va) != J * N or va.duplicated(["sector_id", "country"]).any():
        _fail("value_added", None, f"shape: needs one row per (sector, country) = {J}x{N}", f"has {len(va)} rows")
    vs = va["value_added_share"].to_numpy(float)
    go = va["gross_output_usd"].to_numpy(float)
    for r in range(len(va)):
        if not (0 < vs[r] <= 1):
            _fail("value_added", r + 2, "value_added_share must lie in (0, 1]", f"got {vs[r]}")
        if not (np.isfinite(go[r]) and go[r] >= 0):
            _fail("value_added", r + 2, "gross_output_usd must be >= 0 (no negative flows)", f"got {go[r]}")
    iv = (va["sector_id"].to_numpy() - 1, va["country"].map(pos).to_numpy())
    va_share = np.zeros((J, N))
    GO = np.zeros((J, N))
    va_share[iv] = vs
    GO[iv] = go / MONEY_UNIT

    # trade
    tr = tables["bilateral_trade"]
    M, vals = _cube(tr, "bilateral_trade", "value_thousand_usd", tradable, pos, N)
    if (vals < 0).any():
        r = int(np.argmax(vals < 0))
        _fail("bilateral_trade", r + 2, "trade flows must be >= 0 (negative flow)", f"got {vals[r]}")
    imports = np.zeros((J, N, N))
    imports[:JT] = M * 1000 / MONEY_UNIT
    imports[:, np.arange(N), np.arange(N)] = 0.0   # domestic sales come from gross output

    ta = tables["tariffs"]
    t93, v93 = _cube(ta, "tariffs", "tariff_1993_pct", tradable, pos, N)
    if (v93 < 0).any():
        r = int(np.argmax(v93 < 0))
        _fail("tariffs", r + 2, "tariffs must be >= 0 percent", f"got {v93[r]}")
    t05 = None
    if "tariff_2005_pct" in ta.columns:
        t05, v05 = _cube(ta, "tariffs", "tariff_2005_pct", tradable, pos, N)
        if (v05 < 0).any():
            r = int(np.argmax(v05 < 0))
            _fail("tariffs", r + 2, "tariffs must be >= 0 percent", f"got {v05[r]}")
        t05[:, np.arange(N), np.arange(N)] = 0.0
    t93[:, np.arange(N), np.arange(N)] = 0.0

    # input-output shares
    io = tables["io_coefficients"]
    if len(io) != N * J * J or io.duplicated(["country", "input_sector_id", "using_sector_id"]).any():
        _fail("io_coefficients", None, f"shape: needs one row per (country, input, using sector) = {N}x{J}x{J}",
              f"has {len(io)} rows")
    bad = ~io["country"].isin(regions)
    if bad.any():
        r = int(np.argmax(bad.to_numpy()))
        _fail("io_coefficients", r + 2, "country must be a region of table 'countries'", f"got {io['country'].iloc[r]!r}")
    g = io["io_share"].to_numpy(float)
    if (~np.isfinite(g) | (g < -IO_NEG_TOL)).any():
        r = int(np.argmax(~np.isfinite(g) | (g < -IO_NEG_TOL)))
        _fail("io_coefficients", r + 2, f"io_share must be >= 0 (rounding down to -{IO_NEG_TOL} tolerated)", f"got {g[r]}")
    G = np.zeros((N, J, J))
    G[io["country"].map(pos).to_numpy(), io["input_sector_id"].to_numpy() - 1, io["using_sector_id"].to_numpy() - 1] = g
    colsum = G.sum(axis=1)   # (N, J)
    for n in range(N):
        for s in range(J):
            cs = colsum[n, s]
            if not (abs(cs - 1) <= IO_TOL or cs == 0):
                _fail("io_coefficients", None, f"shares of each using sector must sum to 1 (or all be 0); "
                      f"country {regions[n]}, using sector {s + 1}", f"sum = {cs:.8g}")
            if cs == 0 and va_share[s, n] != 1:
                _fail("value_added", None, f"a sector without intermediate inputs needs value_added_share = 1; "
                      f"country {regions[n]}, sector {s + 1}", f"got {va_share[s, n]}")
    return RawData(regions, sectors, JT, imports, t93, t05, G, va_share, GO, theta)


def gross_tariffs(pct: np.ndarray, J: int) -> np.ndarray:
    """Tariffs in percent (JT,N,N) -> gross factors (J,N,N): 1 + pct/100, 1 for services and at home."""
    pct = np.asarray(pct, dtype=float)
    JT, N, _ = pct.shape
    tau = np.ones((J, N, N))
    tau[:JT] = 1 + pct / 100
    tau[:, np.arange(N), np.arange(N)] = 1.0
    return tau


def objects(imports_incl, tau, io_share, va_share, GO, alpha=None, zero_S=False) -> dict:
    """Baseline objects from tariff-inclusive imports and gross output (authors' data preparation).

    Domestic sales are gross output minus exports (gross output raised to exports where it is
    smaller); absorption X, expenditure shares pi, value added VA, trade surplus S and, if `alpha` is
    None, final-demand shares (negative values set to 0, columns renormalized).

    **Arguments:** `imports_incl` (J,N,N) tariff-inclusive imports (diagonal ignored), `tau` (J,N,N) gross
    tariffs, `io_share` (N,J,J), `va_share` (J,N), `GO` (J,N); `alpha` to keep given final shares;
    `zero_S` to force S = 0.

    **Returns:** dict with pi, X, VA, S, alpha, and n_clipped_alpha.
    """
    J, N, _ = tau.shape
    d = np.arange(N)
    Xb = np.array(imports_incl, dtype=float)
    Xb[:, d, d] = 0.0
    exports = (Xb / tau).sum(axis=1)
    GO = np.maximum(GO, exports)
    Xb[:, d, d] = GO - exports
    X = Xb.sum(axis=2)
    pi = Xb / X[:, :, None]
    Z = Xb / tau
    sales = Z.sum(axis=1)
    S = np.zeros(N) if zero_S else sales.sum(axis=0) - Z.sum(axis=2).sum(axis=0)
    VA = (va_share * GO).sum(axis=0)
    F = (pi / tau).sum(axis=2)
    income = VA + ((1 - F) * X).sum(axis=0) - S
    n_clipped = 0
    if alpha is None:
        g3 = (1 - va_share.T)[:, None, :] * io_share       # [n, input k, using s]
        a = (X - np.einsum("nks,sn->kn", g3, sales)) / income
        n_clipped = int((a < 0).sum())
        a = np.maximum(a, 0.0)
        alpha = a / a.sum(axis=0)
    return dict(pi=pi, X=X, VA=VA, S=S, alpha=alpha, n_clipped_alpha=n_clipped)


def synthetic_tables(n_regions: int = 4, n_sectors: int = 3, n_tradable: int = 2, seed: int = 0,
                     va_share: float | None = None, io: bool = True) -> dict[str, pd.DataFrame]:
    """Random tables in the shipped format, for tests and examples (any size).

    **Arguments:** `n_regions`, `n_sectors`, `n_tradable` (sectors 1..n_tradable are traded), `seed`;
    `va_share` (one value for every sector and region; default random in [0.35, 0.65]); `io` (False:
    no intermediate inputs, which needs `va_share = 1`).

    **Returns:** dict of DataFrames with the keys of `FILES`.
    """
    rng = np.random.default_rng(seed)
    N, J, JT = n_regions, n_sectors, n_tradable
    regions = [f"R{k:02d}" for k in range(N - 1)] + ["ROW"]
    sectors = [f"S{j + 1}" for j in range(J)]
    rows, trows = [], []
    for j in range(JT):
        for n in range(N):
            for i in range(N):
                v = 0.0 if n == i else float(rng.uniform(50, 500)) * 1e3
                t93 = 0.0 if n == i else float(rng.uniform(0, 15))
                rows.append((j + 1, sectors[j], regions[n], regions[i], v))
                trows.append((j + 1, sectors[j], regions[n], regions[i], t93, t93 * float(rng.uniform(0, 1))))
    trade = pd.DataFrame(rows, columns=["sector_id", "sector", "importer", "exporter", "value_thousand_usd"])
    tariffs = pd.DataFrame(trows, columns=["sector_id", "sector", "importer", "exporter", "tariff_1993_pct",
                                           "tariff_2005_pct"])
    vrows = []
    for j in range(J):
        for n in range(N):
            g = float(rng.uniform(0.35, 0.65)) if va_share is None else float(va_share)
            vrows.append((j + 1, sectors[j], regions[n], g, float(rng.uniform(3, 6)) * 1e9))
    value_added = pd.DataFrame(vrows, columns=["sector_id", "sector", "country", "value_added_share", "gross_output_usd"])
    irows = []
    for n in range(N):
        G = rng.uniform(0.2, 1.0, size=(J, J)) if io else np.zeros((J, J))
        if io:
            G = G / G.sum(axis=0, keepdims=True)
        for k in range(J):
            for s in range(J):
                irows.append((regions[n], k + 1, sectors[k], s + 1, sectors[s], float(G[k, s])))
    io_df = pd.DataFrame(irows, columns=["country", "input_sector_id", "input_sector", "using_sector_id",
                                         "using_sector", "io_share"])
    theta = pd.DataFrame({"sector_id": np.arange(1, JT + 1), "sector": sectors[:JT],
                          "theta": rng.uniform(3, 9, size=JT)})
    countries = pd.DataFrame({"position": np.arange(1, N + 1), "iso3_added": regions})
    return {"countries": countries, "bilateral_trade": trade, "tariffs": tariffs, "io_coefficients": io_df,
            "value_added": value_added, "theta": theta}
