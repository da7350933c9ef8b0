"""The documentation site builds with warnings as errors, covers every model family, and never points
outside the repository."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FAMILIES = ["trading_tasks", "similar_countries", "shadow_migration", "export_magnification", "skill_upgrading",
            "structural_gravity", "caliendo_parro", "armington"]
# Files still allowed to point outside the repository (none).
PENDING: set[str] = set()
OUTSIDE = re.compile(r"\.\./shared|/work/shared|shared/models|shared/data|shared/seeds")


def _have(*mods):
    return all(importlib.util.find_spec(m) is not None for m in mods)


@pytest.mark.skipif(not _have("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"),
                    reason="mkdocs-material/mkdocstrings not installed (pip install -e '.[docs]')")
def test_site_builds_strict(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for fam in FAMILIES:
        page = (tmp_path / "models" / fam / "index.html").read_text()
        assert 'class="arithmatex"' in page, f"{fam}: no equations rendered"
    api = (tmp_path / "api" / "index.html").read_text()
    for name in ("solve", "derivative", "elasticity", "jacobian", "statics", "sweep", "continuation",
                 "check_sign", "calibrate", "diagnose", "Model", "Solution", "Positive", "Interval"):
        assert 'id="jaxoff.' in api and name in api, name
    site = "\n".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*.html"))
    assert not OUTSIDE.search(site)


def test_every_family_has_a_page_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for fam in FAMILIES:
        page = DOCS / "models" / f"{fam}.md"
        assert page.is_file() and f"models/{fam}.md" in nav
        text = page.read_text()
        assert f"jaxoff.models.{fam}" in text
        assert "## Closed forms checked by the tests" in text or "## Closed forms" in text
        # equations carry the paper's numbers (or, for the many-country families, the numbered system)
        assert "(paper eq" in text or "(paper (" in text or "(CP.1)" in text or "(SG.1)" in text or "(ARM.1" in text


def test_first_page_states_the_float64_policy():
    text = (DOCS / "getting-started.md").read_text()
    assert "## Float64 policy" in text and "JAXOFF_ENABLE_X64=0" in text
    assert "JAXOFF_CACHE_DIR" in text and "JAXOFF_COMPILATION_CACHE=0" in text


def test_nothing_points_outside_the_repository():
    paths = [*DOCS.rglob("*.md"), ROOT / "mkdocs.yml", ROOT / "CHANGELOG.md", ROOT / "CITATION.cff",
             *(ROOT / "jaxoff").rglob("*.py")]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in paths for i, line in enumerate(p.read_text().splitlines(), 1)
            if OUTSIDE.search(line) and str(p.relative_to(ROOT)) not in PENDING]
    assert not hits, hits
