"""`calibrate_many`: one calibration per unit (country, country-year) of a targets table, with
checkpoints."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np

from ..model import Model
from ._inference import _finish
from ._optimizers import _lm_many
from ._problem import (CONVERGED, CalibrationWarning, Target, _as_transform, _full_guess, _solve_quiet, _spec,
                       _target_arrays, _vec)
from ._single import calibrate


# -- many countries ------------------------------------------------------------------------------------
@dataclasses.dataclass
class ManyResult:
    """Outcome of `calibrate_many`: `table` (one row per unit, failures included), `results`
    (CalibrationResult by unit, for units computed in this run), `failed` (ids not converged)."""

    table: Any
    results: dict
    failed: list

    def __repr__(self):
        return f"ManyResult({len(self.table)} units, {len(self.failed)} not converged: {self.failed})"


def _jsonable(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, (np.floating, float)):
            out[k] = None if not math.isfinite(float(v)) else float(v)
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        elif isinstance(v, (np.bool_, bool)):
            out[k] = bool(v)
        else:
            out[k] = v
    return out


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)  # atomic: an interrupt never leaves a half-written checkpoint


def calibrate_many(
    model: Model,
    targets_table,
    free: dict,
    moments: Callable | None = None,
    *,
    method: str = "lm",
    weights: dict | None = None,
    moment_se=None,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    warm_start: bool = True,
    batch_size: int = 1,
    on_result: Callable | None = None,
    **kwargs,
) -> ManyResult:
    """Calibrate one model per row of a table of targets (e.g. one row per country).

    **Arguments:**

    - `model`: the base model. Columns of `targets_table` named like a parameter of the model (and
      not free) set that parameter per row (e.g. an endowment ratio taken from data).
    - `targets_table`: a DataFrame indexed by unit id (e.g. iso3); the other columns are target
      moments. A row with a missing target is reported as `missing_target`, not dropped.
    - `free`, `moments`, `method`, `weights`: as in `calibrate` (weights per moment, same for all rows).
    - `moment_se`: None, a dict (same s.e. for all rows) or a DataFrame like `targets_table`.
    - `checkpoint_dir`: write one JSON file per finished unit there; units already present are skipped
      (resume after an interrupt; the settings must match the manifest written at the first run).
    - `progress`: show a tqdm progress bar. `warm_start`: start each unit from the previous unit's
      estimate and equilibrium. `batch_size > 1` (method "lm", no warm start across a batch):
      calibrate that many units at once under `jax.vmap`.
    - `on_result(unit_id, row)`: called after each unit is finished and saved.
    - `warn=False` silences the `CalibrationWarning` listing failed units; further keyword arguments
      go to `calibrate` (e.g. `max_steps`, `solve_kwargs`).

    **Returns:** a `ManyResult`; non-converged units are listed in `failed` (and a `CalibrationWarning`
    names them), never dropped.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    warn = kwargs.pop("warn", True)
    df = targets_table
    if not isinstance(df, pd.DataFrame):
        raise TypeError("targets_table must be a pandas DataFrame indexed by unit id")
    params = set(model.parameter_names())
    fixed_cols = [c for c in df.columns if c in params and c not in free]
    moment_cols = [c for c in df.columns if c not in fixed_cols]
    if not moment_cols:
        raise ValueError("targets_table has no target columns")
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    manifest = {"model": model.label(), "free": {k: repr(_as_transform(k, v)) for k, v in free.items()},
                "moments": moment_cols, "fixed": fixed_cols, "method": method}
    done: dict = {}
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        mpath = ckpt / "manifest.json"
        if mpath.exists():
            old = json.loads(mpath.read_text())
            if old != json.loads(json.dumps(manifest)):
                raise ValueError(f"checkpoint_dir {ckpt} holds a different calibration ({old}); use another "
                                 "directory or delete it")
        else:
            _write_json(mpath, manifest)
        for uid in df.index:
            f = ckpt / f"{uid}.json"
            if f.exists():
                done[uid] = json.loads(f.read_text())
    todo = [u for u in df.index if u not in done]
    results: dict = {}
    rows: dict = dict(done)
    bar = tqdm(total=len(df), initial=len(done), desc=f"calibrate {model.label()}", disable=not progress)
    prev = None

    def record(uid, row):
        row = _jsonable({"id": str(uid), **row})
        rows[uid] = row
        if ckpt is not None:
            _write_json(ckpt / f"{uid}.json", row)
        bar.update(1)
        if on_result is not None:
            on_result(uid, row)

    def unit_problem(uid):
        r = df.loc[uid]
        tg = {}
        for c in moment_cols:
            v = float(r[c])
            tg[c] = Target(v, weights.get(c)) if weights and c in weights else v
        se = None
        if isinstance(moment_se, pd.DataFrame):
            se = {c: float(moment_se.loc[uid, c]) for c in moment_cols}
        elif isinstance(moment_se, dict):
            se = moment_se
        fixed = {c: float(r[c]) for c in fixed_cols}
        return tg, se, fixed

    try:
        if batch_size > 1 and method == "lm":
            _many_batched(model, df, todo, free, moments, unit_problem, record, results, batch_size, kwargs)
        else:
            for uid in todo:
                tg, se, fixed = unit_problem(uid)
                if any(not math.isfinite(float(v if not isinstance(v, Target) else v.value)) for v in tg.values()):
                    record(uid, {"status": "missing_target", "converged": False,
                                 **{f"target:{k}": float(v if not isinstance(v, Target) else v.value)
                                    for k, v in tg.items()}})
                    continue
                try:
                    m = model.replace(**fixed) if fixed else model
                    res = calibrate(m, tg, free, moments, method=method, moment_se=se,
                                    guess=prev if warm_start else None, warn=False, **kwargs)
                    if not res.converged and warm_start and prev is not None:
                        # a bad warm start should not sink a unit: retry from the model's own start
                        res2 = calibrate(m, tg, free, moments, method=method, moment_se=se, warn=False, **kwargs)
                        res = res2 if (res2.converged or not np.isfinite(res.loss)) else res
                    results[uid] = res
                    if res.converged:
                        prev = res
                    row = {**res.to_row(), **fixed}
                    if res.unidentified:
                        row["unidentified"] = ",".join(res.unidentified)
                except Exception as e:  # a unit that raises is reported, not dropped
                    row = {"status": f"error: {type(e).__name__}: {e}", "converged": False}
                record(uid, row)
    except KeyboardInterrupt:
        bar.close()
        where = f"saved in {ckpt}; rerun with the same checkpoint_dir to resume" if ckpt else \
            "not saved (pass checkpoint_dir= to make runs resumable)"
        print(f"\ncalibrate_many interrupted: {len(rows)} of {len(df)} units finished, {where}.", file=sys.stderr)
        raise
    bar.close()
    table = pd.DataFrame([rows[u] for u in df.index], index=pd.Index(list(df.index), name=df.index.name or "id"))
    table = table.drop(columns=["id"], errors="ignore")
    failed = [u for u in df.index if not bool(table.loc[u].get("converged", False))]
    if failed and warn:
        stat = {u: table.loc[u, "status"] for u in failed}
        warnings.warn(f"{len(failed)} of {len(df)} calibrations did not converge: {stat}", CalibrationWarning,
                      stacklevel=2)
    return ManyResult(table, results, failed)


