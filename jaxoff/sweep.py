"""Sweeps at scale: parameter grids, continuation along a path, and proposition checks.

* `sweep(model, beta=grid, ...)` solves every point of a cartesian (or zipped) grid of parameters in
  fixed-size chunks with one compiled, `jax.vmap`-ed function of the stacked parameter arrays; exact
  per-point derivatives/elasticities come from the implicit function theorem (one LU of F_z per point).
  Points are sharded over the local devices.
* `continuation(model, "beta", values)` walks a path with `jax.lax.scan`: the IFT tangent predicts the
  next point and Newton (`jo.solve`) corrects it. Regime changes, status changes and folds are reported
  as events, located by bisection.
* `check_sign(model, "w", "beta", box={...}, sign=-1)` evaluates the sign of a comparative static over a
  parameter box and says where it holds, where it fails, and which points could not be evaluated.

Compilation happens once per model structure (class, static options, swept names, requested columns,
solver options and chunk size), never once per chunk: the last chunk is padded to the chunk size, and
parameter values are traced arrays, so a new grid or a new base-parameter value reuses the compiled code.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._solution import CONVERGED, INVALID_PARAMETERS, OUT_OF_REGIME, STATUS_NAMES
from .model import Model
from .solve import Layout, SolverOptions, _solve_impl, internal_point, newton_with_tangents, residual_vector
from .statics import _total_derivatives, chain_rule

__all__ = ["sweep", "continuation", "check_sign", "Event", "SignCheck", "trace_count"]

# Number of times each compiled entry point has been traced (i.e. compiled). Tests use it to check that a
# sweep compiles once per model structure, not once per chunk.
_TRACES = {"sweep": 0, "fallback": 0, "continuation": 0}


def trace_count(kind: str = "sweep") -> int:
    """How many times the jitted sweep ("sweep", "fallback": the re-solve of failed points) or
    continuation ("continuation") function has been traced so far in this process (each trace is one
    compilation)."""
    return _TRACES[kind]


# -- what to compute at each point -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Pick:
    """Hashable `quantities` function for `statics._total_derivatives`: a few unknowns/outputs."""

    names: tuple[str, ...]

    def __call__(self, model: Model, u: dict) -> dict:
        allq = {**u, **model.outputs(u)}
        return {k: allq[k] for k in self.names}


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Static description of the per-point computation (part of the compilation cache key)."""

    outputs: tuple[str, ...]
    derivatives: tuple[tuple[str, str], ...]
    elasticities: tuple[tuple[str, str], ...]
    opts: SolverOptions
    mask: bool

    @property
    def wrt(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for _, p in self.derivatives + self.elasticities))

    @property
    def differentiated(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for q, _ in self.derivatives + self.elasticities))


def _dname(q: str, p: str) -> str:
    return f"d{q}/d{p}"


def _ename(q: str, p: str) -> str:
    return f"dln{q}/dln{p}"


def _record(m: Model, sol, spec: _Spec, dz=None) -> dict:
    """Everything recorded at one solved point: unknowns, outputs, derivatives, flags, diagnostics.

    `dz`: dz/dtheta from the solver's own factorization (fast path), else the IFT is done here."""
    out = {"unknowns": dict(sol.unknowns), "outputs": {k: sol.outputs[k] for k in spec.outputs}}
    if spec.wrt:
        # exact IFT statics, one LU of F_z for all parameters (jaxoff.statics internals)
        if dz is None:
            values, derivs = _total_derivatives(m, sol, spec.wrt, _Pick(spec.differentiated))
        else:
            layout, z = internal_point(sol)
            values, derivs = chain_rule(m, layout, z, dz, spec.wrt, _Pick(spec.differentiated),
                                        sol.status == CONVERGED)
        out["derivatives"] = {_dname(q, p): derivs[q][p] for q, p in spec.derivatives}
        out["elasticities"] = {_ename(q, p): derivs[q][p] * getattr(m, p) / values[q] for q, p in spec.elasticities}
    if spec.mask:
        fine = sol.status == CONVERGED
        out = jax.tree_util.tree_map(lambda x: jnp.where(fine, x, jnp.nan), out)
    out.update(regime=dict(sol.regime), status=sol.status, converged=sol.converged,
               residual_norm=sol.residual_norm, steps=sol.steps)
    return out


def _point(m: Model, guess: dict, spec: _Spec) -> dict:
    start = {**m.guess(), **guess}  # complete start: the model's guess at this point, user values on top
    if not spec.opts.fallback:
        # first pass: Newton sharing its last factorization with the IFT (failures are redone below)
        sol, dz = newton_with_tangents(m, start, spec.opts, spec.wrt)
        return _record(m, sol, spec, dz)
    return _record(m, _solve_impl(m, start, spec.opts), spec)  # opts.mask is False: raw values for the IFT


