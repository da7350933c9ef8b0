"""jaxoff: differentiable general-equilibrium models of international trade and offshoring.

    import jaxoff as jo
    from jaxoff.models import trading_tasks as tt
    sol = jo.solve(tt.SUBMODELS["M1"](beta=1.5))
    jo.derivative(tt.SUBMODELS["M1"](), "w", wrt="beta")

Importing jaxoff switches JAX to float64 for the whole process (`jax_enable_x64`), because equilibria
and their implicit-function derivatives need double precision; set `JAXOFF_ENABLE_X64=0` before the
import to opt out (`jo.solve` then raises an error that says how to enable float64). It also turns on
JAX's persistent compilation cache in `~/.cache/jaxoff/jax` (or `$JAXOFF_CACHE_DIR`); opt out with
`JAXOFF_COMPILATION_CACHE=0`. See jaxoff._config.
"""
from . import _config

# float64 everywhere (unless JAXOFF_ENABLE_X64=0): set before any array is created.
_config._apply_x64_policy()
_config.enable_compilation_cache()

from ._solution import STATUS_NAMES, Solution, Status  # noqa: E402
from ._version import __version__  # noqa: E402
from .model import Model, ParameterError, is_concrete  # noqa: E402
from .solve import ConvergenceWarning, SolveError, newton_with_tangents, solve, solve_batch  # noqa: E402
from .solvers import (  # noqa: E402
    AndersonFixedPoint,
    Chain,
    Homotopy,
    JaxoptGaussNewton,
    LevenbergMarquardt,
    Newton,
    NewtonKrylov,
    Solver,
    Then,
    default_solver,
)
from .statics import (  # noqa: E402
    derivative,
    directional_derivative,
    elasticity,
    gradient,
    jacobian,
    statics,
    total_derivatives,
)
from .transforms import Free, Interval, Positive, Transform, Unit  # noqa: E402

__all__ = [
    "Model", "ParameterError", "Solution", "Status", "STATUS_NAMES", "solve", "solve_batch", "newton_with_tangents",
    "ConvergenceWarning", "SolveError",
    "Solver", "Newton", "NewtonKrylov", "LevenbergMarquardt", "AndersonFixedPoint", "JaxoptGaussNewton", "Then",
    "Chain", "Homotopy", "default_solver",
    "derivative", "elasticity", "jacobian", "statics", "total_derivatives", "gradient", "directional_derivative",
    "Transform", "Positive", "Unit", "Interval", "Free", "is_concrete", "__version__",
]


# Modules named like their main function (jaxoff/sweep.py defines sweep): import the functions
# eagerly, otherwise `import jaxoff.sweep` anywhere would rebind `jo.sweep` to the module.
from .diagnose import Diagnosis, diagnose  # noqa: E402


def _export_functions():
    import importlib
    import importlib.util

    for mod_name, names in {"sweep": ("sweep", "continuation", "check_sign"),
                            "calibrate": ("calibrate", "calibrate_many", "calibrate_pooled")}.items():
        if importlib.util.find_spec(f"{__name__}.{mod_name}") is None:
            continue
        mod = importlib.import_module(f".{mod_name}", __name__)
        for n in names:
            if hasattr(mod, n):
                globals()[n] = getattr(mod, n)
                __all__.append(n)


__all__ += ["diagnose", "Diagnosis"]
_export_functions()


def __getattr__(name):
    # Subpackages load on first use, so `import jaxoff` stays quick.
    import importlib

    if name in ("plot", "data", "models", "blocks", "cli", "demo"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'jaxoff' has no attribute {name!r}")
