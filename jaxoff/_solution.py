"""The `Solution` pytree returned by `jo.solve`."""
from __future__ import annotations

import difflib
import enum
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .model import Model


class Status(enum.IntEnum):
    """The status of a solved point, shared by solve, sweep and calibrate. 0 is the only fine one.

    `Status(code).name.lower()` is the name used in tables; `Status(code).message` says what it means.
    """

    CONVERGED = 0
    NOT_CONVERGED = 1
    INVALID_PARAMETERS = 2
    OUT_OF_REGIME = 3
    NONFINITE = 4

    @property
    def label(self) -> str:
        """The lower-case name used in tables and JSON ('converged', 'out_of_regime', ...)."""
        return self.name.lower()

    @property
    def message(self) -> str:
        """One sentence on what the status means."""
        return _STATUS_MESSAGES[self]


_STATUS_MESSAGES = {
    Status.CONVERGED: "a valid equilibrium inside the sub-model's regime, residuals below tolerance",
    Status.NOT_CONVERGED: "the solver stopped without reaching a root (residuals above tolerance)",
    Status.INVALID_PARAMETERS: "the parameters lie outside the model's admissible domain",
    Status.OUT_OF_REGIME: "an equilibrium of the equations that violates the sub-model's regime conditions",
    Status.NONFINITE: "the iterates or residuals became non-finite (left the model's domain)",
}

STATUS_NAMES = {int(s): s.label for s in Status}
CONVERGED, NOT_CONVERGED, INVALID_PARAMETERS, OUT_OF_REGIME, NONFINITE = (int(s) for s in Status)


