"""Grids of parameter points, chunk bookkeeping and result tables of sweeps."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from .._solution import STATUS_NAMES
from ..model import Model


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


