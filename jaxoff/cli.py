"""The `jaxoff` command line: list, solve, differentiate, sweep, calibrate and run counterfactuals.

    jaxoff demo                                      # the main job: Trading Tasks wages, cutoff, dw/dbeta
    jaxoff models                                    # families and sub-models
    jaxoff describe trading_tasks/M1                 # parameters, defaults, domain, unknowns
    jaxoff solve trading_tasks/M1 --set beta=1.5     # an equilibrium
    jaxoff statics trading_tasks/M2 --wrt beta --kind elasticity
    jaxoff sweep trading_tasks/M2 --grid beta=1:2.9:50 --outputs w,s --derivative w:beta --out sweep.csv
    jaxoff sweep trading_tasks/M1 --grid beta=1.5,2,2.5 --grid p=0.9:1:3       # values or lo:hi:n
    jaxoff calibrate trading_tasks/M1 --target skill_premium=1.6 --target g=0.2 --free beta,p
    jaxoff counterfactual FAMILY --experiment NAME   # a family's named counterfactual experiment
    jaxoff solve mypkg.mymodels:Armington            # your own jaxoff.Model subclass (or file.py:Class)

Every command validates its arguments before computing anything. --json prints strict JSON (NaN and
infinities as null) with a "status" field; --out FILE writes .csv, .json or .parquet atomically and
refuses to overwrite an existing file without --force. Errors are one line on stderr (add --debug for
the traceback). Exit codes: 0 success; 1 a result is not converged (solve, statics), a sweep has failed
points (unless --allow-failed), calibration targets are not matched; 2 bad input or an error; 130
interrupted.
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
import warnings

import numpy as np

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
OUT_FORMATS = (".csv", ".json", ".parquet")
DEFAULT_MAX_MEMORY = "2GB"


class CLIError(Exception):
    """A bad command-line input (exit code 2); the message is printed as one line."""


def _hint(name: str, options, cutoff: float = 0.5) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=cutoff)
    return f" Did you mean '{close[0]}'?" if close else ""


def _unknown(what: str, name: str, options, owner: str = "") -> CLIError:
    opts = list(options)
    listing = f" Valid: {', '.join(opts[:80])}{', ...' if len(opts) > 80 else ''}."
    return CLIError(f"{owner + ' has no ' if owner else 'unknown '}{what} '{name}'.{_hint(name, opts)}{listing}")


# -- argument parsing helpers ------------------------------------------------------------------------
def _parse_assignments(items: list[str] | None, what: str, allow_lists: bool = False) -> dict[str, str]:
    """'a=1,b=2' (repeatable) -> {'a': '1', 'b': '2'}. With `allow_lists`, commas also separate the
    values of one name ('beta=1,1.5,2,p=1' -> beta '1,1.5,2', p '1')."""
    out: dict[str, str] = {}
    for item in items or []:
        last = None
        for part in item.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                if allow_lists and last is not None:
                    out[last] += "," + part.strip()
                    continue
                raise CLIError(f"{what} '{part.strip()}' must look like name=value")
            k, v = (s.strip() for s in part.split("=", 1))
            if not k:
                raise CLIError(f"{what} '{part.strip()}' has no name before '='")
            if k in out:
                raise CLIError(f"{what} gives '{k}' twice")
            out[k] = v
            last = k
    return out


def _number(name: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise CLIError(f"value of {name} must be a number, got '{text}'") from None
    if not math.isfinite(v):
        raise CLIError(f"value of {name} must be finite, got '{text}'")
    return v


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _grid_values(name: str, text: str) -> np.ndarray:
    """'1:3:21' -> linspace(1, 3, 21); '1,1.5,2' (or '1|1.5|2') -> those values."""
    if not text:
        raise CLIError(f"grid for {name} is empty: give lo:hi:n or comma-separated values")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise CLIError(f"grid '{name}={text}' must be lo:hi:n or comma-separated values")
        lo, hi = _number(f"{name} (grid lo)", parts[0]), _number(f"{name} (grid hi)", parts[1])
        try:
            n = int(parts[2])
        except ValueError:
            raise CLIError(f"grid '{name}={text}': n must be a whole number, got '{parts[2]}'") from None
        if n < 1:
            raise CLIError(f"grid '{name}={text}': n must be at least 1, got {n}")
        return np.linspace(lo, hi, n)
    return np.array([_number(f"{name} (grid value)", v) for v in text.replace("|", ",").split(",") if v.strip()])


def _bytes(text: str) -> float:
    import re

    units = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?B?)\s*", text.upper())
    if not m or float(m.group(1)) <= 0:
        raise CLIError(f"--max-memory '{text}' must look like 500MB or 4GB")
    return float(m.group(1)) * units[m.group(2)]


def _human(nbytes: float) -> str:
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= f:
            return f"{nbytes / f:.1f} {unit}"
    return f"{nbytes:.0f} B"


# -- models: built-in family/ID, module:Class or path/file.py:Class ----------------------------------
def _load_user_class(spec: str):
    import importlib
    import importlib.util

    from .model import Model

    target, _, clsname = spec.rpartition(":")
    if not target or not clsname:
        raise CLIError(f"model '{spec}' must be family/ID, module:Class or path/file.py:Class")
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise CLIError(f"model file '{target}' not found")
        modname = "_jaxoff_user_" + os.path.splitext(os.path.basename(target))[0]
        mspec = importlib.util.spec_from_file_location(modname, target)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[modname] = module
        try:
            mspec.loader.exec_module(module)
        except Exception as e:
            raise CLIError(f"cannot load '{target}': {type(e).__name__}: {e}") from e
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            raise CLIError(f"cannot import module '{target}': {e}") from e
        except Exception as e:
            raise CLIError(f"cannot import module '{target}': {type(e).__name__}: {e}") from e
    cls = getattr(module, clsname, None)
    models = [k for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, Model) and v is not Model]
    if cls is None:
        raise CLIError(f"'{target}' has no class '{clsname}'.{_hint(clsname, models)}"
                       + (f" Model classes there: {', '.join(models)}." if models else ""))
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise CLIError(f"'{spec}' is not a jaxoff.Model subclass")
    return cls


def _model_class(spec: str):
    if ":" in spec:
        return _load_user_class(spec)
    from . import models

    try:
        return models.get(spec)
    except KeyError as e:
        raise CLIError(e.args[0]) from None


def _build(spec: str, sets: list[str] | None, exclude=()):
    cls = _model_class(spec)
    params = {}
    static = set(cls.option_names())
    names = list(cls.parameter_names()) + list(static)
    for k, v in _parse_assignments(sets, "--set").items():
        if k not in names:
            raise _unknown("parameter", k, cls.parameter_names(), cls.label())
        if k in exclude:
            raise CLIError(f"'{k}' is given both by --set and by --grid/--free; give it once")
        params[k] = v if k in static else _number(k, v)
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise CLIError(str(e)) from None


def _quantities(m) -> tuple[dict, dict, dict]:
    """Shapes of unknowns, outputs and regime flags, by tracing (no compilation, no solve)."""
    import jax

    u, o, r = jax.eval_shape(lambda mm: (mm.guess(), mm.outputs(mm.guess()), mm.regime(mm.guess())), m)
    size = lambda s: int(np.prod(s.shape)) if s.shape else 1  # noqa: E731
    return ({k: size(u[k]) if k in u else 1 for k in m.unknowns}, {k: size(v) for k, v in o.items()},
            {k: size(v) for k, v in r.items()})


def _check_quantities(m, names, what="output"):
    unk, outs, _ = _quantities(m)
    valid = [*unk, *outs]
    for n in names:
        if n not in valid:
            raise _unknown(what, n, valid, m.label())
    return unk, outs, _


def _check_params(m, names, purpose):
    for p in names:
        if p not in m.parameter_names():
            raise _unknown("parameter", p, m.parameter_names(), m.label())
        if np.ndim(getattr(m, p)) != 0:
            raise CLIError(f"{purpose} needs scalar parameters; '{p}' has shape {np.shape(getattr(m, p))}")


# -- output ------------------------------------------------------------------------------------------
def _clean(x):
    """Convert to strict-JSON-able Python (NaN and infinities -> None)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (str, bool)) or x is None:
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if hasattr(x, "__array__") or isinstance(x, float):
        a = np.asarray(x)
        if a.dtype == bool:
            return a.tolist()
        if a.dtype.kind in "iu":
            return a.tolist()
        if a.dtype.kind == "f":
            if a.ndim == 0:
                v = float(a)
                return v if math.isfinite(v) else None
            return [_clean(v) for v in a]
        if a.dtype.kind in "OUS":
            return _clean(a.tolist())
    try:
        import pandas as pd

        if x is pd.NA or x is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(x)


