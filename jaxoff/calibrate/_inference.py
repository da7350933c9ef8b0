"""Inference at a calibrated point: the exact moment Jacobian, sandwich standard errors,
identification diagnostics and the Andrews-Gentzkow-Shapiro sensitivity; `CalibrationResult`."""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import STATUS_NAMES
from ..model import Model
from ._objective import _moments_at
from ._problem import CONVERGED, IdentificationWarning


@eqx.filter_jit
def _evaluate(spec, model, z, t, sqrtw, guess):
    """Moments, residuals and the exact moment Jacobian dm/dtheta (natural units) at internal z."""
    theta = spec.natural(z)
    th_vec = jnp.stack([theta[k] for k in spec.free])

    def mom(th):
        return _moments_at(spec, model, dict(zip(spec.free, th)), guess)[0]

    vec, ok, sol = _moments_at(spec, model, theta, guess)
    G = jax.jacfwd(mom)(th_vec)
    return th_vec, vec, ok, sol.status, G, sol


# -- results -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class CalibrationResult:
    """The outcome of `calibrate`.

    **Fields:** `params` (free parameters, natural units), `moments` (model moments at the estimate),
    `targets`, `weights`, `loss`, `converged` (optimizer success, inner solve fine and, for
    exactly identified problems, moments matched), `status` (a name), `steps`, `se` (delta-method
    standard errors, NaN if not computable; `se_assumption` says which S was used), `cov`,
    `jacobian` (DataFrame dm/dtheta, moments x params), `singular_values` and `condition_number`
    of the scaled Jacobian, `identified`, `unidentified` (parameter names), `sensitivity`
    (DataFrame, AGS Lambda = -(G'WG)^-1 G'W, params x moments: the change of the estimate per unit
    shift in the moment condition m - t; d theta_hat / d t = -Lambda), `model` (the calibrated model),
    `solution`, `method`, `starts` (multi-start table or None), `message`.
    """

    params: dict
    moments: dict
    targets: dict
    weights: dict
    loss: float
    converged: bool
    status: str
    steps: int
    se: dict
    cov: np.ndarray
    jacobian: Any
    singular_values: np.ndarray
    condition_number: float
    identified: bool
    unidentified: list
    sensitivity: Any
    se_assumption: str
    model: Model
    solution: Any
    method: str
    starts: Any = None
    message: str = ""

    def as_frame(self):
        """Parameters (estimate, s.e.) and moments (model, target, deviation, weight) in one DataFrame."""
        import pandas as pd

        rows = [{"kind": "parameter", "name": k, "value": v, "se": self.se.get(k, np.nan)}
                for k, v in self.params.items()]
        rows += [{"kind": "moment", "name": k, "value": self.moments[k], "target": self.targets[k],
                  "deviation": self.moments[k] - self.targets[k], "weight": self.weights[k]}
                 for k in self.targets]
        df = pd.DataFrame(rows, columns=["kind", "name", "value", "se", "target", "deviation", "weight"])
        df.attrs.update(loss=self.loss, converged=self.converged, status=self.status,
                        condition_number=self.condition_number, se_assumption=self.se_assumption)
        return df

    def to_row(self) -> dict:
        """One flat dict (used by `calibrate_many` for its table and checkpoints)."""
        row = {}
        for k, v in self.params.items():
            row[k] = v
            row[f"se:{k}"] = self.se.get(k, np.nan)
        for k in self.targets:
            row[f"model:{k}"] = self.moments[k]
            row[f"target:{k}"] = self.targets[k]
        row.update(loss=self.loss, converged=self.converged, status=self.status, steps=self.steps,
                   condition_number=self.condition_number, identified=self.identified, method=self.method)
        return row

    def __repr__(self):
        p = ", ".join(f"{k}={v:.6g} (se {self.se.get(k, np.nan):.3g})" for k, v in self.params.items())
        return (f"CalibrationResult({p}; loss={self.loss:.3g}, status={self.status}, steps={self.steps}, "
                f"cond={self.condition_number:.3g})")


