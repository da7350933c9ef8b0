"""A plain NumPy implementation of the Caliendo-Parro (2015) solution algorithm: the peer.

Written independently of `jaxoff.models.caliendo_parro` (it shares no code with it): its own CSV
reading and data preparation, the two-step zero-deficit baseline, and the authors' nested fixed point
(an inner price loop, an inner goods-market iteration for absorption, and a damped wage update on
the trade balance). It is the speed peer of `bench_caliendo_parro.py` and an independent oracle for
`tests/test_caliendo_parro.py`.

Array conventions: trade, share and tariff cubes are [sector, importer, exporter]; sector-by-country
arrays are [sector, country]; input-output shares are [country, input sector, using sector]. Money
in units of 1e10 USD.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jaxoff", "data", "multicountry")
THETA_SERVICES = 8.22


def load(folder: str = DATA) -> dict:
    """The six shipped tables as arrays (money in 1e10 USD, tariffs in percent)."""
    countries = pd.read_csv(os.path.join(folder, "cp2015_countries.csv")).sort_values("position")
    regions = list(countries["iso3_added"])
    N = len(regions)
    pos = {r: k for k, r in enumerate(regions)}
    va = pd.read_csv(os.path.join(folder, "cp2015_value_added_share_gross_output.csv"))
    J = int(va["sector_id"].max())
    gamma = np.zeros((J, N))
    GO = np.zeros((J, N))
    gamma[va["sector_id"] - 1, va["country"].map(pos)] = va["value_added_share"]
    GO[va["sector_id"] - 1, va["country"].map(pos)] = va["gross_output_usd"] / 1e10
    th = pd.read_csv(os.path.join(folder, "cp2015_theta_tradable_sectors.csv"))
    JT = len(th)
    theta = np.full(J, THETA_SERVICES)
    theta[th["sector_id"] - 1] = th["theta"]
    tr = pd.read_csv(os.path.join(folder, "cp2015_bilateral_trade_1993_long.csv"))
    M = np.zeros((J, N, N))
    M[tr["sector_id"] - 1, tr["importer"].map(pos), tr["exporter"].map(pos)] = tr["value_thousand_usd"] * 1000 / 1e10
    ta = pd.read_csv(os.path.join(folder, "cp2015_tariffs_1993_2005_long.csv"))
    t93 = np.zeros((JT, N, N))
    t05 = np.zeros((JT, N, N))
    idx = (ta["sector_id"] - 1, ta["importer"].map(pos), ta["exporter"].map(pos))
    t93[idx] = ta["tariff_1993_pct"]
    t05[idx] = ta["tariff_2005_pct"]
    io = pd.read_csv(os.path.join(folder, "cp2015_io_coefficients_long.csv"))
    G = np.zeros((N, J, J))
    G[io["country"].map(pos), io["input_sector_id"] - 1, io["using_sector_id"] - 1] = io["io_share"]
    return dict(regions=regions, M=M, t93=t93, t05=t05, G=G, gamma=gamma, GO=GO, theta=theta, JT=JT)


def gross_tariff(pct: np.ndarray, J: int) -> np.ndarray:
    """(JT,N,N) percent -> (J,N,N) gross factors, 1 on the diagonal and for services."""
    JT, N, _ = pct.shape
    tau = np.ones((J, N, N))
    tau[:JT] = 1 + pct / 100
    tau[:, np.arange(N), np.arange(N)] = 1.0
    return tau


def prepare(Xb_imports, tau, G, gamma, GO, theta, alpha=None, zero_S=False):
    """Data preparation: tariff-inclusive imports (diagonal ignored) and gross output -> model objects."""
    J, N, _ = tau.shape
    Xb = Xb_imports.copy()
    Xb[:, np.arange(N), np.arange(N)] = 0.0
    x = (Xb / tau).sum(axis=1)                       # exports by exporter
    GO = np.maximum(GO, x)
    Xb[:, np.arange(N), np.arange(N)] = GO - x
    X = Xb.sum(axis=2)
    pi = Xb / X[:, :, None]
    Z = Xb / tau
    E_tot = Z.sum(axis=1)
    S = E_tot.sum(axis=0) - Z.sum(axis=2).sum(axis=0)
    if zero_S:
        S = np.zeros(N)
    VA = (gamma * GO).sum(axis=0)
    F = (pi / tau).sum(axis=2)
    I = VA + ((1 - F) * X).sum(axis=0) - S
    g3 = (1 - gamma.T)[:, None, :] * G               # [n, k, s] = (1 - gamma[s,n]) G[n,k,s]
    if alpha is None:
        a = (X - np.einsum("nks,sn->kn", g3, E_tot)) / I
        a = np.maximum(a, 0)
        alpha = a / a.sum(axis=0)
    return dict(pi=pi, X=X, VA=VA, S=S, I=I, F=F, tau=tau, alpha=alpha, gamma=gamma, G=G, g3=g3, theta=theta)


def solve(obj, tau_cf, S_cf=None, tol=1e-14, ptol=1e-13, vfactor=-0.2, max_outer=5000):
    """The authors' algorithm. Returns a dict with w_hat, P_hat, c_hat, pi_cf, X_cf and counts."""
    pi, X, VA, tau, alpha, gamma, G, g3, theta = (obj[k] for k in ("pi", "X", "VA", "tau", "alpha", "gamma", "G", "g3", "theta"))
    J, N, _ = pi.shape
    S_cf = obj["S"] if S_cf is None else S_cf
    kh = tau_cf / tau
    th = theta[:, None, None]
    w = np.ones(N)
    lnP = np.zeros((J, N))
    Xc = X.copy()
    n_outer = n_inner = 0
    while True:
        # price loop
        while True:
            lnc = gamma * np.log(w)[None, :] + np.einsum("nks,kn->sn", (1 - gamma.T)[:, None, :] * G, lnP)
            s = (pi * (kh * np.exp(lnc)[:, None, :]) ** (-th)).sum(axis=2)
            lnP_new = -np.log(s) / theta[:, None]
            n_inner += 1
            done = np.max(np.abs(np.exp(lnP_new) - np.exp(lnP))) < ptol
            lnP = lnP_new
            if done:
                break
        lnc = gamma * np.log(w)[None, :] + np.einsum("nks,kn->sn", (1 - gamma.T)[:, None, :] * G, lnP)
        pic = pi * (kh * np.exp(lnc)[:, None, :]) ** (-th) * np.exp(lnP)[:, :, None] ** th
        Fc = (pic / tau_cf).sum(axis=2)
        sh = pic / tau_cf
        # absorption: Neumann iteration of the goods-market system, warm-started
        for _ in range(100000):
            Y = np.einsum("jmn,jm->jn", sh, Xc)
            I = w * VA + ((1 - Fc) * Xc).sum(axis=0) - S_cf
            Xn = np.einsum("nks,sn->kn", g3, Y) + alpha * I
            diff = np.max(np.abs(Xn - Xc) / Xn)
            Xc = Xn
            if diff < 1e-15:
                break
        Y = np.einsum("jmn,jm->jn", sh, Xc)
        Zx = (Fc * Xc).sum(axis=0) - Y.sum(axis=0) + S_cf
        n_outer += 1
        if np.abs(Zx).sum() / VA.sum() < tol or n_outer >= max_outer:
            break
        w = w + vfactor * Zx / VA
    return dict(w_hat=w, P_hat=np.exp(lnP), c_hat=np.exp(lnc), pi_cf=pic, X_cf=Xc, F_cf=Fc,
                n_outer=n_outer, n_inner=n_inner, converged=n_outer < max_outer)