def _dumps(obj) -> str:
    return json.dumps(_clean(obj), indent=2, allow_nan=False)


def _records(df) -> list:
    import pandas as pd

    d = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
    return [{str(k): v for k, v in row.items()} for row in d.to_dict(orient="records")]


def _check_out(path: str | None, force: bool) -> None:
    """Refuse early: unknown format, missing engine, missing or unwritable directory, existing file."""
    if not path:
        return
    if os.path.isdir(path):
        raise CLIError(f"--out '{path}' is a directory")
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUT_FORMATS:
        raise CLIError(f"--out '{path}': unknown format '{ext or '(no extension)'}'; "
                       f"use one of {', '.join(OUT_FORMATS)}")
    if ext == ".parquet":
        import importlib.util

        if not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
            raise CLIError(f"--out '{path}': writing parquet needs pyarrow (pip install pyarrow); or use .csv")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"--out '{path}': directory '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"--out '{path}': directory '{parent}' is not writable")
    if os.path.exists(path) and not force:
        raise CLIError(f"--out '{path}' exists; pass --force to overwrite it")


def _write_out(df, path: str, meta: dict | None = None) -> None:
    """Write a DataFrame atomically as .csv, .json (strict: records plus metadata) or .parquet."""
    from ._files import atomic_path, atomic_write_text

    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        atomic_write_text(path, _dumps({**(meta or {}), "table": _records(df)}) + "\n")
        return
    with atomic_path(path) as tmp:
        if ext == ".parquet":
            df.to_parquet(tmp)
        else:
            df.to_csv(tmp, index=not _plain_index(df))


