"""Static checks as tests: ruff over the repository and mypy over the public API modules, with the
configuration in pyproject.toml. Skipped (with the reason) when a tool is not installed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    exe = shutil.which(name)
    if exe is None and __import__("importlib").util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return [exe] if exe else [sys.executable, "-m", name]


def test_ruff():
    res = subprocess.run([*_tool("ruff"), "check", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_mypy_public_api():
    res = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