def rebuild(obj, sol, GO_unused=None, zero_S=False):
    """BL.1/BL.2: rebuild the model objects from a solved equilibrium (alpha kept)."""
    Xb = sol["X_cf"][:, :, None] * sol["pi_cf"]
    GO = (Xb / obj["tau"]).sum(axis=1)
    return prepare(Xb, obj["tau"], obj["G"], obj["gamma"], GO, obj["theta"], alpha=obj["alpha"], zero_S=zero_S)


def baseline(folder: str = DATA):
    """The paper's zero-deficit baseline (two solves). Returns (objects, raw data dict)."""
    d = load(folder)
    J = d["gamma"].shape[0]
    tau = gross_tariff(d["t93"], J)
    raw = prepare(d["M"] * tau, tau, d["G"], d["gamma"], d["GO"], d["theta"])
    s1 = solve(raw, tau)
    b1 = rebuild(raw, s1)
    s2 = solve(b1, tau, S_cf=np.zeros_like(b1["S"]))
    b2 = rebuild(b1, s2, zero_S=True)
    return b2, d


def nafta_tariffs(d, members=("USA", "CAN", "MEX")):
    """1993 tariffs in percent except 2005 values among the members."""
    pct = d["t93"].copy()
    idx = [d["regions"].index(r) for r in members]
    for n in idx:
        for i in idx:
            if n != i:
                pct[:, n, i] = d["t05"][:, n, i]
    return pct