def _batch(base: Model, params: dict, guess: dict, spec: _Spec) -> dict:
    return jax.vmap(lambda p: _point(base.with_params(**p), guess, spec))(params)


def _chunk_impl(base, params, guess, spec, mesh, counter):
    _TRACES[counter] += 1  # runs only while tracing
    if mesh is None:
        return _batch(base, params, guess, spec)
    # Each device solves its own slice of the points with the one-device program (shard_map: no
    # collectives, so a device's Newton loop never waits for another's); every point's arithmetic is
    # the same as on one device.
    per_device = jax.shard_map(lambda b, p, g: _batch(b, p, g, spec), mesh=mesh,
                               in_specs=(P(), P("points"), P()), out_specs=P("points"), check_vma=False)
    return per_device(base, params, guess)


_chunk_jit = jax.jit(_chunk_impl, static_argnames=("spec", "mesh", "counter"))


#: Host (CPU) devices run their slices one after another. jaxlib 0.10's batched LAPACK kernels
#: (LU, triangular solves) split their batch over the CPU thread pool and wait for it; two forced
#: host devices running them at once can fill that pool and wait for each other forever (observed on
#: a 2-core machine: M2 sweeps with 1024 points per device hung at random). Accelerators are not
#: affected and run their shards concurrently under shard_map.
SERIAL_HOST_DEVICES = True


class _Placement:
    """Where a sweep's chunks run: one device, a shard_map over a device mesh, or host devices in turn."""

    def __init__(self, model: Model, guess: dict, devs: list):
        self.devs = devs
        self.serial = len(devs) > 1 and SERIAL_HOST_DEVICES and all(d.platform == "cpu" for d in devs)
        self.mesh = Mesh(np.asarray(devs), ("points",)) if len(devs) > 1 and not self.serial else None
        if self.mesh is not None:
            rep = NamedSharding(self.mesh, P())
            self.base, self.guess = jax.device_put(model, rep), jax.device_put(guess, rep)
            self._points = NamedSharding(self.mesh, P("points"))
        elif self.serial:
            self.base = [jax.device_put(model, d) for d in devs]
            self.guess = [jax.device_put(guess, d) for d in devs]
        else:
            self.base, self.guess = model, guess

    def put(self, a: np.ndarray):
        """A chunk's parameter column, placed for `run` (host slices stay on the host until then)."""
        if self.serial:
            return a
        return jax.device_put(a, self._points) if self.mesh is not None else jax.device_put(a)

    def run(self, params: dict, spec: _Spec, counter: str):
        if not self.serial:
            return _chunk_jit(self.base, params, self.guess, spec=spec, mesh=self.mesh, counter=counter)
        size = len(next(iter(params.values())))
        parts = []
        slices = np.array_split(np.arange(size), len(self.devs))
        for d, base, guess, idx in zip(self.devs, self.base, self.guess, slices):
            p = {k: jax.device_put(v[idx], d) for k, v in params.items()}
            parts.append(jax.block_until_ready(_chunk_jit(base, p, guess, spec=spec, mesh=None, counter=counter)))
        return jax.tree_util.tree_map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *parts)


# -- grids --------------------------------------------------------------------------------------------
def _points(grid: str, grids: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in grids.items()}
    for k, a in arrays.items():
        if a.ndim != 1:
            raise ValueError(f"grid for '{k}' must be 1-D, got shape {a.shape}")
    if grid == "cartesian":
        shape = tuple(a.size for a in arrays.values())
        mesh = np.meshgrid(*arrays.values(), indexing="ij")
        return {k: m.ravel() for k, m in zip(arrays, mesh)}, shape
    if grid == "zip":
        sizes = {a.size for a in arrays.values()} - {1}
        if len(sizes) > 1:
            raise ValueError(f"grid='zip' needs arrays of one length (or length 1); got "
                             f"{ {k: a.size for k, a in arrays.items()} }")
        n = sizes.pop() if sizes else 1
        return {k: np.broadcast_to(a, (n,)).copy() for k, a in arrays.items()}, (n,)
    raise ValueError(f"grid must be 'cartesian' or 'zip', got {grid!r}")


def _as_pairs(x, name: str) -> tuple[tuple[str, str], ...]:
    if x is None:
        return ()
    if isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, str) for s in x):
        x = [x]
    pairs = []
    for item in x:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"{name} must be (output, parameter) pairs like ('w', 'beta'); got {item!r}")
        pairs.append((str(item[0]), str(item[1])))
    return tuple(pairs)


_NAMES_CACHE: dict = {}