def _plain_index(df) -> bool:
    import pandas as pd

    return isinstance(df.index, pd.RangeIndex)


def _finish(args, payload: dict, df=None, text: str | None = None) -> None:
    """Print JSON or text, and write --out (the directory and format were checked before)."""
    out = getattr(args, "out", None)
    if out and df is not None:
        _write_out(df, out, {k: v for k, v in payload.items() if k != "table"})
    if args.json:
        print(_dumps(payload))
    elif text is not None:
        print(text)
    if out and df is not None:
        print(f"jaxoff: wrote {len(df)} rows to {out}", file=sys.stderr)


# -- commands ----------------------------------------------------------------------------------------
def cmd_models(args):
    from . import models

    avail = models.available()
    if args.json:
        print(_dumps({"status": "ok", "families": {k: {"title": models.FAMILIES[k], "submodels": v}
                                                   for k, v in avail.items()}}))
        return EXIT_OK
    rows = []
    for fam, subs in avail.items():
        rows.append((fam, None))
        for sid in subs:
            rows.append((fam, (f"{fam}/{sid}", models.get(f"{fam}/{sid}"))))
    w_id = max((len(r[1][0]) for r in rows if r[1]), default=0)
    w_cls = max((len(r[1][1].__name__) for r in rows if r[1]), default=0)
    for fam, r in rows:
        if r is None:
            print(f"{fam}: {models.FAMILIES[fam]}")
        else:
            print(f"  {r[0]:<{w_id}}  {r[1].__name__:<{w_cls}}  {r[1].description}")
    return EXIT_OK


def cmd_describe(args):
    m = _build(args.model, None)
    df = m.describe()
    if args.json:
        print(_dumps({"status": "ok", "model": m.label(), "table": _records(df), "domain": list(m.domain())}))
        return EXIT_OK
    print(m.label(), "-", m.description)
    print(df.to_string(index=False))
    print("admissible domain:", "; ".join(m.domain()))
    return EXIT_OK


def cmd_solve(args):
    m = _build(args.model, args.set)
    _check_out(args.out, args.force)
    import jaxoff as jo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = jo.solve(m, mask=False)
    ok = int(sol.status) == 0
    payload = {"model": m.label(), "status": sol.status_name, "converged": bool(sol.converged),
               "residual_norm": sol.residual_norm, "steps": int(sol.steps),
               "unknowns": dict(sol.unknowns), "outputs": dict(sol.outputs), "regime": dict(sol.regime)}
    series = sol.to_series()
    _finish(args, payload, series.rename("value").to_frame(), sol.message() + "\n" + series.to_string())
    return EXIT_OK if ok else EXIT_NOT_CONVERGED


