"""Calibration: choose free parameters so that equilibrium moments match data targets.

    import jaxoff as jo
    from jaxoff.calibrate import Target
    res = jo.calibrate(M1(), targets={"skill_premium": 1.6, "g": Target(0.2, weight=100.0)},
                       free={"beta": "log", "p": (0.2, 5.0)})
    res.params, res.se, res.as_frame()

The objective is the weighted least-squares distance between model moments m(theta) and targets t,

    L(theta) = 1/2 sum_k w_k (m_k(theta) - t_k)^2,

where m(theta) is computed at the equilibrium `jo.solve(model(theta))`. Every evaluation is a nested
Newton solve, and its derivatives are exact: `jo.solve` attaches dz/dtheta by the implicit function
theorem, so `jax.jacfwd` (Levenberg-Marquardt) and `jax.grad` (optax) go straight through it.
Free parameters are optimized in an unconstrained space through transforms ("log" for positive,
"logit" for shares, `(lo, hi)` for bounds). `method="exact"` instead appends the free parameters to
the model's unknowns and the equations m_k(theta) = t_k to its residuals, and solves that square
system with `jo.solve` (for exactly identified calibrations).

Inference (see `CalibrationResult`): with G = dm/dtheta at the estimate (exact, by the IFT) and
W = diag(w), the delta-method / sandwich covariance of the estimate is

    V = (G'WG)^-1 G'W S W G (G'WG)^-1,

where S is the covariance of the data moments (`moment_se` or `moment_cov`). If S is not given but
the weights were given explicitly, they are taken to be the inverse variances of the moments
(S = W^-1, so V = (G'WG)^-1); with neither, standard errors are NaN. The singular values of the
scaled Jacobian diag(sqrt(w)) G diag(|theta|) are the identification diagnostic, and the
Andrews-Gentzkow-Shapiro (2017) sensitivity is Lambda = -(G'WG)^-1 G'W.
"""
from ._inference import CalibrationResult
from ._many import ManyResult, calibrate_many
from ._objective import Objective, exact_model, make_objective
from ._pooled import PooledResult, calibrate_pooled
from ._problem import CalibrationWarning, IdentificationWarning, Target
from ._single import calibrate

__all__ = [
    "Target", "calibrate", "calibrate_many", "CalibrationResult", "ManyResult", "IdentificationWarning",
    "CalibrationWarning", "make_objective", "calibrate_pooled", "PooledResult", "Objective", "exact_model",
]
