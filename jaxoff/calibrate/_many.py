"""`calibrate_many`: one calibration per unit (country, country-year) of a targets table, with
checkpoints."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ..model import Model
from ._compiled import _square_wrapper
from ._inference import _build
from ._optimizers import _fit_many
from ._problem import CalibrationWarning, Target, _as_transform, _spec, _target_arrays, _vec
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
    isfinite = math.isfinite
    for k, v in row.items():
        t = type(v)
        if t is float:  # the common case first (a panel has ~20 values per unit)
            out[k] = v if isfinite(v) else None
        elif t is bool or t is str or v is None:
            out[k] = v
        elif isinstance(v, (np.floating, float)):
            out[k] = None if not math.isfinite(float(v)) else float(v)
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        elif isinstance(v, (np.bool_, bool)):
            out[k] = bool(v)
        else:
            out[k] = v
    return out


def _write_json(path: Path, obj) -> None:
    """Atomic (unique temporary name + rename): concurrent writers and interrupts never leave a
    half-written checkpoint that parses."""
    from .._files import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


def safe_name(uid) -> str:
    """A file name for a unit id: characters outside [A-Za-z0-9._-] percent-encoded (so 'sub/dir'
    becomes 'sub%2Fdir' and no id escapes the checkpoint directory), leading dots encoded too."""
    out = []
    for i, ch in enumerate(str(uid)):
        if ch.isascii() and (ch.isalnum() or ch in "_-" or (ch == "." and i > 0)):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    name = "".join(out) or "%00empty"
    return name + ".json"


def _unit_key(model, free, moments, method, fixed, targets, se, kwargs) -> str:
    """Hash of everything that determines a unit's result: targets and their standard errors, fixed
    parameters, the model class, its static options and every parameter value, the free parameters
    and transforms, the moments function, the method and solver options, and the package version."""
    import hashlib

    from .. import __version__

    m = model.replace(**fixed) if fixed else model
    desc = {
        "version": __version__, **m.fingerprint(),
        "free": {k: repr(_as_transform(k, v)) for k, v in free.items()},
        "moments": None if moments is None else f"{getattr(moments, '__module__', '')}."
                                                 f"{getattr(moments, '__qualname__', repr(moments))}",
        "method": method, "targets": {k: repr(v) for k, v in targets.items()},
        "se": None if se is None else {k: repr(v) for k, v in dict(se).items()},
        "kwargs": {k: repr(v) for k, v in sorted(kwargs.items()) if k not in ("progress",)},
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()


def _load_checkpoint(path: Path, key: str, model, fixed, moment_names):
    """A finished unit's row if `path` holds a valid checkpoint of this very problem, else None (with
    a CalibrationWarning naming the file and the reason; the unit is then recomputed)."""
    if not path.exists():
        return None
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(row, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        warnings.warn(f"checkpoint {path} is empty, truncated or corrupt ({e}); recomputing this unit",
                      CalibrationWarning, stacklevel=3)
        return None
    if row.get("key") != key:
        warnings.warn(f"checkpoint {path} was written for a different problem (targets, fixed parameters, model, "
                      "free parameters, solver options or package version changed); recomputing this unit",
                      CalibrationWarning, stacklevel=3)
        return None
    if row.get("converged"):  # verify cheaply: the recorded moments at the recorded parameters
        from ..solve import solve

        try:
            free_vals = {k: v for k, v in row.items()
                         if k in model.parameter_names() and k not in fixed}
            m = (model.replace(**fixed) if fixed else model).with_params(**free_vals)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = solve(m)
            bad = [k for k in moment_names
                   if not np.isclose(float(sol[k]), float(row.get(f"model:{k}", np.nan)), rtol=1e-6, atol=1e-12)]
        except Exception as e:  # noqa: BLE001 - any failure means the row cannot be trusted
            bad = [f"{type(e).__name__}: {e}"]
        if bad:
            warnings.warn(f"checkpoint {path}: its recorded moments do not hold at its parameters ({bad}); "
                          "recomputing this unit", CalibrationWarning, stacklevel=3)
            return None
    return row


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
    engine: str = "local",
    ray_options: dict | None = None,
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
    - `engine`: "local" (this process) or "ray": chunks of units go to a pool of Ray actors (one per
      worker; each keeps its compiled programs between chunks), the driver writes the checkpoints,
      a chunk whose worker dies is resubmitted, and units still lost are reported (not
      checkpointed, so a rerun with the same `checkpoint_dir` recomputes them). Results equal the
      local run's when units do not depend on each other (`warm_start=False` or `batch_size > 1`).
      `ray_options`: `address` (for `ray.init` if Ray is not initialized: None starts a local
      cluster, "auto" joins the cluster started by `ray start --head`), `num_workers`, `chunk_size`,
      `max_retries`, `num_cpus_per_worker`, `num_gpus_per_worker`. `results` holds no
      CalibrationResult objects for units computed on Ray (the table has every number). See
      `jaxoff.cluster` for multi-node clusters and `jax.distributed` on GPU pods.
    - `warn=False` silences the `CalibrationWarning` listing failed units; further keyword arguments
      go to `calibrate` (e.g. `max_steps`, `solve_kwargs`).

    **Returns:** a `ManyResult`; non-converged units are listed in `failed` (and a `CalibrationWarning`
    names them), never dropped.
    """
    import pandas as pd

    from .._progress import progress_bar

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
    keys: dict = {}
    # the table's columns as float arrays, read once (row access through pandas costs ~50 us a unit)
    row_of = {uid: i for i, uid in enumerate(df.index)}
    if len(row_of) != len(df):
        raise ValueError("targets_table's index must be unique (one row per unit)")
    cols = {c: df[c].to_numpy(dtype=float) for c in moment_cols + fixed_cols}
    se_cols = ({c: moment_se[c].reindex(df.index).to_numpy(dtype=float) for c in moment_cols}
               if isinstance(moment_se, pd.DataFrame) else None)

    def unit_problem(uid):
        i = row_of[uid]
        tg = {}
        for c in moment_cols:
            v = float(cols[c][i])
            tg[c] = Target(v, weights.get(c)) if weights and c in weights else v
        se = None
        if se_cols is not None:
            se = {c: float(se_cols[c][i]) for c in moment_cols}
        elif isinstance(moment_se, dict):
            se = moment_se
        fixed = {c: float(cols[c][i]) for c in fixed_cols}
        return tg, se, fixed

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
            tg, se, fixed = unit_problem(uid)
            keys[uid] = _unit_key(model, free, moments, method, fixed, tg, se, kwargs)
            row = _load_checkpoint(ckpt / safe_name(uid), keys[uid], model, fixed,
                                   moment_cols if moments is None else [])
            if row is not None:
                done[uid] = row
    todo = [u for u in df.index if u not in done]
    results = _LazyResults()
    rows: dict = dict(done)
    bar = progress_bar(total=len(df), initial=len(done), desc=f"calibrate {model.label()}", disable=not progress)
    prev = None

    def record(uid, row, save=True):
        row = _jsonable({"id": str(uid), **row})
        rows[uid] = row
        if ckpt is not None and save:
            _write_json(ckpt / safe_name(uid), {**row, "key": keys[uid]})
        bar.update(1)
        if on_result is not None:
            on_result(uid, row)

    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    try:
        if engine == "ray":
            from ._ray import run_ray

            opts = dict(kwargs, method=method, weights=weights, warm_start=warm_start, batch_size=batch_size)
            run_ray(model, df, todo, free, moments, moment_se, opts, record, ray_options)
        elif batch_size > 1 and method == "lm":
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
    table = table.drop(columns=["id", "key"], errors="ignore")  # "key": checkpoint bookkeeping
    conv = table["converged"].fillna(False).to_numpy(dtype=bool) if "converged" in table else np.zeros(len(table), bool)
    failed = [u for u, c in zip(df.index, conv) if not c]
    if failed and warn:
        stat = {u: table.loc[u, "status"] for u in failed}
        warnings.warn(f"{len(failed)} of {len(df)} calibrations did not converge: {stat}", CalibrationWarning,
                      stacklevel=2)
    return ManyResult(table, results, failed)