def _quantity_names(model: Model) -> tuple[list[str], list[str]]:
    """Unknown and output names of a model (outputs found by tracing at the guess, shapes only;
    cached per model structure)."""
    key = jax.tree_util.tree_structure(model)
    if key not in _NAMES_CACHE:
        outs = jax.eval_shape(lambda m: m.outputs(m.guess()), model)
        _NAMES_CACHE[key] = (list(model.unknowns), list(outs))
    u, o = _NAMES_CACHE[key]
    return list(u), list(o)


def _resolve_devices(devices) -> list:
    if devices is None:
        return list(jax.local_devices())
    if isinstance(devices, int):
        return list(jax.local_devices())[:devices]
    return list(devices)


def _columns(prefix_out: dict, name: str, a: np.ndarray) -> None:
    """Add array `a` (points first) as one column, or one per element for array-valued quantities."""
    if a.ndim == 1:
        prefix_out[name] = a
        return
    flat = a.reshape(a.shape[0], -1)
    for j, idx in enumerate(np.ndindex(*a.shape[1:])):
        prefix_out[f"{name}[{','.join(map(str, idx))}]"] = flat[:, j]


def _frame(param_cols: dict, res: dict, extra: dict | None = None):
    import pandas as pd

    cols: dict[str, np.ndarray] = dict(param_cols)
    for group in ("unknowns", "outputs", "derivatives", "elasticities"):
        for k, a in res.get(group, {}).items():
            _columns(cols, k, np.asarray(a))
    for k, a in res["regime"].items():
        _columns(cols, f"regime:{k}", np.asarray(a, dtype=bool))
    status = np.asarray(res["status"])
    cols["converged"] = np.asarray(res["converged"], dtype=bool)
    cols["status"] = pd.Categorical.from_codes(status, categories=[STATUS_NAMES[i] for i in range(len(STATUS_NAMES))])
    cols["residual_norm"] = np.asarray(res["residual_norm"])
    cols["steps"] = np.asarray(res["steps"])
    if extra:
        cols.update(extra)
    return pd.DataFrame(cols)


def _concat(parts: list[dict]) -> dict:
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *parts)


def _to_host(tree: dict, n: int) -> dict:
    return jax.tree_util.tree_map(lambda x: np.array(np.asarray(x)[:n]), tree)


