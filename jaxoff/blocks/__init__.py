"""Shared economics: CES technologies, offshoring-cost schedules, distribution integrals.

Each concept lives here once; model files import from here and never re-derive these formulas.
"""
from . import skills  # noqa: F401  skill distributions G(Z) and productivity schedules phi(Z)
from .ces import ces_cost_share, ces_input_coefficients, ces_log_unit_cost, ces_price_index, ces_unit_cost
from .distributions import Density, Distribution, Lognormal, Pareto, TruncatedPareto  # noqa: F401  firm productivity G
from .offshoring import (
    SCHEDULE_KINDS,
    ExponentialSchedule,
    GeneralSchedule,
    LinearSchedule,
    PowerSchedule,
    Schedule,
    make_schedule,
)

__all__ = [
    "ces_log_unit_cost", "ces_unit_cost", "ces_input_coefficients", "ces_cost_share", "ces_price_index",
    "Schedule", "PowerSchedule", "ExponentialSchedule", "LinearSchedule", "GeneralSchedule",
    "make_schedule", "SCHEDULE_KINDS",
]
