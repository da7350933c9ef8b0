#!/usr/bin/env bash
# Run a quick test subset against the LOWEST declared versions of jaxoff's core dependencies.
#
#   tools/test_lowest.sh                       # default subset
#   tools/test_lowest.sh tests/test_core.py    # any pytest arguments
#
# Creates a fresh virtual environment ($VENV, default /tmp/jaxoff-lowest) with `python -m venv`,
# installs every core dependency pinned to its floor (`pkg>=X` in pyproject.toml becomes `pkg==X`)
# plus the test tools, and runs pytest on the source tree (PYTHONPATH, no install of jaxoff itself,
# so nothing in the repository changes). Run it before each release; CI runs the newest versions.
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
"$VENV/bin/python" -m pip install --quiet $floors "jaxopt==0.8" "pytest>=8" "hypothesis>=6.100" "pyyaml>=6"
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE "^(jax|jaxlib|equinox|optimistix|lineax|optax|numpy|scipy|pandas|matplotlib) "

if [ "$#" -eq 0 ]; then
    set -- tests/test_core.py tests/test_trading_tasks.py -x -q
fi
cd "$ROOT"
PYTHONPATH="$ROOT" JAXOFF_CACHE_DIR="$VENV/jax-cache" "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
