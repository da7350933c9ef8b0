"""The real data extracts shipped with jaxoff, with their provenance.

Every number in the shipped CSV files was copied from the cited source (see `PROVENANCE.md` next to
them for the full record); nothing was computed or filled in. `datasets()` lists them,
`load(name)` returns one as a tidy frame, and the helpers below assemble the calibration targets used
in `calibration/` (each says exactly which rows it takes and which identity it applies).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pandas as pd

from ._io import DataError
from .loaders import read_long, read_oecd_stat, read_owid, read_worldbank

__all__ = ["Dataset", "DATASETS", "datasets", "load", "path", "provenance", "OECD38",
           "fva_share_exports", "exports_pct_gdp", "relative_earnings_tertiary"]

DATA_DIR = Path(__file__).resolve().parent

OECD38 = tuple("AUS AUT BEL CAN CHL COL CRI CZE DNK EST FIN FRA DEU GRC HUN ISL IRL ISR ITA JPN KOR LVA LTU "
               "LUX MEX NLD NZL NOR POL PRT SVK SVN ESP SWE CHE TUR GBR USA".split())


@dataclass(frozen=True)
class Dataset:
    """One shipped extract: file, loader and provenance (source, original source, units, license)."""

    name: str
    file: str
    statistic: str
    source: str
    original_source: str
    units: str
    coverage: str
    license: str
    sha256: str
    loader: Callable = field(repr=False)
    caveats: str = ""

    def path(self) -> Path:
        return DATA_DIR / self.file


_EAG_TITLE = ("Earnings of tertiary-educated workers relative to the earnings of workers with upper-secondary "
              "education (OECD 2017)")

_D = [
    Dataset(
        "wdi_exports_imports", "wdi_exports_imports_pct_gdp_oecd38_2010_2024.csv",
        "exports and imports of goods and services, % of GDP (WDI NE.EXP.GNFS.ZS, NE.IMP.GNFS.ZS)",
        "open-numbers/ddf--gapminder--systema_globalis @ c63631abeb62af6db3910f68be7c2b443beca50b "
        "(data files last changed in efff876b47bb12d0d7fb0d97a8e0e6896d3f5b57, 2026-02-23)",
        "World Bank, World Development Indicators", "percent of GDP", "OECD-38, 2010-2024",
        "CC BY 4.0", "dee5237034a4a5adb7a6389b59e28f9e17e385d7c9bbaaf47376710c5e5fa004",
        partial(read_long, value_columns={"exports_pct_gdp": ("exports_pct_gdp", "percent of GDP"),
                                          "imports_pct_gdp": ("imports_pct_gdp", "percent of GDP")}),
        "WDI revises back years: compare countries within one vintage only.",
    ),
    Dataset(
        "owid_trade", "owid_wdi_trade_pct_gdp_oecd38_2010_2024.csv",
        "trade (exports + imports), % of GDP (WDI NE.TRD.GNFS.ZS via Our World in Data)",
        "jakob0299/InformationVisualization @ 0d158bd179f023704fb6ddac53abbce67f69b23d, trade-as-share-of-gdp.csv "
        "(OWID grapher download)", "World Bank WDI NE.TRD.GNFS.ZS, processed by Our World in Data",
        "percent of GDP", "OECD-38, 2010-2024 (2024: 35 countries)", "CC BY 4.0",
        "bd3e8cf847f3f0ef0142bb12a125fc39c36d3734a33a398484bac488f836e9a1",
        partial(read_owid, indicators={"Trade (% of GDP)": ("trade_pct_gdp", "percent of GDP")}),
        "A different WDI vintage from wdi_exports_imports.",
    ),
    Dataset(
        "worldbank_exports_2023", "worldbank_api_NE.EXP.GNFS.ZS_oecd38_vintage2023-12-18.csv",
        "exports of goods and services, % of GDP, original World Bank bulk-CSV layout",
        "Anirudh0307/ADS-assignment-3 @ 8c17e1a34a40347d91f29791eba0d30a3a3ef3f2, "
        "API_NE.EXP.GNFS.ZS_DS2_en_csv_v2_6299802.csv (OECD rows verbatim, preamble kept, BOM dropped)",
        "World Bank, World Development Indicators (last updated 2023-12-18)", "percent of GDP",
        "OECD-38, 1960-2022 (empty cells = missing)", "CC BY 4.0",
        "13c4866cd8db1a541b5dc9c35e78cce8a753b8b16499a93867bae3b2c3ea3996", read_worldbank,
        "Vintage 2023-12-18; e.g. DEU 2019 is 47.13 here but 42.34 in the 2026 vintage.",
    ),
    Dataset(
        "eag2017_relative_earnings", "oecd_eag2017_relative_earnings_tertiary_vs_upper_secondary.csv",
        "relative earnings of tertiary- vs upper-secondary-educated adults 25-64 (skill-premium proxy)",
        "owid/owid-datasets @ 213c57045fb181f6059cdb5a39da4970965fa8d3 (Relative earnings of adults, by "
        "educational attainment - Education at a Glance 2017)",
        "OECD (2017), Education at a Glance 2017, Table A6.1", "index, upper secondary = 100",
        "37/38 OECD (no ISL) + BRA + OECD average (OAVG); Year 2015", "OECD terms and conditions",
        "005a692f0561f7396487c69af2ca2ec7ee19adf695c4c4223624cb4bdbd1acb2",
        partial(read_owid, indicators={_EAG_TITLE: ("relative_earnings_tertiary_upper_secondary",
                                                    "index, upper secondary = 100")}),
        "Reference year 2015 except DNK FIN BEL CAN NLD ESP LUX POL LTU (2014), ITA FRA (2013), JPN (2012); "
        "net of income tax for LVA, IRL, MEX.",
    ),
    Dataset(
        "eag_earnings_distribution", "oecd_eag_earnings_distribution_legacy_oecdstat_format.csv",
        "share of adults by earnings band relative to the median, tertiary vs upper secondary "
        "(legacy OECD.Stat CSV layout)",
        "Ray-Cui-haozhe/INFO201--Final-Project @ 08f3ad72908063c7f2e0e948632d2c2bbd94cc64, EAG_EARNINGS.csv "
        "(rows SEX=T, ISC11A in {L3T4, L5T8})",
        "OECD.Stat, Education and Earnings (Education at a Glance 2020)", "percent",
        "35 OECD + BRA, OAVG, G20, E23; latest year (mostly 2018)", "OECD terms and conditions (data)",
        "cba7d15672d7ef2e06329a23beb4d1b88e1f7da4b61f25f9f2269b9c8ac9d47d", read_oecd_stat,
        "Empty values carry flags m, c, x, w, z; YEAR 9999 = latest, actual year from Reference Period.",
    ),
    Dataset(
        "tiva2013_country_notes", "oecd_wto_tiva_may2013_country_notes_dva_share_of_gross_exports.csv",
        "TiVA (May 2013) domestic value-added content of gross exports, % (EXGRDVA_EX; some EXGR_FVASH)",
        "bowerth/countrynote @ f3876ad689fdbd2b5c1f808c1ae0a91160191bce, inst/extdata/icioIndic_custom_text.xlsx "
        "(text of the OECD-WTO TiVA country notes, May 2013)",
        "OECD-WTO Trade in Value Added indicators, country notes, May 2013 edition", "percent of gross exports",
        "2009 for 26/38 OECD + OAVG + 7 non-OECD; some 1995-2008", "OECD terms and conditions",
        "76e55f40576a50309ba8974a1e6292db18dedce95dfebac8d1b5adb1e0400625", read_long,
        "Rounded integers as printed; not comparable with later TiVA editions. JPN/KOR say 'about'.",
    ),
    Dataset(
        "bjrs_us_manufacturing_exporters", "bjrs_us_manufacturing_exporters_by_naics_2002_2007_via_tradediversion.csv",
        "US manufacturing: share of firms exporting and export intensity of exporters, by NAICS-3",
        "J. Dingel, Trade Diversion blog, 2018-11-11 (tables from BJRS JEP 2007 Table 2 and JEL 2018 Table 1)",
        "Bernard, Jensen, Redding and Schott (2007, 2018)", "percent", "USA, 2002 and 2007", "see source",
        "21ea63b96aacaccface568a2753b56b0886b8210f9dc6e3ee0a622287807fd25", partial(read_long, dimensions=("naics",)),
        "2002 and 2007 are not a time series (different data sources).",
    ),
    Dataset(
        "bjrs2007_us_exporter_share", "bjrs2007_jep_us_all_firms_exporter_share_2000.csv",
        "US all firms: share exporting; top-10% exporters' share of exports",
        "BJRS (2007) JEP 21(3) p. 105 (stored excerpt)", "Bernard, Jensen, Redding and Schott (2007)",
        "percent", "USA, 2000", "see source",
        "3271c04980469acd984180abd005af49d494f1f77734231884dad85235856852", read_long,
    ),
    Dataset(
        "mattoo_wang_wei_vax", "mattoo_wang_wei_2013_ch4_vax_ratios_text.csv",
        "VAX ratio (value-added exports / gross exports), running text of ch. 4",
        "Mattoo, Wang and Wei (eds., 2013), Trade in Value Added, ch. 4 p. 86 (stored excerpt)",
        "Johnson-Noguera VAX measure", "ratio", "MEX, CHN, 2004 (year inferred; see qualifier)", "see source",
        "9d5cda1ee55aeba6fc92824fafa7cc4ab7a86d916e978b12ee138d91b5fd39ce", read_long,
    ),
    Dataset(
        "miroudot_intermediates", "miroudot_lanz_ragoussis_2009_intermediates_share_of_trade.csv",
        "intermediates as % of goods and services trade (aggregate)",
        "Miroudot, Lanz and Ragoussis (2009), OECD Trade Policy Papers (stored excerpt)",
        "same", "percent", "OECD + main partners, 1995-2005 (no country rows)", "see source",
        "4258be1c370a2fb3fa9e84c1a8389e7dd850e590ba4c047e7c74306e4d751a91", read_long,
    ),
    Dataset(
        "hiy_vertical_specialization", "hummels_ishii_yi_2001_vertical_specialization_aggregate.csv",
        "vertical specialisation share of exports and its growth (aggregate)",
        "Hummels, Ishii and Yi (2001), JIE 54, abstract (stored excerpt)", "same", "percent",
        "10 OECD + 4 emerging pooled, 1970-1990", "see source",
        "54d3e27174f79f4501afe75e36e7bb1d8ba28cfafbbb8bbb29d3715501fcf26a", read_long,
    ),
]

DATASETS: dict[str, Dataset] = {d.name: d for d in _D}


def _get(name: str) -> Dataset:
    if name not in DATASETS:
        import difflib

        hint = difflib.get_close_matches(name, list(DATASETS), n=1, cutoff=0.4)
        raise KeyError(f"no shipped dataset '{name}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                       + f" Datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def datasets() -> pd.DataFrame:
    """The shipped datasets with their provenance, one row each.

    **Returns:** a DataFrame indexed by dataset name with columns `file, statistic, source,
    original_source, units, coverage, license, sha256, caveats`. The full record is in
    `jaxoff/data/PROVENANCE.md` (`provenance()`).
    """
    rows = [{k: getattr(d, k) for k in ("name", "file", "statistic", "source", "original_source", "units",
                                        "coverage", "license", "sha256", "caveats")} for d in _D]
    return pd.DataFrame(rows).set_index("name")


def provenance() -> str:
    """The full provenance record (`PROVENANCE.md`) as text."""
    return (DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")


def path(name: str) -> Path:
    """Filesystem path of a shipped dataset's CSV file."""
    return _get(name).path()