def _many_batched(model, df, todo, free, moments, unit_problem, record, results, batch_size, kwargs):
    """calibrate_many under jax.vmap: LM runs for `batch_size` units at once."""
    kwargs = dict(kwargs)
    solve_kwargs = kwargs.pop("solve_kwargs", None)
    max_steps, rtol, atol = kwargs.pop("max_steps", 200), kwargs.pop("rtol", 1e-10), kwargs.pop("atol", 1e-10)
    first_tg, _, first_fixed = unit_problem(todo[0]) if todo else ({}, None, {})
    if not todo:
        return
    spec = _spec(model, first_tg, free, moments, solve_kwargs)
    fixed_names = tuple(first_fixed)
    sol0 = _solve_quiet(model, None, spec)
    inner = _full_guess(model, sol0.unknowns if int(sol0.status) == CONVERGED else None)
    z0 = spec.internal({k: getattr(model, k) for k in spec.free})
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        probs = [unit_problem(u) for u in chunk]
        T, Wt, E, F = [], [], [], []
        for tg, _, fixed in probs:
            t, w, e = _target_arrays(tg, None)
            T.append(t), Wt.append(w), E.append(e), F.append([fixed[k] for k in fixed_names])
        T, Wt = np.asarray(T), np.asarray(Wt)
        Fv = jnp.asarray(np.asarray(F, dtype=float).reshape(len(chunk), len(fixed_names)))
        good = np.all(np.isfinite(T), axis=1)
        Tj = jnp.asarray(np.where(np.isfinite(T), T, 1.0))
        Wj = jnp.asarray(np.where(np.isfinite(Wt), Wt, 1.0))
        Z0 = jnp.broadcast_to(z0, (len(chunk), z0.shape[0]))
        Z, ok, steps = _lm_many(spec, model, fixed_names, tuple(Fv.T), Z0, Tj, jnp.sqrt(Wj), inner, rtol, atol,
                                max_steps)
        for j, uid in enumerate(chunk):
            tg, se, fixed = probs[j]
            if not good[j]:
                record(uid, {"status": "missing_target", "converged": False,
                             **{f"target:{k}": float(v) for k, v in zip(spec.moment_names, T[j])}})
                continue
            try:
                m = model.with_params(**fixed) if fixed else model
                mse = _vec(se, spec.moment_names, "moment_se")
                res = _finish(spec, m, Z[j], bool(ok[j]), int(steps[j]), T[j], Wt[j], E[j], inner, "lm (vmap)",
                              mse, None, warn=False)
                results[uid] = res
                row = {**res.to_row(), **fixed}
            except Exception as e:
                row = {"status": f"error: {type(e).__name__}: {e}", "converged": False}
            record(uid, row)