class _LazyResults(dict):
    """A dict of CalibrationResult by unit whose entries for batched units are built on first access."""

    def __init__(self):
        super().__init__()
        self._makers = {}

    def defer(self, uid, maker):
        self._makers[uid] = maker

    def __getitem__(self, uid):
        if uid not in self.keys() and uid in self._makers:
            super().__setitem__(uid, self._makers.pop(uid)())
        return super().__getitem__(uid)

    def __contains__(self, uid):
        return super().__contains__(uid) or uid in self._makers

    def __len__(self):
        return super().__len__() + len(self._makers)

    def __iter__(self):
        yield from list(super().keys()) + list(self._makers)

    def keys(self):
        return list(super().keys()) + list(self._makers)

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        return [self[k] for k in self.keys()]


def _batch_se(G, t, w, S):
    """Sandwich standard errors for a stack of units (numpy, no per-unit Python): G (B, k, p)."""
    W = w[:, :, None] * np.eye(w.shape[1])[None]
    A = np.einsum("bki,bkl,blj->bij", G, W, G)
    with np.errstate(all="ignore"):
        Ainv = np.linalg.inv(np.where(np.isfinite(A), A, 0.0))
        B = np.einsum("bij,bkj,bkl->bil", Ainv, G, W)  # (G'WG)^-1 G'W
        cov = np.einsum("bik,bkl,bjl->bij", B, S, B)
        sv = np.linalg.svd(np.sqrt(w)[:, :, None] * G, compute_uv=False)
        cond = sv.max(axis=1) / sv.min(axis=1)
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0, None))
    identified = np.isfinite(cond) & (cond < 1e8)
    return np.where(identified[:, None], se, np.nan), cond


