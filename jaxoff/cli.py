"""The `jaxoff` command line: list, solve, differentiate, sweep and calibrate models.

    jaxoff demo                                      # the main job: Trading Tasks wages, cutoff, dw/dbeta
    jaxoff models                                    # families and sub-models
    jaxoff describe trading_tasks/M1                 # parameters, defaults, domain, unknowns
    jaxoff solve trading_tasks/M1 --set beta=1.5     # an equilibrium
    jaxoff statics trading_tasks/M2 --wrt beta --kind elasticity
    jaxoff sweep trading_tasks/M2 --grid beta=1:2.9:50 --outputs w,s --derivative w:beta --out sweep.csv
    jaxoff calibrate trading_tasks/M1 --target skill_premium=1.5 --free alpha_x

Add --json to solve/statics/describe/models for machine-readable output.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np


def _parse_assignments(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise SystemExit(f"jaxoff: {what} '{part}' must look like name=value")
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"jaxoff: value of {name} must be a number, got '{text}'") from None


def _build(spec: str, sets: list[str] | None):
    from . import models

    try:
        cls = models.get(spec)
    except KeyError as e:
        raise SystemExit(f"jaxoff: {e.args[0]}") from None
    params = {}
    static = set(cls.option_names())
    for k, v in _parse_assignments(sets, "--set").items():
        params[k] = v if k in static else _number(k, v)
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"jaxoff: {e}") from None


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _emit(obj, as_json: bool, table=None):
    if as_json:
        print(json.dumps(obj, indent=2, default=_jsonable))
    else:
        print(table if table is not None else obj)


def _jsonable(x):
    a = np.asarray(x)
    return a.item() if a.ndim == 0 else a.tolist()


# -- commands ----------------------------------------------------------------------------------
def cmd_models(args):
    from . import models

    avail = models.available()
    if args.json:
        return _emit({k: {"title": models.FAMILIES[k], "submodels": v} for k, v in avail.items()}, True)
    for fam, subs in avail.items():
        print(f"{fam}: {models.FAMILIES[fam]}")
        for sid in subs:
            cls = models.get(f"{fam}/{sid}")
            print(f"  {fam}/{sid:<6} {cls.__name__:<28} {cls.description}")


def cmd_describe(args):
    m = _build(args.model, None)
    df = m.describe()
    if args.json:
        return _emit({"model": m.label(), "table": df.to_dict(orient="records"),
                      "domain": list(m.domain())}, True)
    print(m.label(), "-", m.description)
    print(df.to_string(index=False))
    print("admissible domain:", "; ".join(m.domain()))


def cmd_solve(args):
    import jaxoff as jo

    m = _build(args.model, args.set)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = jo.solve(m, mask=False)
    if args.json:
        return _emit({"model": m.label(), "status": sol.status_name, "converged": bool(sol.converged),
                      "residual_norm": float(sol.residual_norm), "steps": int(sol.steps),
                      "unknowns": sol.unknowns, "outputs": sol.outputs, "regime": sol.regime}, True)
    print(sol.message())
    print(sol.to_series().to_string())
    return 0 if int(sol.status) == 0 else 1


def cmd_statics(args):
    import jaxoff as jo

    m = _build(args.model, args.set)
    try:
        df = jo.statics(m, _split(args.outputs) or None, _split(args.wrt) or None, kind=args.kind)
    except (KeyError, ValueError) as e:
        raise SystemExit(f"jaxoff: {e.args[0]}") from None
    if args.json:
        return _emit({"model": m.label(), "kind": args.kind, "status": df.attrs["status"],
                      "table": df.to_dict(orient="index")}, True)
    print(f"{m.label()}: {df.index.name} at the equilibrium (status: {df.attrs['status']})")
    print(df.to_string(float_format=lambda v: f"{v: .6f}"))


def _grid_values(text: str) -> np.ndarray:
    """'1:3:21' -> linspace(1, 3, 21); '1,1.5,2' -> explicit values."""
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise SystemExit(f"jaxoff: grid '{text}' must be lo:hi:n or comma-separated values")
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        return np.linspace(lo, hi, n)
    return np.array([float(v) for v in text.split("|")])


def cmd_sweep(args):
    import jaxoff as jo

    m = _build(args.model, args.set)
    grids = {k: _grid_values(v) for k, v in _parse_assignments(args.grid, "--grid").items()}
    if not grids:
        raise SystemExit("jaxoff: give at least one --grid name=lo:hi:n")
    derivs = [tuple(d.split(":", 1)) for d in _split(args.derivative)]
    df = jo.sweep(m, outputs=_split(args.outputs) or None, derivatives=derivs or None,
                  chunk_size=args.chunk_size, progress=not args.quiet, **grids)
    if args.out:
        if args.out.endswith(".parquet"):
            df.to_parquet(args.out)
        else:
            df.to_csv(args.out, index=False)
        print(f"wrote {len(df)} points to {args.out}")
    else:
        print(df.to_string(max_rows=40))


def cmd_calibrate(args):
    import jaxoff as jo

    m = _build(args.model, args.set)
    targets = {k: _number(k, v) for k, v in _parse_assignments(args.target, "--target").items()}
    free = _split(args.free)
    if not targets or not free:
        raise SystemExit("jaxoff: calibrate needs --target name=value and --free param[,param]")
    res = jo.calibrate(m, targets=targets, free=free, method=args.method)
    print(res)


def cmd_demo(args):
    from .demo import main as demo_main

    return demo_main(quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jaxoff",
        description="Differentiable GE models of trade and offshoring: solve, exact comparative statics, "
                    "sweeps, calibration. Models are named family/ID (see 'jaxoff models').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--version", action="version", version=f"jaxoff {__import__('jaxoff._version').__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("demo", help="the main job: Trading Tasks equilibrium, wages, offshoring margin, dw/dbeta")
    s.add_argument("--quick", action="store_true", help="only the Trading Tasks part")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("models", help="list model families and sub-models")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_models)

    s = sub.add_parser("describe", help="parameters, defaults, admissible domain and unknowns of a sub-model")
    s.add_argument("model", help="family/ID, e.g. trading_tasks/M1")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_describe)

    for name, fn, helptext in [("solve", cmd_solve, "solve one equilibrium and print it"),
                               ("statics", cmd_statics, "exact comparative statics table (IFT)")]:
        s = sub.add_parser(name, help=helptext)
        s.add_argument("model", help="family/ID, e.g. trading_tasks/M1")
        s.add_argument("--set", action="append", metavar="NAME=VALUE", help="override parameters (repeatable)")
        s.add_argument("--json", action="store_true")
        if name == "statics":
            s.add_argument("--wrt", help="comma-separated parameters (default: the model's shocks)")
            s.add_argument("--outputs", help="comma-separated unknowns/outputs (default: all unknowns)")
            s.add_argument("--kind", default="derivative", choices=["derivative", "elasticity", "semi"])
        s.set_defaults(fn=fn)

    s = sub.add_parser("sweep", help="solve over a parameter grid (vectorized, chunked, with progress)")
    s.add_argument("model")
    s.add_argument("--grid", action="append", metavar="NAME=LO:HI:N", help="grid per parameter (cartesian)")
    s.add_argument("--set", action="append", metavar="NAME=VALUE")
    s.add_argument("--outputs", help="comma-separated outputs to keep")
    s.add_argument("--derivative", help="comma-separated output:param pairs, e.g. w:beta")
    s.add_argument("--chunk-size", type=int, default=65536)
    s.add_argument("--out", help="write CSV (or .parquet) here instead of printing")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=cmd_sweep)

    s = sub.add_parser("calibrate", help="calibrate free parameters to target moments")
    s.add_argument("model")
    s.add_argument("--target", action="append", metavar="MOMENT=VALUE")
    s.add_argument("--free", help="comma-separated free parameters")
    s.add_argument("--set", action="append", metavar="NAME=VALUE")
    s.add_argument("--method", default="lm")
    s.set_defaults(fn=cmd_calibrate)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    __import__("jaxoff._config")._config.enable_compilation_cache()  # on-disk compiled solvers
    if not getattr(args, "fn", None):
        parser.print_help()
        return 0
    rc = args.fn(args)
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