def _select_outputs(model, outputs, unknown_names, output_names) -> list[str]:
    """Requested outputs (default: all). Unknown names are accepted and skipped: every unknown is
    always reported; anything else is a KeyError with a did-you-mean."""
    if outputs is None:
        return list(output_names)
    chosen = []
    for o in ([outputs] if isinstance(outputs, str) else list(outputs)):
        if o in output_names:
            chosen.append(o)
        elif o not in unknown_names:
            import difflib

            hint = difflib.get_close_matches(o, [*unknown_names, *output_names], n=1, cutoff=0.5)
            raise KeyError(f"'{o}' is not an unknown or output of {model.label()}."
                           + (f" Did you mean '{hint[0]}'?" if hint else "") + f" Outputs: {output_names}")
    return chosen


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
    **grids,
):
    """Solve a model over a grid of parameter values, with exact per-point comparative statics.

    Every point is solved by Newton's method with `jo.solve`'s termination test, and derivatives come
    from the implicit function theorem, so each row equals an individual `jo.solve`/`jo.derivative`
    call (to ~1e-14 in the tests). The first pass factorizes F_z once per Newton step and reuses the
    last factorization for the derivatives (no separate IFT factorization); points where Newton fails
    are redone with `jo.solve`'s Levenberg-Marquardt fallback, in a second compiled call. Points are
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
    - `rtol`, `atol`, `max_steps`, `residual_tol`, `fallback`: as in `jo.solve`.
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
    model.require_scalar_parameters(grids, "a sweep")
    unknown_names, output_names = _quantity_names(model)
    outputs = _select_outputs(model, outputs, unknown_names, output_names)
    derivatives, elasticities = _as_pairs(derivatives, "derivatives"), _as_pairs(elasticities, "elasticities")
    for q, p in derivatives + elasticities:
        if q not in unknown_names and q not in output_names:
            raise KeyError(f"'{q}' is not an unknown or output of {model.label()}")
        model.require_scalar_parameters([p], "a sweep")
    guess = {} if guess is None else {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(guess).items()}
    bad = [k for k in guess if k not in model.unknowns]
    if bad:
        raise KeyError(f"guess names unknown(s) {bad}; {model.label()} has {list(model.unknowns)}")

    points, shape = _points(grid, grids)
    n = len(next(iter(points.values())))
    devs = _resolve_devices(devices)
    n_dev = len(devs)
    size = min(int(chunk_size), 1 << max(0, math.ceil(math.log2(max(n, 1)))))
    size = max(n_dev, -(-size // n_dev) * n_dev)
    n_chunks = -(-n // size)

    opts = SolverOptions(rtol=rtol, atol=atol, max_steps=max_steps, residual_tol=residual_tol, fallback=False,
                         mask=False, backend="optimistix")
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
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="pt", desc=f"sweep {model.label()}", leave=False)

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


# -- continuation -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Event:
    """Something that happens along a continuation path, located by bisection.

    **Fields:** `param` (the parameter varied), `value` (where it happens: the midpoint of the final
    bracket), `kind`, `flag`, `before`/`after` (the indicator on each side), `bracket` (lo, hi after
    bisection), `index` (the path interval [index, index+1] where it was detected), `refined`
    (bisection reached `tol`). Kinds and flags:

    - "regime": regime flag `flag` flips between two converged points;
    - "status": the solver status changes (`flag` = "status"; before/after are status names);
    - "watch": a watched unknown/output (`flag`) changes sign;
    - "fold": det F_z changes sign with F_z becoming singular, the smallest singular value of F_z
      collapses, or the branch ends/jumps (`flag` says which);
    - "kink": det F_z changes sign while F_z stays well conditioned on both sides, i.e. a nonsmooth
      switch in the residuals (e.g. a complementarity condition changing its active side).
    """

    param: str
    value: float
    kind: str
    flag: str
    before: Any
    after: Any
    bracket: tuple[float, float]
    index: int
    refined: bool

    def __repr__(self) -> str:
        return (f"Event({self.kind} '{self.flag}' at {self.param} = {self.value:.10g}, "
                f"{self.before} -> {self.after})")


@dataclasses.dataclass(frozen=True)
class _PathSpec:
    param: str
    point: _Spec
    watch: tuple[str, ...]


def _ift_tangent(m: Model, layout: Layout, z, param: str):
    """F_z, and the IFT tangent dz/dparam = -F_z^{-1} F_param, at internal point z."""
    fz = jax.jacfwd(lambda zz: residual_vector(m, layout, zz))(z)
    fp = jax.jacfwd(lambda v: residual_vector(m.with_params(**{param: v}), layout, z))(getattr(m, param))
    return fz, -jnp.linalg.solve(fz, fp)


def _corrector(m: Model, layout: Layout, starts, opts: SolverOptions):
    """Newton (jo.solve) from starts[0]; if it fails, from starts[1], ... (one compiled solve)."""
    def solve_from(k):
        return _solve_impl(m, layout.to_natural(m, starts[k]), opts)

    # the solve appears once in the loop body, so it is compiled once however many starts there are
    shapes = jax.eval_shape(solve_from, 0)
    sol0 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def again(state):
        k, _ = state
        return k + 1, solve_from(k)

    _, sol = jax.lax.while_loop(lambda s: (~s[1].converged) & (s[0] < starts.shape[0]), again,
                                (jnp.asarray(0), sol0))
    return sol


def _block_impl(base: Model, values, carry, guess: dict, spec: _PathSpec):
    """`lax.scan` over a fixed-length block of path values: IFT predictor, Newton corrector."""
    _TRACES["continuation"] += 1
    layout = Layout.of(base, {**base.guess(), **guess})

    def step(carry, v):
        z_prev, v_prev, dz_prev = carry
        m = base.with_params(**{spec.param: v})
        pred = z_prev + dz_prev * (v - v_prev)  # IFT tangent predictor
        pred = jnp.where(jnp.all(jnp.isfinite(pred)), pred, z_prev)
        cold = layout.to_internal(m, {**m.guess(), **guess})
        sol = _corrector(m, layout, jnp.stack([pred, z_prev, cold]), spec.point.opts)
        z = layout.to_internal(m, sol.unknowns)
        fz, dz = _ift_tangent(m, layout, z, spec.param)
        sign, _ = jnp.linalg.slogdet(fz)
        sv = jnp.linalg.svd(fz, compute_uv=False)
        rec = _record(m, sol, spec.point)
        allq = {**sol.unknowns, **sol.outputs, **rec.get("derivatives", {}), **rec.get("elasticities", {})}
        rec.update(det_sign=sign, sigma_min=sv[-1], sigma_rel=sv[-1] / sv[0], z=z, dz=dz,
                   watch={k: allq[k] for k in spec.watch})
        ok = sol.converged & jnp.all(jnp.isfinite(dz))
        # a failed point does not move the path: the next point predicts from the last good one
        new = (jnp.where(ok, z, z_prev), jnp.where(ok, v, v_prev), jnp.where(ok, dz, dz_prev))
        return new, rec

    return jax.lax.scan(step, carry, values)


_block_jit = jax.jit(_block_impl, static_argnames=("spec",))


def _categorical(name: str) -> bool:
    """Outputs named like `regime_id` label a regime: any change of value is an event."""
    return name.startswith("regime")


def _solver_status(status, converged) -> int:
    """The status ignoring regime flags: out-of-regime points are converged solutions."""
    status = int(status)
    return CONVERGED if status == OUT_OF_REGIME and bool(converged) else status


def _side(p: dict, kind: str, flag: str, ref: dict | None) -> Any:
    """The indicator an event is bisected on, at a path or probe point p."""
    if kind == "regime":
        return bool(p["regime"][flag]) if bool(p["converged"]) else None
    if kind == "watch":
        if not bool(p["converged"]):
            return None
        value = float(np.asarray(p["watch"][flag]))
        return value if _categorical(flag) else int(np.sign(value))
    if kind == "status":
        return STATUS_NAMES[_solver_status(p["status"], p["converged"])]
    # fold/kink: "still on the left branch" = converged, same det sign, and (if the path jumped) near
    if not bool(p["converged"]):
        return False
    if int(np.sign(p["det_sign"])) != ref["det_sign"]:
        return False
    if ref.get("jump") is not None:
        return bool(np.max(np.abs(np.asarray(p["z"]) - ref["z"])) < 0.5 * ref["jump"])
    return True


class _Path:
    """Runs blocks of the continuation scan (one compilation) and warm-started probes."""

    def __init__(self, model, guess, spec, block):
        self.model, self.guess, self.spec, self.block = model, guess, spec, block

    def run(self, values: np.ndarray, carry) -> tuple[tuple, dict]:
        parts = []
        for s in range(0, values.size, self.block):
            chunk = values[s:s + self.block]
            padded = np.pad(chunk, (0, self.block - chunk.size), mode="edge")
            carry, recs = _block_jit(self.model, jnp.asarray(padded), carry, self.guess, spec=self.spec)
            parts.append(jax.tree_util.tree_map(lambda x: np.array(np.asarray(x)[:chunk.size]), recs))
        return carry, (_concat(parts) if len(parts) > 1 else parts[0])

    def probe(self, v: float, lo: dict) -> dict:
        """The point at v, warm-started (tangent predictor) from the bracket's left end `lo`."""
        carry = (jnp.asarray(lo["z"]), jnp.float64(lo["v"]), jnp.asarray(lo["dz"]))
        _, recs = self.run(np.array([v]), carry)
        p = jax.tree_util.tree_map(lambda x: x[0], recs)
        p["v"] = v
        return p

    def bisect(self, kind, flag, lo: dict, hi: dict, tol, max_iter, ref):
        """Shrink [lo, hi] until narrower than tol, the left end keeping the left side's indicator."""
        left = _side(lo, kind, flag, ref)
        it = 0
        while abs(float(hi["v"]) - float(lo["v"])) > tol and it < max_iter:
            p = self.probe(0.5 * (float(lo["v"]) + float(hi["v"])), lo)
            if bool(p["converged"]) and _side(p, kind, flag, ref) == left:
                lo = p
            else:
                hi = p
            it += 1
        return lo, hi, abs(float(hi["v"]) - float(lo["v"])) <= tol


