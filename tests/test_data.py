"""jaxoff.data: shipped extracts (values checked against PROVENANCE.md) and malformed-file errors."""
import math

import pandas as pd
import pytest

import jaxoff.data as jd
from jaxoff.data import DataError


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
