"""Loaders for the layouts users download from the OECD and the World Bank.

Every loader returns a tidy pandas DataFrame with the columns

    iso3, year, indicator, value, unit

(plus the layout's other dimensions as lower-case columns and a `flag` column where the source has
observation flags). Old and new codes of the same statistic map to one indicator name (see
`INDICATORS`), e.g. the TiVA foreign value-added share of gross exports is `fva_share_exports`
whether the file says `EXGR_FVASH` (TiVA 2013-2021) or `MEASURE=EXGR_FVA, UNIT_MEASURE=PT_EXGR`
(OECD Data Explorer, 2023+).

Missing cells (empty, "..") are kept as NaN rows: nothing is dropped silently. A malformed file raises
`DataError` (a `ValueError`) naming the file, the line and the problem: invalid UTF-8 or NUL bytes
(files must be UTF-8; there is no silent fallback to Latin-1), `inf` or other non-finite values, empty
country or indicator codes, malformed years, rows of the wrong width, and two rows for the same
observation (same country, year, indicator, unit and dimensions) with different values (the error names
both lines). Exact duplicate rows are dropped with a `DataWarning`; their line numbers are kept in
`df.attrs["dropped_duplicate_lines"]`.
"""
from __future__ import annotations

import re
import warnings

import pandas as pd

from ._io import (
    DataError,
    DataWarning,
    check_duplicates,
    check_width,
    open_text,
    parse_code,
    parse_number,
    read_records,
)

__all__ = [
    "INDICATORS", "UNITS", "indicator_name", "read_oecd_sdmx", "read_oecd_stat", "read_worldbank",
    "read_owid", "read_long", "DataWarning",
]

TIDY = ["iso3", "year", "indicator", "value", "unit"]

# (source code, unit code or None) -> canonical indicator name. `None` matches any unit.
INDICATORS: dict[tuple[str, str | None], str] = {
    # TiVA: foreign / domestic value added content of gross exports, as % of gross exports
    ("EXGR_FVASH", None): "fva_share_exports",  # TiVA 2016-2021 editions (and 2013 for FVA)
    ("EXGR_FVA", "PT_EXGR"): "fva_share_exports",  # OECD Data Explorer (TiVA 2023+)
    ("EXGR_DVASH", None): "dva_share_exports",  # TiVA 2016-2021 editions
    ("EXGRDVA_EX", None): "dva_share_exports",  # TiVA May 2013 edition
    ("EXGR_DVA", "PT_EXGR"): "dva_share_exports",  # OECD Data Explorer (TiVA 2023+)
    ("EXGR_FVA", None): "fva_exports",  # levels (USD)
    ("EXGR_DVA", None): "dva_exports",
    ("EXGR", None): "gross_exports",
    ("IMGR_INT", None): "intermediate_imports",
    # World Bank WDI
    ("NE.EXP.GNFS.ZS", None): "exports_pct_gdp",
    ("NE.IMP.GNFS.ZS", None): "imports_pct_gdp",
    ("NE.TRD.GNFS.ZS", None): "trade_pct_gdp",
    # OECD Education at a Glance
    ("EARN_DISTR", None): "earnings_distribution",
}

UNITS = {
    "PT_EXGR": "percent of gross exports",
    "PT_B1GQ": "percent of GDP",
    "PT_GDP": "percent of GDP",
    "USD_EXC": "US dollars",
    "PC": "percent",
    "PT": "percent",
    "IX": "index",
}

_DEFAULT_UNIT = {
    "fva_share_exports": "percent of gross exports",
    "dva_share_exports": "percent of gross exports",
    "exports_pct_gdp": "percent of GDP",
    "imports_pct_gdp": "percent of GDP",
    "trade_pct_gdp": "percent of GDP",
}


def indicator_name(code: str, unit: str | None = None) -> str:
    """The canonical indicator name of a source code (and unit code); unknown codes are returned as is."""
    code = code.strip()
    if unit is not None and (code, unit.strip()) in INDICATORS:
        return INDICATORS[(code, unit.strip())]
    return INDICATORS.get((code, None), code)