def continuation(
    model: Model,
    param: str,
    values,
    outputs: Sequence[str] | None = None,
    derivatives: Sequence[tuple[str, str]] | None = None,
    elasticities: Sequence[tuple[str, str]] | None = None,
    *,
    watch: Sequence[str] = (),
    guess: dict | None = None,
    refine: bool = True,
    tol: float | None = None,
    max_bisect: int = 80,
    block: int = 16,
    fold_tol: float = 1e-3,
    kink_tol: float = 1e-2,
    jump_factor: float = 20.0,
    mask: bool = True,
    rtol: float = 1e-10,
    atol: float = 1e-10,
    max_steps: int = 100,
    residual_tol: float = 1e-8,
    fallback: bool = True,
):
    """Follow the equilibrium along a path of one parameter, warm-starting each point.

    A `jax.lax.scan` over `values`: the IFT tangent dz/dparam = -F_z^{-1} F_param at the previous
    converged point predicts the solution, and `jo.solve`'s Newton corrects it (if that fails, Newton
    restarts from the previous point, then from the model's cold guess). Starting inside Newton's
    basin makes this faster and more robust than cold starts. Along the path it records the sign of
    det F_z and the smallest singular value of F_z, and reports events between consecutive points:

    - "regime": a regime flag flips between two converged points (e.g. M1's `diversified` at x = 0);
    - "status": the solver status changes (e.g. points stop converging);
    - "watch": a quantity named in `watch` changes sign, or, for names starting with "regime" (a
      model's `regime_id` output, watched automatically), changes value (an unknown, an output such as M1's
      `offshoring_active`, or a requested derivative column such as `"dw/dbeta"`: a comparative static
      flipping sign);
    - "fold": det F_z changes sign through a (nearly) singular F_z, the solution jumps by more than
      `jump_factor` times the median step (the branch turned back and Newton landed on another one),
      or the points stop converging where F_z becomes singular (smallest singular value below
      `fold_tol` times its largest value along the path: the branch ends);
    - "kink": det F_z changes sign with F_z well conditioned on both sides (smallest singular value
      above `kink_tol` times its path maximum): a nonsmooth switch, such as a complementarity condition.

    Each event is located by bisection on the parameter, with probes warm-started from the bracket's
    left end (the same compiled scan, so no extra compilation), until the bracket is narrower than
    `tol`. The scan runs in fixed blocks of `block` values, so paths of any length share one
    compilation per model structure.

    **Arguments:**

    - `model`: the base model; `param`: the scalar parameter varied; `values`: the path (1-D,
      monotone).
    - `outputs`, `derivatives`, `elasticities`: as in `jo.sweep` (outputs default to all).
    - `watch`: names of unknowns, outputs or requested derivative/elasticity columns whose sign
      changes are reported.
    - `guess`: starting values for the first point (natural units).
    - `refine`: bisect events (else report the grid interval); `tol`: final bracket width (default
      1e-10 times the path's scale); `max_bisect`: iterations per event.
    - `block`, `fold_tol`, `kink_tol`, `jump_factor`: see above.
    - `mask`, `rtol`, `atol`, `max_steps`, `residual_tol`, `fallback`: as in `jo.solve`.

    **Returns:** `(df, events)`: a DataFrame with one row per value (the parameter, unknowns, outputs,
    derivatives, regime flags, `converged`, `status`, `residual_norm`, `steps`, `det_sign`,
    `sigma_min`), and the list of `Event`s in path order.
    """
    if not isinstance(model, Model):
        raise TypeError(f"continuation expects a jaxoff Model instance, got {type(model).__name__}")
    model.require_scalar_parameters([param], "a sweep")
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.ndim != 1 or values.size < 2:
        raise ValueError("values must be a 1-D path of at least two parameter values")
    unknown_names, output_names = _quantity_names(model)
    outputs = _select_outputs(model, outputs, unknown_names, output_names)
    if "regime_id" in output_names and "regime_id" not in watch:
        watch = (*watch, "regime_id")  # a model that labels its regime: report every regime switch
    derivatives, elasticities = _as_pairs(derivatives, "derivatives"), _as_pairs(elasticities, "elasticities")
    for q, _ in derivatives + elasticities:
        if q not in unknown_names and q not in output_names:
            raise KeyError(f"'{q}' is not an unknown or output of {model.label()}")
    columns = {_dname(q, p) for q, p in derivatives} | {_ename(q, p) for q, p in elasticities}
    for w in watch:
        if w not in unknown_names and w not in output_names and w not in columns:
            raise KeyError(f"watch: '{w}' is not an unknown, output or requested derivative column "
                           f"({sorted(columns)}) of {model.label()}")
    for _, p in derivatives + elasticities:
        model.require_scalar_parameters([p], "a sweep")
    guess = {} if guess is None else {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(guess).items()}
    opts = SolverOptions(rtol=rtol, atol=atol, max_steps=max_steps, residual_tol=residual_tol, fallback=fallback,
                         mask=False, backend="optimistix")
    spec = _PathSpec(param, _Spec(tuple(outputs), derivatives, elasticities, opts, mask), tuple(watch))

    t0 = time.perf_counter()
    m0 = model.with_params(**{param: values[0]})
    start = {**m0.guess(), **guess}
    z0 = Layout.of(m0, start).to_internal(m0, start)
    path = _Path(model, guess, spec, int(block))
    _, recs = path.run(values, (z0, jnp.float64(values[0]), jnp.zeros_like(z0)))
    elapsed = time.perf_counter() - t0
    extra = {"det_sign": recs["det_sign"], "sigma_min": recs["sigma_min"]}
    df = _frame({param: values}, recs, extra)
    df.attrs.update(model=model.label(), param=param, seconds=elapsed)

    scale = float(np.max(np.abs(values))) or 1.0
    tol = 1e-10 * scale if tol is None else float(tol)
    events = _events(path, values, recs, refine=refine, tol=tol, max_bisect=max_bisect,
                     fold_tol=fold_tol, kink_tol=kink_tol, jump_factor=jump_factor)
    return df, events


