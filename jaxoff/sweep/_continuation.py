"""`jo.continuation`: follow an equilibrium along a path (IFT predictor, Newton corrector), with events."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import implicit
from .._solution import CONVERGED, OUT_OF_REGIME, STATUS_NAMES
from ..model import Model
from ..solve import Layout, SolverOptions, residual_vector, solve_from
from ..solvers import Solver
from ._grid import _as_pairs, _concat, _frame, _quantity_names, _select_outputs
from ._placement import _TRACES
from ._points import _dname, _ename, _record, _Spec


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
    return fz, implicit.tangent(implicit.Linearization.dense_from_matrix(fz), fp)


def _corrector(m: Model, layout: Layout, starts, opts: SolverOptions):
    """Newton (jo.solve) from starts[0]; if it fails, from starts[1], ... (one compiled solve)."""
    def start_k(k):
        return solve_from(m, layout.to_natural(m, starts[k]), opts)

    # the solve appears once in the loop body, so it is compiled once however many starts there are
    shapes = jax.eval_shape(start_k, 0)
    sol0 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def again(state):
        k, _ = state
        return k + 1, start_k(k)

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
    solver: Solver | None = None,
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
    - `mask`, `rtol`, `atol`, `max_steps`, `residual_tol`, `fallback`, `solver`: as in `jo.solve`.

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
    model.require_parameters([p for _, p in derivatives + elasticities])
    guess = {} if guess is None else {k: jnp.asarray(v, dtype=jnp.float64) for k, v in dict(guess).items()}
    opts = SolverOptions(rtol=rtol, atol=atol, max_steps=max_steps, residual_tol=residual_tol, fallback=fallback,
                         mask=False, solver=solver)
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