def outcomes(obj, sol, tau_cf, S_cf=None, bloc=None, regions=None):
    """Welfare (exact, paper ToT+VoT), real wages and intra-bloc import growth, in percent."""
    S_cf = obj["S"] if S_cf is None else S_cf
    tau, X, pi, I, alpha = obj["tau"], obj["X"], obj["pi"], obj["I"], obj["alpha"]
    w, P, c, Xc, pic, Fc = sol["w_hat"], sol["P_hat"], sol["c_hat"], sol["X_cf"], sol["pi_cf"], sol["F_cf"]
    Pn = np.prod(P ** alpha, axis=0)
    Ic = w * obj["VA"] + ((1 - Fc) * Xc).sum(axis=0) - S_cf
    exact = 100 * ((Ic / I) / Pn - 1)
    Z = X[:, :, None] * pi / tau
    Zc = Xc[:, :, None] * pic / tau_cf
    tot = (np.einsum("jin,jn->n", Z, c - 1) - np.einsum("jni,ji->n", Z, c - 1)) / I
    with np.errstate(divide="ignore", invalid="ignore"):
        term = (tau - 1) * Z * ((Zc / Z - 1) - (c[:, None, :] - 1))
    vot = np.nansum(np.where(Z > 0, term, 0.0), axis=(0, 2)) / I
    out = dict(exact=exact, paper=100 * (tot + vot), tot=100 * tot, vot=100 * vot,
               real_wage=100 * (w / Pn - 1), P_index=Pn)
    if bloc is not None:
        idx = [regions.index(r) for r in bloc]
        g = {}
        for n in idx:
            others = [i for i in idx if i != n]
            g[regions[n]] = 100 * (Zc[:, n, others].sum() / Z[:, n, others].sum() - 1)
        out["import_growth"] = g
    return out


if __name__ == "__main__":
    t0 = time.perf_counter()
    base, d = baseline()
    t1 = time.perf_counter()
    tau_cf = gross_tariff(nafta_tariffs(d), base["tau"].shape[0])
    sol = solve(base, tau_cf)
    t2 = time.perf_counter()
    o = outcomes(base, sol, tau_cf, bloc=("MEX", "CAN", "USA"), regions=d["regions"])
    for r in ("MEX", "USA", "CAN"):
        k = d["regions"].index(r)
        print(r, {key: round(float(o[key][k]), 4) for key in ("paper", "tot", "vot", "exact", "real_wage")})
    print(o["import_growth"], sol["n_outer"], sol["n_inner"], f"baseline {t1-t0:.2f}s nafta {t2-t1:.2f}s")