def _events(path: _Path, values, recs, *, refine, tol, max_bisect, fold_tol, kink_tol, jump_factor):
    param = path.spec.param
    n = values.size
    conv = recs["converged"].astype(bool)
    solver_status = [_solver_status(s, c) for s, c in zip(recs["status"], conv)]
    z = recs["z"]
    steps = np.array([np.max(np.abs(z[i + 1] - z[i])) if conv[i] and conv[i + 1] else np.nan
                      for i in range(n - 1)])
    typical = np.nanmedian(steps) if np.any(np.isfinite(steps)) else np.nan
    sig = np.where(conv, recs["sigma_min"], np.nan)
    smax = float(np.nanmax(sig)) if np.any(np.isfinite(sig)) else np.nan
    events: list[Event] = []

    def pt(i):
        p = jax.tree_util.tree_map(lambda x: x[i], recs)
        p["v"] = float(values[i])
        return p

    def singular(p) -> bool:
        """F_z (nearly) singular: smallest singular value below fold_tol times the path's largest."""
        return bool(p["converged"]) and float(p["sigma_min"]) < fold_tol * smax

    def add(i, kind, flag, ref=None):
        lo, hi = pt(i), pt(i + 1)
        before, after = _side(lo, kind, flag, ref), _side(hi, kind, flag, ref)
        ok = False
        if refine:
            lo, hi, ok = path.bisect(kind, flag, lo, hi, tol, max_bisect, ref)
        if kind == "fold" and flag == "det(F_z) changes sign" and ok:
            well = min(float(lo["sigma_min"]), float(hi["sigma_min"])) > kink_tol * smax
            kind = "kink" if well and bool(hi["converged"]) else kind
        if kind == "status" and ok and singular(lo):
            kind, flag = "fold", "branch ends (F_z singular at the boundary)"
        a, b = float(lo["v"]), float(hi["v"])
        events.append(Event(param, 0.5 * (a + b), kind, flag, before, after, (a, b), i, ok))

    for i in range(n - 1):
        j = i + 1
        if conv[i] and conv[j]:
            for flag, f in recs["regime"].items():
                if bool(f[i]) != bool(f[j]):
                    add(i, "regime", flag)
            for flag, f in recs["watch"].items():
                changed = (f[i] != f[j]) if _categorical(flag) else (np.sign(f[i]) != np.sign(f[j]))
                if changed:
                    add(i, "watch", flag)
            if solver_status[i] != solver_status[j]:
                add(i, "status", "status")
            ref = {"det_sign": int(np.sign(recs["det_sign"][i])), "z": z[i]}
            if int(np.sign(recs["det_sign"][i])) != int(np.sign(recs["det_sign"][j])):
                add(i, "fold", "det(F_z) changes sign", ref)
            elif np.isfinite(typical) and steps[i] > jump_factor * max(typical, 1e-12) and steps[i] > 1e-6:
                add(i, "fold", "branch jump", {**ref, "jump": steps[i]})
        elif conv[i] and solver_status[i] != solver_status[j]:
            add(i, "status", "status")  # relabelled a fold if F_z is singular where the branch ends
        elif conv[j] and solver_status[i] != solver_status[j]:
            # converging again after failed points: bisection needs a converged left end, so the grid
            # interval is reported
            a, b = float(values[i]), float(values[j])
            events.append(Event(param, 0.5 * (a + b), "status", "status", STATUS_NAMES[solver_status[i]],
                                STATUS_NAMES[solver_status[j]], (a, b), i, False))
    return events


