"""`calibrate_pooled`: structural parameters shared by every unit of a panel (countries x years),
unit-level shifters free, fitted as one weighted least-squares (minimum-distance) problem.

The stacked moment conditions are e(theta) = m(theta) - t, with m_i(shared, u_i) the equilibrium
moments of unit i (one `jo.solve` per unit, under `jax.vmap`), and the estimate minimizes

    Q(theta) = 1/2 e' W e,   theta = (shared, u_1, ..., u_N),

by Levenberg-Marquardt with the exact Jacobian (`jax.jacfwd` through the equilibrium, by the implicit
function theorem). The Jacobian is block-sparse: unit i's moments depend on the shared parameters and
on its own shifters only, so one vmapped call gives every block (k x (s + u) per unit).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..model import Model
from ._inference import chi2_sf, j_statistic
from ._problem import (
    CONVERGED,
    CalibrationWarning,
    IdentificationWarning,
    _as_transform,
    _full_guess,
    _Spec,
    solve_call,
)

_TRACES = {"pooled_eval": 0}  # read by tests: one compilation per panel shape


def _unit_eval_impl(spec: _Spec, model: Model, fixed_names, n_shared, zs, zu, fvals, guess):
    """Moments of one unit, their exact Jacobian in internal units and natural units, and the
    unit's equilibrium (next warm start)."""
    _TRACES["pooled_eval"] += 1
    m = model.with_params(**dict(zip(fixed_names, fvals))) if fixed_names else model

    def mom(z):
        theta = spec.natural(z)
        mm = m.with_params(**theta)
        sol = solve_call(mm, guess, spec.solve_kw)
        vec = spec.moment_vector(sol, mm)
        ok = (sol.status == CONVERGED) & jnp.all(jnp.isfinite(vec))
        return vec, (vec, ok, sol.status, {k: jnp.asarray(sol.unknowns[k], dtype=jnp.float64) for k in guess})

    z = jnp.concatenate([zs, zu])
    Jz, (vec, ok, status, eq) = jax.jacfwd(mom, has_aux=True)(z)
    dtheta = jnp.stack([jax.grad(tr.to_natural)(z[i]) for i, tr in enumerate(spec.transforms)])
    Jn = Jz / dtheta[None, :]
    theta = jnp.stack([tr.to_natural(z[i]) for i, tr in enumerate(spec.transforms)])
    return vec, ok, status, Jz, Jn, theta, eq


_unit_eval = eqx.filter_jit(eqx.filter_vmap(_unit_eval_impl, in_axes=(None, None, None, None, None, 0, 0, 0)))


class PooledResult:
    """The outcome of `calibrate_pooled`.

    **Fields:** `shared` and `shared_se` (dicts), `units` (DataFrame, one row per unit: unit
    parameters, `se:<param>`, `target:<moment>`, `model:<moment>`, `solve_ok`), `table` (tidy: one row
    per estimated parameter with columns `parameter`, `unit` ("(all)" for shared ones), `estimate`,
    `se`), `moments_table` (tidy: `unit`, `moment`, `target`, `model`, `deviation`, `se`, `weight`),
    `cov` (covariance of all estimates, ordered as `names`), `names` ((parameter, unit) pairs),
    `jacobian` (dm/dtheta, observed moments x parameters, natural units), `weights` (the stacked
    weighting matrix W), `S` (the moment covariance used, or None), `weighting`, `loss` (1/2 e'We),
    `converged`, `status`, `steps`, `j_stat`, `j_df`, `j_pvalue`, `j_note`, `se_assumption`,
    `condition_number`, `identified`, `n_obs` (observed moments), `message`.
    """

    shared: dict
    shared_se: dict
    units: Any
    table: Any
    moments_table: Any
    unit_free: list
    fixed: list
    j_stat: float
    j_df: int
    j_pvalue: float
    j_note: str
    loss: float
    status: str
    steps: int
    weighting: str
    message: str
    _model: Model

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def model_for(self, unit) -> Model:
        """The calibrated model of one unit (shared and that unit's parameters set)."""
        row = self.units.loc[unit]
        vals = {**self.shared, **{k: float(row[k]) for k in self.unit_free}}
        fixed = {k: float(row[k]) for k in self.fixed}
        return self._model.with_params(**fixed, **vals)

    def __repr__(self):
        sh = ", ".join(f"{k}={v:.6g} (se {self.shared_se[k]:.3g})" for k, v in self.shared.items())
        j = (f", J={self.j_stat:.3g} (df {self.j_df}, p={self.j_pvalue:.3g})" if np.isfinite(self.j_stat)
             else f", J n/a (df {self.j_df})")
        return (f"PooledResult({len(self.units)} units; shared {sh}; loss={self.loss:.3g}, status={self.status}, "
                f"steps={self.steps}, weighting={self.weighting}{j})")