def _frame(rows: list[dict], path, extra_order=(), dims=()) -> pd.DataFrame:
    """Tidy frame from row dicts (each with `_line`): duplicates checked, columns ordered."""
    if not rows:
        raise DataError(path, None, "no data rows")
    key = ["iso3", "year", "period", "indicator", "unit_code", "unit", *dims]
    rows, dropped = check_duplicates(path, rows, key)
    if dropped:
        warnings.warn(f"{path}: dropped {len(dropped)} exact duplicate row(s) at line(s) "
                      f"{', '.join(map(str, sorted(set(dropped))[:10]))}{' ...' if len(set(dropped)) > 10 else ''}",
                      DataWarning, stacklevel=3)
    df = pd.DataFrame(rows).drop(columns="_line")
    cols = TIDY + [c for c in extra_order if c in df.columns]
    cols += [c for c in df.columns if c not in cols]
    df = df[cols]
    df["year"] = df["year"].astype("Int64")
    df["value"] = df["value"].astype(float)
    df.attrs["source_file"] = str(path)
    df.attrs["dropped_duplicate_lines"] = sorted(set(dropped))
    return df


def _year(path, line, column, cell, allow_period=False):
    """A four-digit year; with `allow_period`, also blank or `YYYY-YYYY` (returned as NA)."""
    s = cell.strip()
    if allow_period and (s == "" or re.fullmatch(r"\d{4}-\d{4}", s)):
        return pd.NA
    if not re.fullmatch(r"\d{4}", s):
        more = ", a period YYYY-YYYY or empty" if allow_period else ""
        raise DataError(path, line, f"'{column}' must be a four-digit year{more}, got {cell!r} "
                                    "(only annual data are supported)")
    return int(s)


def _header(path, records, required: list[str], what: str, names=None):
    try:
        head = next(records)
    except StopIteration:
        raise DataError(path, 1, f"empty file: expected a {what} header") from None
    names = [h.strip() for h in head] if names is None else names(head)
    missing = [r for r in required if r not in names]
    if missing:
        raise DataError(path, head.line, f"bad header for a {what} file: missing column(s) "
                                         f"{missing}; found {names[:12]}{' ...' if len(names) > 12 else ''}")
    return head, names


