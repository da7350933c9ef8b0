"""Data: loaders for OECD and World Bank downloads, and the shipped real extracts with provenance.

    import jaxoff.data as jd
    jd.datasets()                                  # what is shipped, with sources and licenses
    jd.load("tiva2013_country_notes")              # tidy frame: iso3, year, indicator, value, unit
    jd.read_oecd_sdmx("my_tiva_download.csv")      # OECD Data Explorer SDMX-CSV
    jd.read_oecd_stat("legacy_export.csv")         # legacy OECD.Stat CSV (paired code/label columns)
    jd.read_worldbank("API_NE.EXP.GNFS.ZS_DS2_en_csv_v2.csv")

    jd.wiod2013_table(2009)                        # world input-output table (Z, F, X) of the shipped WIOD 2013 extract
    jd.read_icio("ICIO_2018.csv"); jd.read_tiva_fva("tiva.csv")   # your OECD ICIO / TiVA downloads

Malformed files raise `DataError` (a `ValueError`) naming file, line and problem; exact duplicate
rows are dropped with a `DataWarning`.
"""
from ._io import DataError, DataWarning
from .input_output import (
    IOTable,
    adult_education,
    read_icio,
    read_tiva_fva,
    wiod2013_fva_derived,
    wiod2013_panel,
    wiod2013_table,
)
from .loaders import (
    INDICATORS,
    UNITS,
    indicator_name,
    read_long,
    read_oecd_sdmx,
    read_oecd_stat,
    read_owid,
    read_worldbank,
)
from .shipped import (
    DATASETS,
    OECD38,
    Dataset,
    datasets,
    exports_pct_gdp,
    fva_share_exports,
    load,
    path,
    provenance,
    relative_earnings_tertiary,
)

__all__ = [
    "DataError", "DataWarning", "IOTable", "wiod2013_table", "wiod2013_panel", "wiod2013_fva_derived",
    "adult_education", "read_icio", "read_tiva_fva", "INDICATORS", "UNITS", "indicator_name", "read_oecd_sdmx",
    "read_oecd_stat", "read_worldbank",
    "read_owid", "read_long", "DATASETS", "OECD38", "Dataset", "datasets", "load", "path", "provenance",
    "fva_share_exports", "exports_pct_gdp", "relative_earnings_tertiary",
]