def load(name: str, *, verify: bool = True) -> pd.DataFrame:
    """Load a shipped dataset as a tidy frame (`iso3, year, indicator, value, unit`, ...).

    **Arguments:** `name` (see `datasets()`); `verify`: check the file's sha256 against the record.

    **Returns:** the DataFrame, with `df.attrs["dataset"]` and `df.attrs["provenance"]` (a dict).
    """
    d = _get(name)
    p = d.path()
    if verify:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest != d.sha256:
            raise DataError(p, None, f"sha256 {digest} does not match the provenance record {d.sha256}: "
                                     "the shipped file was modified")
    df = d.loader(p)
    df.attrs["dataset"] = name
    df.attrs["provenance"] = {k: getattr(d, k) for k in ("source", "original_source", "units", "coverage",
                                                         "license", "sha256", "caveats")}
    return df


# -- calibration targets -----------------------------------------------------------------------------
def _rows(df: pd.DataFrame, indicators, year=None) -> pd.DataFrame:
    """Rows of `df` for the given indicator(s) (and year); none at all is a `DataError`."""
    indicators = [indicators] if isinstance(indicators, str) else list(indicators)
    src = df.attrs.get("source_file", df.attrs.get("dataset", "data"))
    have = sorted(df["indicator"].unique())
    missing = [i for i in indicators if i not in have]
    if len(missing) == len(indicators):
        raise DataError(src, None, f"no indicator {' or '.join(map(repr, indicators))}; the file has {have}")
    sel = df[df["indicator"].isin(indicators)]
    if year is not None:
        years = sorted(int(y) for y in sel["year"].dropna().unique())
        sel = sel[sel["year"] == year]
        if sel.empty:
            raise DataError(src, None, f"no {'/'.join(indicators)} rows for year {year}; years present: "
                                       f"{years[0]}-{years[-1]}" if years
                                       else f"no {'/'.join(indicators)} rows with a year")
    return sel