def _names_transforms(model, spec, what):
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, dict):
        spec = {k: ("log" if k in model.parameter_names() and float(np.min(np.asarray(getattr(model, k)))) > 0
                    else "none") for k in (spec or [])}
    names = model.parameter_names()
    for k in spec:
        if k not in names:
            raise KeyError(f"{what} parameter '{k}' is not a parameter of {model.label()} ({', '.join(names)})")
        if np.ndim(getattr(model, k)) != 0:
            raise ValueError(f"{what} parameter '{k}' must be a scalar")
    return {k: _as_transform(k, v) for k, v in spec.items()}


def _moment_cov(moment_se, moment_cov, units, targets):
    """Per-unit moment covariances S_i (N, k, k), or None when the precision is unknown."""
    import pandas as pd

    N, k = len(units), len(targets)
    if moment_cov is not None:
        C = np.asarray(moment_cov, dtype=float)
        if C.shape == (k, k):
            C = np.broadcast_to(C, (N, k, k)).copy()
        if C.shape != (N, k, k):
            raise ValueError(f"moment_cov must have shape ({k}, {k}) or ({N}, {k}, {k}), got {C.shape}")
        return C
    if moment_se is None:
        return None
    if isinstance(moment_se, pd.DataFrame):
        missing = [c for c in targets if c not in moment_se.columns]
        if missing:
            raise KeyError(f"moment_se lacks columns {missing}")
        SE = moment_se.reindex(units)[list(targets)].to_numpy(float)
    elif isinstance(moment_se, dict):
        missing = [c for c in targets if c not in moment_se]
        if missing:
            raise KeyError(f"moment_se lacks {missing}")
        SE = np.broadcast_to(np.asarray([float(moment_se[c]) for c in targets]), (N, k))
    else:
        raise TypeError("moment_se must be a dict {moment: se} or a DataFrame like the table")
    return np.einsum("nk,kl->nkl", SE ** 2, np.eye(k))


