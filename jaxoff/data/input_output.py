"""World input-output tables: the shipped WIOD 2013 extracts and readers for OECD ICIO / TiVA downloads.

    import jaxoff.data.input_output as jio
    from jaxoff.blocks.input_output import fva_share_of_gross_exports
    t = jio.wiod2013_table(2009)                   # 41 economies (40 + RoW), country totals
    fva = fva_share_of_gross_exports(t.Z, t.F, t.X, t.n_countries)
    t3 = jio.wiod2013_table(2008, sectors="3")      # 41 x 3 sectors (PRI, MAN, SRV)
    years, Z, F, X, countries = jio.wiod2013_panel()   # stacked (17, 41, 41) ... for jax.vmap
    jio.wiod2013_fva_derived()                     # FVA share computed from the full 1435-sector tables
    jio.adult_education()                          # OECD share of 25-64 year-olds with tertiary education
    jio.read_icio("2015.csv")                      # an OECD ICIO CSV a user downloaded -> IOTable
    jio.read_tiva_fva("tiva_download.csv")         # OECD TiVA SDMX-CSV -> iso3, year, fva_share

All tables use the layout of `jaxoff.blocks.input_output`: ``Z`` (N*S, N*S) intermediate flows, row =
(supplier country, sector), column = (user country, sector), country-major; ``F`` (N*S, N) final demand
by destination country; ``X`` (N*S,) gross output. Provenance of the shipped files:
`jaxoff/data/multicountry/PROVENANCE.md`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import DataError

__all__ = [
    "IOTable", "WIOD2013_YEARS", "WIOD2013_3SECTOR_YEARS", "WIOD2013_SECTORS3", "wiod2013_table",
    "wiod2013_panel", "wiod2013_fva_derived", "adult_education", "read_icio", "read_tiva_fva",
]

MULTI_DIR = Path(__file__).resolve().parent / "multicountry"
_FLOWS = "wiod2013_country_flows_1995_2011.csv"
_OUTPUT = "wiod2013_country_gross_output_1995_2011.csv"
_FLOWS3 = "wiod2013_3sector_flows_1995_2000_2005_2008_2011.csv"
_DERIVED = "wiod2013_DERIVED_fva_share_of_gross_exports_1995_2011.csv"
_EDU = "oecd_dp_live_adult_education_level_25_64_retrieved_2018.csv"

WIOD2013_YEARS = tuple(range(1995, 2012))
WIOD2013_3SECTOR_YEARS = (1995, 2000, 2005, 2008, 2011)
WIOD2013_SECTORS3 = ("PRI", "MAN", "SRV")


@dataclass(frozen=True)
class IOTable:
    """A world input-output table in the layout of `jaxoff.blocks.input_output`.

    Fields: ``Z`` (N*S, N*S), ``F`` (N*S, N), ``X`` (N*S,) as float64 numpy arrays; ``countries`` (N
    labels), ``sectors`` (S labels), ``year``, ``va`` (N*S,) value added in levels when the source has a
    value-added row (else None), ``source`` (where it came from), ``notes``.
    """

    Z: np.ndarray
    F: np.ndarray
    X: np.ndarray
    countries: tuple
    sectors: tuple
    year: int | None = None
    va: np.ndarray | None = None
    source: str = ""
    notes: tuple = field(default=())

    @property
    def n_countries(self) -> int:
        return len(self.countries)

    @property
    def n_sectors(self) -> int:
        return len(self.sectors)

    def labels(self) -> list[str]:
        """Row/column labels ``CTRY_SECTOR`` in the country-major order of Z."""
        return [f"{c}_{s}" for c in self.countries for s in self.sectors]

    def arrays(self):
        """``(Z, F, X)``."""
        return self.Z, self.F, self.X


def _read_shipped(name: str) -> pd.DataFrame:
    p = MULTI_DIR / name
    if not p.is_file():
        raise DataError(p, None, "shipped file missing (reinstall jaxoff)")
    return pd.read_csv(p, keep_default_na=False, na_values=[""])


_CACHE: dict = {}


def _cached(name):
    if name not in _CACHE:
        _CACHE[name] = _read_shipped(name)
    return _CACHE[name]


def _wiod_countries() -> tuple:
    g = _cached(_OUTPUT)
    return tuple(g[g.year == g.year.min()].country)


def wiod2013_table(year: int, sectors: str = "total") -> IOTable:
    """One year of the shipped WIOD 2013 world input-output table, aggregated.

    **Arguments:** ``year`` (1995-2011; 1995, 2000, 2005, 2008, 2011 for 3 sectors); ``sectors``
    ``"total"`` (one sector per economy: country x country flows) or ``"3"`` (PRI, MAN, SRV).

    **Returns:** an `IOTable` with 41 economies (40 countries and ``RoW``; ``ROM`` is Romania), USD
    million. ``X`` is the published gross output for ``"total"``; for ``"3"`` (no sectoral output is
    shipped) it is the row sum ``sum_j Z[i, j] + sum_d F[i, d]`` (0.004-3.5% below published output at
    country level; see PROVENANCE.md).
    """
    year = int(year)
    countries = _wiod_countries()
    if sectors in ("total", "1", 1):
        if year not in WIOD2013_YEARS:
            raise ValueError(f"year={year}: the WIOD 2013 country tables cover {WIOD2013_YEARS[0]}-"
                             f"{WIOD2013_YEARS[-1]}")
        fl = _cached(_FLOWS)
        f = fl[fl.year == year]
        Z = f.pivot(index="origin", columns="destination", values="intermediate_usd_mn")
        F = f.pivot(index="origin", columns="destination", values="final_usd_mn")
        Z = Z.reindex(index=list(countries), columns=list(countries)).to_numpy(float)
        F = F.reindex(index=list(countries), columns=list(countries)).to_numpy(float)
        g = _cached(_OUTPUT)
        X = g[g.year == year].set_index("country").reindex(list(countries))["gross_output_usd_mn"].to_numpy(float)
        secs = ("TOT",)
        notes = ("X = published gross output",)
    elif sectors in ("3", 3):
        if year not in WIOD2013_3SECTOR_YEARS:
            raise ValueError(f"year={year}: the 3-sector WIOD 2013 tables cover {WIOD2013_3SECTOR_YEARS}")
        t3 = _cached(_FLOWS3)
        f = t3[t3.year == year]
        idx = pd.MultiIndex.from_product([countries, WIOD2013_SECTORS3])
        inter = f[f.destination_use != "FD"].pivot(index=["origin", "origin_sector"],
                                                   columns=["destination", "destination_use"],
                                                   values="value_usd_mn")
        fd = f[f.destination_use == "FD"].pivot(index=["origin", "origin_sector"], columns="destination",
                                                values="value_usd_mn")
        Z = inter.reindex(index=idx, columns=idx).to_numpy(float)
        F = fd.reindex(index=idx, columns=list(countries)).to_numpy(float)
        X = Z.sum(axis=1) + F.sum(axis=1)
        secs = WIOD2013_SECTORS3
        notes = ("X = row sums (intermediate + final sales); no sectoral gross output is shipped",)
    else:
        raise ValueError(f"sectors={sectors!r}: use 'total' (country x country) or '3' (PRI, MAN, SRV)")
    if np.isnan(Z).any() or np.isnan(F).any() or np.isnan(X).any():
        raise DataError(MULTI_DIR, None, f"WIOD 2013 {year}: the shipped table has missing cells")
    return IOTable(Z, F, X, countries, secs, year, None, f"WIOD 2013 release, {year}, aggregated", notes)


def wiod2013_panel(sectors: str = "total"):
    """All years of the shipped WIOD 2013 tables stacked for ``jax.vmap``.

    **Arguments:** ``sectors`` ``"total"`` (1995-2011) or ``"3"`` (5 years).

    **Returns:** ``(years, Z, F, X, countries)`` with ``Z`` (T, n, n), ``F`` (T, n, N), ``X`` (T, n).
    """
    years = WIOD2013_YEARS if sectors in ("total", "1", 1) else WIOD2013_3SECTOR_YEARS
    tabs = [wiod2013_table(y, sectors) for y in years]
    return (tuple(years), np.stack([t.Z for t in tabs]), np.stack([t.F for t in tabs]),
            np.stack([t.X for t in tabs]), tabs[0].countries)


def wiod2013_fva_derived() -> pd.DataFrame:
    """Foreign value-added share of gross exports, 41 economies, 1995-2011, computed from the full
    WIOD 2013 tables (35 industries; **a computed indicator, not an official statistic**).

    The computation is `fva_share_of_gross_exports` on the 1435 x 1435 tables (not shipped); the
    country-total and 3-sector tables shipped here give lower shares (aggregation mixes exporting and
    non-exporting industries). See PROVENANCE.md for the check against TiVA 2009.

    **Returns:** DataFrame ``iso3, year, gross_exports_usd_mn, fva_usd_mn, fva_share`` (fraction of gross
    exports; the file prints percent with 3 decimals).
    """
    d = _cached(_DERIVED)
    out = pd.DataFrame({"iso3": d.country, "year": d.year.astype(int),
                        "gross_exports_usd_mn": d.gross_exports_usd_mn.astype(float),
                        "fva_usd_mn": d.fva_usd_mn.astype(float), "fva_share": d.fva_share_pct / 100.0})
    return out.reset_index(drop=True)


def adult_education(subject: str = "TRY") -> pd.DataFrame:
    """OECD "Adult education level": share of 25-64 year-olds by highest attainment (retrieved 2018).

    **Arguments:** ``subject`` ``"TRY"`` (tertiary), ``"UPPSRY"`` (upper secondary or post-secondary
    non-tertiary), ``"BUPPSRY"`` (below upper secondary), ``"TRY_MEN"``, ``"TRY_WOMEN"``.

    **Returns:** DataFrame ``iso3, year, share`` (fraction; the file is in percent), unbalanced panel
    1981-2016 for the OECD members, ``OAVG`` and 8 partners.
    """
    e = _cached(_EDU)
    subs = sorted(e.SUBJECT.unique())
    if subject not in subs:
        raise ValueError(f"subject={subject!r}: available {subs}")
    s = e[e.SUBJECT == subject]
    return pd.DataFrame({"iso3": s.LOCATION.to_numpy(), "year": s.TIME.astype(int).to_numpy(),
                         "share": s.Value.astype(float).to_numpy() / 100.0})


# -- OECD ICIO CSV ----------------------------------------------------------------------------------
# Final-demand column codes of the ICIO releases (2016: HFCE_AUS order; 2018+: AUS_HFCE).
_FD_CODES = {"HFCE", "NPISH", "NPS", "GGFC", "GFCF", "INVNT", "INV", "P33", "DPABR", "DIRP", "FD", "NONRES"}
_TOTAL_COLS = {"TOTAL", "OUT", "OUTPUT"}
_OUT_ROWS = {"OUT", "OUTPUT", "TOTAL"}
_VA_ROWS = {"VALU", "VA"}
_TAX_ROWS = {"TAXSUB", "TLS", "TAX"}
_SUBREGION = re.compile(r"^(CN|MX)\d+$")
_SUBREGION_PARENT = {"CN": "CHN", "MX": "MEX"}


def _split_label(lab: str):
    """'AUS_D01T02' -> ('AUS', 'D01T02'); 'HFCE_AUS' (2016 layout) handled by the caller."""
    if "_" not in lab:
        return None
    c, s = lab.split("_", 1)
    return c, s


def read_icio(path, *, merge_subregions: bool = True, year: int | None = None) -> IOTable:
    """Read an OECD Inter-Country Input-Output (ICIO) table saved as CSV.

    Layout (the OECD ICIO releases): the first column holds the row labels, the header the column
    labels. Intermediate rows and columns are labelled ``CTRY_SECTOR`` (e.g. ``AUS_D01T02``);
    final-demand columns ``CTRY_HFCE``, ``CTRY_NPISH``, ``CTRY_GGFC``, ``CTRY_GFCF``, ``CTRY_INVNT``,
    ``CTRY_DPABR`` (also the older ``HFCE_CTRY`` order); a total column ``OUT``/``TOTAL``; rows for taxes
    less subsidies (``CTRY_TAXSUB``/``TAXSUB``/``TLS``), value added (``VALU``/``VA``) and output
    (``OUT``/``OUTPUT``). China and Mexico split into ``CN1, CN2, ...``/``MX1, MX2, ...`` rows and columns
    are added into ``CHN``/``MEX`` (``merge_subregions=True``). Final-demand columns are summed by
    destination country; a discrepancy column without a country (e.g. ``DISC``) is dropped and recorded
    in ``notes``.

    **Arguments:** ``path`` to the CSV; ``merge_subregions``; ``year`` (stored in the table; default: the
    first 4-digit number in the file name, if any).

    **Returns:** an `IOTable` (``X`` from the output row if present, else intermediate + final row sums;
    ``va`` from the value-added row if present). Raises `DataError` naming the file and the offending
    label, for an unknown label layout, non-numeric cells, missing countries or sectors, or a table that
    is not square in (country, sector).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found" if not path.exists() else "not a file")
    try:
        raw = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, None, f"not UTF-8 text ({e})") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise DataError(path, None, f"not a readable CSV table ({e})") from None
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataError(path, None, "empty table")
    raw.index = [str(i).strip() for i in raw.index]
    raw.columns = [str(c).strip() for c in raw.columns]
    vals = raw.apply(lambda col: pd.to_numeric(col.str.strip().replace({"": "0"}), errors="coerce"))
    bad = np.argwhere(vals.isna().to_numpy())
    if len(bad):
        i, j = bad[0]
        raise DataError(path, int(i) + 2, f"non-numeric cell {raw.iat[i, j]!r} in row {raw.index[i]!r}, "
                                          f"column {raw.columns[j]!r}")
    notes = []

    def classify_row(lab):
        up = lab.upper()
        if up in _OUT_ROWS:
            return "out", None
        if up in _VA_ROWS:
            return "va", None
        if up in _TAX_ROWS:
            return "tax", None
        parts = _split_label(lab)
        if parts is None:
            raise DataError(path, None, f"row label {lab!r} is neither CTRY_SECTOR nor a known total row "
                                        f"({sorted(_OUT_ROWS | _VA_ROWS | _TAX_ROWS)})")
        c, s = parts
        if s.upper() in _TAX_ROWS:
            return "tax", None
        if c.upper() in _VA_ROWS or s.upper() in _VA_ROWS:
            return "va", None
        return "z", (c, s)

    def classify_col(lab):
        up = lab.upper()
        if up in _TOTAL_COLS:
            return "total", None
        parts = _split_label(lab)
        if parts is None:
            return "drop", None
        c, s = parts
        if s.upper() in _FD_CODES:
            return "fd", c
        if c.upper() in _FD_CODES:          # 2016 layout HFCE_AUS
            return "fd", s
        return "z", (c, s)

    rows = [(lab, *classify_row(lab)) for lab in vals.index]
    cols = [(lab, *classify_col(lab)) for lab in vals.columns]
    for lab, kind, _ in cols:
        if kind == "drop":
            notes.append(f"column {lab!r} (no country) dropped")

    def region(c):
        m = _SUBREGION.match(c)
        return _SUBREGION_PARENT[m.group(1)] if (merge_subregions and m) else c

    zrows = [(lab, (region(k[0]), k[1])) for lab, kind, k in rows if kind == "z"]
    zcols = [(lab, (region(k[0]), k[1])) for lab, kind, k in cols if kind == "z"]
    if not zrows or not zcols:
        raise DataError(path, None, "no CTRY_SECTOR rows or columns found")
    countries, sectors = [], []
    for _, (c, s) in zrows:
        if c not in countries:
            countries.append(c)
        if s not in sectors:
            sectors.append(s)
    col_keys = {k for _, k in zcols}
    row_keys = {k for _, k in zrows}
    full = {(c, s) for c in countries for s in sectors}
    for name, keys in (("rows", row_keys), ("columns", col_keys)):
        if keys != full:
            miss = sorted(full - keys)[:5]
            extra = sorted(keys - full)[:5]
            raise DataError(path, None, f"intermediate {name} are not every country x sector: missing {miss}"
                                        f"{', unexpected ' + str(extra) if extra else ''}")
    N, S = len(countries), len(sectors)
    ci = {c: i for i, c in enumerate(countries)}
    si = {s: i for i, s in enumerate(sectors)}
    pos = lambda k: ci[k[0]] * S + si[k[1]]  # noqa: E731
    V = vals.to_numpy(float)
    rpos = np.array([pos(k) for _, k in zrows])
    rsel = np.array([i for i, (_, kind, _) in enumerate(rows) if kind == "z"])
    csel = np.array([j for j, (_, kind, _) in enumerate(cols) if kind == "z"])
    cpos = np.array([pos(k) for _, k in zcols])
    n = N * S
    # scatter-add (sub-regions add into their parent)
    Zr = np.zeros((n, V.shape[1]))
    np.add.at(Zr, rpos, V[rsel])
    Z = np.zeros((n, n))
    np.add.at(Z.T, cpos, Zr[:, csel].T)
    F = np.zeros((n, N))
    for j, (lab, kind, dest) in enumerate(cols):
        if kind != "fd":
            continue
        d = region(dest)
        if d not in ci:
            raise DataError(path, None, f"final-demand column {lab!r}: destination {d!r} is not a country "
                                        "of the intermediate block")
        np.add.at(F[:, ci[d]], rpos, V[rsel, j])
    out_rows = [i for i, (_, kind, _) in enumerate(rows) if kind == "out"]
    if out_rows:
        Xr = np.zeros(n)
        np.add.at(Xr, cpos, V[out_rows[0], csel])
        X = Xr
    else:
        X = Z.sum(axis=1) + F.sum(axis=1)
        notes.append("no output row: X = intermediate + final row sums")
    va_rows = [i for i, (_, kind, _) in enumerate(rows) if kind == "va"]
    va = None
    if va_rows:
        va = np.zeros(n)
        for i in va_rows:
            np.add.at(va, cpos, V[i, csel])
    if year is None:
        m = re.findall(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", path.name)
        year = int(m[-1]) if m else None
    return IOTable(Z, F, X, tuple(countries), tuple(sectors), year, va, f"OECD ICIO CSV {path.name}", tuple(notes))


# -- OECD TiVA SDMX-CSV --------------------------------------------------------------------------------
def read_tiva_fva(path) -> pd.DataFrame:
    """The foreign value-added share of gross exports from an OECD TiVA download in SDMX-CSV layout.

    Reads the file with `jaxoff.data.read_oecd_sdmx` (any SDMX-CSV variant; ``EXGR_FVASH`` or
    ``EXGR_FVA`` in ``PT_EXGR``), keeps the rows of indicator ``fva_share_exports`` and, where the file
    has these dimensions, the total economy (``ACTIVITY``/``IND`` = ``_T``, ``DTOTAL`` or ``TOTAL``) and
    the world as partner (``COUNTERPART_AREA``/``PAR`` = ``W``, ``WLD`` or ``W_O``).

    **Arguments:** ``path`` to the CSV file.

    **Returns:** DataFrame ``iso3, year, fva_share`` (fraction of gross exports), one row per economy-year.
    Raises `DataError` if the file has no such rows or two different values for one economy-year.
    """
    from .loaders import read_oecd_sdmx

    df = read_oecd_sdmx(path)
    df = df[df.indicator == "fva_share_exports"]
    if df.empty:
        raise DataError(path, None, "no foreign value-added share rows (EXGR_FVASH, or EXGR_FVA in PT_EXGR)")
    for col, keep in (("activity", {"_T", "DTOTAL", "TOTAL"}), ("ind", {"_T", "DTOTAL", "TOTAL"}),
                      ("counterpart_area", {"W", "WLD", "W_O", "WOR"}), ("par", {"W", "WLD", "W_O", "WOR"})):
        if col in df.columns:
            df = df[df[col].isin(keep)]
    if df.empty:
        raise DataError(path, None, "no total-economy, world-partner rows of the FVA share")
    dup = df.groupby(["iso3", "year"]).value.nunique()
    if (dup > 1).any():
        k = dup[dup > 1].index[0]
        raise DataError(path, None, f"conflicting FVA shares for {k[0]} {k[1]}")
    out = df.drop_duplicates(["iso3", "year"])
    return pd.DataFrame({"iso3": out.iso3.to_numpy(), "year": out.year.astype(int).to_numpy(),
                         "fva_share": out.value.to_numpy(float) / 100.0}).reset_index(drop=True)
