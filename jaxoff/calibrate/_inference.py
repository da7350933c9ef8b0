"""Inference at a calibrated point: the exact moment Jacobian, sandwich standard errors,
identification diagnostics and the Andrews-Gentzkow-Shapiro sensitivity; `CalibrationResult`."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import STATUS_NAMES
from ..model import Model
from ._objective import _moments_at
from ._problem import CONVERGED, IdentificationWarning


def _jacobian_at(spec, z, point):
    """Moments, status and the exact moment Jacobian dm/dtheta (natural units) at internal z, where
    `point(theta)` -> (moment vector, ok, Solution): one trace, the primal riding along as aux."""
    theta = spec.natural(z)
    th_vec = jnp.stack([theta[k] for k in spec.free])

    def mom(th):
        vec, ok, sol = point(dict(zip(spec.free, th)))
        return vec, (vec, ok, sol)

    G, (vec, ok, sol) = jax.jacfwd(mom, has_aux=True)(th_vec)
    return th_vec, vec, ok, sol.status, G, sol


def _evaluate_impl(spec, model, z, guess):
    """Moments, status and the exact moment Jacobian at internal z, solving the model there."""
    return _jacobian_at(spec, z, lambda theta: _moments_at(spec, model, theta, guess))


def _evaluate_at_root_impl(spec, model, z, root, solver_ok, steps):
    """As `_evaluate_impl` at a point whose equilibrium `root` (the model's unknowns, natural units) is
    already known, e.g. from Newton on the square system: the Solution is assembled and judged at
    `root` exactly as `jo.solve` judges its roots (residual norm, regime, status), and the Jacobian
    comes from the implicit function theorem at `root`, without a further solve. None if the user's
    solve options are not expressible as `SolverOptions` (then solve again)."""
    from ..solve import Layout, SolverOptions, assemble, differentiable_root

    kw = dict(spec.solve_kw)
    if not set(kw) <= set(SolverOptions.__dataclass_fields__):
        return None
    opts = SolverOptions(**{**kw, "mask": False})
    n = sum(jnp.size(v) for v in root.values())

    def point(theta):
        m = model.with_params(**theta)
        layout = Layout.of(m, root)
        zr = differentiable_root(m, layout, layout.to_internal(m, root), opts.linear_solver_for(m, n))
        sol = assemble(m, layout, zr, solver_ok, steps, opts)
        vec = spec.moment_vector(sol, m)
        return vec, (sol.status == CONVERGED) & jnp.all(jnp.isfinite(vec)), sol

    return _jacobian_at(spec, z, point)


@eqx.filter_jit
def _evaluate(spec, model, z, t, sqrtw, guess):
    return _evaluate_impl(spec, model, z, guess)


# -- results -----------------------------------------------------------------------------------------
class Propagated(NamedTuple):
    """Delta-method propagation of the estimate's covariance: `value` of the function at the estimate,
    its standard error `se` (same shape), and `gradient` d value / d theta (value.shape + (p,))."""

    value: np.ndarray
    se: np.ndarray
    gradient: np.ndarray


def _delta_method(fn_of_theta, theta: np.ndarray, cov: np.ndarray) -> Propagated:
    th = jnp.asarray(theta, dtype=jnp.float64)
    f = jax.jit(lambda x: jnp.asarray(fn_of_theta(x), dtype=jnp.float64))
    value = np.asarray(f(th))
    grad = np.asarray(jax.jit(jax.jacfwd(f))(th)).reshape(value.shape + th.shape)
    var = np.einsum("...i,ij,...j->...", grad, np.asarray(cov), grad)
    return Propagated(value, np.sqrt(np.clip(var, 0, None)), grad)


class CalibrationResult:
    """The outcome of `calibrate`.

    **Fields:** `params` (free parameters, natural units), `moments` (model moments at the estimate),
    `targets`, `weights`, `loss`, `converged` (optimizer success, inner solve fine and, for
    exactly identified problems, moments matched), `status` (a name), `steps`, `se` (delta-method
    standard errors; NaN when the data moments' precision is unknown, and `se_assumption` then says
    so and what to pass), `cov`, `jacobian` (DataFrame dm/dtheta, moments x params),
    `singular_values` and `condition_number` of the scaled Jacobian, `identified`, `unidentified`
    (parameter names), `sensitivity` (DataFrame, AGS Lambda = -(G'WG)^-1 G'W, params x moments: the
    change of the estimate per unit shift in the moment condition m - t; d theta_hat / d t = -Lambda),
    `j_stat`, `j_df`, `j_pvalue` (Hansen's over-identification test when there are more moments than
    parameters and the moments' covariance is known; NaN otherwise), `model` (the calibrated model),
    `solution`, `method`, `starts` (multi-start table or None), `message`.

    `propagate(fn)` gives the value and delta-method standard error of any function of the
    calibrated model (a comparative static, a counterfactual, a sweep output).
    """

    def __init__(self, *, params, moments, targets, weights, loss, converged, status, steps, se, cov,
                 jacobian, singular_values, condition_number, identified, unidentified, sensitivity,
                 se_assumption, model, solution, method, starts=None, message="", j_stat=float("nan"),
                 j_df=0, j_pvalue=float("nan")):
        self.params, self.moments, self.targets, self.weights = params, moments, targets, weights
        self.loss, self.converged, self.status, self.steps = loss, converged, status, steps
        self.se, self.cov, self.singular_values = se, cov, singular_values
        self.condition_number, self.identified, self.unidentified = condition_number, identified, unidentified
        self.se_assumption, self._solution, self.method, self.starts = se_assumption, solution, method, starts
        self.message, self.j_stat, self.j_df, self.j_pvalue = message, j_stat, j_df, j_pvalue
        self._jac, self._sens, self._model = jacobian, sensitivity, model  # arrays/base model: built on use

    @property
    def solution(self):
        """The equilibrium (`Solution`) at the estimate."""
        if callable(self._solution):  # packed by the compiled fit: rebuilt on first use
            self._solution = self._solution()
        return self._solution

    @property
    def jacobian(self):
        """DataFrame dm/dtheta at the estimate (moments x free parameters, natural units)."""
        if isinstance(self._jac, np.ndarray):
            import pandas as pd

            self._jac = pd.DataFrame(self._jac, index=list(self.targets), columns=list(self.params))
        return self._jac

    @property
    def sensitivity(self):
        """DataFrame of the Andrews-Gentzkow-Shapiro sensitivity Lambda (params x moments)."""
        if isinstance(self._sens, np.ndarray):
            import pandas as pd

            self._sens = pd.DataFrame(self._sens, index=list(self.params), columns=list(self.targets))
        return self._sens

    @property
    def model(self) -> Model:
        """The model at the calibrated parameters."""
        if not getattr(self, "_model_fitted", False):
            self._model = self._model.with_params(**self.params)
            self._model_fitted = True
        return self._model

    def propagate(self, fn: Callable) -> Propagated:
        """Value and standard error of `fn(calibrated model)` by the delta method.

        **Arguments:**

        - `fn`: a traceable function of a model (the calibrated one, with the free parameters set)
          returning a scalar or array, e.g. `lambda m: jo.solve(m.with_params(tau=0.9))["w"]` (a
          counterfactual) or `lambda m: jo.derivative(m, "w", wrt="beta")` is not traceable; use
          `jax.grad`/`jax.jacfwd` through `jo.solve` inside `fn` instead.

        **Returns:** a `Propagated(value, se, gradient)`: `se = sqrt(g' V g)` with g = d fn / d theta
        (exact, `jax.jacfwd` through the equilibrium) and V = `self.cov`. It measures the uncertainty
        that comes from the data moments' sampling error only (not from the fixed parameters, nor
        from model misspecification); NaN where `cov` is (data precision unknown).
        """
        names = list(self.params)
        base = self._model if not getattr(self, "_model_fitted", False) else self._model

        def f(theta):
            return fn(base.with_params(**dict(zip(names, theta))))

        return _delta_method(f, np.asarray([self.params[k] for k in names]), np.asarray(self.cov))

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
                        condition_number=self.condition_number, se_assumption=self.se_assumption,
                        j_stat=self.j_stat, j_df=self.j_df, j_pvalue=self.j_pvalue)
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
        def se(k):
            v = self.se.get(k, np.nan)
            return f"se {v:.3g}" if np.isfinite(v) else "se n/a"

        p = ", ".join(f"{k}={v:.6g} ({se(k)})" for k, v in self.params.items())
        note = "" if all(np.isfinite(v) for v in self.se.values()) else f"; se: {self.se_assumption}"
        j = f", J={self.j_stat:.3g} (df {self.j_df}, p={self.j_pvalue:.3g})" if self.j_df else ""
        return (f"CalibrationResult({p}; loss={self.loss:.3g}, status={self.status}, steps={self.steps}, "
                f"cond={self.condition_number:.3g}{j}{note})")


def j_statistic(e, G, W, S):
    """Hansen's J for moment deviations e = m(theta_hat) - t with Jacobian G, weighting W and moment
    covariance S, valid for any W: e ~ N(0, M S M') with M = I - G (G'WG)^-1 G'W (rank k - p), so
    J = e' (M S M')^+ e ~ chi2(k - p). Returns (J, df, p-value); NaN if k <= p."""
    k, p = G.shape
    df = k - p
    if df <= 0 or not (np.all(np.isfinite(G)) and np.all(np.isfinite(S)) and np.all(np.isfinite(e))):
        return float("nan"), max(df, 0), float("nan")
    M = np.eye(k) - G @ np.linalg.pinv(G.T @ W @ G) @ G.T @ W
    Om = M @ S @ M.T
    vals, vecs = np.linalg.eigh(0.5 * (Om + Om.T))
    keep = np.argsort(vals)[::-1][:df]
    proj = vecs[:, keep].T @ e
    J = float(np.sum(proj ** 2 / vals[keep]))
    return J, df, chi2_sf(J, df)


def chi2_sf(x, df):
    """Upper tail of the chi-square distribution (jax.scipy.special.gammaincc; no scipy needed)."""
    from jax.scipy.special import gammaincc

    return float(gammaincc(df / 2.0, jnp.asarray(x, dtype=jnp.float64) / 2.0))


def _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, names_theta, warn=True):
    k, p = G.shape
    scale = np.abs(th)
    scale[scale == 0] = 1.0
    J = (np.sqrt(w)[:, None] * G) * scale
    finite = bool(np.isfinite(J).all())
    if finite:
        _, s, Vt = np.linalg.svd(J, full_matrices=True)
    else:
        s, Vt = np.full(min(k, p), np.nan), np.eye(p)
    s_full = s if len(s) == p else np.concatenate([s, np.zeros(max(0, p - len(s)))])
    smax = float(s_full.max()) if finite and p else np.nan
    smin = float(s_full.min()) if finite and p else np.nan
    cond = smax / smin if finite and smin > 0 else float("inf")
    identified = finite and p <= k and cond < 1e8 and smin > 1e-10
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
    # (G'WG)^-1 from the SVD above: G'WG = D^-1 V S^2 V' D^-1 with D = diag(scale)
    Ainv = ((Vt.T / s_full ** 2) @ Vt) * np.outer(scale, scale) if identified else np.full((p, p), np.nan)
    GtW = G.T * w[None, :]
    sens = -Ainv @ GtW
    if moment_cov is not None:
        S, assumption = np.asarray(moment_cov, dtype=float), "moment_cov given"
    elif moment_se is not None:
        S, assumption = np.diag(np.asarray(moment_se, dtype=float) ** 2), "moment_se given (independent moments)"
    elif explicit_w:
        S, assumption = np.diag(1.0 / w), "weights are inverse variances of the moments (S = W^-1)"
    else:
        S, assumption = None, ("not computed: the precision of the data moments is unknown; pass moment_se= "
                                "(or moment_cov=, or weights that are the moments' inverse variances)")
    if S is not None and identified:
        cov = sens @ S @ sens.T
        se = np.sqrt(np.maximum(np.diagonal(cov), 0.0))
        J, jdf, jp = j_statistic(vec - t, G, np.diag(w), S)
    else:
        cov = sens @ S @ sens.T if S is not None else np.full((p, p), np.nan)
        se = np.full(p, np.nan)
        J, jdf, jp = float("nan"), max(k - p, 0), float("nan")
    return dict(cov=cov, se=se, sv=s_full, cond=cond, identified=identified, unidentified=unidentified,
                sens=sens, assumption=assumption, J=J, jdf=jdf, jp=jp)


def _finish(spec, model, z, success, steps, t, w, explicit_w, guess, method, moment_se, moment_cov,
            starts_table=None, warn=True, sol_override=None):
    th, vec, ok, status, G, sol_fit = _evaluate(spec, model, jnp.asarray(z), jnp.asarray(t),
                                                jnp.sqrt(jnp.asarray(w)), guess)
    sol = sol_override if sol_override is not None else sol_fit
    return _build(spec, model, np.asarray(th), np.asarray(vec), bool(ok), int(status), np.asarray(G), sol,
                  success, steps, t, w, explicit_w, method, moment_se, moment_cov, starts_table, warn)


def _build(spec, model, th, vec, ok, status, G, sol, success, steps, t, w, explicit_w, method, moment_se,
           moment_cov, starts_table=None, warn=True):
    """A CalibrationResult from the numbers at the estimate (numpy; no JAX dispatch)."""
    free, names = spec.free, list(spec.moment_names)
    inf = _inference(spec, th, vec, G, t, w, explicit_w, moment_se, moment_cov, list(free), warn=warn)
    gap = vec - t
    loss = float(0.5 * (w * gap * gap).sum()) if ok else float("nan")
    exact_id = len(free) == len(names)
    matched = (not exact_id) or (ok and bool((np.abs(gap) <= 1e-6 * np.maximum(1.0, np.abs(t))).all()))
    converged = bool(success) and ok and bool(matched)
    if not ok:
        status_name = STATUS_NAMES.get(status, str(status)) if status != CONVERGED else "nonfinite_moments"
    elif not success:
        status_name = "optimizer_not_converged"
    elif not matched:
        status_name = "targets_not_matched"
    else:
        status_name = "converged"
    params = dict(zip(free, th.tolist()))
    res = CalibrationResult(
        params=params, moments=dict(zip(names, vec.tolist())), targets=dict(zip(names, np.asarray(t).tolist())),
        weights=dict(zip(names, np.asarray(w).tolist())), loss=loss, converged=converged, status=status_name,
        steps=int(steps), se=dict(zip(free, inf["se"].tolist())), cov=inf["cov"],
        jacobian=np.asarray(G), singular_values=inf["sv"],
        condition_number=inf["cond"], identified=inf["identified"], unidentified=inf["unidentified"],
        sensitivity=np.asarray(inf["sens"]), se_assumption=inf["assumption"], model=model, solution=sol,
        method=method, starts=starts_table, j_stat=inf["J"], j_df=inf["jdf"], j_pvalue=inf["jp"],
    )
    res.message = (f"{model.label()} calibrated by {method}: {status_name} after {int(steps)} steps, "
                   f"loss {loss:.3g}")
    return res