def fva_share_exports(year: int = 2009, oecd_only: bool = True) -> pd.DataFrame:
    """Foreign value-added share of gross exports (percent) from the TiVA May 2013 country notes.

    Where a note prints the foreign share (`EXGR_FVASH`) it is used as printed; otherwise it is
    100 - domestic share (`EXGRDVA_EX`), by the TiVA identity EXGR = EXGR_DVA + EXGR_FVA. The
    `derived` column says which.

    **Arguments:** `year` (2009 is the notes' reference year); `oecd_only`: keep OECD members.

    **Returns:** a frame indexed by iso3 with `fva_share_exports` (percent), `derived`, `qualifier`.
    """
    df = _rows(load("tiva2013_country_notes"), ["fva_share_exports", "dva_share_exports"], year)
    if oecd_only:
        df = df[df["iso3"].isin(OECD38)]
    out = {}
    for iso, g in df.groupby("iso3"):
        fva = g[g["indicator"] == "fva_share_exports"]
        dva = g[g["indicator"] == "dva_share_exports"]
        if len(fva):
            out[iso] = (float(fva["value"].iloc[0]), "printed EXGR_FVASH", fva["qualifier"].iloc[0])
        elif len(dva):
            out[iso] = (100.0 - float(dva["value"].iloc[0]), "100 - EXGRDVA_EX", dva["qualifier"].iloc[0])
    res = pd.DataFrame.from_dict(out, orient="index", columns=["fva_share_exports", "derived", "qualifier"])
    res.index.name = "iso3"
    return res.sort_index()


