"""The "Jones ambiguity" in Baldwin and Robert-Nicoud (2007, NBER WP 12991), Sec. 3.3.

    JAX_PLATFORMS=cpu python examples/jones_ambiguity.py

Jones and Kierzkowski (1998) argued that workers whose jobs are offshored may see their wage rise in
one case and fall in another. In the shadow-migration model this is eq. 24: offshoring in one sector
acts like sector-specific technical progress on Home's zero-profit conditions. Here task 1 uses only
L-workers (30% of each sector's L-input) and is offshored either in the L-intensive sector X or in the
K-intensive sector Y, at the spec's default parameters (service case, chi = 1). For each case the
change in Home rewards is split as in eq. 17:

    omega_O - omega_FT = inv(A^T) S  (cost saving, at fixed p)  +  inv(A^T) (0, p_O - p_FT)  (terms of trade).
"""
from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pandas as pd  # noqa: E402

from jaxoff.models import shadow_migration as sm  # noqa: E402


def main():
    pd.set_option("display.width", 120)
    pd.set_option("display.float_format", lambda x: f"{x:.6f}")
    ja = sm.jones_ambiguity(sm.ServiceTask(), theta_L=0.3, theta_K=0.0)
    print("The Jones ambiguity: L-workers' tasks move offshore (service case, spec defaults)\n")
    for case, label in ((ja.X, "X (L-intensive)"), (ja.Y, "Y (K-intensive)")):
        S_X, S_Y = case.S
        print(f"Offshoring task 1 of sector {label} only")
        print(f"  cost savings S = ({S_X:.6f}, {S_Y:.6f}), terms of trade p_O - p_FT = {case.Delta_p:+.6f}")
        print(case.table.to_string())
        verdict = "rises" if case.dw_total > 0 else "falls"
        print(f"  -> the wage of the L-workers whose tasks moved {verdict}: "
              f"{case.dw_fixed_p:+.6f} at fixed p, {case.dw_total:+.6f} in total\n")
    print("Summary")
    print(ja.summary.to_string())
    print("\nWhy (eq. 24): at fixed p, dw = (a_KY S_X - a_KX S_Y)/det A. Offshoring only in X (S_Y = 0) raises w;")
    print("offshoring only in Y (S_X = 0) lowers it: the same workers' tasks move, the sector decides the sign.")


if __name__ == "__main__":
    main()
