#!/usr/bin/env bash
# Run a quick test subset against the LOWEST declared versions of jaxoff's core dependencies.
#
#   tools/test_lowest.sh                       # default subset (core, Trading Tasks, many-country core,
#                                              #   structured implicit, diagnose, sweep; ~4 min CPU)
#   tools/test_lowest.sh tests/test_core.py    # any pytest arguments
#
# Creates a fresh virtual environment ($VENV, default /tmp/jaxoff-lowest) with `python -m venv`,
# installs every core dependency pinned to its floor (`pkg>=X` in pyproject.toml becomes `pkg==X`)
# plus the floors of the extras the subset exercises (jaxopt, xarray) and the test tools, and runs
# pytest on the source tree (PYTHONPATH, no install of jaxoff itself, so nothing in the repository
# changes). Run it before each release; CI runs the newest versions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-/tmp/jaxoff-lowest}"
PYTHON="${PYTHON:-python3}"

floors=$("$PYTHON" - "$ROOT/pyproject.toml" <<'PY'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
out = []
for d in deps:
    m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][^,;\s]*)", d.strip())
    if not m:
        sys.exit(f"cannot turn {d!r} into a pin: use 'name>=floor'")
    out.append(f"{m.group(1)}=={m.group(2)}")
print(" ".join(out))
PY
)

echo "floors: $floors"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
# jaxopt 0.8.2 is the first release that imports under the jax floor (0.8 and 0.8.1 do
# `from jax.config import config`, a module jax no longer has)
"$VENV/bin/python" -m pip install --quiet $floors "jaxopt==0.8.2" "xarray==2023.1.0" "pytest>=8" "hypothesis>=6.100" "pyyaml>=6"
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE "^(jax|jaxlib|jaxopt|equinox|optimistix|lineax|optax|numpy|scipy|pandas|matplotlib|xarray) "

if [ "$#" -eq 0 ]; then
    set -- tests/test_core.py tests/test_trading_tasks.py tests/test_many_country_core.py \
        tests/test_implicit_structured.py tests/test_diagnose.py tests/test_sweep.py -q -rfEs
fi
cd "$ROOT"
PYTHONPATH="$ROOT" JAXOFF_CACHE_DIR="$VENV/jax-cache" "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
