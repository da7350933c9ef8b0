"""Grossman and Rossi-Hansberg (2008), "Trading Tasks: A Simple Theory of Offshoring", AER 98(5).

Spec: shared/models/grossman_rossi_hansberg_trading_tasks.md. Equation tags read
(paper eq. n; spec Mk.j). Offshoring L-task i costs beta t(i) foreign labor; the cutoff I balances
w = beta t(I) w*, and offshoring acts like L-augmenting technical progress: the L-task bundle costs
W = Omega(I) w.
"""
from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from ..blocks import PowerSchedule, ces_input_coefficients, ces_log_unit_cost, ces_price_index
from ..model import Model
from ..transforms import Free, Positive, Unit

FAMILY = "trading_tasks"


class _Technology(Model):
    """Parameters shared by every sub-model: CES technologies and the L-task schedule."""

    beta: float = 2.0  # SHOCK: offshoring-cost shifter for L-tasks
    h_L: float = 2.0  # power-schedule exponent (the schedule's elasticity eta)
    kappa: float = 1.0  # t(0)
    alpha_x: float = 0.4  # CES weight on the L-task bundle, skill-intensive X
    alpha_y: float = 0.7  # CES weight on the L-task bundle, labor-intensive Y
    sigma_x: float = 1.0  # elasticity of substitution between the L- and H-bundles
    sigma_y: float = 1.0
    A_x: float = 1.0
    A_y: float = 1.0
    L: float = 1.0
    H: float = 1.0

    family: ClassVar[str] = FAMILY
    shocks: ClassVar[tuple[str, ...]] = ("beta",)

    def schedule(self) -> PowerSchedule:
        return PowerSchedule(h=self.h_L, kappa=self.kappa)

    def technology(self, j: str):
        """(alpha_j, sigma_j, A_j) for industry j in {'x', 'y'}."""
        return getattr(self, f"alpha_{j}"), getattr(self, f"sigma_{j}"), getattr(self, f"A_{j}")

    def log_cost(self, j, W, S):
        return ces_log_unit_cost(W, S, *self.technology(j))

    def coefficients(self, j, W, S):
        return ces_input_coefficients(W, S, *self.technology(j))

    def domain(self):
        return {
            "beta > 0": self.beta > 0,
            "h_L > 0": self.h_L > 0,
            "kappa > 0": self.kappa > 0,
            "beta * kappa >= 1": self.beta * self.kappa >= 1,
            "0 < alpha_x < 1": (self.alpha_x > 0) & (self.alpha_x < 1),
            "0 < alpha_y < 1": (self.alpha_y > 0) & (self.alpha_y < 1),
            "alpha_x < alpha_y": self.alpha_x < self.alpha_y,
            "sigma_x >= 0": self.sigma_x >= 0,
            "sigma_y >= 0": self.sigma_y >= 0,
            "A_x > 0": self.A_x > 0,
            "A_y > 0": self.A_y > 0,
            "L > 0": self.L > 0,
            "H > 0": self.H > 0,
        }


class SmallOpenEconomy(_Technology):
    """M1: small open Heckscher-Ohlin economy offshoring L-tasks (paper Sec. I-IIA)."""

    w_star: float = 0.25  # foreign low-skill wage
    p: float = 1.0  # world relative price of Y (terms of trade)

    spec_id: ClassVar[str] = "M1"
    description: ClassVar[str] = "Small open HO economy with L-task offshoring (Sec. I-IIA)"
    unknowns: ClassVar[dict] = {"w": Positive(), "s": Positive(), "I": Unit(), "x": Free(), "y": Free()}
    shocks: ClassVar[tuple[str, ...]] = ("beta", "w_star", "p")

    def domain(self):
        return {**super().domain(), "w_star > 0": self.w_star > 0, "p > 0": self.p > 0}

    def guess(self):
        return {"w": 1.0, "s": 1.0, "I": 0.3, "x": 1.0, "y": 1.0}

    def residuals(self, u):
        w, s, I, x, y = u["w"], u["s"], u["I"], u["x"], u["y"]
        t = self.schedule()
        W = t.Omega(I) * w
        a_Lx, a_Hx = self.coefficients("x", W, s)
        a_Ly, a_Hy = self.coefficients("y", W, s)
        return {
            "cutoff": jnp.log(w) - jnp.log(self.beta * t.t(I) * self.w_star),  # eq. 1; M1.1
            "zero_profit_x": self.log_cost("x", W, s),  # eq. 8; M1.2
            "zero_profit_y": self.log_cost("y", W, s) - jnp.log(self.p),  # eq. 9; M1.3
            "labor_market": (1 - I) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M1.4
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M1.5
        }

    def outputs(self, u):
        w, s, I, x, y = u["w"], u["s"], u["I"], u["x"], u["y"]
        t = self.schedule()
        W = t.Omega(I) * w
        E = t.E(I)
        P = ces_price_index(self.p, 0.5, 1.0)
        return {
            "W": W,
            "Omega": t.Omega(I),
            "E": E,
            "g": t.g(I),
            "skill_premium": s / w,
            "task_imports": E * w * self.L,  # M_T = beta w* T L/(1-I) = E w L
            "Q": x + self.p * y,
            "income": w * self.L + s * self.H,
            "real_w": w / P,
        }

    def regime(self, u):
        t = self.schedule()
        W = t.Omega(u["I"]) * u["w"]
        R = W / (self.beta * self.w_star)
        return {
            "offshoring_active": R > t.t(0.0),  # (a) beta t(0) w* < W
            "interior_cutoff": (u["I"] > 0) & (u["I"] < 1),  # (b)
            "diversified": (u["x"] > 0) & (u["y"] > 0),  # (c)
        }


