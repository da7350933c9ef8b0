"""jaxoff: differentiable general-equilibrium models of international trade and offshoring.

    import jaxoff as jo
    from jaxoff.models import trading_tasks as tt
    sol = jo.solve(tt.SUBMODELS["M1"](beta=1.5))
    jo.derivative(tt.SUBMODELS["M1"](), "w", wrt="beta")
"""
import jax as _jax

# float64 everywhere: set before any array is created.
_jax.config.update("jax_enable_x64", True)

from ._solution import STATUS_NAMES, Solution  # noqa: E402
from .model import Model, ParameterError, is_concrete  # noqa: E402
from .solve import ConvergenceWarning, SolveError, solve  # noqa: E402
from .statics import derivative, elasticity, jacobian, statics, total_derivatives  # noqa: E402
from .transforms import Free, Interval, Positive, Transform, Unit  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Model", "ParameterError", "Solution", "STATUS_NAMES", "solve", "ConvergenceWarning", "SolveError",
    "derivative", "elasticity", "jacobian", "statics", "total_derivatives",
    "Transform", "Positive", "Unit", "Interval", "Free", "is_concrete",
]


def __getattr__(name):
    # Heavier pieces load on first use, so `import jaxoff` stays quick.
    import importlib

    lazy = {
        "sweep": ("sweep", "sweep"), "continuation": ("sweep", "continuation"),
        "check_sign": ("sweep", "check_sign"), "calibrate": ("calibrate", "calibrate"),
        "diagnose": ("diagnose", "diagnose"), "plot": ("plot", None), "data": ("data", None),
        "models": ("models", None), "blocks": ("blocks", None),
    }
    if name in lazy:
        mod_name, attr = lazy[name]
        mod = importlib.import_module(f".{mod_name}", __name__)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'jaxoff' has no attribute {name!r}")