def exports_pct_gdp(year: int, source: str = "worldbank_exports_2023") -> pd.Series:
    """Exports of goods and services, % of GDP, by iso3 for one year (NaN rows dropped explicitly).

    **Arguments:** `year`; `source`: `"worldbank_exports_2023"` (1960-2022, vintage 2023-12-18) or
    `"wdi_exports_imports"` (2010-2024, vintage 2026-02).
    """
    if source not in ("worldbank_exports_2023", "wdi_exports_imports"):
        raise KeyError(f"source must be 'worldbank_exports_2023' or 'wdi_exports_imports', got {source!r}")
    df = _rows(load(source), "exports_pct_gdp", year)
    s = df.set_index("iso3")["value"].dropna()
    s.name = "exports_pct_gdp"
    return s.sort_index()


def relative_earnings_tertiary(oecd_only: bool = True) -> pd.Series:
    """Relative earnings of tertiary vs upper-secondary educated adults (EAG 2017; index, upper secondary = 100)."""
    df = _rows(load("eag2017_relative_earnings"), "relative_earnings_tertiary_upper_secondary")
    if oecd_only:
        df = df[df["iso3"].isin(OECD38)]
    s = df.set_index("iso3")["value"]
    s.name = "relative_earnings"
    return s.sort_index()