def cmd_statics(args):
    m = _build(args.model, args.set)
    outputs, wrt = _split(args.outputs), _split(args.wrt)
    _check_quantities(m, outputs)
    _check_params(m, wrt, "statics")
    _check_out(args.out, args.force)
    import jaxoff as jo

    df = jo.statics(m, outputs or None, wrt or None, kind=args.kind)
    status = df.attrs.get("status", "unknown")
    payload = {"model": m.label(), "kind": args.kind, "status": status, "converged": status == "converged",
               "table": {str(i): {str(c): df.loc[i, c] for c in df.columns} for i in df.index}}
    text = (f"{m.label()}: {df.index.name} at the equilibrium (status: {status})\n"
            + df.to_string(float_format=lambda v: f"{v: .6f}"))
    _finish(args, payload, df, text)
    return EXIT_OK if status == "converged" else EXIT_NOT_CONVERGED


def _sweep_plan(args):
    """Everything a sweep needs, validated, and its memory estimate; no computation."""
    grid_text = _parse_assignments(args.grid, "--grid", allow_lists=True)
    if not grid_text:
        raise CLIError("give at least one --grid name=lo:hi:n (or name=v1,v2,...)")
    m = _build(args.model, args.set, exclude=grid_text)
    _check_params(m, grid_text, "a sweep")
    grids = {k: _grid_values(k, v) for k, v in grid_text.items()}
    outputs = _split(args.outputs)
    derivs = []
    for d in _split(args.derivative):
        if d.count(":") != 1:
            raise CLIError(f"--derivative '{d}' must look like output:parameter, e.g. w:beta")
        q, p = (s.strip() for s in d.split(":"))
        derivs.append((q, p))
    unk, outs, regime = _check_quantities(m, outputs + [q for q, _ in derivs])
    _check_params(m, [p for _, p in derivs], "a derivative")
    n = int(np.prod([g.size for g in grids.values()]))
    chosen = outputs or list(outs)
    size = {**unk, **outs}
    cols = (len(grids) + sum(unk.values()) + sum(outs[o] for o in chosen if o in outs)
            + sum(size[q] for q, _ in derivs) + len(regime) + 4)
    est = 3.0 * 8 * n * cols  # device results, host copy and the DataFrame
    return m, grids, outputs, derivs, n, est


def cmd_sweep(args):
    m, grids, outputs, derivs, n, est = _sweep_plan(args)
    limit = _bytes(args.max_memory)
    if est > limit:
        raise CLIError(f"the grid has {n:,} points, about {_human(est)} of results, above --max-memory "
                       f"{args.max_memory}; use coarser grids, several sweeps, or raise --max-memory")
    _check_out(args.out, args.force)
    if not args.quiet:
        print(f"jaxoff: sweeping {n:,} points (about {_human(est)} of results)", file=sys.stderr)
    import jaxoff as jo

    df = jo.sweep(m, outputs=outputs or None, derivatives=derivs or None,
                  chunk_size=args.chunk_size, progress=not args.quiet, **grids)
    if outputs:  # only what was asked for (jo.sweep always reports every unknown)
        wanted = [*grids, *outputs, *[f"d{q}/d{p}" for q, p in derivs]]
        keep = [c for c in df.columns if c.split("[", 1)[0] in wanted]
        df = df[keep + ["converged", "status", "residual_norm"]]
    failed = int((df["status"].astype(str) != "converged").sum())
    counts = {str(k): int(v) for k, v in df["status"].astype(str).value_counts().items()}
    status = "converged" if failed == 0 else ("failed_points" if failed < len(df) else "failed")
    payload = {"model": m.label(), "status": status, "points": len(df), "failed": failed,
               "status_counts": counts}
    if not args.out:
        payload["table"] = _records(df)
    text = None if args.out else df.to_string(max_rows=40)
    _finish(args, payload, df, text)
    if failed:
        print(f"jaxoff: {failed} of {len(df)} points not converged ({counts})"
              + ("" if args.allow_failed else "; exit code 1 (pass --allow-failed to accept)"), file=sys.stderr)
    return EXIT_NOT_CONVERGED if failed and not args.allow_failed else EXIT_OK


