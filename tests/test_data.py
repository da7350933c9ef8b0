"""jaxoff.data: shipped extracts (values checked against PROVENANCE.md) and malformed-file errors."""
import math

import pandas as pd
import pytest

import jaxoff.data as jd
from jaxoff.data import DataError
from jaxoff.data.loaders import DataWarning


# -- shipped files ----------------------------------------------------------------------------------
def test_datasets_listing_has_provenance():
    df = jd.datasets()
    assert len(df) == 11
    for col in ("file", "source", "original_source", "units", "license", "sha256"):
        assert df[col].astype(str).str.len().min() > 0, col
    assert "Trade in Value Added" in jd.provenance()


@pytest.mark.parametrize("name, rows", [
    ("wdi_exports_imports", 570 * 2), ("owid_trade", 567), ("worldbank_exports_2023", 38 * 63),
    ("eag2017_relative_earnings", 39), ("eag_earnings_distribution", 390), ("tiva2013_country_notes", 60),
])
def test_shipped_files_load_tidy_and_complete(name, rows):
    df = jd.load(name)  # also verifies sha256 against the provenance record
    assert list(df.columns[:5]) == ["iso3", "year", "indicator", "value", "unit"]
    assert len(df) == rows  # README row counts: nothing dropped (missing cells kept as NaN)
    assert df.attrs["provenance"]["sha256"]


def test_values_match_provenance_notes():
    wb = jd.load("worldbank_exports_2023")
    wdi = jd.load("wdi_exports_imports")
    v23 = wb[(wb.iso3 == "DEU") & (wb.year == 2019)]["value"].item()
    v26 = wdi[(wdi.iso3 == "DEU") & (wdi.year == 2019) & (wdi.indicator == "exports_pct_gdp")]["value"].item()
    assert round(v23, 2) == 47.13 and round(v26, 2) == 42.34  # the vintage example in the README
    assert math.isnan(wb[(wb.iso3 == "USA") & (wb.year == 2022)]["value"].item())  # empty cell kept as NaN
    assert wb.attrs["last_updated"] == "2023-12-18"
    eag = jd.relative_earnings_tertiary()
    assert eag["USA"] == pytest.approx(173.50101) and "ISL" not in eag.index


def test_tiva_notes_fva_share():
    fva = jd.fva_share_exports(2009)
    assert len(fva) == 26  # README: 2009 values for 26 of the 38 OECD members
    assert fva.loc["AUS", "fva_share_exports"] == 13 and fva.loc["AUS", "derived"] == "100 - EXGRDVA_EX"
    assert fva.loc["ESP", "fva_share_exports"] == 21 and fva.loc["ESP", "derived"] == "printed EXGR_FVASH"
    assert fva.loc["LUX", "fva_share_exports"] == 59


def test_legacy_oecd_stat_latest_year_from_reference_period():
    df = jd.load("eag_earnings_distribution")
    aus = df[(df.iso3 == "AUS") & (df.isc11a == "L3T4") & (df.earn_category == "LE_0_5_MDN")]
    assert aus["year"].item() == 2018 and aus["time_code"].item() == "9999"
    assert aus["value"].item() == pytest.approx(15.177287)
    assert {"isc11a", "sex", "age", "earn_category", "flag"} <= set(df.columns)


