"""The `Model` base class: an equilibrium as named residuals over named unknowns.

A model file states only economics. Parameters are the dataclass fields of an `equinox.Module`
(float fields become float64 JAX arrays, so one compilation serves every parameter value and
`jax.grad`/`jax.vmap` reach them); structural choices (a schedule family, a flag that changes the
number of equations) are `eqx.field(static=True)`.

A subclass provides:

* `unknowns`: a class-level dict name -> `Transform` (Positive, Unit, Interval, Free);
* `residuals(u)`: dict name -> residual, zero at an equilibrium, O(1) scaled;
* optionally `outputs(u)` (derived quantities by name), `regime(u)` (named validity conditions,
  True when the solution is inside the sub-model's regime), `domain()` (named admissible-parameter
  conditions, written as the readable condition they test, e.g. `{"beta > 0": self.beta > 0}`),
  `guess()` (a starting point in natural units) and `shocks` (the parameters users differentiate by).

Optional hooks, declared here with neutral defaults (`Model.HOOKS`); a subclass that defines one
is listed in `cls.hooks`, and the machinery asks `model.has_hook(name)`:

* `intermediates(u) -> dict`: named quantities that residuals, outputs and regime all use. The
  machinery computes them once per evaluation and passes `model.point(u)` (the unknowns plus the
  intermediates) to all three; a model reads them as `u["name"]` after `u = self.point(u)`.
* `fixed_point(u) -> dict`: a map whose fixed point is the equilibrium (same names and natural
  units as `unknowns`); used by the `AndersonFixedPoint` solver.
* `walras(u) -> dict`: the redundant (dropped) equations, which must hold at a solution.
* `homogeneity`: a class attribute `{"scale": parameter names, "nominal": unknown names}`.
* `decomposition_parts(u) -> dict`: named parts of an effect decomposition (model-specific).
* `on_branch(u) -> bool`: whether a root lies on the equilibrium branch the model asks for (e.g.
  w > 1 for one branch of a model with several equilibria). The default solver chain treats a root
  off the branch as not found and tries its fallbacks; if none finds a root on the branch, the
  first root is returned (and the model's `regime` check flags it).
"""
from __future__ import annotations

import dataclasses
import difflib
import numbers
import re
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .transforms import Transform

__all__ = ["Model", "ParameterError", "Point", "is_concrete"]


class ParameterError(ValueError):
    """A parameter value outside the model's admissible domain (a `ValueError`)."""


