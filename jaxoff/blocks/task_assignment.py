"""Task location between two similar countries (Grossman and Rossi-Hansberg 2008, NBER WP 14554).

Three pieces of shared economics used by `jaxoff.models.similar_countries`:

* `TaskCost`: an offshoring-cost schedule t(i) on [0, 1] with closed-form integral
  T(a, b) = Int_a^b t(i) di and an *extended* inverse (spec 5.0 and 5.5). The extended inverse
  `tinv` is monotone on all of (0, inf) and satisfies tinv(y) <= 0 iff y <= t(0) and
  tinv(y) >= 1 iff y >= t(1), so a "raw" threshold keeps the sign information that the regime
  table needs (spec 5.2) while `clip(tinv(y), 0, 1)` is the economic threshold.
* `log_spillover`: the national external economy ln A(X) (power X^theta, the paper's form, or the
  spec's shifted (1+X)^theta variant).
* `assignment_cutoffs` / `assign_tasks`: the outcome of the task-location game (spec SM-A,
  paper Sec. 3.3 and Fig. 5): the low-wage country hosts [0, a], the high-wage country (a, b], and
  (b, 1] is dispersed, with b = max(I_hi, I_lo) and a = I_lo if I_hi <= I_lo else min(I_lo, J).
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["TaskCost", "log_spillover", "assignment_cutoffs", "assign_tasks", "T_FORMS", "A_FORMS"]

T_FORMS = ("linear", "power", "exponential", "explosive")
A_FORMS = ("power", "shifted_power")


def _spow(x, p):
    """Odd power extension sign(x)|x|^p (keeps iterates finite when a cutoff is slightly < 0)."""
    ax = jnp.abs(x)
    safe = jnp.where(ax > 0, ax, 1.0)
    return jnp.where(ax > 0, jnp.sign(x) * safe**p, 0.0)


class TaskCost(eqx.Module):
    """Offshoring-cost schedule t(i), increasing on [0, 1] with t(0) = 1 (spec 5.5).

    `form` (static): "linear" t = 1+i (paper), "power" t = 1+i^g, "exponential" t = exp(g i),
    "explosive" t = 1/(1-i) (some tasks never traded). `g` is the shape parameter of the power and
    exponential forms (ignored otherwise).
    """

    form: str = eqx.field(static=True, default="linear")
    g: jax.Array = 1.0

    def __check_init__(self):
        if self.form not in T_FORMS:
            raise ValueError(f"t_form must be one of {T_FORMS}, got {self.form!r}")

    def t(self, i):
        """t(i), the labour requirement multiplier of an offshored task (before beta)."""
        if self.form == "linear":
            return 1.0 + i
        if self.form == "power":
            return 1.0 + _spow(i, self.g)
        if self.form == "exponential":
            return jnp.exp(self.g * i)
        return 1.0 / (1.0 - i)

    def primitive(self, x):
        """An antiderivative of t, so that T(a, b) = primitive(b) - primitive(a)."""
        if self.form == "linear":
            return x + 0.5 * x * x
        if self.form == "power":
            return x + _spow(x, self.g + 1.0) / (self.g + 1.0)
        if self.form == "exponential":
            return jnp.expm1(self.g * x) / self.g
        return -jnp.log1p(-x)

    def T(self, a, b):
        """T(a, b) = Int_a^b t(i) di (zero when a = b)."""
        return self.primitive(b) - self.primitive(a)

    def tinv(self, y):
        """Extended inverse of t: t(tinv(y)) = y on t's range, monotone on y > 0 beyond it."""
        if self.form == "linear":
            return y - 1.0
        if self.form == "power":
            return _spow(y - 1.0, 1.0 / self.g)
        ypos = jnp.where(y > 0, y, 1.0)
        if self.form == "exponential":
            return jnp.where(y > 0, jnp.log(ypos) / self.g, -jnp.inf)
        return jnp.where(y > 0, 1.0 - 1.0 / ypos, -jnp.inf)


def log_spillover(X, theta, form: str = "power"):
    """ln A(X) for the national task-level external economy (spec 5.0, 5.5).

    **Arguments:** `X` (scale of a task in a country), `theta` (elasticity), `form` (static):
    "power" A = X^theta (paper) or "shifted_power" A = (1+X)^theta.

    **Returns:** ln A(X).
    """
    if form == "power":
        return theta * jnp.log(X)
    if form == "shifted_power":
        return theta * jnp.log1p(X)
    raise ValueError(f"A_form must be one of {A_FORMS}, got {form!r}")


def assignment_cutoffs(I_hi, I_lo, J):
    """Cutoffs (a, b) of the location game in the high-wage country's frame (spec 5.1).

    **Arguments:**

    - `I_hi`: concentration limit of the high-wage country (clipped to [0, 1]): I if w > 1.
    - `I_lo`: concentration limit of the low-wage country (clipped): I* if w > 1.
    - `J`: aggregate-cost boundary (clipped; 1 when Claim 1 makes it irrelevant).

    **Returns:** `(a, b)` with 0 <= a <= b <= 1: the low-wage country hosts [0, a], the high-wage
    country (a, b], and tasks in (b, 1] are dispersed. Tasks below min(I_hi, I_lo) can be held
    by either country and go to the lower aggregate cost location (the low-wage one below J);
    tasks between the two limits can only be held by the country with the larger limit.
    """
    b = jnp.maximum(I_hi, I_lo)
    a = jnp.where(I_hi <= I_lo, I_lo, jnp.minimum(I_lo, J))
    return a, b


def assign_tasks(I, I_star, J, branch="+", schedule: TaskCost | None = None) -> dict:
    """Which country performs which tasks, given the thresholds I, I*, J (spec SM-A, Fig. 5).

    **Arguments:**

    - `I`, `I_star`, `J`: the East-concentration limit, the West-concentration limit and the
      aggregate-cost boundary, each in [0, 1] (J = 1 when it is not relevant, Claim 1).
    - `branch`: "+" (w > 1, East is the high-wage country), "-" (w < 1), or a sign array
      (+1 / -1, traceable).
    - `schedule`: a `TaskCost` for the cost integrals T(E), T(W) (default t = 1 + i).

    **Returns:** a dict with cutoffs `a`, `b`; the sets as (lower, upper) end points `E`, `W`, `B`
    (the low-wage country's set is [0, a], the high-wage one's (a, b], B = (b, 1]; an empty set
    has lower = upper); their measures `M_E`, `M_W`, `M_B` and cost integrals `T_E`, `T_W`.
    """
    if isinstance(branch, str):
        if branch not in ("+", "-"):
            raise ValueError(f"branch must be '+' or '-', got {branch!r}")
        sign = 1.0 if branch == "+" else -1.0
    else:
        sign = branch
    schedule = schedule or TaskCost()
    plus = jnp.asarray(sign) > 0
    I_hi = jnp.where(plus, I, I_star)
    I_lo = jnp.where(plus, I_star, I)
    a, b = assignment_cutoffs(I_hi, I_lo, J)
    zero = jnp.zeros_like(a)
    low, high = (zero, a), (a, b)
    E = tuple(jnp.where(plus, h, l) for h, l in zip(high, low))
    W = tuple(jnp.where(plus, l, h) for h, l in zip(high, low))
    return {
        "a": a, "b": b, "E": E, "W": W, "B": (b, jnp.ones_like(b)),
        "M_E": E[1] - E[0], "M_W": W[1] - W[0], "M_B": 1.0 - b,
        "T_E": schedule.T(*E), "T_W": schedule.T(*W),
    }