# -- OECD Data Explorer, SDMX-CSV (1.0 and 2.0, codes only or with labels) ---------------------------
_SDMX_STRUCTURE = {"DATAFLOW", "STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "ACTION", "FREQ"}
_SDMX_AREA = ("REF_AREA", "LOCATION", "COU", "COUNTRY")
_SDMX_INDICATOR = ("MEASURE", "INDICATOR", "IND", "VAR", "SUBJECT")


def read_oecd_sdmx(path) -> pd.DataFrame:
    """Read an OECD Data Explorer download in SDMX-CSV layout (e.g. a TiVA dataflow).

    Accepts SDMX-CSV 1.0 (`DATAFLOW,REF_AREA,...,TIME_PERIOD,OBS_VALUE,...`), SDMX-CSV 2.0
    (`STRUCTURE,STRUCTURE_ID,ACTION,...`), with or without label columns (either separate columns such
    as `Reference area` or headers such as `REF_AREA: Reference area`). The indicator code is taken
    from `MEASURE` (or `INDICATOR`); together with `UNIT_MEASURE` it is mapped to one canonical name,
    so `EXGR_FVA` in `PT_EXGR` and the older `EXGR_FVASH` are both `fva_share_exports`.

    **Arguments:** `path` to the CSV file.

    **Returns:** a tidy DataFrame (`iso3, year, indicator, value, unit`, the remaining dimensions as
    lower-case columns such as `counterpart_area`, `activity`, `source_code`, and `flag` from
    `OBS_STATUS`). Raises `DataError` naming file and line for a bad header, a row with the wrong
    number of fields, a non-numeric value or a non-annual period.
    """
    records = read_records(path)

    def names(head):
        return [h.split(":", 1)[0].strip() for h in head]

    head, cols = _header(path, records, ["TIME_PERIOD", "OBS_VALUE"], "SDMX-CSV", names)
    area = next((c for c in _SDMX_AREA if c in cols), None)
    ind = next((c for c in _SDMX_INDICATOR if c in cols), None)
    if area is None or ind is None:
        raise DataError(path, head.line, "bad header for a SDMX-CSV file: need a reference-area column "
                                         f"({'/'.join(_SDMX_AREA)}) and an indicator column "
                                         f"({'/'.join(_SDMX_INDICATOR)}); found {cols[:12]}")
    pos = {c: i for i, c in reversed(list(enumerate(cols)))}  # first occurrence wins
    is_code = lambda c: bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", c))  # noqa: E731
    dims = [c for c in cols if is_code(c) and c not in _SDMX_STRUCTURE | {area, ind, "TIME_PERIOD", "OBS_VALUE",
                                                                          "UNIT_MEASURE", "OBS_STATUS", "UNIT_MULT"}]
    rows = []
    for rec in records:
        check_width(path, rec, len(cols))
        code = parse_code(path, rec.line, ind, rec[pos[ind]])
        unit_code = rec[pos["UNIT_MEASURE"]].strip() if "UNIT_MEASURE" in pos else None
        name = indicator_name(code, unit_code)
        unit = UNITS.get(unit_code, unit_code) if unit_code else _DEFAULT_UNIT.get(name, "")
        if "UNIT_MULT" in pos and rec[pos["UNIT_MULT"]].strip() not in ("", "0"):
            unit = f"{unit} x 10^{rec[pos['UNIT_MULT']].strip()}"
        row = {
            "_line": rec.line,
            "iso3": parse_code(path, rec.line, area, rec[pos[area]]),
            "year": _year(path, rec.line, "TIME_PERIOD", rec[pos["TIME_PERIOD"]]),
            "indicator": name,
            "value": parse_number(path, rec.line, "OBS_VALUE", rec[pos["OBS_VALUE"]]),
            "unit": unit,
            "source_code": code,
        }
        if unit_code:
            row["unit_code"] = unit_code
        for d in dims:
            row[d.lower()] = rec[pos[d]].strip()
        if "OBS_STATUS" in pos:
            row["flag"] = rec[pos["OBS_STATUS"]].strip()
        rows.append(row)
    return _frame(rows, path, ["source_code", "unit_code"], dims=[d.lower() for d in dims])


# -- legacy OECD.Stat CSV export (paired code/label columns) -----------------------------------------
def read_oecd_stat(path) -> pd.DataFrame:
    """Read a legacy OECD.Stat (pre-2024) CSV export, whose code and label columns come in pairs.

    The header looks like `"COUNTRY","Country","INDICATOR","Indicator",...,"YEAR","Year","Unit Code",
    "Unit","PowerCode Code","PowerCode","Reference Period Code","Reference Period","Value","Flag Codes",
    "Flags"`; names may repeat (e.g. `"ISC11A","ISC11A"`), so columns are read by position. When the
    time code is 9999 ("latest available year"), the year is taken from `Reference Period Code`.

    **Arguments:** `path` to the CSV file.

    **Returns:** a tidy DataFrame; other dimensions (e.g. `isc11a`, `sex`, `earn_category`) as
    lower-case columns, `flag` from `Flag Codes`, and `time_code` with the original time code.
    """
    records = read_records(path)
    head, cols = _header(path, records, ["Value"], "legacy OECD.Stat CSV")
    end = cols.index("Unit Code") if "Unit Code" in cols else cols.index("Value")
    block = cols[:end]
    if len(block) % 2 or len(block) < 4:
        raise DataError(path, head.line, "bad header for a legacy OECD.Stat CSV file: code and label "
                                         f"columns must come in pairs before 'Unit Code'; found {block}")
    codes = {block[i]: i for i in range(0, len(block), 2)}
    area = next((c for c in ("COUNTRY", "LOCATION", "COU") if c in codes), None)
    time = next((c for c in ("YEAR", "TIME", "Year", "Time") if c in codes), None)
    ind = next((c for c in ("INDICATOR", "IND", "SUBJECT", "VAR", "MEASURE") if c in codes), None)
    if area is None or time is None or ind is None:
        raise DataError(path, head.line, "bad header for a legacy OECD.Stat CSV file: need COUNTRY/LOCATION, "
                                         f"YEAR/TIME and INDICATOR/SUBJECT code columns; found {list(codes)}")
    pos = {c: cols.index(c) for c in ("Unit Code", "Unit", "PowerCode Code", "Reference Period Code",
                                      "Value", "Flag Codes") if c in cols}
    dims = [c for c in codes if c not in (area, time, ind)]
    rows = []
    for rec in records:
        check_width(path, rec, len(cols))
        tcode = rec[codes[time]].strip()
        ref = rec[pos["Reference Period Code"]].strip() if "Reference Period Code" in pos else ""
        year_cell = ref if (tcode == "9999" and ref) else tcode
        unit = rec[pos["Unit"]].strip() if "Unit" in pos else ""
        if "PowerCode Code" in pos and rec[pos["PowerCode Code"]].strip() not in ("", "0"):
            unit = f"{unit} x 10^{rec[pos['PowerCode Code']].strip()}"
        row = {
            "_line": rec.line,
            "iso3": parse_code(path, rec.line, area, rec[codes[area]]),
            "year": _year(path, rec.line, time if year_cell == tcode else "Reference Period Code", year_cell),
            "indicator": indicator_name(parse_code(path, rec.line, ind, rec[codes[ind]])),
            "value": parse_number(path, rec.line, "Value", rec[pos["Value"]]),
            "unit": unit,
            "source_code": rec[codes[ind]].strip(),
        }
        for d in dims:
            row[d.lower()] = rec[codes[d]].strip()
        if "Flag Codes" in pos:
            row["flag"] = rec[pos["Flag Codes"]].strip()
        row["time_code"] = tcode
        rows.append(row)
    return _frame(rows, path, ["source_code"], dims=[d.lower() for d in dims])


# -- World Bank bulk download ("API_<indicator>_DS2_en_csv_v2_<n>.csv") ------------------------------
def read_worldbank(path) -> pd.DataFrame:
    """Read a World Bank WDI bulk/API CSV download (wide: one column per year).

    The file may start with the `"Data Source"` / `"Last Updated Date"` preamble of the API download
    and may carry a UTF-8 byte-order mark and trailing commas; all are accepted. Empty cells are kept
    as NaN rows.

    **Arguments:** `path` to the CSV file.

    **Returns:** a tidy DataFrame with `country` (the name) and `source_code` (e.g. `NE.EXP.GNFS.ZS`);
    `df.attrs["last_updated"]` holds the preamble's date when present.
    """
    text = open_text(path)
    records = read_records(path, text)
    last_updated = None
    head = None
    for rec in records:
        if rec and rec[0].strip() == "Country Name":
            head = rec
            break
        if rec and rec[0].strip() == "Last Updated Date" and len(rec) > 1:
            last_updated = rec[1].strip()
        if rec and rec[0].strip() not in ("Data Source", "Last Updated Date"):
            raise DataError(path, rec.line, "bad header for a World Bank CSV file: expected 'Country Name', "
                                            f"'Country Code', 'Indicator Name', 'Indicator Code', years; got {rec[:5]}")
    if head is None:
        raise DataError(path, None, "bad header for a World Bank CSV file: no 'Country Name' header line")
    cols = [h.strip() for h in head]
    fixed = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
    if cols[:4] != fixed:
        raise DataError(path, head.line, f"bad header for a World Bank CSV file: first columns must be {fixed}, "
                                         f"got {cols[:4]}")
    years = []
    for i, c in enumerate(cols[4:], start=4):
        if c == "" and i == len(cols) - 1:
            continue  # the download's trailing comma
        if not re.fullmatch(r"\d{4}", c):
            raise DataError(path, head.line, f"bad header for a World Bank CSV file: column {i + 1} should be a "
                                             f"year, got {c!r}")
        years.append((i, int(c)))
    rows = []
    for rec in records:
        check_width(path, rec, len(cols))
        code = parse_code(path, rec.line, "Indicator Code", rec[3])
        iso = parse_code(path, rec.line, "Country Code", rec[1])
        name = indicator_name(code)
        for i, y in years:
            rows.append({
                "_line": rec.line, "iso3": iso, "year": y, "indicator": name,
                "value": parse_number(path, rec.line, str(y), rec[i]),
                "unit": _DEFAULT_UNIT.get(name, rec[2].strip()),
                "country": rec[0].strip(), "source_code": code,
            })
    df = _frame(rows, path, ["country", "source_code"])
    df.attrs["last_updated"] = last_updated
    return df


# -- Our World in Data grapher / dataset layout --------------------------------------------------------
def read_owid(path, indicators: dict[str, tuple[str, str]] | None = None, *,
              drop_empty_codes: bool = False) -> pd.DataFrame:
    """Read an Our World in Data CSV (`Entity,Code,Year,<value columns>`; an `iso3` column may replace Code).

    **Arguments:** `path`; `indicators` maps a value-column title to `(indicator name, unit)`
    (unmapped value columns keep their title as indicator and an empty unit; a mapped title that
    is not a column of the file is a `DataError`); `drop_empty_codes`: OWID region aggregates
    ("Africa", "World (WB)") have an empty code, which is an error unless this is True, in which case
    those rows are dropped and their lines listed in `df.attrs["dropped_empty_code_lines"]`.

    **Returns:** a tidy DataFrame with `country` (the entity).
    """
    indicators = indicators or {}
    records = read_records(path)
    head, cols = _header(path, records, ["Entity", "Year"], "Our World in Data")
    code = "iso3" if "iso3" in cols else ("Code" if "Code" in cols else None)
    if code is None:
        raise DataError(path, head.line, f"bad header for an Our World in Data file: need 'Code' or 'iso3'; got {cols}")
    value_cols = [c for c in cols if c not in (code, "Entity", "Year")]
    if not value_cols:
        raise DataError(path, head.line, "bad header for an Our World in Data file: no value column")
    absent = [c for c in indicators if c not in value_cols]
    if absent:
        raise DataError(path, head.line, f"indicator column(s) {absent} not in the file; its value columns "
                                         f"are {value_cols}")
    rows, skipped = [], []
    for rec in records:
        check_width(path, rec, len(cols))
        iso_cell = rec[cols.index(code)]
        if drop_empty_codes and not iso_cell.strip():
            skipped.append(rec.line)
            continue
        iso = parse_code(path, rec.line, code, iso_cell)
        year = _year(path, rec.line, "Year", rec[cols.index("Year")])
        for c in value_cols:
            name, unit = indicators.get(c, (c, ""))
            rows.append({
                "_line": rec.line, "iso3": iso, "year": year, "indicator": name, "unit": unit,
                "value": parse_number(path, rec.line, c, rec[cols.index(c)]),
                "country": rec[cols.index("Entity")].strip(),
            })
    df = _frame(rows, path, ["country"])
    df.attrs["dropped_empty_code_lines"] = skipped
    return df


def read_long(path, value_columns: dict[str, tuple[str, str]] | None = None, *,
              dimensions: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a long CSV: either `iso3,year,indicator,value,unit,...` or `iso3,year,<value columns>`.

    Used for the shipped extracts (see `jaxoff.data.datasets()`). A `year` may be a four-digit year,
    a period `YYYY-YYYY` or empty (for statistics without a single year): then `year` is NA and the
    original text is kept in `period`. Anything else (e.g. `20O9`, `209`) is a `DataError`.

    **Arguments:** `path`; `value_columns` (wide files only) maps each value column to
    `(indicator name, unit)`; `dimensions`: extra columns that identify an observation together with
    iso3, year and indicator (e.g. `("naics",)` for a table by industry), used to detect conflicting
    duplicates (other extra columns are annotations).

    **Returns:** a tidy DataFrame; extra columns of the file are kept.
    """
    records = read_records(path)
    if value_columns is None:
        head, cols = _header(path, records, ["iso3", "year", "indicator", "value", "unit"], "long")
    else:
        head, cols = _header(path, records, ["iso3", "year", *value_columns], "iso3/year")
    absent = [d for d in dimensions if d not in cols]
    if absent:
        raise DataError(path, head.line, f"dimension column(s) {absent} not in the header {cols}")
    extra = [c for c in cols if c not in ("iso3", "year", "indicator", "value", "unit", *(value_columns or {}))]
    rows = []
    for rec in records:
        check_width(path, rec, len(cols))
        cell = dict(zip(cols, rec))
        base = {"_line": rec.line, "iso3": parse_code(path, rec.line, "iso3", cell["iso3"]),
                "year": _year(path, rec.line, "year", cell["year"], allow_period=True)}
        if base["year"] is pd.NA:
            base["period"] = cell["year"].strip()
        ext = {c: cell[c] for c in extra}
        if value_columns is None:
            ind = parse_code(path, rec.line, "indicator", cell["indicator"])
            rows.append({**base, "indicator": indicator_name(ind),
                         "value": parse_number(path, rec.line, "value", cell["value"]),
                         "unit": cell["unit"].strip(), "source_code": ind, **ext})
        else:
            for c, (name, unit) in value_columns.items():
                rows.append({**base, "indicator": name, "unit": unit,
                             "value": parse_number(path, rec.line, c, cell[c]), **ext})
    return _frame(rows, path, ["source_code", "period"], dims=list(dimensions))
