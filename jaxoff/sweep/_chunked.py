"""Checkpointed and Ray-distributed sweeps: the grid's points in slices, each slice one local sweep.

`sweep(..., checkpoint_dir=...)` and `sweep(..., engine="ray")` come here. The points (already laid
out as in the local run) are cut into slices of a whole number of the local run's chunks, so every
slice is solved by the same compiled program as the local run. A slice runs as `sweep(grid="zip")`
in this process or in a Ray actor (`jaxoff.cluster`, which keeps its compiled programs between
slices); its columns are saved to `<checkpoint_dir>/sweep-<key>.npz`, where the key hashes
everything that determines the slice's rows (the model's class, options and parameter values, the
slice's points, the columns asked for, the solver options and the package version). A rerun with
the same directory loads the slices it finds and computes the rest; a file that is corrupt, for
another problem, or of the wrong length is recomputed with a warning. Files hold plain arrays
(`np.load(allow_pickle=False)`): loading a checkpoint never runs code.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np

from .._files import atomic_write_bytes

CHECKPOINT_PREFIX = "sweep-"


class SweepCheckpointWarning(UserWarning):
    """A sweep checkpoint file was ignored (corrupt, truncated, or written for another problem)."""


def _canon(v):
    """A full-precision, stable text form of an option value (arrays as lists, dicts sorted)."""
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return repr(np.asarray(v).tolist())
    return repr(v)


def _key(model, points: dict, idx: np.ndarray, kwargs: dict) -> str:
    from .. import __version__

    h = hashlib.sha256()
    desc = {"version": __version__, **model.fingerprint(),
            "kwargs": _canon(kwargs)}
    h.update(json.dumps(desc, sort_keys=True).encode())
    for k in sorted(points):
        h.update(k.encode())
        h.update(np.ascontiguousarray(points[k][idx], dtype=np.float64).tobytes())
    return h.hexdigest()[:32]


def _save(path: Path, cols: dict) -> None:
    names = list(cols)
    arrays = {f"c{i}": np.asarray(cols[c]) for i, c in enumerate(names)}
    for k, a in arrays.items():
        if a.dtype == object:  # categorical status and the like: as fixed-width strings
            arrays[k] = a.astype(str)
    buf = io.BytesIO()
    np.savez(buf, __names__=np.asarray(names, dtype=str), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _load(path: Path, n: int) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            names = [str(x) for x in z["__names__"]]
            cols = {c: z[f"c{i}"] for i, c in enumerate(names)}
        if any(len(v) != n for v in cols.values()):
            raise ValueError(f"expected {n} rows")
        return cols
    except Exception as e:  # noqa: BLE001 - any unreadable file is recomputed, never trusted
        warnings.warn(f"sweep checkpoint {path} is empty, truncated or corrupt ({type(e).__name__}: {e}); "
                      "recomputing its points", SweepCheckpointWarning, stacklevel=4)
        return None


def run_sliced(model, points: dict, kwargs: dict, chunk: int, engine: str, ray_options, checkpoint_dir,
               progress: bool) -> tuple[dict, int]:
    """Columns (name -> array over all points) of the sweep of `points`, slice by slice.

    `kwargs` are the local sweep's options (outputs, derivatives, tolerances, ...), `chunk` its chunk
    size. Returns the columns and the number of slices computed (not loaded from checkpoints)."""
    from ..cluster import pool_for, run_chunks, validate_options
    from ._sweep import sweep

    n = len(next(iter(points.values())))
    ro = validate_options(ray_options) if engine == "ray" else {}
    if engine == "ray":
        per = ro.get("chunk_size") or math.ceil(n / (4 * len(pool_for(ro))))
    else:
        per = chunk
    per = chunk * max(1, math.ceil(per / chunk))  # whole local chunks: the local run's compiled shapes
    slices = [np.arange(i, min(i + per, n)) for i in range(0, n, per)]
    kwargs = dict(kwargs, chunk_size=chunk)
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
    parts: list[dict | None] = [None] * len(slices)
    keys = [_key(model, points, idx, kwargs) for idx in slices]
    todo = []
    for j, idx in enumerate(slices):
        parts[j] = _load(ckpt / f"{CHECKPOINT_PREFIX}{keys[j]}.npz", idx.size) if ckpt is not None else None
        if parts[j] is None:
            todo.append(j)

    bar = None
    if progress and len(slices) > 1:
        from .._progress import progress_bar

        bar = progress_bar(total=n, initial=n - sum(slices[j].size for j in todo), unit="pt",
                           desc=f"sweep {model.label()}", leave=False)

    def slice_points(j):
        # the last slice padded to whole chunks by repeating its last point, as the local run pads its
        # last chunk: every point then goes through the very program of the local run
        idx = slices[j]
        idx = np.pad(idx, (0, -idx.size % chunk), mode="edge")
        return {k: v[idx] for k, v in points.items()}

    def done(j, cols):
        cols = {c: np.asarray(v)[:slices[j].size] for c, v in cols.items()}
        parts[j] = cols
        if ckpt is not None:
            _save(ckpt / f"{CHECKPOINT_PREFIX}{keys[j]}.npz", cols)
        if bar is not None:
            bar.update(slices[j].size)

    lost_slices: list[tuple[int, str]] = []
    try:
        if engine == "ray":
            import ray

            model_ref = ray.put(model)

            def submit(actor, j):
                return actor.sweep.remote(model_ref, slice_points(j), kwargs)

            if ro.get("on_submit") is not None:  # the user's hook sees the slice's point indices
                hook = ro["on_submit"]
                ro = dict(ro, on_submit=lambda actor, j: hook(actor, slices[j].tolist()))
            run_chunks(todo, submit, done, lambda j, why: lost_slices.append((j, why)), ro)
        else:
            for j in todo:
                df = sweep(model, grid="zip", progress=False, **kwargs, **slice_points(j))
                done(j, {c: df[c].to_numpy() for c in df.columns})
    finally:
        if bar is not None:
            bar.close()
    if lost_slices:
        j, why = lost_slices[0]
        raise RuntimeError(f"{len(lost_slices)} slice(s) of the sweep could not be computed (first: points "
                           f"{slices[j][0]}..{slices[j][-1]}: {why}); the finished slices are checkpointed"
                           + (f" in {ckpt}: rerun to compute the rest" if ckpt is not None else ""))
    names = list(parts[0])
    return {c: np.concatenate([p[c] for p in parts]) for c in names}, len(todo)