# -- proposition checks -------------------------------------------------------------------------------
@dataclasses.dataclass
class SignCheck:
    """Result of `jo.check_sign`.

    **Fields:** `holds` (True iff every evaluated point has the claimed sign and at least one point
    was evaluated), `share_held` (held / evaluated), `n_points`, `n_evaluated`, `n_held`, `n_failed`,
    `n_skipped` (not converged, invalid, out of regime or non-finite derivative: never counted as
    holding), `skipped_by_reason` (counts), `points` (every point with its value and `verdict`:
    "holds", "fails" or "skipped"), `failing` (the failing points), `where_holds` / `where_fails`
    (per-parameter [min, max] of the holding / failing points), and a description of the claim.
    """

    claim: str
    holds: bool
    share_held: float
    n_points: int
    n_evaluated: int
    n_held: int
    n_failed: int
    n_skipped: int
    skipped_by_reason: dict
    points: Any
    failing: Any
    where_holds: dict
    where_fails: dict

    def __bool__(self) -> bool:
        return self.holds

    def __repr__(self) -> str:
        return (f"SignCheck({self.claim}: holds at {self.n_held}/{self.n_evaluated} evaluated points "
                f"(share {self.share_held:.4g}), fails at {self.n_failed}, skipped {self.n_skipped} "
                f"{self.skipped_by_reason})")