def _fit_chunk(spec, model, fixed_names, F, Th0, T, sqrtW, rtol, atol, max_steps, wrapper, good, n):
    """One chunk of units under vmap, as an eager `calibrate` runs one unit: for a square problem,
    Newton on the square system for every unit first (a small program); the units where it fails
    (usually few) then run the whole fit (the square system's whole chain, then Levenberg-Marquardt
    on the objective) in sub-batches of a quarter of the chunk, so that program is compiled only if
    some unit needs it and runs only for those. Returns (numpy arrays, Solutions)."""
    def run(rows, exact_only):
        arrays, sols, _ = _fit_many(spec, model, fixed_names, tuple(F[rows].T), Th0[rows], T[rows], sqrtW[rows],
                                    None, rtol, atol, max_steps, "lm", 0.05, wrapper, exact_only)
        return {k: np.array(v) for k, v in jax.device_get(arrays).items()}, sols

    everyone = np.arange(len(T))
    a, sols = run(everyone, wrapper is not None)
    if wrapper is None:
        return a, sols
    redo = np.flatnonzero(~a["success"][:n] & good)
    if not len(redo):
        return a, sols
    size = -(-len(T) // 4)
    sols = jax.tree_util.tree_map(np.array, jax.device_get(sols))  # merged in numpy: one transfer each way

    def put(x, y, idx):
        x[idx] = y[:len(idx)]
        return x

    for start in range(0, len(redo), size):
        idx = redo[start:start + size]
        rows = np.concatenate([idx, np.repeat(idx[:1], size - len(idx))])  # padded: one compiled shape
        b, sub = run(rows, False)
        for k in a:
            put(a[k], b[k], idx)
        sols = jax.tree_util.tree_map(lambda x, y, idx=idx: put(x, y, idx), sols, jax.device_get(sub))
    return a, jax.device_put(sols)


def _many_batched(model, df, todo, free, moments, unit_problem, record, results, batch_size, kwargs):
    """calibrate_many in one compiled program per chunk: every unit's start solve, Newton or LM fit and
    moment Jacobian under jax.vmap (one compilation for all chunks of the same size); the table is
    assembled with numpy and each unit's full CalibrationResult is built when first accessed."""
    kwargs = dict(kwargs)
    solve_kwargs = kwargs.pop("solve_kwargs", None)
    if kwargs.get("solver") is not None:
        solve_kwargs = {**(solve_kwargs or {}), "solver": kwargs.pop("solver")}
    max_steps, rtol, atol = kwargs.pop("max_steps", 200), kwargs.pop("rtol", 1e-10), kwargs.pop("atol", 1e-10)
    if not todo:
        return
    first_tg, _, first_fixed = unit_problem(todo[0])
    spec = _spec(model, first_tg, free, moments, solve_kwargs)
    fixed_names = tuple(first_fixed)
    wrapper = _square_wrapper(spec, model, "lm")
    th0 = np.asarray([float(np.asarray(getattr(model, k))) for k in spec.free])
    k, p = len(spec.moment_names), len(spec.free)
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        probs = [unit_problem(u) for u in chunk]
        n = len(chunk)
        T = np.asarray([[float(tg[c].value if isinstance(tg[c], Target) else tg[c]) for c in spec.moment_names]
                        for tg, _, _ in probs]).reshape(n, k)
        # default weights 1/t^2 (1 where t is 0 or missing), or the Target weights (the same for every
        # unit): as `_target_arrays` computes them for one unit
        Wt = np.where(np.isfinite(T) & (T != 0), 1.0 / np.where(T != 0, T, 1.0) ** 2, 1.0)
        E = np.zeros(n, dtype=bool)
        if n:
            _, w_first, e_first = _target_arrays(probs[0][0], None)
            explicit = [q for q, c in enumerate(spec.moment_names)
                        if isinstance(probs[0][0][c], Target) and probs[0][0][c].weight is not None]
            Wt[:, explicit] = w_first[explicit]
            E[:] = e_first
        F = np.asarray([[fixed[c] for c in fixed_names] for _, _, fixed in probs], dtype=float)
        F = F.reshape(n, len(fixed_names))
        good = np.all(np.isfinite(T), axis=1) & np.all(np.isfinite(F), axis=1)
        pad = batch_size - n  # pad the last chunk: one compiled shape for every chunk
        Tj = np.concatenate([np.where(np.isfinite(T), T, 1.0), np.ones((pad, k))])
        Wj = np.concatenate([np.where(np.isfinite(Wt), Wt, 1.0), np.ones((pad, k))])
        Fj = np.concatenate([np.where(np.isfinite(F), F, 1.0), np.repeat(F[:1], pad, axis=0) if n else F])
        if not np.all(np.isfinite(Fj)):
            Fj = np.where(np.isfinite(Fj), Fj, 1.0)
        Th0 = np.broadcast_to(th0, (batch_size, p)).copy()
        a, sols = _fit_chunk(spec, model, fixed_names, Fj, Th0, Tj, np.sqrt(Wj), rtol, atol, max_steps, wrapper,
                             good, n)
        ses = [se for _, se, _ in probs]
        S = np.stack([np.diag(np.asarray(_vec(se, spec.moment_names, "moment_se")) ** 2) if se is not None
                      else (np.diag(1.0 / Wt[j]) if E[j] else np.full((k, k), np.nan)) for j, se in enumerate(ses)])
        se_b, cond_b = _batch_se(a["G"][:n], T, Wt, S)
        for j, uid in enumerate(chunk):
            tg, se, fixed = probs[j]
            if not good[j]:
                record(uid, {"status": "missing_target", "converged": False,
                             **{f"target:{m}": float(v) for m, v in zip(spec.moment_names, T[j])}})
                continue
            ok, success = bool(a["ok"][j]), bool(a["success"][j])
            vec = a["moments"][j]
            matched = k != p or (ok and np.all(np.abs(vec - T[j]) <= 1e-6 * np.maximum(1.0, np.abs(T[j]))))
            conv = ok and success and bool(matched)
            status = ("converged" if conv else "targets_not_matched" if ok and success else
                      "optimizer_not_converged" if ok else "nonfinite_moments")
            row = {}
            for q, name in enumerate(spec.free):
                row[name] = float(a["theta"][j, q])
                row[f"se:{name}"] = float(se_b[j, q])
            for q, name in enumerate(spec.moment_names):
                row[f"model:{name}"] = float(vec[q])
                row[f"target:{name}"] = float(T[j, q])
            row.update(loss=float(0.5 * np.sum(Wt[j] * (vec - T[j]) ** 2)) if ok else float("nan"), converged=conv,
                       status=status, steps=int(a["steps"][j]), condition_number=float(cond_b[j]),
                       identified=bool(np.isfinite(cond_b[j]) and cond_b[j] < 1e8), method="lm (vmap)", **fixed)

            def make(j=j, fixed=fixed, se=se):
                m = model.with_params(**fixed) if fixed else model
                sol = jax.tree_util.tree_map(lambda x: x[j], sols)
                return _build(spec, m, a["theta"][j], a["moments"][j], bool(a["ok"][j]), int(a["status"][j]),
                              a["G"][j], sol, bool(a["success"][j]), int(a["steps"][j]), T[j], Wt[j], E[j],
                              "lm (vmap)", _vec(se, spec.moment_names, "moment_se"), None, None, False)

            if hasattr(results, "defer"):
                results.defer(uid, make)
            record(uid, row)
