"""check_sign reports points where the derivative is exactly zero on their own: in Trading Tasks M1
no task is offshored once beta w* is high enough (I = 0), so dw/dbeta = 0 there (the wage is the
autarky wage), which fails a strict claim dw/dbeta < 0 without contradicting it where offshoring
happens."""
import jaxoff as jo
from jaxoff.models import trading_tasks as tt


def test_exact_zeros_are_their_own_category():
    M1 = tt.SUBMODELS["M1"]
    box = {"beta": (3.0, 3.9), "w_star": (0.28, 0.3)}
    strict = jo.check_sign(M1(), "w", "beta", box=box, n=4, sign=-1)
    assert strict.n_zero > 0 and strict.n_failed == 0 and not strict.holds
    assert "exactly zero at" in repr(strict)
    # where the value is zero, no task is offshored (I = 0 to rounding)
    zero = strict.points[strict.points["verdict"] == "zero"].iloc[0]
    assert float(jo.solve(M1(beta=zero["beta"], w_star=zero["w_star"]))["I"]) < 1e-12
    weak = jo.check_sign(M1(), "w", "beta", box=box, n=4, sign=-1, strict=False)
    assert weak.holds and weak.n_zero == 0 and weak.n_held == strict.n_held + strict.n_zero