def _box_points(box: Mapping[str, tuple[float, float]], n: int, method: str, seed: int | None):
    names = list(box)
    lo = np.array([float(box[k][0]) for k in names])
    hi = np.array([float(box[k][1]) for k in names])
    if np.any(hi < lo):
        raise ValueError(f"box bounds must be (lo, hi) with lo <= hi; got {dict(box)}")
    if method == "grid":
        axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
        mesh = np.meshgrid(*axes, indexing="ij")
        return {k: m.ravel() for k, m in zip(names, mesh)}
    if method in ("sobol", "halton"):
        from scipy.stats import qmc

        d = len(names)
        if method == "sobol":
            u = qmc.Sobol(d, scramble=True, seed=seed).random_base2(max(0, math.ceil(math.log2(max(n, 1)))))
        else:
            u = qmc.Halton(d, scramble=True, seed=seed).random(n)
        x = qmc.scale(u, lo, hi) if np.all(hi > lo) else lo + u * (hi - lo)
        return {k: x[:, j] for j, k in enumerate(names)}
    raise ValueError(f"method must be 'grid', 'sobol' or 'halton', got {method!r}")


def check_sign(
    model: Model,
    output: str,
    wrt: str,
    box: Mapping[str, tuple[float, float]],
    n: int = 16,
    sign: int = -1,
    kind: str = "derivative",
    method: str = "grid",
    *,
    strict: bool = True,
    seed: int | None = 0,
    **sweep_kwargs,
) -> SignCheck:
    """Check the sign of a comparative static over a box of parameters (a proposition check).

    **Arguments:**

    - `model`: the base model (parameters outside `box` keep its values).
    - `output`: an unknown or output; `wrt`: the parameter differentiated by.
    - `box`: parameter name -> (lo, hi).
    - `n`: points per axis for `method="grid"` (n**d points, endpoints included); the number of points
      for "sobol" (rounded up to a power of two, scrambled, seeded by `seed`) and "halton".
    - `sign`: -1 (the claim is d output/d wrt < 0) or +1.
    - `kind`: "derivative" or "elasticity".
    - `strict`: a zero value fails a strict claim; with `strict=False` zero holds.
    - `**sweep_kwargs`: passed to `jo.sweep` (chunk_size, progress, devices, solver options).

    **Returns:** a `SignCheck`. Points that did not converge, have invalid parameters, are out of the
    sub-model's regime, or have a non-finite derivative are counted as skipped (with their reason),
    never as holding.
    """
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 or +1, got {sign!r}")
    if kind not in ("derivative", "elasticity"):
        raise ValueError(f"kind must be 'derivative' or 'elasticity', got {kind!r}")
    pts = _box_points(box, n, method, seed)
    sweep_kwargs.setdefault("progress", False)
    pair = [(output, wrt)]
    # both columns are requested whatever `kind`, so both kinds share one compiled sweep
    df = sweep(model, grid="zip", derivatives=pair, elasticities=pair, **sweep_kwargs, **pts)
    col = _dname(output, wrt) if kind == "derivative" else _ename(output, wrt)
    value = df[col].to_numpy()
    status = df["status"].astype(str).to_numpy()
    reason = np.where(status != "converged", status, np.where(np.isfinite(value), "", "nonfinite_derivative"))
    evaluated = reason == ""
    good = sign * value > 0 if strict else sign * value >= 0
    verdict = np.where(~evaluated, "skipped", np.where(good, "holds", "fails"))
    points = df[list(pts) + [col, "status"]].copy()
    points["verdict"] = verdict
    points["skip_reason"] = reason
    n_eval = int(evaluated.sum())
    n_held = int((verdict == "holds").sum())
    n_failed = int((verdict == "fails").sum())
    reasons, counts = np.unique(reason[~evaluated], return_counts=True)

    def ranges(mask):
        if not mask.any():
            return {}
        return {k: (float(points[k][mask].min()), float(points[k][mask].max())) for k in pts}

    rel = "<" if sign < 0 else ">"
    rel = rel if strict else rel + "="
    claim = (f"{col} {rel} 0 on {', '.join(f'{k} in [{a:g}, {b:g}]' for k, (a, b) in box.items())} "
             f"({model.label()})")
    return SignCheck(
        claim=claim, holds=bool(n_eval > 0 and n_failed == 0),
        share_held=(n_held / n_eval) if n_eval else float("nan"),
        n_points=len(points), n_evaluated=n_eval, n_held=n_held, n_failed=n_failed,
        n_skipped=int((~evaluated).sum()), skipped_by_reason={str(r): int(c) for r, c in zip(reasons, counts)},
        points=points, failing=points[verdict == "fails"].reset_index(drop=True),
        where_holds=ranges(verdict == "holds"), where_fails=ranges(verdict == "fails"),
    )