class LargeTwoCountry(_Technology):
    """M2: two large countries, Foreign technologically inferior by A* (paper Sec. IIB)."""

    beta: float = 1.5
    A_star: float = 3.0  # foreign Hicks-neutral inferiority
    L_star: float = 6.0
    H_star: float = 3.0
    gamma_Y: float = 0.5  # preference weight on Y
    eps_D: float = 1.0  # elasticity of substitution in consumption

    spec_id: ClassVar[str] = "M2"
    description: ClassVar[str] = "Large two-country economy with a technology gap (Sec. IIB)"
    unknowns: ClassVar[dict] = {
        "w": Positive(), "s": Positive(), "w_star": Positive(), "s_star": Positive(), "I": Unit(),
        "p": Positive(), "x": Free(), "y": Free(), "x_star": Free(), "y_star": Free(),
    }
    shocks: ClassVar[tuple[str, ...]] = ("beta", "A_star")

    def domain(self):
        return {
            **super().domain(),
            "A_star > 1": self.A_star > 1,
            "A_star > beta * kappa": self.A_star > self.beta * self.kappa,
            "L_star > 0": self.L_star > 0,
            "H_star > 0": self.H_star > 0,
            "0 < gamma_Y < 1": (self.gamma_Y > 0) & (self.gamma_Y < 1),
            "eps_D > 0": self.eps_D > 0,
        }

    def guess(self):
        t = self.schedule()
        I = t.inverse(self.A_star / (self.beta * self.kappa))
        return {"w": 1.0, "s": 1.0, "w_star": 1.0 / self.A_star, "s_star": 1.0 / self.A_star, "I": I,
                "p": 1.0, "x": 1.0, "y": 1.0, "x_star": 1.0, "y_star": 1.0}

    def residuals(self, u):
        w, s, ws, ss, I, p = u["w"], u["s"], u["w_star"], u["s_star"], u["I"], u["p"]
        x, y, xs, ys = u["x"], u["y"], u["x_star"], u["y_star"]
        t = self.schedule()
        W = t.Omega(I) * w
        a_Lx, a_Hx = self.coefficients("x", W, s)
        a_Ly, a_Hy = self.coefficients("y", W, s)
        b_Lx, b_Hx = self.coefficients("x", ws, ss)  # foreign: a*_fj = A* a_fj(w*, s*)
        b_Ly, b_Hy = self.coefficients("y", ws, ss)
        A = self.A_star
        demand = jnp.log(self.gamma_Y / (1 - self.gamma_Y)) - self.eps_D * jnp.log(p)
        return {
            "cutoff": jnp.log(w) - jnp.log(self.beta * t.t(I) * ws),  # eq. 1; M2.1
            "zero_profit_x": self.log_cost("x", W, s),  # eq. 8; M2.2
            "zero_profit_y": self.log_cost("y", W, s) - jnp.log(p),  # eq. 9; M2.3
            "zero_profit_x_star": jnp.log(A) + self.log_cost("x", ws, ss),  # eq. 10; M2.4
            "zero_profit_y_star": jnp.log(A) + self.log_cost("y", ws, ss) - jnp.log(p),  # eq. 11; M2.5
            "labor_market": (1 - I) * (a_Lx * x + a_Ly * y) / self.L - 1,  # eq. 4; M2.6
            "skill_market": (a_Hx * x + a_Hy * y) / self.H - 1,  # eq. 5; M2.7
            "labor_market_star": (A * (b_Lx * xs + b_Ly * ys)
                                  + self.beta * t.T(I) * (a_Lx * x + a_Ly * y)) / self.L_star - 1,  # M2.8
            "skill_market_star": A * (b_Hx * xs + b_Hy * ys) / self.H_star - 1,  # M2.9
            "goods_market": jnp.log((y + ys) / (x + xs)) - demand,  # M2.10
        }

    def outputs(self, u):
        t = self.schedule()
        I, p = u["I"], u["p"]
        P = ces_price_index(p, self.gamma_Y, self.eps_D)
        income = u["w"] * self.L + u["s"] * self.H
        return {
            "W": t.Omega(I) * u["w"],
            "Omega": t.Omega(I),
            "E": t.E(I),
            "g": t.g(I),
            "skill_premium": u["s"] / u["w"],
            "real_w": u["w"] / P,
            "real_s": u["s"] / P,
            "income": income,
            "welfare": income / P,
            "task_imports": t.E(I) * u["w"] * self.L,
            "X_world": u["x"] + u["x_star"],
            "Y_world": u["y"] + u["y_star"],
        }

    def regime(self, u):
        return {
            "offshoring_active": self.A_star > self.beta * self.kappa,
            "interior_cutoff": (u["I"] > 0) & (u["I"] < 1),
            "home_diversified": (u["x"] > 0) & (u["y"] > 0),
            "foreign_diversified": (u["x_star"] > 0) & (u["y_star"] > 0),
        }


SUBMODELS = {
    "M1": SmallOpenEconomy,
    "M2": LargeTwoCountry,
}
