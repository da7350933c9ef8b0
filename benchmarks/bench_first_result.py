"""Time to first result of the command line, cold and warm, for the first sub-model of every family.

    python benchmarks/bench_first_result.py [--out benchmarks/first_result.md] [--families a,b]

Each measurement is one fresh process running `jaxoff solve <family>/<first id> --json`:

* off  - JAXOFF_COMPILATION_CACHE=0 (what every call cost before the persistent cache);
* cold - an empty cache directory (compiles, then writes the compiled programs to disk);
* warm - the same command again with that directory (loads them instead of compiling).

Wall time depends on the machine's load; the CPU time (user + system of the child process) is the
steadier number. Writes a markdown table (default benchmarks/first_result.md) and prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_ids() -> dict[str, str]:
    from jaxoff import models

    return {fam: ids[0] for fam, ids in models.available().items()}


def run(model: str, env: dict) -> tuple[float, float, bool]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "jaxoff.cli", "solve", model, "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        ok = res.returncode == 0 and bool(json.loads(res.stdout)["converged"])
    except (ValueError, KeyError):
        ok = False
    if res.returncode != 0:
        print(f"  {model}: exit {res.returncode}: {res.stderr.strip()[-300:]}", file=sys.stderr)
    return wall, cpu, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "first_result.md"))
    ap.add_argument("--families", help="comma-separated subset")
    args = ap.parse_args()
    ids = first_ids()
    if args.families:
        ids = {f: ids[f] for f in args.families.split(",")}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JAXOFF_", "JAX_COMPILATION"))}
    rows = []
    for fam, sub in ids.items():
        model = f"{fam}/{sub}"
        with tempfile.TemporaryDirectory() as cache:
            off = run(model, {**base, "JAXOFF_COMPILATION_CACHE": "0"})
            cold = run(model, {**base, "JAXOFF_CACHE_DIR": cache})
            warm = run(model, {**base, "JAXOFF_CACHE_DIR": cache})
            size = sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) / 1e6
        rows.append((model, off, cold, warm, size))
        print(f"{model}: off {off[0]:.1f}s, cold {cold[0]:.1f}s, warm {warm[0]:.1f}s (wall); "
              f"CPU {off[1]:.1f} / {cold[1]:.1f} / {warm[1]:.1f} s", flush=True)

    import jax

    lines = [
        f"Measured by `python benchmarks/bench_first_result.py` on {platform.machine()} "
        f"({os.cpu_count()} cores, shared with other jobs: compare CPU columns), Python "
        f"{platform.python_version()}, JAX {jax.__version__}. Each entry is one fresh `jaxoff solve <model> --json` "
        "process (Python start-up, imports, compilation or cache load, solve, output).",
        "",
        "| model | cache off: wall / CPU | cold (empty cache): wall / CPU | warm: wall / CPU | warm vs off (CPU) "
        "| cache size | converged |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for model, off, cold, warm, size in rows:
        lines.append(f"| {model} | {off[0]:.1f} s / {off[1]:.1f} s | {cold[0]:.1f} s / {cold[1]:.1f} s | "
                     f"{warm[0]:.1f} s / {warm[1]:.1f} s | {off[1] / warm[1]:.1f}x | {size:.1f} MB | "
                     f"{'yes' if off[2] and cold[2] and warm[2] else 'NO'} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