def cmd_calibrate(args):
    targets_text = _parse_assignments(args.target, "--target")
    free: dict = {}
    for item in _split(args.free):
        name, _, tr = item.partition(":")
        free[name.strip()] = tr.strip() or None
    if not targets_text or not free:
        raise CLIError("calibrate needs --target moment=value and --free param[,param]")
    m = _build(args.model, args.set, exclude=free)
    targets = {k: _number(k, v) for k, v in targets_text.items()}
    se = {k: _number(f"standard error of {k}", v) for k, v in _parse_assignments(args.se, "--se").items()}
    _check_quantities(m, targets, "moment")
    for k, v in se.items():
        if k not in targets:
            raise _unknown("target for --se", k, targets)
        if v <= 0:
            raise CLIError(f"--se {k}={v}: a standard error must be positive")
    if se and set(se) != set(targets):
        raise CLIError(f"--se gives standard errors for {sorted(se)}; give one for every target "
                       f"(missing: {', '.join(sorted(set(targets) - set(se)))})")
    _check_params(m, free, "calibration")
    for k, tr in free.items():
        if tr is not None and tr not in ("log", "logit", "none"):
            raise CLIError(f"--free {k}:{tr}: transform must be log, logit or none")
    _check_out(args.out, args.force)
    import jaxoff as jo

    free_arg = list(free) if all(v is None for v in free.values()) else {
        k: (v if v is not None else ("log" if float(getattr(m, k)) > 0 else "none")) for k, v in free.items()}
    res = jo.calibrate(m, targets=targets, free=free_arg, method=args.method, moment_se=se or None)
    df = res.as_frame()
    payload = {"model": m.label(), "status": res.status, "converged": bool(res.converged), "loss": res.loss,
               "steps": res.steps, "params": res.params, "se": res.se, "se_assumption": res.se_assumption,
               "moments": res.moments, "targets": res.targets, "message": res.message}
    _finish(args, payload, df, f"{res}\n{df.to_string(index=False)}")
    return EXIT_OK if res.converged else EXIT_NOT_CONVERGED


def _family_module(name: str):
    """`jaxoff.models.<name>`, or any importable module when the name is dotted."""
    import importlib
    import pkgutil

    from . import models

    if "." in name:
        target = name
    else:
        known = set(models.FAMILIES) | {mi.name for mi in pkgutil.iter_modules(models.__path__)}
        if name not in known and f"{models.__name__}.{name}" not in sys.modules:
            raise _unknown("model family", name, sorted(known))
        target = f"{models.__name__}.{name}"
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        raise CLIError(f"cannot import model family '{name}': {e}") from e


def cmd_counterfactual(args):
    mod = _family_module(args.family)
    exps = getattr(mod, "EXPERIMENTS", None)
    if not isinstance(exps, dict) or not exps:
        raise CLIError(f"model family '{args.family}' defines no counterfactual EXPERIMENTS")
    if args.experiment not in exps:
        raise _unknown("experiment", args.experiment, exps, f"model family '{args.family}'")
    _check_out(args.out, args.force)
    res = exps[args.experiment]()
    df = res.summary()
    conv = getattr(res, "converged", None)
    conv = None if conv is None else bool(np.all(np.asarray(conv)))
    status = getattr(res, "status_name", None) or getattr(res, "status", None)
    if not isinstance(status, str):
        status = "ok" if conv is None else ("converged" if conv else "not_converged")
    payload = {"family": args.family, "experiment": args.experiment, "status": status, "converged": conv,
               "table": _records(df)}
    _finish(args, payload, df, f"{args.family}: {args.experiment} ({status})\n{df.to_string()}")
    return EXIT_NOT_CONVERGED if conv is False else EXIT_OK


def cmd_demo(args):
    from .demo import main as demo_main

    return demo_main(quick=args.quick)


