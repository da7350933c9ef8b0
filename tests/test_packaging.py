"""Packaging: metadata, one version everywhere, license and citation files, declared dependencies,
the float64 policy and the compilation cache (both checked in fresh interpreters).

Oracles: the files themselves (pyproject.toml, CITATION.cff, LICENSE) parsed independently of the
package, the installed distribution's metadata, and an AST scan of every import in the source tree.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]

# Core dependencies that no module imports yet, with the reason (keep this list short and explained).
DECLARED_NOT_IMPORTED = {
    "lineax": "linear solves of the implicit-function step (jaxoff/implicit.py, being merged)",
}
# Test-only imports that the lead adds to the dev extra when the families that need them are merged.
PENDING_DEV = {"pyfixest", "gegravity", "ray"}


def _req_name(req: str) -> str:
    return re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower().replace("_", "-")


def _names(reqs) -> set[str]:
    return {_req_name(r) for r in reqs}


def _imports(paths):
    """(top-level module name, is_module_level) for every absolute import under `paths`."""
    out = []
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        toplevel = {id(n) for n in tree.body}
        # imports guarded by try/except at module level count as optional
        for node in tree.body:
            if isinstance(node, ast.Try):
                for sub in ast.walk(node):
                    toplevel.discard(id(sub))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                out.append((n.split(".")[0], id(node) in toplevel, path))
    return out


# Scripts import their sibling files (calibration/_figures.py, benchmarks/_peer.py, ...): not packages.
LOCAL_MODULES = {p.stem for d in ("calibration", "benchmarks", "examples", "tests", "tools")
                 for p in (ROOT / d).glob("*.py")}


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict:
    return md.packages_distributions()


def _dist_of(module: str) -> str | None:
    if module in sys.stdlib_module_names or module in ("jaxoff", "__future__") or module in LOCAL_MODULES:
        return None
    dists = _packages_distributions().get(module)
    return (dists[0] if dists else module).lower().replace("_", "-")


# --- metadata -------------------------------------------------------------------------------------


def test_project_metadata_is_complete():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "jaxoff._version.__version__"}
    assert PROJECT["authors"] == [{"name": "jaxoff developers"}]
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(PROJECT["urls"])
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in PROJECT["classifiers"])
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert PROJECT["scripts"] == {"jaxoff": "jaxoff.cli:main"}
    extras = PROJECT["optional-dependencies"]
    assert extras["gravity"] == ["pyfixest>=0.30"] and extras["ray"] == ["ray[default]>=2.9"]
    assert extras["cuda12"] == ["jax[cuda12]"] and extras["cuda13"] == ["jax[cuda13]"]
    assert {"docs", "notebooks", "jaxopt", "dev"} <= set(extras)
    assert {"mkdocs", "mkdocs-material", "mkdocstrings", "ruff", "mypy"} <= _names(extras["dev"])
    assert _names(extras["docs"]) <= _names(extras["dev"])
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["jaxoff"]
    assert (ROOT / "jaxoff" / "py.typed").is_file()
    # only targeted warning filters: never a blanket ignore of a whole category
    for f in PYPROJECT["tool"]["pytest"]["ini_options"].get("filterwarnings", []):
        action, message, *_ = f.split(":") + [""]
        assert action != "ignore" or message, f"blanket warning filter {f!r}"


def test_installed_metadata_matches_pyproject():
    import jaxoff

    meta = md.metadata("jaxoff")
    assert md.version("jaxoff") == jaxoff.__version__, "stale install: run `pip install -e .`"
    assert meta["License-Expression"] == "MIT"
    assert set(md.requires("jaxoff") or []) >= set(PROJECT["dependencies"])


def test_one_version_everywhere(capsys):
    import yaml

    import jaxoff
    from jaxoff import _version, cli

    assert jaxoff.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", jaxoff.__version__)
    try:
        rc = cli.main(["--version"])
    except SystemExit as exc:  # argparse's own exit, if main() does not catch it
        rc = exc.code
    assert rc == 0
    assert capsys.readouterr().out.strip() == f"jaxoff {jaxoff.__version__}"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == jaxoff.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [0.1.0]" in changelog


# --- license and citation -----------------------------------------------------------------------


def test_license_file():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the jaxoff developers" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def test_citation_cff():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "license", "repository-code", "references"):
        assert cff.get(key), key
    assert cff["type"] == "software" and cff["license"] == "MIT"
    refs = cff["references"]
    for ref in refs:
        assert ref["type"] in {"article", "report", "book"} and ref["title"] and ref["authors"] and ref["year"]
    titles = " | ".join(r["title"] for r in refs)
    families = {r["authors"][0]["family-names"] for r in refs}
    assert {"Grossman", "Baldwin", "Kleinert", "Yeaple", "Caliendo", "Anderson", "Yotov"} <= families
    assert "Trading Tasks" in titles and "Similar Countries" in titles and "NAFTA" in titles
    numbers = {r.get("number") for r in refs}
    assert {"14554", "12991", "1430"} <= numbers
    years = {(r["authors"][0]["family-names"], r["year"]) for r in refs}
    assert {("Caliendo", 2015), ("Anderson", 2003), ("Yotov", 2016), ("Yeaple", 2005)} <= years


# --- dependencies ---------------------------------------------------------------------------------


def test_every_runtime_import_is_declared_and_nothing_unused():
    core = _names(PROJECT["dependencies"])
    extras = set().union(*(_names(v) for v in PROJECT["optional-dependencies"].values()))
    imported_core, problems = set(), []
    for module, module_level, path in _imports(sorted((ROOT / "jaxoff").rglob("*.py"))):
        dist = _dist_of(module)
        if dist is None:
            continue
        where = path.relative_to(ROOT)
        if module_level and dist not in core:
            problems.append(f"{where}: module-level import of {module} ({dist}) is not a core dependency")
        elif dist not in core | extras:
            problems.append(f"{where}: import of {module} ({dist}) is declared nowhere")
        imported_core.add(dist)
    unused = core - imported_core - set(DECLARED_NOT_IMPORTED)
    assert not problems, "\n".join(problems)
    assert not unused, f"declared but never imported by jaxoff: {sorted(unused)}"


def test_test_imports_are_in_dev():
    allowed = _names(PROJECT["dependencies"]) | _names(PROJECT["optional-dependencies"]["dev"])
    missing = set()
    for module, _, path in _imports(sorted((ROOT / "tests").glob("*.py"))):
        dist = _dist_of(module)
        if dist and dist not in allowed and module not in PENDING_DEV and dist != "pytest-xdist":
            missing.add(f"{path.name}: {module} ({dist})")
    assert not missing, sorted(missing)


def test_floors_cover_the_apis_used():
    floors = {_req_name(r): r for r in PROJECT["dependencies"]}
    # jax.shard_map(..., check_vma=...) first shipped in jax 0.6.1 (jax.experimental.shard_map with
    # check_rep before); lineax >= 0.1 itself requires jax >= 0.6.1.
    assert floors["jax"] == "jax>=0.6.1"
    src = "\n".join(p.read_text() for p in (ROOT / "jaxoff").rglob("*.py"))
    if "check_vma" in src:
        assert "jax.shard_map" in src


# --- float64 policy and compilation cache (fresh interpreters) -----------------------------------


def _run(code: str, **env) -> str:
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **env}
    for k in ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_X64"):
        full.pop(k, None)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=full, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_import_enables_float64_and_the_cache(tmp_path):
    out = _run("""
        import jax, jax.numpy as jnp
        import jaxoff as jo
        from jaxoff.models import trading_tasks as tt
        print(jnp.zeros(1).dtype, jax.config.jax_compilation_cache_dir)
        sol = jo.solve(tt.SUBMODELS["M1"]())
        print(float(sol["w"]))
    """, JAXOFF_CACHE_DIR=str(tmp_path / "cache"))
    dtype, cache, w = out.split()
    assert dtype == "float64" and cache == str(tmp_path / "cache")
    assert abs(float(w) - 9 / 8) < 1e-12            # Trading Tasks M1 at the defaults: w = 9/8
    assert any((tmp_path / "cache").iterdir())      # compiled programs were written


def test_opt_out_of_float64_and_cache():
    out = _run("""
        import jax
        import jaxoff as jo
        from jaxoff.models import trading_tasks as tt
        print(jax.config.jax_enable_x64, jax.config.jax_compilation_cache_dir)
        try:
            jo.solve(tt.SUBMODELS["M1"]())
        except Exception as e:
            print(type(e).__name__, "|", e)
    """, JAXOFF_ENABLE_X64="0", JAXOFF_COMPILATION_CACHE="0")
    first, second = out.strip().splitlines()
    assert first == "False None"
    name, message = second.split(" | ", 1)
    assert name == "X64Error"
    assert "jaxoff needs float64" in message and "jax_enable_x64" in message and "JAXOFF_ENABLE_X64" in message


def test_user_cache_configuration_is_respected(tmp_path):
    mine = str(tmp_path / "mine")
    out = _run(f"""
        import jax
        jax.config.update("jax_compilation_cache_dir", {mine!r})
        import jaxoff
        print(jax.config.jax_compilation_cache_dir)
    """)
    assert out.strip() == str(tmp_path / "mine")
