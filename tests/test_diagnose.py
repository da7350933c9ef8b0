"""jo.diagnose: structural checks named in the model's own words."""
from typing import ClassVar

import jax.numpy as jnp
import pytest

import jaxoff as jo


class Exchange(jo.Model):
    """Two-good exchange economy, Cobb-Douglas: nominal prices scale with the numeraire price p1.

    Closed form: p2 = p1 e1 (1 - a)/(a e2); the market for good 2 is redundant by Walras' law.
    """

    p1: float = 1.0  # numeraire price (nominal)
    a: float = 0.4  # expenditure share of good 1
    e1: float = 1.0
    e2: float = 2.0
    unknowns: ClassVar[dict] = {"p2": jo.Positive()}
    homogeneity: ClassVar[dict] = {"scale": ("p1",), "nominal": ("p2",)}

    def residuals(self, u):
        income = self.p1 * self.e1 + u["p2"] * self.e2
        return {"market_1": self.a * income / (self.p1 * self.e1) - 1}

    def walras(self, u):
        income = self.p1 * self.e1 + u["p2"] * self.e2
        return {"market_2": (1 - self.a) * income / (u["p2"] * self.e2) - 1}


class Redundant(jo.Model):
    k: float = 2.0
    unknowns: ClassVar[dict] = {"x": jo.Free(), "y": jo.Free()}

    def residuals(self, u):
        return {"sum": u["x"] + u["y"] - self.k, "sum_again": 2 * (u["x"] + u["y"] - self.k)}


class NotSquare(jo.Model):
    unknowns: ClassVar[dict] = {"x": jo.Free(), "y": jo.Free()}

    def residuals(self, u):
        return {"only": u["x"] - 1.0}


class LogOfNegative(jo.Model):
    unknowns: ClassVar[dict] = {"x": jo.Free()}

    def guess(self):
        return {"x": -1.0}

    def residuals(self, u):
        return {"log_eq": jnp.log(u["x"]) - 0.0}


def test_healthy_model_with_homogeneity_and_walras():
    d = jo.diagnose(Exchange())
    assert d.ok, str(d)
    assert d.status == "converged" and d.jacobian_rank == 1
    assert d.homogeneity["ok"] and d.homogeneity["error"] < 1e-10
    assert abs(d.walras["market_2"]) < 1e-12
    assert "OK" in str(d)


def test_redundant_equations_are_named():
    d = jo.diagnose(Redundant())
    assert not d.ok
    assert d.jacobian_rank == 1
    assert set(d.weakest_equations) == {"sum", "sum_again"}
    assert any("not_converged" in s or "singular" in s for s in d.suggestions)


def test_non_square_system_is_reported():
    d = jo.diagnose(NotSquare())
    assert not d.square and not d.ok
    assert "1 residual entries for 2 unknowns" in d.suggestions[0]
    with pytest.raises(ValueError, match="not square"):
        jo.solve(NotSquare())


def test_first_nonfinite_residual_is_named():
    d = jo.diagnose(LogOfNegative())
    assert d.first_nonfinite == "log_eq"
    assert "log_eq" in str(d)