class Solution(eqx.Module):
    """An equilibrium: unknowns and derived outputs by name, with its diagnostics.

    Index it by name (`sol["w"]`) for any unknown, output or regime flag. Under `jax.vmap` every
    field carries the batch dimension. Points that failed (not converged, invalid parameters,
    non-finite, or out of regime) have NaN unknowns/outputs unless `solve(..., mask=False)`.

    **Fields:** `unknowns`, `outputs`, `regime`, `residuals` (dicts by name), `converged` (bool:
    solver success and residual norm below tolerance), `status` (int code, see `STATUS_NAMES`),
    `residual_norm` (max-abs scaled residual), `steps` (Newton steps, including fallback steps),
    `model` (the model solved).
    """

    unknowns: dict
    outputs: dict
    regime: dict
    residuals: dict
    converged: jax.Array
    status: jax.Array
    residual_norm: jax.Array
    steps: jax.Array
    model: Model

    # -- access -----------------------------------------------------------------------------------
    def __getitem__(self, name: str):
        for d in (self.unknowns, self.outputs, self.regime):
            if name in d:
                return d[name]
        close = difflib.get_close_matches(name, self.keys(), n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else f" Names: {', '.join(self.keys())}."
        raise KeyError(f"'{name}' is not an unknown, output or regime flag of {self.model.label()}.{hint}")

    def __contains__(self, name: str) -> bool:
        return name in self.unknowns or name in self.outputs or name in self.regime

    def keys(self) -> list[str]:
        return [*self.unknowns, *self.outputs, *self.regime]

    @property
    def in_regime(self):
        """All regime conditions together (bool array)."""
        ok = jnp.asarray(True)
        for v in self.regime.values():
            ok = ok & jnp.asarray(v)
        return ok

    @property
    def ok(self):
        """True where the point is converged, valid and inside its regime (status 0)."""
        return self.status == CONVERGED

    @property
    def status_name(self):
        """Status as a readable name (a str, or a NumPy array of str for batched solutions)."""
        s = np.asarray(self.status)
        if s.ndim == 0:
            return STATUS_NAMES[int(s)]
        return np.vectorize(STATUS_NAMES.get)(s)

    def values(self) -> dict[str, Any]:
        """Unknowns and outputs in one dict."""
        return {**self.unknowns, **self.outputs}

    def to_series(self):
        """Unknowns, outputs and diagnostics of an unbatched solution as a pandas Series."""
        import pandas as pd

        data = {k: float(np.asarray(v)) for k, v in self.values().items() if np.ndim(v) == 0}
        data.update({f"regime:{k}": bool(np.asarray(v)) for k, v in self.regime.items()})
        data.update(
            status=self.status_name,
            converged=bool(np.asarray(self.converged)),
            residual_norm=float(np.asarray(self.residual_norm)),
            steps=int(np.asarray(self.steps)),
        )
        return pd.Series(data, name=self.model.label())

    def to_frame(self):
        """A batched solution as a tidy pandas DataFrame, one row per point.

        Columns: the batched parameters, every unknown and output (a vector quantity of length m
        becomes columns name[0] ... name[m-1]), the regime flags (`regime:<name>`), `status`,
        `converged` and `residual_norm`.
        """
        import pandas as pd

        n = int(np.size(self.status))
        cols = {}
        for k in self.model.parameter_names():
            v = np.asarray(getattr(self.model, k))
            if v.ndim >= 1 and v.shape[0] == n and np.ndim(self.status) == 1:
                cols[k] = v.reshape(n, -1)[:, 0] if v.ndim > 1 else v
        for k, v in self.values().items():
            a = np.asarray(v).reshape(n, -1) if np.ndim(self.status) else np.asarray(v).reshape(1, -1)
            if a.shape[1] == 1:
                cols[k] = a[:, 0]
            else:
                cols.update({f"{k}[{i}]": a[:, i] for i in range(a.shape[1])})
        for k, v in self.regime.items():
            cols[f"regime:{k}"] = np.broadcast_to(np.asarray(v), (n,))
        cols["status"] = np.broadcast_to(np.asarray(self.status_name), (n,))
        cols["converged"] = np.broadcast_to(np.asarray(self.converged), (n,))
        cols["residual_norm"] = np.broadcast_to(np.asarray(self.residual_norm), (n,))
        return pd.DataFrame(cols)

    def message(self) -> str:
        """A one-paragraph diagnosis: status, worst residual by name, and what to try."""
        if np.ndim(self.status) != 0:
            codes, n = np.unique(np.asarray(self.status), return_counts=True)
            counts = {STATUS_NAMES[int(k)]: int(c) for k, c in zip(codes, n)}
            return f"{self.model.label()}: batched solution, statuses {counts}."
        status = self.status_name
        worst_name, worst = _worst_residual(self.residuals)
        head = f"{self.model.label()}: {status}"
        detail = f"; worst residual {worst_name} = {worst:.3g} after {int(self.steps)} steps"
        if status == "converged":
            return head + f" (residual norm {float(self.residual_norm):.2e}, Newton steps: {int(self.steps)})."
        if status == "invalid_parameters":
            return head + ": parameters outside the admissible domain; see model.domain()."
        if status == "out_of_regime":
            failed = [k for k, v in self.regime.items() if not bool(np.asarray(v))]
            return head + detail + f"; regime conditions failing: {', '.join(failed)}."
        return head + detail + (
            ". Try another starting point (guess=...), continuation from a nearby solved point "
            "(jo.continuation), or more steps (max_steps=...)."
        )

    def __repr__(self) -> str:
        if np.ndim(self.status) != 0:
            return f"Solution({self.model.label()}, batched {np.shape(self.status)}, {self.message()})"
        vals = ", ".join(f"{k}={float(np.asarray(v)):.6g}" if np.ndim(v) == 0 else f"{k}: shape {np.shape(v)}"
                         for k, v in self.unknowns.items())
        return f"Solution({vals}; {self.message()})"

    def _repr_html_(self) -> str:
        if np.ndim(self.status) != 0:
            return f"<b>{self.message()}</b>" + self.to_frame().to_html(max_rows=30)

        def table(d, title):
            rows = "".join(f"<tr><td><code>{k}</code></td><td>{_fmt_value(v)}</td></tr>" for k, v in d.items())
            return f"<td style='vertical-align:top'><b>{title}</b><table>{rows}</table></td>" if d else ""

        diag = {"status": self.status_name, "converged": bool(np.asarray(self.converged)),
                "residual norm": f"{float(np.asarray(self.residual_norm)):.2e}",
                "Newton steps": int(np.asarray(self.steps))}
        return (f"<b>{self.message()}</b><table><tr>" + table(self.unknowns, "unknowns")
                + table(self.outputs, "outputs") + table(self.regime, "regime") + table(diag, "solver")
                + "</tr></table>")


def _fmt_value(v) -> str:
    a = np.asarray(v)
    if a.dtype == bool:
        return "&#10003;" if bool(np.all(a)) else "&#10007;"
    if a.ndim == 0 and np.issubdtype(a.dtype, np.number):
        return f"{float(a):.6g}"
    return str(a) if a.ndim == 0 else np.array2string(a, precision=6)


def _worst_residual(residuals: dict) -> tuple[str, float]:
    worst_name, worst = "", -1.0
    for k, v in residuals.items():
        a = np.abs(np.asarray(v, dtype=float))
        m = float(np.nanmax(a)) if a.size and not np.all(np.isnan(a)) else float("nan")
        if np.isnan(m) or m > worst:
            worst_name, worst = k, m
            if np.isnan(m):
                break
    return worst_name, worst
