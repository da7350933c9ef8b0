"""`jo.diagnose(model)`: why a model solves, or why it does not, in the model's own names.

Checks, each reported by name:

* the system is square (as many residuals as unknowns, counted by name and size);
* residuals by name at the starting point and at the solution, and the first non-finite residual;
* the Jacobian at the solution: rank, condition number, and the equations and unknowns that load
  most on its smallest singular direction (the most nearly dependent ones);
* homogeneity, for models that declare it (`homogeneity = {"scale": params, "nominal": unknowns}`):
  scaling the nominal parameters by lambda scales the nominal unknowns by lambda and leaves the
  others unchanged;
* Walras' law, for models with the `walras(u) -> {name: value}` hook (the redundant equations,
  which must hold at the solution although it was not imposed).
"""
from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .model import Model
from .solve import Layout, residual_vector, solve

__all__ = ["diagnose", "Diagnosis"]


@dataclasses.dataclass
class Diagnosis:
    """The result of `jo.diagnose`; print it, or read the fields."""

    model: str
    square: bool
    unknown_sizes: dict
    residual_sizes: dict
    residuals_at_guess: dict
    residuals_at_solution: dict
    first_nonfinite: str | None
    status: str
    residual_norm: float
    steps: int
    jacobian_rank: int
    condition_number: float
    singular_values: np.ndarray
    weakest_equations: list
    weakest_unknowns: list
    homogeneity: dict | None
    walras: dict | None
    suggestions: list

    @property
    def ok(self) -> bool:
        """True when the solve converged and no structural check failed."""
        homog_ok = self.homogeneity is None or self.homogeneity.get("ok", True)
        walras_ok = self.walras is None or all(_absmax(v) < 1e-8 for v in self.walras.values())
        return (self.square and self.status == "converged" and self.first_nonfinite is None
                and homog_ok and walras_ok)

    def __str__(self) -> str:
        lines = [f"Diagnosis of {self.model}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        lines.append(f"  square system: {self.square} (unknowns {self.unknown_sizes}, residuals {self.residual_sizes})")
        lines.append(f"  solve: {self.status}, residual norm {self.residual_norm:.2e}, Newton steps: {self.steps}")
        worst = max(self.residuals_at_guess.items(), key=lambda kv: _absmax(kv[1]), default=("", 0.0))
        lines.append(f"  at the guess: worst residual {worst[0]} = {_absmax(worst[1]):.3g}")
        if self.first_nonfinite:
            lines.append(f"  first non-finite residual at the guess: {self.first_nonfinite}")
        lines.append(f"  Jacobian: rank {self.jacobian_rank} of {len(self.singular_values)}, "
                     f"condition number {self.condition_number:.3g}")
        lines.append(f"  most nearly dependent equations: {', '.join(self.weakest_equations)}; "
                     f"unknowns: {', '.join(self.weakest_unknowns)}")
        if self.homogeneity is not None:
            lines.append(f"  homogeneity: {self.homogeneity}")
        if self.walras is not None:
            lines.append(f"  Walras' law (redundant equations at the solution): {self.walras}")
        for s in self.suggestions:
            lines.append(f"  suggestion: {s}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + str(self) + "</pre>"


def _absmax(v) -> float:
    a = np.abs(np.asarray(v, dtype=float))
    return float(np.nanmax(a)) if a.size and not np.all(np.isnan(a)) else float("nan")


def _entry_names(d: dict) -> list[str]:
    names = []
    for k, v in d.items():
        n = int(np.size(v))
        names.extend([k] if n == 1 else [f"{k}[{i}]" for i in range(n)])
    return names


def diagnose(model: Model, guess: dict | None = None, *, top: int = 2, **solve_kwargs) -> Diagnosis:
    """Diagnose a model at its guess and solution (see the module docstring for the checks).

    **Arguments:** `model`; `guess` (natural units, default `model.guess()`); `top` (how many
    equations/unknowns to name for the weakest Jacobian direction); keyword arguments go to `jo.solve`.

    **Returns:** a `Diagnosis` (printable; `.ok` is True when everything checks out).
    """
    start = model.guess()
    start.update(guess or {})
    layout = Layout.of(model, start)
    res_guess = model.residuals(model.point({k: jnp.asarray(v, dtype=jnp.float64) for k, v in start.items()}))
    unknown_sizes = {k: int(np.prod(s, dtype=int)) for k, s in zip(layout.names, layout.shapes)}
    residual_sizes = {k: int(np.size(v)) for k, v in res_guess.items()}
    square = sum(unknown_sizes.values()) == sum(residual_sizes.values())
    first_nonfinite = next((k for k, v in res_guess.items() if not np.all(np.isfinite(np.asarray(v)))), None)

    suggestions = []
    if not square:
        suggestions.append(
            f"the system has {sum(residual_sizes.values())} residual entries for "
            f"{sum(unknown_sizes.values())} unknowns: add or drop an equation")
        return Diagnosis(model.label(), False, unknown_sizes, residual_sizes, _np(res_guess), {},
                         first_nonfinite, "not_solved", float("nan"), 0, 0, float("nan"), np.array([]),
                         [], [], None, None, suggestions)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve(model, guess=guess, mask=False, **solve_kwargs)
    z = layout.to_internal(model, sol.unknowns)
    J = np.asarray(jax.jacfwd(lambda zz: residual_vector(model, layout, zz))(z))
    if np.all(np.isfinite(J)):
        U, S, Vt = np.linalg.svd(J)
        tol = S.max(initial=0.0) * max(J.shape) * np.finfo(float).eps
        rank = int(np.sum(S > tol))
        cond = float(S[0] / S[-1]) if S[-1] > 0 else float("inf")
        eq_names = _entry_names(res_guess)
        un_names = _entry_names({k: np.zeros(s) for k, s in zip(layout.names, layout.shapes)})
        weakest_eq = [eq_names[i] for i in np.argsort(-np.abs(U[:, -1]))[:top]]
        weakest_un = [un_names[i] for i in np.argsort(-np.abs(Vt[-1]))[:top]]
    else:
        S, rank, cond, weakest_eq, weakest_un = np.array([]), 0, float("nan"), [], []
        suggestions.append("the Jacobian at the end point is not finite: start closer (guess=...)")

    status = sol.status_name
    if status != "converged":
        worst = max(sol.residuals.items(), key=lambda kv: _absmax(kv[1]))
        suggestions.append(
            f"{status}: worst equation {worst[0]} (|residual| {_absmax(worst[1]):.3g}). Try another start "
            f"(guess=...), continuation from a solved point (jo.continuation), homotopy_steps=32 (a finer "
            f"first step than the default 8, and more of them), or more steps (max_steps=...)")
        failing = [k for k, v in sol.regime.items() if not bool(np.all(np.asarray(v)))]
        if failing:
            suggestions.append(f"regime conditions failing: {', '.join(failing)}; this sub-model may not "
                               "describe this parameter point - try the sub-model for the neighbouring regime")
    if np.isfinite(cond) and cond > 1e10:
        suggestions.append(f"the Jacobian is nearly singular (condition {cond:.2g}); check "
                           f"{', '.join(weakest_eq)} for redundancy, or a fold/multiple equilibria")

    return Diagnosis(
        model=model.label(), square=True, unknown_sizes=unknown_sizes, residual_sizes=residual_sizes,
        residuals_at_guess=_np(res_guess), residuals_at_solution=_np(sol.residuals),
        first_nonfinite=first_nonfinite, status=status, residual_norm=float(sol.residual_norm),
        steps=int(sol.steps), jacobian_rank=rank, condition_number=cond, singular_values=S,
        weakest_equations=weakest_eq, weakest_unknowns=weakest_un,
        homogeneity=_homogeneity(model, sol), walras=_walras(model, sol), suggestions=suggestions,
    )


def _np(d: dict) -> dict:
    """Residuals by name as floats (0-d) or NumPy arrays (any other shape, e.g. (1,) or (N, N))."""
    return {k: (float(np.asarray(v)) if np.ndim(v) == 0 else np.asarray(v, dtype=float)) for k, v in d.items()}


def _homogeneity(model: Model, sol, lam: float = 1.37) -> dict | None:
    spec = model.homogeneity
    if not spec or sol.status_name != "converged":
        return None
    scaled = model.replace(**{k: getattr(model, k) * lam for k in spec["scale"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s2 = solve(scaled, guess={k: (sol[k] * lam if k in spec["nominal"] else sol[k]) for k in model.unknowns})
    errs = {}
    for k in model.unknowns:
        factor = lam if k in spec["nominal"] else 1.0
        errs[k] = _absmax(np.asarray(s2[k]) - factor * np.asarray(sol[k])) / max(1.0, _absmax(sol[k]))
    worst = max(errs, key=lambda k: errs[k])
    return {"ok": errs[worst] < 1e-8, "lambda": lam, "worst": worst, "error": errs[worst]}


def _walras(model: Model, sol) -> dict | None:
    if not model.has_hook("walras"):
        return None
    return _np(model.walras(model.point(sol.unknowns)))