# -- SDMX-CSV ---------------------------------------------------------------------------------------
SDMX_V1 = """DATAFLOW,REF_AREA,COUNTERPART_AREA,MEASURE,ACTIVITY,UNIT_MEASURE,TIME_PERIOD,OBS_VALUE,OBS_STATUS
OECD.STI.PIE:DSD_TIVA_MAINLV@DF_MAINLV(1.0),ESP,W,EXGR_FVA,_T,PT_EXGR,2009,21,A
OECD.STI.PIE:DSD_TIVA_MAINLV@DF_MAINLV(1.0),USA,W,EXGR_FVA,_T,PT_EXGR,2008,15,A
OECD.STI.PIE:DSD_TIVA_MAINLV@DF_MAINLV(1.0),USA,W,EXGR_DVA,_T,PT_EXGR,2009,89,A
"""
SDMX_V2_LABELS = """STRUCTURE,STRUCTURE_ID,STRUCTURE_NAME,ACTION,REF_AREA,Reference area,MEASURE,Measure,\
UNIT_MEASURE,Unit of measure,TIME_PERIOD,Time period,OBS_VALUE,Observation value
dataflow,OECD.STI.PIE:DSD_TIVA@DF_TIVA(1.0),TiVA,I,ESP,Spain,EXGR_FVASH,"Foreign VA share, %",PT_EXGR,\
Percentage of gross exports,1995,1995,21,
"""


def _write(tmp_path, name, text, bom=False, crlf=False):
    p = tmp_path / name
    data = text.replace("\n", "\r\n") if crlf else text
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode())
    return p


def test_sdmx_old_and_new_codes_map_to_one_indicator(tmp_path):
    a = jd.read_oecd_sdmx(_write(tmp_path, "v1.csv", SDMX_V1, bom=True))
    b = jd.read_oecd_sdmx(_write(tmp_path, "v2.csv", SDMX_V2_LABELS, crlf=True))
    assert list(a.indicator) == ["fva_share_exports", "fva_share_exports", "dva_share_exports"]
    assert list(b.indicator) == ["fva_share_exports"] and b.source_code.item() == "EXGR_FVASH"
    assert (a.unit == "percent of gross exports").all() and b.unit.item() == "percent of gross exports"
    assert a.loc[0, "value"] == 21 and a.loc[0, "counterpart_area"] == "W" and a.loc[0, "flag"] == "A"


# -- malformed input: each error names file and line ----------------------------------------------
def _raises(fn, path, line, what):
    with pytest.raises(DataError) as e:
        fn(path)
    msg = str(e.value)
    assert str(path) in msg and f":{line}:" in msg and what in msg, msg
    assert isinstance(e.value, ValueError)


def test_sdmx_malformed(tmp_path):
    bad_header = SDMX_V1.replace("OBS_VALUE", "VALUE")
    _raises(jd.read_oecd_sdmx, _write(tmp_path, "h.csv", bad_header), 1, "missing column")
    non_numeric = SDMX_V1.replace(",15,A", ",fifteen,A")
    _raises(jd.read_oecd_sdmx, _write(tmp_path, "n.csv", non_numeric), 3, "non-numeric value 'fifteen'")
    wrong_width = SDMX_V1.replace(",89,A", ",89")
    _raises(jd.read_oecd_sdmx, _write(tmp_path, "w.csv", wrong_width), 4, "wrong number of columns")


def _legacy_lines():
    return jd.path("eag_earnings_distribution").read_text().splitlines()


def test_legacy_oecd_stat_malformed(tmp_path):
    lines = _legacy_lines()[:4]
    bad = [lines[0].replace('"Value"', '"Val"')] + lines[1:]
    _raises(jd.read_oecd_stat, _write(tmp_path, "h.csv", "\n".join(bad)), 1, "missing column")
    bad = lines[:2] + [lines[2].replace(",11.701564,", ",4x2,")] + lines[3:]
    assert bad[2] != lines[2]
    _raises(jd.read_oecd_stat, _write(tmp_path, "n.csv", "\n".join(bad)), 3, "non-numeric value '4x2'")
    bad = lines[:3] + [lines[3] + ',"extra"']
    _raises(jd.read_oecd_stat, _write(tmp_path, "w.csv", "\n".join(bad)), 4, "wrong number of columns")


