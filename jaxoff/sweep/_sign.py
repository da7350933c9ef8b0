"""`jo.check_sign`: does a comparative static have the sign a proposition claims, over a box?"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..model import Model
from ._points import _dname, _ename
from ._sweep import sweep


# -- proposition checks -------------------------------------------------------------------------------
@dataclasses.dataclass
class SignCheck:
    """Result of `jo.check_sign`.

    **Fields:** `holds` (True iff every evaluated point has the claimed sign and at least one point
    was evaluated), `share_held` (held / evaluated), `n_points`, `n_evaluated`, `n_held`, `n_failed`,
    `n_skipped` (not converged, invalid, out of regime or non-finite derivative: never counted as
    holding), `n_zero` (evaluated points where the value is exactly zero, e.g. a corner where the
    mechanism is switched off: they fail a strict claim and hold a weak one, and are reported on
    their own), `skipped_by_reason` (counts), `points` (every point with its value and `verdict`:
    "holds", "fails", "zero" or "skipped"), `failing` (the failing points), `where_holds` /
    `where_fails` / `where_zero` (per-parameter [min, max] of those points), and a description of
    the claim.
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
    n_zero: int = 0
    where_zero: dict = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.holds

    def __repr__(self) -> str:
        zero = ""
        if self.n_zero:
            where = ", ".join(f"{k} in [{a:g}, {b:g}]" for k, (a, b) in self.where_zero.items())
            zero = f", exactly zero at {self.n_zero} ({where})"
        return (f"SignCheck({self.claim}: holds at {self.n_held}/{self.n_evaluated} evaluated points "
                f"(share {self.share_held:.4g}), fails at {self.n_failed}{zero}, skipped {self.n_skipped} "
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
    zero = evaluated & (value == 0)
    good = sign * value > 0 if strict else sign * value >= 0
    verdict = np.where(~evaluated, "skipped", np.where(good, "holds", np.where(zero, "zero", "fails")))
    points = df[list(pts) + [col, "status"]].copy()
    points["verdict"] = verdict
    points["skip_reason"] = reason
    n_eval = int(evaluated.sum())
    n_held = int((verdict == "holds").sum())
    n_failed = int((verdict == "fails").sum())
    n_zero = int((verdict == "zero").sum())
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
        claim=claim, holds=bool(n_eval > 0 and n_failed == 0 and n_zero == 0),
        share_held=(n_held / n_eval) if n_eval else float("nan"),
        n_points=len(points), n_evaluated=n_eval, n_held=n_held, n_failed=n_failed,
        n_skipped=int((~evaluated).sum()), skipped_by_reason={str(r): int(c) for r, c in zip(reasons, counts)},
        points=points, failing=points[verdict == "fails"].reset_index(drop=True),
        where_holds=ranges(verdict == "holds"), where_fails=ranges(verdict == "fails"),
        n_zero=n_zero, where_zero=ranges(verdict == "zero"),
    )
