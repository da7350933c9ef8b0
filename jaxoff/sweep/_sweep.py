"""`jo.sweep`: every point of a parameter grid solved in compiled, chunked, sharded batches."""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._solution import INVALID_PARAMETERS, STATUS_NAMES
from ..model import Model
from ..solve import SolverOptions
from ..solvers import Solver
from ._grid import _as_pairs, _frame, _points, _quantity_names, _resolve_devices, _select_outputs, _to_host
from ._placement import _Placement
from ._points import _Spec


def sweep(
    model: Model,
    grid: str = "cartesian",
    outputs: Sequence[str] | None = None,
    derivatives: Sequence[tuple[str, str]] | None = None,
    elasticities: Sequence[tuple[str, str]] | None = None,
    *,
    chunk_size: int = 4096,
    progress: bool = True,
    devices=None,
    xarray: bool = False,
    guess: dict | None = None,
    mask: bool = True,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 100,
    residual_tol: float = 1e-8,
    fallback: bool = True,
    homotopy_steps: int | None = None,
    solver: Solver | None = None,
    engine: str = "local",
    ray_options: dict | None = None,
    checkpoint_dir=None,
    **grids,
):
    """Solve a model over a grid of parameter values, with exact per-point comparative statics.

    Every point is solved by Newton's method with `jo.solve`'s termination test, and derivatives come
    from the implicit function theorem, so each row equals an individual `jo.solve`/`jo.derivative`
    call (to ~1e-14 in the tests). The first pass factorizes F_z once per Newton step and reuses the
    last factorization for the derivatives (no separate IFT factorization); points where Newton fails
    are redone with `jo.solve`'s fallback chain (Levenberg-Marquardt, then a homotopy from the model's
    defaults), in a second compiled call. Points are
    processed in chunks of `chunk_size` (the last one padded), with one compiled function for all chunks
    and all later sweeps of the same model structure. Memory on the device is bounded by the chunk size;
    on the host, by the requested columns.

    Devices: the points of each chunk are split over `devices` (default: all local devices,
    `jax.local_devices()`). On GPUs/TPUs they are sharded over a 1-D mesh and each device solves its
    slice with the one-device program (`jax.shard_map`, no cross-device communication); forced host
    devices (`XLA_FLAGS=--xla_force_host_platform_device_count=N`, for testing multi-device code on
    CPU) take their slices in turn, because jaxlib 0.10's batched CPU LAPACK kernels can deadlock
    when several host devices run them at once (see `SERIAL_HOST_DEVICES`). Every point goes through
    the same arithmetic as on one device: statuses, flags and unknowns agree with a one-device run,
    derivatives to rounding (~1e-16 absolute). Multi-host: start every
    process with `jax.distributed.initialize()`, give each process its own slice of the points
    (e.g. `grid="zip"` with `beta=all_beta[jax.process_index()::jax.process_count()]`), run `jo.sweep` on
    its local devices, and gather the DataFrames (e.g. one parquet file per process).

    **Arguments:**

    - `model`: a validated `jaxoff.Model`; parameters not swept keep its values.
    - `grid`: "cartesian" (all combinations of the grids, first name slowest) or "zip" (arrays of
      one length, or length 1, taken element by element).
    - `outputs`: model outputs to report (default: all); every unknown is always reported.
    - `derivatives`: `(quantity, parameter)` pairs, e.g. `[("w", "beta")]`, reported as column
      `"dw/dbeta"`; `elasticities` likewise, as `"dlnw/dlnbeta"`. The parameter may be swept or not.
    - `chunk_size`: points per compiled call (rounded to a multiple of the device count; smaller
      sweeps use the next power of two, so a few sizes share compilations).
    - `progress`: show a tqdm progress bar when there is more than one chunk.
    - `devices`: a list of devices, a count of local devices, or None (all local devices).
    - `xarray`: return an `xarray.Dataset` (needs `pip install jaxoff[xarray]`) with the grid names as
      dimensions for a cartesian grid, else a `point` dimension.
    - `guess`: starting values in natural units (dict), the same for every point.
    - `mask`: NaN values at points whose status is not "converged" (rows are kept, never dropped).
    - `rtol`, `atol`, `max_steps`, `residual_tol`, `fallback`, `homotopy_steps`: as in `jo.solve`.
    - `solver`: a solver object (as in `jo.solve`); by default the first pass is a batched Newton that
      shares its factorization with the derivatives (`jo.newton_with_tangents`) and failed points
      are redone by `jo.solve`'s default chain. With a solver given, every point uses it.
    - `engine`: "local" (this process) or "ray": slices of the points (whole chunks) go to a pool of
      Ray actors (`pip install jaxoff[ray]`; one actor per worker, each keeps its compiled programs
      between slices); the rows equal the local run's. `ray_options`: `address` (None starts a local
      cluster, "auto" joins one started by `ray start --head`), `num_workers`, `chunk_size` (points
      per slice, rounded up to whole chunks), `max_retries` (resubmissions of a slice whose worker
      died; default 2), `num_cpus_per_worker`, `num_gpus_per_worker`. See `jaxoff.cluster`.
    - `checkpoint_dir`: save each finished slice there (`sweep-<key>.npz`, keyed by the model, the
      slice's points and every option) and load the slices already present: an interrupted sweep, or
      one whose worker died past its retries, resumes where it stopped. Works with either engine.
    - `**grids`: parameter name -> 1-D array of values.

    **Returns:** a pandas DataFrame with one row per point: the swept parameters, every unknown, the
    chosen outputs, derivatives and elasticities, `regime:<flag>` columns, `converged`, `status`
    (categorical: converged, not_converged, invalid_parameters, out_of_regime, nonfinite),
    `residual_norm` and `steps`. `df.attrs` holds the model label, grid shape and timing.
    """
    if not isinstance(model, Model):
        raise TypeError(f"sweep expects a jaxoff Model instance, got {type(model).__name__}")
    if not grids:
        raise ValueError("name at least one parameter grid, e.g. jo.sweep(model, beta=np.linspace(1.5, 3, 100))")
    model.require_scalar_parameters(grids, "a sweep (a grid varies a scalar parameter)")
    unknown_names, output_names = _quantity_names(model)
    outputs = _select_outputs(model, outputs, unknown_names, output_names)
    derivatives, elasticities = _as_pairs(derivatives, "derivatives"), _as_pairs(elasticities, "elasticities")
    for q, p in derivatives + elasticities:
        if q not in unknown_names and q not in output_names:
            raise KeyError(f"'{q}' is not an unknown or output of {model.label()}")
        model.require_parameters([p])
    guess = {} if guess is None else {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(guess).items()}
    bad = [k for k in guess if k not in model.unknowns]
    if bad:
        raise KeyError(f"guess names unknown(s) {bad}; {model.label()} has {list(model.unknowns)}")

    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    points, shape = _points(grid, grids)
    n = len(next(iter(points.values())))
    devs = _resolve_devices(devices) if engine == "local" else [None]
    n_dev = len(devs)
    size = min(int(chunk_size), 1 << max(0, math.ceil(math.log2(max(n, 1)))))
    size = max(n_dev, -(-size // n_dev) * n_dev)
    n_chunks = -(-n // size)

    if engine == "ray" or checkpoint_dir is not None:
        from ._chunked import run_sliced

        t0 = time.perf_counter()
        options = dict(outputs=outputs, derivatives=derivatives, elasticities=elasticities, guess=guess,
                       mask=mask, rtol=rtol, atol=atol, max_steps=max_steps, residual_tol=residual_tol,
                       fallback=fallback, homotopy_steps=homotopy_steps, solver=solver)
        if engine == "local":
            options["devices"] = devs
        cols, computed = run_sliced(model, points, options, size, engine, ray_options, checkpoint_dir, progress)
        df = _frame_from_columns(cols)
        df.attrs.update(model=model.label(), grid=grid, shape=shape, chunk_size=size, engine=engine,
                        slices_computed=computed, seconds=time.perf_counter() - t0)
        return _to_xarray(df, list(points), grid) if xarray else df

    opts = SolverOptions(rtol=rtol, atol=atol, max_steps=max_steps, residual_tol=residual_tol, fallback=False,
                         mask=False, homotopy_steps=homotopy_steps, solver=solver)
    spec = _Spec(tuple(outputs), derivatives, elasticities, opts, mask)
    spec_fb = dataclasses.replace(spec, opts=dataclasses.replace(opts, fallback=True))
    place = _Placement(model, guess, devs)
    put = place.put

    # Every scalar parameter is passed as a stacked array (unswept ones repeat the base value), so the
    # compiled function does not depend on which parameters are swept.
    scalars = [k for k in model.parameter_names() if np.ndim(getattr(model, k)) == 0]
    fixed = {k: float(np.asarray(getattr(model, k))) for k in scalars if k not in points}

    constant = {}  # unswept parameters: one device array per chunk length, reused by every chunk

    def chunk_params(idx: np.ndarray) -> dict:
        for k in fixed:
            if k not in constant or constant[k].shape[0] != idx.size:
                constant[k] = put(np.full(idx.size, fixed[k]))
        return {k: put(points[k][idx]) if k in points else constant[k] for k in scalars}

    def chunk_index(c: int) -> np.ndarray:
        idx = np.arange(c * size, min((c + 1) * size, n))
        return np.pad(idx, (0, size - idx.size), mode="edge")  # repeat a real point as padding

    bar = None
    if progress and n_chunks > 1:
        from .._progress import progress_bar

        bar = progress_bar(total=n, unit="pt", desc=f"sweep {model.label()}", leave=False)

    t0 = time.perf_counter()
    out: dict | None = None  # host arrays for all n points, filled chunk by chunk (no concatenation)
    n_fallback = 0

    def finish(c: int, res) -> None:
        nonlocal n_fallback, out
        m = min(size, n - c * size)
        if out is None:
            out = jax.tree_util.tree_map(lambda x: np.empty((n,) + x.shape[1:], x.dtype), res)
        host = jax.tree_util.tree_map(lambda o: o[c * size:c * size + m], out)  # views into `out`
        jax.tree_util.tree_map(lambda h, x: h.__setitem__(slice(None), np.asarray(x)[:m]), host, res)
        if fallback:
            # Newton failed here: redo these points with jo.solve's fallback (LM + Newton), in one
            # padded call, so that batched Newton on the other points is not slowed down by it.
            redo = np.flatnonzero(~host["converged"] & (host["status"] != INVALID_PARAMETERS))
            if redo.size:
                n_fallback += redo.size
                idx = chunk_index(c)[redo]
                for s in range(0, idx.size, size):
                    sub = idx[s:s + size]
                    padded = np.pad(sub, (0, size - sub.size), mode="edge")
                    fb = _to_host(place.run(chunk_params(padded), spec_fb, "fallback"), sub.size)
                    sel = redo[s:s + size]
                    jax.tree_util.tree_map(lambda h, f: h.__setitem__(sel, f), host, fb)
        if bar is not None:
            bar.update(m)

    pending = None
    t_first = None
    for c in range(n_chunks):
        res = place.run(chunk_params(chunk_index(c)), spec, "sweep")
        if pending is not None:  # keep one chunk in flight while the previous one is copied out
            finish(*pending)
        pending = (c, res)
        if t_first is None:
            jax.block_until_ready(res)
            t_first = time.perf_counter() - t0
    finish(*pending)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0

    df = _frame({k: v for k, v in points.items()}, out)
    df.attrs.update(model=model.label(), grid=grid, shape=shape, chunk_size=size, n_chunks=n_chunks,
                    devices=n_dev, seconds=elapsed, seconds_first_chunk=t_first, n_fallback=n_fallback)
    if xarray:
        return _to_xarray(df, list(points), grid)
    return df


def _frame_from_columns(cols: dict):
    """The local sweep's DataFrame from saved columns (status back to its categorical type)."""
    import pandas as pd

    cols = dict(cols)
    cols["status"] = pd.Categorical(np.asarray(cols["status"]).astype(str),
                                    categories=[STATUS_NAMES[i] for i in range(len(STATUS_NAMES))])
    return pd.DataFrame(cols)


def _to_xarray(df, names: list[str], grid: str):
    try:
        import xarray  # noqa: F401
    except ImportError as e:
        raise ImportError("xarray=True needs xarray: pip install jaxoff[xarray]") from e
    d = df.copy()
    d["status"] = d["status"].astype(str)
    if grid == "cartesian":
        return d.set_index(names).to_xarray()
    d.index.name = "point"
    return d.to_xarray()