def test_worldbank_malformed_and_bom(tmp_path):
    text = jd.path("worldbank_exports_2023").read_bytes().decode()
    ok = jd.read_worldbank(_write(tmp_path, "bom.csv", text, bom=True))  # the original download has a BOM
    assert len(ok) == 38 * 63
    lines = text.split("\r\n")
    bad = lines[:4] + [lines[4].replace('"1975"', '"19x5"')] + lines[5:]
    _raises(jd.read_worldbank, _write(tmp_path, "h.csv", "\r\n".join(bad)), 5, "should be a year")
    bad = lines[:5] + [lines[5].replace('"12.3819278', '"abc')] + lines[6:]
    assert bad[5] != lines[5]
    _raises(jd.read_worldbank, _write(tmp_path, "n.csv", "\r\n".join(bad)), 6, "non-numeric value 'abc")
    bad = lines[:6] + [lines[6].rsplit(",", 3)[0]] + lines[7:]
    _raises(jd.read_worldbank, _write(tmp_path, "w.csv", "\r\n".join(bad)), 7, "wrong number of columns")


def test_missing_file_and_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        jd.read_oecd_sdmx(tmp_path / "nope.csv")
    with pytest.raises(KeyError, match="Did you mean 'owid_trade'"):
        jd.load("owid_trad")


def test_tidy_frames_are_pandas():
    assert isinstance(jd.load("owid_trade"), pd.DataFrame)


# -- garbage in: refused with file:line (issue 20, item 6) -----------------------------------------
LONG = "iso3,year,indicator,value,unit\nAUS,2009,x,1.5,percent\nAUT,2009,x,2.5,percent\n"


def test_conflicting_duplicate_names_both_lines(tmp_path):
    p = _write(tmp_path, "d.csv", LONG + "AUS,2009,x,1.75,percent\n")
    with pytest.raises(DataError) as e:
        jd.read_long(p)
    msg = str(e.value)
    assert f"{p}:4:" in msg and "duplicate of line 2" in msg and "1.5" in msg and "1.75" in msg, msg
    # the same clash in SDMX-CSV (EXGR_FVASH and EXGR_FVA/PT_EXGR are one statistic) and World Bank layouts
    sd = SDMX_V1 + "OECD.STI.PIE:DSD_TIVA_MAINLV@DF_MAINLV(1.0),ESP,W,EXGR_FVASH,_T,PT_EXGR,2009,22,A\n"
    _raises(jd.read_oecd_sdmx, _write(tmp_path, "s.csv", sd), 5, "duplicate of line 2")
    # a different dimension (counterpart area) is a different observation, not a duplicate
    ok = jd.read_oecd_sdmx(_write(tmp_path, "s2.csv", SDMX_V1 + SDMX_V1.splitlines()[1].replace(",W,", ",CHN,")
                                  .replace(",21,", ",3,") + "\n"))
    assert len(ok) == 4
    text = jd.path("worldbank_exports_2023").read_bytes().decode()
    lines = text.split("\r\n")
    wb = _write(tmp_path, "wb.csv", "\r\n".join(lines[:6] + [lines[5].replace('"12.3819278', '"13')] + lines[6:]))
    _raises(jd.read_worldbank, wb, 7, "duplicate of line 6")


def test_exact_duplicate_dropped_with_warning(tmp_path):
    p = _write(tmp_path, "d.csv", LONG + "AUS,2009,x,1.5,percent\n")
    with pytest.warns(DataWarning, match="dropped 1 exact duplicate row.*line.* 4"):
        df = jd.read_long(p)
    assert len(df) == 2 and df.attrs["dropped_duplicate_lines"] == [4]


def test_invalid_utf8_is_refused_not_latin1(tmp_path):
    p = tmp_path / "l1.csv"
    p.write_bytes((b"iso3,year,indicator,value,unit\nAUS,2009,x,1,percent\n")
                  + "CIV,2009,C\u00f4te,2,percent\n".encode("latin-1"))
    _raises(jd.read_long, p, 3, "invalid UTF-8 byte(s) f4 at column 11")
    p.write_bytes(LONG.encode("utf-16"))  # a UTF-16 export
    _raises(jd.read_long, p, 1, "NUL byte")