def _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, names_theta, warn=True):
    k, p = G.shape
    W = np.diag(w)
    scale = np.where(np.abs(th) > 0, np.abs(th), 1.0)
    J = np.sqrt(w)[:, None] * G * scale[None, :]
    finite = np.all(np.isfinite(J))
    if finite:
        _, s, Vt = np.linalg.svd(J, full_matrices=True)
    else:
        s, Vt = np.full(min(k, p), np.nan), np.eye(p)
    s_full = np.concatenate([s, np.zeros(max(0, p - len(s)))])
    smax = s_full.max() if finite and s_full.size else np.nan
    smin = s_full.min() if finite and s_full.size else np.nan
    cond = float(smax / smin) if finite and smin > 0 else float("inf")
    identified = bool(finite and p <= k and cond < 1e8 and smin > 1e-10)
    unidentified = []
    if finite and not identified:
        # the weakly determined directions: right singular vectors of the (near-)zero singular values
        weak = [i for i in range(p) if s_full[i] <= max(1e-8 * smax, 1e-10)] or [p - 1]
        load = np.abs(Vt[weak, :]).max(axis=0)
        unidentified = [names_theta[j] for j in np.argsort(-load) if load[j] > 0.1]
        v = Vt[weak[-1]]
        combo = " ".join(f"{v[j]:+.3f}*dln({names_theta[j]})" for j in range(p) if abs(v[j]) > 0.1)
        msg = (f"parameter(s) {', '.join(unidentified)} not identified by the moments {list(spec.moment_names)}: "
               f"the scaled moment Jacobian has singular values {np.array2string(s_full, precision=3)} "
               f"(condition number {cond:.3g}); moving along {combo} leaves the moments unchanged to first order"
               + (" (fewer moments than free parameters)" if p > k else "")
               + ". Fix one of them or add a moment that separates them.")
        if warn:
            warnings.warn(msg, IdentificationWarning, stacklevel=3)
    A = G.T @ W @ G
    Ainv = np.linalg.pinv(A) if identified else np.full((p, p), np.nan)
    sens = -Ainv @ G.T @ W
    if moment_cov is not None:
        S, assumption = np.asarray(moment_cov, dtype=float), "moment_cov given"
    elif moment_se is not None:
        S, assumption = np.diag(np.asarray(moment_se, dtype=float) ** 2), "moment_se given (independent moments)"
    elif explicit_w:
        S, assumption = np.diag(1.0 / w), "weights are inverse variances of the moments (S = W^-1)"
    else:
        S, assumption = None, "none: pass moment_se/moment_cov (or explicit weights = inverse variances)"
    cov = Ainv @ G.T @ W @ S @ W @ G @ Ainv if S is not None else np.full((p, p), np.nan)
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if S is not None else np.full(p, np.nan)
    if S is not None and not identified:
        se = np.full(p, np.nan)
    return dict(cov=cov, se=se, sv=s_full, cond=cond, identified=identified, unidentified=unidentified,
                sens=sens, assumption=assumption)


def _finish(spec, model, z, success, steps, t, w, explicit_w, guess, method, moment_se, moment_cov,
            starts_table=None, warn=True, sol_override=None):
    import pandas as pd

    th, vec, ok, status, G, sol_fit = _evaluate(spec, model, jnp.asarray(z), jnp.asarray(t),
                                                jnp.sqrt(jnp.asarray(w)), guess)
    th, vec, G = np.asarray(th), np.asarray(vec), np.asarray(G)
    status = int(status)
    ok = bool(ok)
    inf = _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, list(spec.free), warn=warn)
    loss = float(0.5 * np.sum(w * (vec - t) ** 2)) if ok else float("nan")
    exact_id = len(spec.free) == len(spec.moment_names)
    matched = (not exact_id) or (ok and np.all(np.abs(vec - t) <= 1e-6 * np.maximum(1.0, np.abs(t))))
    converged = bool(success) and ok and bool(matched)
    if not ok:
        status_name = STATUS_NAMES.get(status, str(status)) if status != CONVERGED else "nonfinite_moments"
    elif not success:
        status_name = "optimizer_not_converged"
    elif not matched:
        status_name = "targets_not_matched"
    else:
        status_name = "converged"
    params = {k: float(v) for k, v in zip(spec.free, th)}
    fitted = model.with_params(**params)
    sol = sol_override if sol_override is not None else sol_fit
    names = list(spec.moment_names)
    res = CalibrationResult(
        params=params, moments=dict(zip(names, map(float, vec))), targets=dict(zip(names, map(float, t))),
        weights=dict(zip(names, map(float, w))), loss=loss, converged=converged, status=status_name,
        steps=int(steps), se=dict(zip(spec.free, map(float, inf["se"]))), cov=inf["cov"],
        jacobian=pd.DataFrame(G, index=names, columns=list(spec.free)), singular_values=inf["sv"],
        condition_number=inf["cond"], identified=inf["identified"], unidentified=inf["unidentified"],
        sensitivity=pd.DataFrame(inf["sens"], index=list(spec.free), columns=names),
        se_assumption=inf["assumption"], model=fitted, solution=sol, method=method, starts=starts_table,
    )
    res.message = (f"{model.label()} calibrated by {method}: {status_name} after {int(steps)} steps, "
                   f"loss {loss:.3g}")
    return res