def calibrate_pooled(
    model: Model,
    table,
    targets=None,
    shared=None,
    unit_free=None,
    moments: Callable | None = None,
    *,
    weighting: str | None = None,
    moment_se=None,
    moment_cov=None,
    start: dict | None = None,
    max_steps: int = 100,
    xtol: float = 1e-11,
    ftol: float = 1e-14,
    gtol: float = 1e-7,
    solve_kwargs: dict | None = None,
    solver=None,
    warn: bool = True,
) -> PooledResult:
    """Pooled calibration: parameters shared by all units and per-unit shifters, one problem.

    Every row of `table` is a unit (a country, a country-year). The shared parameters take one value
    for the whole panel; each `unit_free` parameter takes one value per unit. All of them are chosen
    together to minimize 1/2 e'We over the stacked moment deviations e = m - t of every unit, by
    Levenberg-Marquardt with the exact Jacobian (`jax.jacfwd` through `jo.solve`, vmapped over units:
    one compilation per panel shape). With more moments than parameters the model is over-identified
    and Hansen's J statistic tests it.

    **Arguments:**

    - `model`: a jaxoff Model; its parameter values are the fixed values and the starting values.
    - `table`: DataFrame indexed by unit id. Target columns hold the data moments (NaN = not observed
      for that unit: left out of the objective and of J's degrees of freedom, and counted in
      `n_obs`); columns named like a parameter of the model (neither shared nor free) set that
      parameter per unit.
    - `targets`: list of the target columns (default: every column that is not a model parameter).
    - `shared`, `unit_free`: parameter names (list) or `{name: transform}` ("log", "logit", "none",
      `(lo, hi)`), as `free` in `jo.calibrate`.
    - `moments`: None (moments are unknowns/outputs named like the targets) or `(sol, model) -> dict`.
    - `weighting`: "identity" (W = I), "diagonal" (W = diag(1/se^2) from `moment_se`), or "optimal"
      (W = S^-1; two steps: a first fit with diagonal or identity weights; if the moments' covariance
      is not given it is estimated from the first step's residuals as a k x k matrix common to all
      units, and then J is not reported because it would be close to its degrees of freedom by
      construction). Default: "diagonal" if `moment_se`/`moment_cov` is given, else "identity".
    - `moment_se`: standard errors of the data moments: `{moment: se}` (same for every unit) or a
      DataFrame like `table`; `moment_cov`: a (k, k) or (N, k, k) covariance of each unit's moments
      (units are independent). They give the sandwich standard errors and J.
    - `start`: starting values `{name: value}` (a unit parameter may take a Series/array by unit).
    - `max_steps`, `xtol`, `ftol`, `gtol`: Levenberg-Marquardt controls (step, relative loss change,
      and the largest cosine between the weighted residual and a Jacobian column).
    - `solve_kwargs`, `solver`: options of the inner `jo.solve` calls. `warn`: emit warnings.

    **Returns:** a `PooledResult` (shared estimates and standard errors, a per-unit table, a tidy
    table, J, its degrees of freedom and p-value). The standard errors are the sandwich
    (G'WG)^-1 G'W S W G (G'WG)^-1 with the exact Jacobian G: they measure the sampling error of the
    data moments (S), not misspecification nor uncertainty in the fixed parameters; NaN when S is
    unknown.
    """
    import pandas as pd

    if not isinstance(model, Model):
        raise TypeError(f"calibrate_pooled expects a jaxoff Model instance, got {type(model).__name__}")
    if not isinstance(table, pd.DataFrame):
        raise TypeError("table must be a pandas DataFrame indexed by unit id")
    if solver is not None:
        solve_kwargs = {**(solve_kwargs or {}), "solver": solver}
    sh = _names_transforms(model, shared, "shared")
    uf = _names_transforms(model, unit_free, "unit_free")
    if not sh and not uf:
        raise ValueError("name at least one shared or unit_free parameter")
    both = set(sh) & set(uf)
    if both:
        raise ValueError(f"parameter(s) {sorted(both)} are both shared and unit_free")
    params = set(model.parameter_names())
    if targets is None:
        targets = [c for c in table.columns if c not in params]
    targets = list(targets)
    missing = [c for c in targets if c not in table.columns]
    if missing:
        raise KeyError(f"table has no target column(s) {missing}; columns: {list(table.columns)}")
    if not targets:
        raise ValueError("give at least one target column")
    fixed = tuple(c for c in table.columns if c in params and c not in sh and c not in uf and c not in targets)
    units = list(table.index)
    N, k, s, u = len(units), len(targets), len(sh), len(uf)
    if N == 0:
        raise ValueError("table has no rows")
    T = table[targets].to_numpy(float)
    obs = np.isfinite(T)
    empty = [units[i] for i in range(N) if not obs[i].any()]
    if empty and u:
        raise ValueError(f"unit(s) {empty} have no observed target: their unit parameters are not identified")
    F = table[list(fixed)].to_numpy(float) if fixed else np.zeros((N, 0))
    if not np.all(np.isfinite(F)):
        bad = [units[i] for i in range(N) if not np.all(np.isfinite(F[i]))]
        raise ValueError(f"fixed parameter column(s) {list(fixed)} have missing values for units {bad}")
    P = s + N * u
    n_obs = int(obs.sum())
    if n_obs < P:
        raise ValueError(f"{n_obs} observed moments for {P} parameters ({s} shared + {N} units x {u}): "
                         "not identified")

    spec = _Spec(tuple(sh) + tuple(uf), tuple(sh.values()) + tuple(uf.values()), tuple(targets), moments,
                 tuple(sorted((solve_kwargs or {}).items())))
    S_units = _moment_cov(moment_se, moment_cov, units, targets)
    if S_units is not None and not np.all(np.isfinite(S_units[np.repeat(obs[:, :, None], k, 2)
                                                              & np.repeat(obs[:, None, :], k, 1)])):
        raise ValueError("moment_se/moment_cov has missing values where targets are observed")
    if weighting is None:
        weighting = "diagonal" if S_units is not None else "identity"
    if weighting not in ("identity", "diagonal", "optimal"):
        raise ValueError(f"weighting must be 'identity', 'diagonal' or 'optimal', got {weighting!r}")
    if weighting == "diagonal" and S_units is None:
        raise ValueError("weighting='diagonal' needs moment_se= (or moment_cov=): W = diag(1/se^2)")

    # starting values (internal units)
    start = dict(start or {})

    def start_val(name):
        v = start.get(name, getattr(model, name))
        if isinstance(v, pd.Series):
            v = v.reindex(units).to_numpy(float)
        return np.asarray(v, dtype=float)

    zs0 = np.asarray([float(tr.to_internal(jnp.asarray(float(start_val(n))))) for n, tr in sh.items()])
    zu0 = np.stack([np.broadcast_to(np.asarray(tr.to_internal(jnp.asarray(start_val(n)))), (N,))
                    for n, tr in uf.items()], axis=1) if u else np.zeros((N, 0))
    if not (np.all(np.isfinite(zs0)) and np.all(np.isfinite(zu0))):
        raise ValueError("starting values are outside the parameters' transforms")
    g0 = _full_guess(model)
    guess = {kk: jnp.broadcast_to(v, (N,) + v.shape) for kk, v in g0.items()}
    Tz = np.where(obs, T, 0.0)
    fixed_j = jnp.asarray(F)

    def evaluate(zs, zu, guess):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _unit_eval(spec, model, fixed, s, jnp.asarray(zs), jnp.asarray(zu), fixed_j, guess)
        vec, ok, status, Jz, Jn, theta, eq = out
        return dict(vec=np.asarray(vec), ok=np.asarray(ok), status=np.asarray(status), Jz=np.asarray(Jz),
                    Jn=np.asarray(Jn), theta=np.asarray(theta), eq=eq)

    def dense(Jblocks):
        """(N, k, s+u) blocks -> the stacked (N k, P) Jacobian."""
        G = np.zeros((N * k, P))
        G[:, :s] = Jblocks[:, :, :s].reshape(N * k, s)
        for i in range(N):
            G[i * k:(i + 1) * k, s + i * u:s + (i + 1) * u] = Jblocks[i, :, s:]
        return G

    def weight_matrix(kind, Sig=None):
        Wb = np.zeros((N, k, k))
        for i in range(N):
            o = obs[i]
            if kind == "identity":
                Wi = np.eye(k)
            elif kind == "diagonal":
                Wi = np.diag(1.0 / np.where(o, np.diagonal(S_units[i]), 1.0))
            else:
                Si = S_units[i] if Sig is None else Sig
                Wi = np.zeros((k, k))
                Wi[np.ix_(o, o)] = np.linalg.inv(Si[np.ix_(o, o)])
            Wb[i] = Wi * np.outer(o, o)
        return Wb

    def fit(Wb, zs, zu, guess):
        """Levenberg-Marquardt on 1/2 e'We with the exact block Jacobian."""
        cur = evaluate(zs, zu, guess)
        if not cur["ok"].all():
            bad = [units[i] for i in np.flatnonzero(~cur["ok"])]
            raise ValueError(f"the equilibrium fails at the starting values for unit(s) {bad[:10]}; "
                             "give start= values where every unit solves")

        def parts(ev):
            e = np.where(obs, ev["vec"] - Tz, 0.0)
            We = np.einsum("nkl,nl->nk", Wb, e)
            loss = 0.5 * float(np.sum(e * We))
            G = dense(ev["Jz"])
            g = G.T @ We.reshape(-1)
            Wd = np.zeros((N * k, N * k))
            for i in range(N):
                Wd[i * k:(i + 1) * k, i * k:(i + 1) * k] = Wb[i]
            H = G.T @ Wd @ G
            return loss, g, H

        def colnorm(ev):
            J = ev["Jz"]
            return np.concatenate([np.sqrt(np.sum(J[:, :, :s] ** 2, axis=(0, 1))),
                                   np.sqrt(np.sum(J[:, :, s:] ** 2, axis=1)).reshape(-1)])

        loss, g, H = parts(cur)
        lam = 1e-3
        steps, success = 0, False
        z = np.concatenate([zs, zu.reshape(-1)])
        def stationary(loss, g, H, tol=gtol):
            # the cosine between the weighted residual and every Jacobian column (scale free)
            cos = np.abs(g) / np.sqrt(np.maximum(np.diag(H), 1e-300) * max(2.0 * loss, 1e-300))
            return loss <= 1e-300 or bool(np.max(cos) <= tol)

        while steps < max_steps:
            if stationary(loss, g, H):
                success = True
                break
            steps += 1
            D = np.maximum(np.diag(H), 1e-12 * max(1.0, np.max(np.diag(H))))
            try:
                delta = np.linalg.solve(H + lam * np.diag(D), -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            zn = z + delta
            new = evaluate(zn[:s], zn[s:].reshape(N, u), cur["eq"])
            # a step into a corner of the model's regime where some parameter no longer moves any moment
            # (e.g. offshoring switched off) is rejected: the gradient there is zero and LM would stall
            flat = np.any(colnorm(new) <= 1e-8 * colnorm(cur)) if new["ok"].all() else True
            if new["ok"].all() and not flat:
                loss_n, g_n, H_n = parts(new)
            else:
                loss_n = np.inf
            if loss_n <= loss:
                small_step = np.max(np.abs(delta)) <= xtol * (1.0 + np.max(np.abs(z)))
                small_change = (loss - loss_n) <= ftol * max(loss, 1e-300)
                z, cur, loss, g, H = zn, new, loss_n, g_n, H_n
                lam = max(lam / 3.0, 1e-12)
                # a tiny step or loss change ends the fit only at an exact fit (the loss is in units of the
                # moments' variances: 1e-20 is every moment within 1e-10 of its s.e.) or a stationary point:
                # after many rejected steps (a unit blocked at its regime's edge) the steps are tiny while
                # other units' parameters still have clear descent directions
                if loss <= 1e-300 or ((small_step or small_change)
                                      and (loss <= 1e-20 or stationary(loss, g, H, max(gtol, 1e-5)))):
                    success = True
                    break
            else:
                lam *= 4.0
                if lam > 1e12:  # no decrease possible along the gradient: stationary up to rounding?
                    success = stationary(loss, g, H, max(gtol, 1e-5))
                    break
        return z, cur, loss, steps, success

    S = S_units
    if weighting == "optimal":
        W1 = weight_matrix("diagonal" if S_units is not None else "identity")
        z1, ev1, _, steps1, _ = fit(W1, zs0, zu0, guess)
        Sig_hat = None
        if S_units is None:
            e1 = np.where(obs, ev1["vec"] - Tz, 0.0)
            if not obs.all():
                raise ValueError("weighting='optimal' without moment_se/moment_cov needs every target observed")
            dof = N - P / k
            if dof <= 0:
                raise ValueError("too few units to estimate the moments' covariance for weighting='optimal'; "
                                 "pass moment_se= or moment_cov=")
            Sig_hat = e1.T @ e1 / dof
            S = np.broadcast_to(Sig_hat, (N, k, k)).copy()
        Wb = weight_matrix("optimal", Sig_hat)
        z, ev, loss, steps, success = fit(Wb, z1[:s], z1[s:].reshape(N, u), ev1["eq"])
        steps += steps1
    else:
        Wb = weight_matrix(weighting)
        z, ev, loss, steps, success = fit(Wb, zs0, zu0, guess)

    # -- inference ---------------------------------------------------------------------------------
    rows = obs.reshape(-1)
    G = dense(ev["Jn"])[rows]
    Wd_full = np.zeros((N * k, N * k))
    Sd_full = np.zeros((N * k, N * k))
    for i in range(N):
        Wd_full[i * k:(i + 1) * k, i * k:(i + 1) * k] = Wb[i]
        if S is not None:
            Sd_full[i * k:(i + 1) * k, i * k:(i + 1) * k] = S[i]
    W = Wd_full[np.ix_(rows, rows)]
    Sd = Sd_full[np.ix_(rows, rows)] if S is not None else None
    theta = ev["theta"]  # (N, s+u), natural units
    th_vec = np.concatenate([theta[0, :s], theta[:, s:].reshape(-1)])
    e = (ev["vec"] - Tz).reshape(-1)[rows]
    scale = np.where(np.abs(th_vec) > 0, np.abs(th_vec), 1.0)
    Wsqrt_G = np.linalg.cholesky(W)
    Js = Wsqrt_G.T @ G * scale[None, :]
    sv = np.linalg.svd(Js, compute_uv=False) if np.all(np.isfinite(Js)) else np.full(P, np.nan)
    cond = float(sv.max() / sv.min()) if np.all(np.isfinite(sv)) and sv.min() > 0 else float("inf")
    identified = bool(np.isfinite(cond) and cond < 1e8)
    A = G.T @ W @ G
    if identified:
        Ainv = np.linalg.inv(A)
    else:
        Ainv = np.full((P, P), np.nan)
        if warn:
            warnings.warn(f"the pooled problem is not identified: condition number {cond:.3g} of the scaled "
                          "moment Jacobian; fix a parameter or add moments", IdentificationWarning, stacklevel=2)
    if Sd is not None:
        cov = Ainv @ G.T @ W @ Sd @ W @ G @ Ainv
        if weighting == "optimal" and S_units is None:
            assumption = ("moment covariance estimated from the first step's residuals (k x k, common to all units)")
        elif moment_cov is not None:
            assumption = "moment_cov given (units independent)"
        else:
            assumption = "moment_se given (independent moments)"
    else:
        cov = np.full((P, P), np.nan)
        assumption = ("not computed: the precision of the data moments is unknown; pass moment_se= or moment_cov=")
    se = np.sqrt(np.clip(np.diag(cov), 0, None)) if Sd is not None else np.full(P, np.nan)
    df_j = n_obs - P
    j_note = ""
    if Sd is None:
        J, jp = float("nan"), float("nan")
        j_note = "no moment covariance: pass moment_se= or moment_cov="
    elif weighting == "optimal" and S_units is None:
        J, jp = float("nan"), float("nan")
        j_note = ("not reported: with the moments' covariance estimated from the residuals, J is close to its "
                  "degrees of freedom by construction")
    elif df_j <= 0:
        J, jp = float("nan"), float("nan")
        j_note = "exactly identified (no over-identifying restrictions)"
    elif not identified:
        J, jp = float("nan"), float("nan")
        j_note = "not identified"
    elif weighting in ("diagonal", "optimal") and np.allclose(W @ Sd, np.eye(n_obs), rtol=1e-10, atol=1e-12):
        J = float(e @ W @ e)  # efficient weighting W = S^-1: J = e' S^-1 e
        jp = chi2_sf(J, df_j)
    else:
        J, _, jp = j_statistic(e, G, W, Sd)  # any W: J = e'(M S M')^+ e
    ok_all = bool(ev["ok"].all())
    converged = bool(success and ok_all and identified)
    status = ("converged" if converged else "inner_solve_failed" if not ok_all else
              "not_identified" if not identified else "optimizer_not_converged")

    # -- tables ------------------------------------------------------------------------------------
    sh_names, uf_names = list(sh), list(uf)
    names = [(n, "(all)") for n in sh_names] + [(n, uid) for uid in units for n in uf_names]
    shared_est = {n: float(th_vec[j]) for j, n in enumerate(sh_names)}
    shared_se = {n: float(se[j]) for j, n in enumerate(sh_names)}
    U = {}
    for q, n in enumerate(uf_names):
        U[n] = theta[:, s + q]
        U[f"se:{n}"] = se[s:].reshape(N, u)[:, q] if u else []
    for q, m in enumerate(targets):
        U[f"target:{m}"] = T[:, q]
        U[f"model:{m}"] = ev["vec"][:, q]
    for c, col in enumerate(fixed):
        U[col] = F[:, c]
    U["solve_ok"] = ev["ok"]
    units_df = pd.DataFrame(U, index=pd.Index(units, name=table.index.name or "unit"))
    tidy = pd.DataFrame({"parameter": [a for a, _ in names], "unit": [b for _, b in names],
                         "estimate": th_vec, "se": se})
    se_m = np.sqrt(np.diagonal(S, axis1=1, axis2=2)) if S is not None else np.full((N, k), np.nan)
    mt = pd.DataFrame({"unit": np.repeat(units, k), "moment": np.tile(targets, N), "target": T.reshape(-1),
                       "model": ev["vec"].reshape(-1), "deviation": (ev["vec"] - T).reshape(-1),
                       "se": se_m.reshape(-1), "weight": np.diagonal(Wb, axis1=1, axis2=2).reshape(-1)})
    res = PooledResult(
        shared=shared_est, shared_se=shared_se, units=units_df, table=tidy, moments_table=mt, cov=cov, names=names,
        jacobian=G, weights=W, S=Sd, weighting=weighting, loss=float(loss), converged=converged, status=status,
        steps=int(steps), j_stat=J, j_df=int(df_j), j_pvalue=jp, j_note=j_note, se_assumption=assumption,
        condition_number=cond, identified=identified, n_obs=n_obs, unit_free=uf_names, fixed=list(fixed),
        _model=model,
    )
    res.message = (f"{model.label()} pooled over {N} units ({s} shared, {u} per unit, {n_obs} moments, "
                   f"weighting {weighting}): {status} after {steps} steps, loss {loss:.3g}")
    if warn and not converged:
        warnings.warn(res.message, CalibrationWarning, stacklevel=2)
    return res


__all__ = ["calibrate_pooled", "PooledResult"]