def test_nul_byte_names_line(tmp_path):
    p = tmp_path / "nul.csv"
    p.write_bytes(LONG.encode().replace(b"AUT", b"A\x00T"))
    _raises(jd.read_long, p, 3, "NUL byte at column 2")


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "1e999", "-nan"])
def test_non_finite_values_are_errors(tmp_path, cell):
    p = _write(tmp_path, "inf.csv", LONG.replace("2.5", cell))
    _raises(jd.read_long, p, 3, f"non-finite value '{cell}' in column 'value'")


def test_missing_markers_still_nan(tmp_path):
    df = jd.read_long(_write(tmp_path, "m.csv", LONG.replace("2.5", "..")))
    assert math.isnan(df["value"].iloc[1])


@pytest.mark.parametrize("bad, col", [("AUT,2009,x", ",2009,x"), ("AUT,2009,x", "AUT,2009,")])
def test_empty_codes_are_errors(tmp_path, bad, col):
    p = _write(tmp_path, "e.csv", LONG.replace(bad, col))
    with pytest.raises(DataError, match=rf"{p}:3: empty code in column '(iso3|indicator)'"):
        jd.read_long(p)


def test_empty_codes_other_layouts(tmp_path):
    sd = SDMX_V1.replace(",USA,W,EXGR_FVA,", ",,W,EXGR_FVA,")
    _raises(jd.read_oecd_sdmx, _write(tmp_path, "s.csv", sd), 3, "empty code in column 'REF_AREA'")
    owid = "Entity,Code,Year,Trade\nAustralia,AUS,2010,40.5\nAfrica,,2010,50.1\n"
    p = _write(tmp_path, "o.csv", owid)
    _raises(jd.read_owid, p, 3, "empty code in column 'Code'")
    df = jd.read_owid(p, drop_empty_codes=True)
    assert list(df.iso3) == ["AUS"] and df.attrs["dropped_empty_code_lines"] == [3]


@pytest.mark.parametrize("year", ["20O9", "209", "2009.0", "2009-", "FY2009"])
def test_malformed_years_are_errors(tmp_path, year):
    p = _write(tmp_path, "y.csv", LONG.replace("AUT,2009", f"AUT,{year}"))
    _raises(jd.read_long, p, 3, f"got '{year}'")
    owid = f"Entity,Code,Year,Trade\nAustralia,AUS,{year},40.5\n"
    _raises(jd.read_owid, _write(tmp_path, "oy.csv", owid), 2, "four-digit year")


def test_documented_periods_are_kept(tmp_path):
    df = jd.read_long(_write(tmp_path, "p.csv", LONG.replace("AUS,2009", "AUS,1970-1990").replace("AUT,2009", "AUT,")))
    assert df["year"].isna().all() and list(df["period"]) == ["1970-1990", ""]


def test_directory_and_missing_indicator(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        jd.read_long(tmp_path)
    owid = _write(tmp_path, "o.csv", "Entity,Code,Year,Trade\nAustralia,AUS,2010,40.5\n")
    with pytest.raises(DataError, match=r"o.csv:1: indicator column\(s\) \['Trade \(% of GDP\)'\] not in the file"):
        jd.read_owid(owid, indicators={"Trade (% of GDP)": ("trade_pct_gdp", "percent of GDP")})
    with pytest.raises(DataError, match="no exports_pct_gdp rows for year 1900; years present: 1960-2022"):
        jd.exports_pct_gdp(1900)
    from jaxoff.data.shipped import _rows
    with pytest.raises(DataError, match="no indicator 'fva_share'"):
        _rows(jd.load("tiva2013_country_notes"), "fva_share")


def test_multiline_quoted_cells_keep_line_numbers(tmp_path):
    text = 'iso3,year,indicator,value,unit,note\nAUS,2009,x,1,percent,"two\nlines"\nAUT,2009,x,inf,percent,\n'
    _raises(jd.read_long, _write(tmp_path, "q.csv", text), 4, "non-finite")
