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

Package layout (one concept per module): `_grid` (grids, chunks, tables), `_points` (the per-point
computation), `_placement` (devices), `_sweep`, `_continuation`, `_sign`.
"""
from ._continuation import Event, continuation
from ._placement import SERIAL_HOST_DEVICES, trace_count
from ._sign import SignCheck, check_sign
from ._sweep import sweep

__all__ = ["sweep", "continuation", "check_sign", "Event", "SignCheck", "trace_count", "SERIAL_HOST_DEVICES"]