def is_concrete(x) -> bool:
    """True when no leaf of `x` is a JAX tracer (so Python control flow on values is possible)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def _param_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("static", False)]


def _static_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("static", False)]


def _did_you_mean(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def _as_parameter(cls_name: str, name: str, value):
    """Convert a user-supplied parameter to a float64 array, with a clear error for bad types."""
    if isinstance(value, jax.core.Tracer):
        return value.astype(jnp.float64) if jnp.issubdtype(value.dtype, jnp.integer) else value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{cls_name}: parameter {name} must be a number, got the bool {value!r}.")
    if isinstance(value, numbers.Real):
        return jnp.asarray(value, dtype=jnp.float64)
    if isinstance(value, (list, tuple)):  # nested sequences of numbers: an array parameter
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{cls_name}: parameter {name} must be numeric, got {value!r}.") from None
    if isinstance(value, (np.ndarray, jax.Array)):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise TypeError(f"{cls_name}: parameter {name} must be numeric, got dtype {value.dtype}.")
        return jnp.asarray(value, dtype=jnp.float64)
    raise TypeError(
        f"{cls_name}: parameter {name} must be a number (or a JAX/NumPy array), "
        f"got {type(value).__name__} {value!r}."
    )


class _ModelMeta(type(eqx.Module)):
    """Checks keyword names (with a did-you-mean), converts parameters to float64, validates domains."""

    def __call__(cls, *args, **kwargs):
        if args:
            raise TypeError(
                f"{cls.__name__} takes parameters by name only, e.g. {cls.__name__}(beta=1.5); "
                f"got {len(args)} positional argument(s)."
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in kwargs:
            if key not in fields:
                raise TypeError(
                    f"{cls.__name__} has no parameter '{key}'.{_did_you_mean(key, fields)} "
                    f"Parameters: {', '.join(f.name for f in _param_fields(cls))}."
                )
        for f in _param_fields(cls):
            if f.name in kwargs:
                value = kwargs[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                value = f.default_factory()  # type: ignore[misc]
            else:
                continue
            kwargs[f.name] = _as_parameter(cls.__name__, f.name, value)
        model = super().__call__(**kwargs)
        model.check_domain()
        return model


class Model(eqx.Module, metaclass=_ModelMeta):
    """Base class of every jaxoff model. See the module docstring for what a subclass provides."""

    unknowns: ClassVar[dict[str, Transform]] = {}
    HOOKS: ClassVar[tuple[str, ...]] = ("intermediates", "fixed_point", "walras", "homogeneity",
                                        "decomposition_parts", "on_branch")
    hooks: ClassVar[frozenset[str]] = frozenset()
    homogeneity: ClassVar[dict | None] = None
    #: False when `fixed_point` holds loops with data-dependent trip counts (not reverse-differentiable):
    #: implicit differentiation of large systems then linearizes the residuals instead of z - G(z).
    differentiable_fixed_point: ClassVar[bool] = True
    shocks: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""
    spec_id: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # The hooks this class (or a parent between it and Model) defines: declared, not probed.
        cls.hooks = frozenset(h for h in Model.HOOKS
                              if any(h in vars(c) for c in cls.__mro__ if c is not Model and issubclass(c, Model)))

    # -- economics, provided by subclasses -------------------------------------------------------
    def residuals(self, u: dict) -> dict:
        """Named residuals F(u, theta), zero at an equilibrium."""
        raise NotImplementedError

    def outputs(self, u: dict) -> dict:
        """Named derived outputs at unknowns `u`."""
        return {}

    def regime(self, u: dict) -> dict:
        """Named regime/validity conditions at unknowns `u` (True = inside the regime)."""
        return {}

    def domain(self) -> dict:
        """Named admissible-parameter conditions: readable condition -> boolean array."""
        return {}

    def guess(self) -> dict:
        """A starting point in natural units (defaults: each transform's neutral value)."""
        return {k: jnp.asarray(t.default, dtype=jnp.float64) for k, t in self.unknowns.items()}

    # -- optional hooks (see the module docstring) ------------------------------------------------
    def intermediates(self, u: dict) -> dict:
        """Named quantities shared by residuals, outputs and regime (hook; default none)."""
        return {}

    def fixed_point(self, u: dict) -> dict:
        """A map whose fixed point is the equilibrium (hook; `AndersonFixedPoint` needs it)."""
        raise NotImplementedError(f"{self.label()} defines no fixed-point map")

    def walras(self, u: dict) -> dict:
        """The redundant equations (Walras' law), zero at a solution (hook; default none)."""
        return {}

    def decomposition_parts(self, u: dict) -> dict:
        """Named parts of the model's effect decomposition (hook)."""
        raise NotImplementedError(f"{self.label()}: no effect decomposition")

    def on_branch(self, u: dict):
        """Whether the point lies on the equilibrium branch the model asks for (hook; default: always)."""
        return jnp.asarray(True)

    def has_hook(self, name: str) -> bool:
        """Whether this model's class provides the optional hook `name` (one of `Model.HOOKS`)."""
        if name not in Model.HOOKS:
            raise KeyError(f"unknown hook '{name}'; hooks: {', '.join(Model.HOOKS)}")
        return name in self.hooks

    def point(self, u: dict) -> Point:
        """The unknowns `u` with the model's intermediates added, computed once (idempotent)."""
        if isinstance(u, Point):
            return u
        p = Point(u)
        if "intermediates" in self.hooks:
            p.update(self.intermediates(p))
        return p

    # -- generic helpers ------------------------------------------------------------------------
    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the (differentiable) parameters, in declaration order."""
        return tuple(f.name for f in _param_fields(cls))

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Names of the static (structural) options."""
        return tuple(f.name for f in _static_fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The default value of every parameter and option."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
        return out

    def fingerprint(self) -> dict:
        """Everything that identifies this model exactly: class, static options and every parameter
        value (full precision), as JSON-able strings; used to key checkpoints."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}",
                "options": {n: repr(getattr(self, n)) for n in self.option_names()},
                "params": {n: repr(np.asarray(getattr(self, n)).tolist()) for n in self.parameter_names()}}

    def at_defaults(self) -> Model:
        """The same class and static options at its default parameters."""
        static = {f.name: getattr(self, f.name) for f in _static_fields(type(self))}
        return type(self)(**static)

    @property
    def params(self) -> dict[str, jax.Array]:
        """Current parameter values by name."""
        return {k: getattr(self, k) for k in self.parameter_names()}

    def replace(self, **changes) -> Model:
        """A copy with some parameters/options changed (validated like the constructor)."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        unknown = [k for k in changes if k not in kwargs]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no parameter '{unknown[0]}'."
                f"{_did_you_mean(unknown[0], kwargs)}"
            )
        kwargs.update(changes)
        return type(self)(**kwargs)

    def with_params(self, **values) -> Model:
        """A copy with parameters set to (possibly traced) values, without validation.

        This is the differentiable path used by the statics and calibration code.
        """
        names = list(values)
        for k in names:
            if k not in self.parameter_names():
                raise TypeError(
                    f"{type(self).__name__} has no parameter '{k}'."
                    f"{_did_you_mean(k, self.parameter_names())}"
                )
        vals = [jnp.asarray(values[k], dtype=jnp.float64) for k in names]
        return eqx.tree_at(lambda m: [getattr(m, k) for k in names], self, vals)

    def require_parameters(self, names) -> None:
        """Raise a KeyError (with a did-you-mean) for names that are not parameters of this model."""
        for k in names:
            if k not in self.parameter_names():
                raise KeyError(f"{self.label()} has no parameter '{k}'."
                               f"{_did_you_mean(k, self.parameter_names())}")

    def require_scalar_parameters(self, names, purpose: str = "this operation") -> None:
        """As `require_parameters`, and a ValueError for parameters that are not scalars."""
        self.require_parameters(names)
        for k in names:
            if np.ndim(getattr(self, k)) != 0:
                raise ValueError(f"{purpose} needs scalar parameters; '{k}' has shape {np.shape(getattr(self, k))}")

    def domain_ok(self):
        """All admissible-domain conditions together (a boolean array; traceable)."""
        conds = self.domain()
        ok = jnp.asarray(True)
        for v in conds.values():
            ok = ok & jnp.all(jnp.asarray(v))
        return ok

    def check_domain(self) -> None:
        """Raise `ParameterError` naming parameter, value and rule if a condition fails.

        Skipped when parameters are traced (inside jit/vmap/grad): there the failure is reported
        per point through `Solution.status` instead.
        """
        if not is_concrete(self):
            return
        failures = []
        for rule, ok in self.domain().items():
            if not bool(np.all(np.asarray(ok))):
                failures.append(rule)
        if failures:
            lines = []
            for rule in failures:
                names = [n for n in re.findall(r"[A-Za-z_]\w*", rule) if n in self.parameter_names()]
                vals = ", ".join(f"{n} = {_fmt(getattr(self, n))}" for n in dict.fromkeys(names))
                lines.append(f"'{rule}' fails" + (f" with {vals}" if vals else ""))
            raise ParameterError(
                f"{self.label()}: parameters outside the admissible domain: " + "; ".join(lines) + "."
            )

    @classmethod
    def label(cls) -> str:
        """'family/spec_id (ClassName)' for messages."""
        if cls.family and cls.spec_id:
            return f"{cls.family}/{cls.spec_id} ({cls.__name__})"
        return cls.__name__

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            parts.append(f"{f.name}={_fmt(getattr(self, f.name))}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def describe(self) -> Any:
        """A pandas table of parameters (value, default) and the model's unknowns and equations."""
        import pandas as pd

        defaults = self.defaults()
        rows = []
        for name in self.parameter_names():
            rows.append({"kind": "parameter", "name": name, "value": _fmt(getattr(self, name)),
                         "default": _fmt(defaults.get(name)), "shock": name in self.shocks})
        for name in self.option_names():
            rows.append({"kind": "option", "name": name, "value": getattr(self, name),
                         "default": defaults.get(name), "shock": False})
        for name, t in self.unknowns.items():
            rows.append({"kind": "unknown", "name": name, "value": repr(t), "default": "", "shock": False})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        rules = "".join(f"<li><code>{r}</code></li>" for r in self.domain())
        return (
            f"<b>{self.label()}</b> {self.description}<br>"
            + self.describe().to_html(index=False)
            + (f"<br>Admissible domain:<ul>{rules}</ul>" if rules else "")
        )


class Point(dict):
    """Unknowns plus the model's intermediates (see `Model.point`). A pytree like a dict."""


jax.tree_util.register_pytree_node(
    Point,
    lambda p: (tuple(p[k] for k in sorted(p)), tuple(sorted(p))),
    lambda keys, values: Point(zip(keys, values)),
)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, jax.core.Tracer):
        return "<traced>"
    try:
        arr = np.asarray(v)
    except Exception:  # pragma: no cover - exotic leaves
        return repr(v)
    if arr.ndim == 0:
        return f"{float(arr):.6g}" if np.issubdtype(arr.dtype, np.number) else str(arr)
    return np.array2string(arr, precision=6)