# -- parser ------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2)."""

    def error(self, message):
        raise CLIError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `jaxoff` command (subcommands and their options).

    **Returns:** an `argparse.ArgumentParser`.
    """
    p = _Parser(
        prog="jaxoff",
        description="Differentiable GE models of trade and offshoring: solve, exact comparative statics, "
                    "sweeps, calibration. Models are named family/ID (see 'jaxoff models'), or module:Class "
                    "/ path/file.py:Class for your own jaxoff.Model subclass.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--version", action="version", version=f"jaxoff {__import__('jaxoff._version').__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name, fn, helptext, model=True, json_=True, out=False):
        s = sub.add_parser(name, help=helptext, description=helptext)
        if model:
            s.add_argument("model", help="family/ID (e.g. trading_tasks/M1), module:Class or file.py:Class")
        if json_:
            s.add_argument("--json", action="store_true", help="strict JSON on stdout (NaN -> null)")
        if out:
            s.add_argument("--out", metavar="FILE", help="write the table to FILE (.csv, .json or .parquet)")
            s.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        s.set_defaults(fn=fn)
        return s

    s = add("demo", cmd_demo, "the main job: Trading Tasks equilibrium, wages, offshoring margin, dw/dbeta",
            model=False, json_=False)
    s.add_argument("--quick", action="store_true", help="only the Trading Tasks part")
    add("models", cmd_models, "list model families and sub-models", model=False)
    add("describe", cmd_describe, "parameters, defaults, admissible domain and unknowns of a sub-model")

    for name, fn, helptext in [("solve", cmd_solve, "solve one equilibrium and print it"),
                               ("statics", cmd_statics, "exact comparative statics table (IFT)")]:
        s = add(name, fn, helptext, out=True)
        s.add_argument("--set", action="append", metavar="NAME=VALUE", help="override parameters (repeatable)")
        if name == "statics":
            s.add_argument("--wrt", help="comma-separated parameters (default: the model's shocks)")
            s.add_argument("--outputs", help="comma-separated unknowns/outputs (default: all unknowns)")
            s.add_argument("--kind", default="derivative", choices=["derivative", "elasticity", "semi"])

    s = add("sweep", cmd_sweep, "solve over a parameter grid (vectorized, chunked, with progress)", out=True)
    s.add_argument("--grid", action="append", metavar="NAME=LO:HI:N|NAME=V1,V2,...",
                   help="grid per parameter (repeatable; cartesian product)")
    s.add_argument("--set", action="append", metavar="NAME=VALUE")
    s.add_argument("--outputs", help="comma-separated outputs/unknowns to report (default: all)")
    s.add_argument("--derivative", help="comma-separated output:param pairs, e.g. w:beta")
    s.add_argument("--chunk-size", type=int, default=65536)
    s.add_argument("--max-memory", default=DEFAULT_MAX_MEMORY,
                   help=f"refuse grids whose results would need more (default {DEFAULT_MAX_MEMORY})")
    s.add_argument("--allow-failed", action="store_true", help="exit 0 even if some points fail")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    s = add("calibrate", cmd_calibrate, "calibrate free parameters to target moments", out=True)
    s.add_argument("--target", action="append", metavar="MOMENT=VALUE")
    s.add_argument("--free", help="comma-separated free parameters (name or name:log|logit|none)")
    s.add_argument("--se", action="append", metavar="MOMENT=SE", help="standard errors of the data moments")
    s.add_argument("--set", action="append", metavar="NAME=VALUE")
    s.add_argument("--method", default="lm", choices=["lm", "adam", "lbfgs", "exact"])

    s = add("counterfactual", cmd_counterfactual, "run a model family's named counterfactual experiment",
            model=False, out=True)
    s.add_argument("family", help="model family (e.g. caliendo_parro) or a dotted module path")
    s.add_argument("--experiment", required=True, metavar="NAME", help="a key of the family's EXPERIMENTS")
    return p


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _install_warning_printer() -> None:
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"jaxoff: warning: {_one_line(f'{category.__name__}: {message}')}", file=sys.stderr)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Run the `jaxoff` command line.

    **Arguments:** `argv`: the arguments (default: `sys.argv[1:]`).

    **Returns:** the exit code: 0 success; 1 a result not converged / failed points / targets not
    matched; 2 bad input or an error (one line on stderr; `--debug` shows the traceback); 130
    interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    as_json = "--json" in argv
    if not debug:
        _install_warning_printer()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        __import__("jaxoff._config")._config.enable_compilation_cache()  # on-disk compiled solvers
        if not getattr(args, "fn", None):
            parser.print_help()
            return EXIT_OK
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        print("jaxoff: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `jaxoff models | head`: stop quietly, never claim success
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except SystemExit as e:  # --help / --version, or a library calling sys.exit
        code = e.code
        if isinstance(code, str):
            return _fail(code.removeprefix("jaxoff: "), as_json, debug)
        return int(code or 0)
    except CLIError as e:
        return _fail(str(e), as_json, debug)
    except Exception as e:  # noqa: BLE001 - the CLI's contract: one line, traceback only with --debug
        if debug:
            raise
        kind = type(e).__name__
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        return _fail(f"{kind}: {msg} (run with --debug for the traceback)", as_json, debug)


def _fail(message: str, as_json: bool, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    message = _one_line(message)
    print(f"jaxoff: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"status": "error", "error": message, "exit_code": EXIT_ERROR}))
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
