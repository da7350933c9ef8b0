"""Structural gravity in general equilibrium (Anderson and van Wincoop 2003; Yotov, Piermartini,
Monteiro and Larch 2016; the systems of gegravity's OneSectorGE and Zylkin's ge_gravity).

A gegravity user's workflow, with the same inputs and the same output tables::

    from jaxoff.models import structural_gravity as gravity
    data = gravity.load_sample_data()                      # 30 countries, 2006 (gegravity's sample)
    model = gravity.baseline(data, gravity.example_coefficients(), cost_variables=[...],
                             exporter="exporter", importer="importer", year="year", year_value=2006,
                             trade="trade", output="Y", expenditure="E", sigma=5,
                             reference_importer="DEU")
    exp = data.copy(); exp.loc[...,"pta"] = 1              # the counterfactual covariates
    res = gravity.simulate(model, exp, variant="gegravity")
    res.country_results, res.bilateral_results, res.mr_terms

Variants (sub-models, keys of `SUBMODELS`):

* SG-B `BaselineMR`: baseline multilateral resistances (MRs), reference importer's P = 1.
* SG-C `ConditionalGE`: MRs with new trade costs, outputs and expenditures fixed.
* SG-G `GegravityGE` (`variant="gegravity"`): gegravity 0.3's "full GE" exactly as it computes it.
  **It is one pass, not an equilibrium**: gegravity solves the counterfactual MRs with the baseline
  output and expenditure shares, so its experiment MRs equal the conditional MRs, factory-gate
  prices are p'_i = Pi_i / Pi'_i, and the counterfactual flows do not add up to the new outputs.
* SG-F `FullGE` (`variant="full"`): the converged full endowment equilibrium (outputs, shares and
  MRs all adjust; expenditure a fixed multiple of output). Its factory-gate price changes differ
  from gegravity's by up to ~10% of their size on gegravity's own example, welfare by a few
  percent. It equals Zylkin's ge_gravity with multiplicative deficits when the baseline reproduces
  the observed flows (`residual_costs=True`).
* SG-H `HatAlgebra` (`variant="additive"`): exact hat algebra on the (modeled) baseline flows with
  additive deficits (ge_gravity's default); `deficits="multiplicative"` is also available.
* SG-MC: `monte_carlo(...)`, a vmapped driver over cost-coefficient draws (gegravity MonteCarloGE).

Beyond the peers: `jacobian(...)` gives exact derivatives of any country result with respect to
every bilateral trade cost or cost coefficient (reverse mode through the implicit function
theorem), `standard_errors(...)` delta-method standard errors of every result from the coefficient
covariance, `simulate_years(...)` one vmapped call for a panel of baselines. Resistances are solved
in logs (no `omr_rescale` needed); a failed solve returns NaN results with a named `status`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._gravity_core import (
    DATA_DIR,
    EU_ENLARGEMENT_BETA,
    EXAMPLE_COEFFICIENTS,
    EXAMPLE_COVARIANCE,
    SAMPLE_FILE,
    WIOD_FILE,
    BaselineMR,
    ConditionalGE,
    FullGE,
    GegravityGE,
    HatAlgebra,
)

__all__ = ["SUBMODELS", "EXPERIMENTS", "baseline", "simulate", "simulate_years", "estimate", "jacobian",
           "standard_errors", "monte_carlo", "GravityBaseline", "GravityResults", "MonteCarloResults",
           "load_sample_data", "load_wiod", "example_coefficients", "example_covariance", "COUNTRY_COLUMNS",
           "BaselineMR", "ConditionalGE", "GegravityGE", "FullGE", "HatAlgebra"]

SUBMODELS = {"SG-B": BaselineMR, "SG-C": ConditionalGE, "SG-G": GegravityGE, "SG-F": FullGE, "SG-H": HatAlgebra}

#: jaxoff output name -> gegravity country_results column (same order as gegravity).
COUNTRY_COLUMNS = {
    "factory_gate_price_change_pct": "factory gate price change (percent)",
    "omr_change_pct": "omr change (percent)",
    "imr_change_pct": "imr change (percent)",
    "gdp_change_pct": "GDP change (percent)",
    "welfare_statistic": "welfare statistic",
    "terms_of_trade_change_pct": "terms of trade change (percent)",
    "output_change_pct": "output change (percent)",
    "expenditure_change_pct": "expenditure change (percent)",
    "foreign_exports_change_pct": "foreign exports change (percent)",
    "foreign_imports_change_pct": "foreign imports change (percent)",
    "intranational_trade_change_pct": "intranational trade change (percent)",
}
MR_COLUMNS = {"baseline_imr": "baseline imr", "conditional_imr": "conditional imr", "experiment_imr": "experiment imr",
              "baseline_omr": "baseline omr", "conditional_omr": "conditional omr", "experiment_omr": "experiment omr"}
VARIANTS = {"gegravity": "SG-G", "full": "SG-F", "additive": "SG-H", "multiplicative": "SG-H", "conditional": "SG-C"}
STATUS_NAMES = {0: "converged", 1: "not_converged", 2: "invalid_parameters", 3: "out_of_regime", 4: "nonfinite"}
SOLVER_DEFAULTS = {"atol": 1e-12, "rtol": 1e-12, "residual_tol": 1e-9, "max_steps": 50}


# -- data --------------------------------------------------------------------------------------------
def load_sample_data() -> pd.DataFrame:
    """gegravity's sample data (30 countries, 2006) with a `constant` column added.

    **Returns:** a DataFrame with one row per (exporter, importer) pair, intranational included:
    exporter, importer, year, trade, Y (exporter output), E (importer expenditure), pta, contiguity,
    common_language, lndist, international, constant.
    """
    d = pd.read_csv(DATA_DIR / SAMPLE_FILE)
    d["constant"] = 1.0
    return d


def load_wiod() -> pd.DataFrame:
    """The WIOD 2016 aggregate trade panel of the ge_gravity example (44 economies; 2000, 2005, 2010, 2014).

    **Returns:** a DataFrame: exporter, importer, expcode, impcode, year, trade (USD million,
    intranational included), eu_enlargement, other_fta, FTA.
    """
    return pd.read_csv(DATA_DIR / WIOD_FILE)


def example_coefficients(with_std_errors: bool = True) -> pd.DataFrame:
    """gegravity's example PPML estimates for the sample data (variable, estimate, std_error).

    **Arguments:** `with_std_errors`: include the std_error column.

    **Returns:** a DataFrame with columns variable, estimate (and std_error).
    """
    df = pd.DataFrame({"variable": list(EXAMPLE_COEFFICIENTS),
                       "estimate": [v[0] for v in EXAMPLE_COEFFICIENTS.values()],
                       "std_error": [v[1] for v in EXAMPLE_COEFFICIENTS.values()]})
    return df if with_std_errors else df[["variable", "estimate"]]


def example_covariance() -> pd.DataFrame:
    """The covariance matrix of gegravity's Monte Carlo example (rows/columns named by variable).

    **Returns:** a 6 x 6 DataFrame.
    """
    names = list(EXAMPLE_COEFFICIENTS)
    return pd.DataFrame(EXAMPLE_COVARIANCE, index=names, columns=names)


def _coefficients(coefficients, cost_variables, covariance=None):
    """(b, se, V) in the order of cost_variables from a dict, a DataFrame or a pyfixest fit."""
    se = V = None
    absorbed = set()
    if isinstance(coefficients, dict):
        est = {k: float(v) for k, v in coefficients.items()}
    elif isinstance(coefficients, pd.DataFrame):
        cols = {c.lower(): c for c in coefficients.columns}
        vcol = next((cols[c] for c in ("variable", "var") if c in cols), None)
        ecol = next((cols[c] for c in ("estimate", "coeff", "coef") if c in cols), None)
        scol = next((cols[c] for c in ("std_error", "stderr", "se") if c in cols), None)
        if vcol is None or ecol is None:
            raise ValueError("coefficients DataFrame needs columns 'variable' and 'estimate' (optionally 'std_error'); "
                             f"got {list(coefficients.columns)}")
        est = dict(zip(coefficients[vcol].astype(str), coefficients[ecol].astype(float)))
        if scol is not None:
            se_d = dict(zip(coefficients[vcol].astype(str), coefficients[scol].astype(float)))
            se = np.array([se_d.get(k, np.nan) for k in cost_variables])
    elif hasattr(coefficients, "coef") and hasattr(coefficients, "_vcov"):  # a pyfixest fit
        c = coefficients.coef()
        est = {str(k): float(v) for k, v in c.items()}
        names = [str(k) for k in c.index]
        Vfull = pd.DataFrame(np.asarray(coefficients._vcov), index=names, columns=names)
        absorbed = {k for k in cost_variables if k not in est}
        for k in absorbed:  # constants are absorbed by the fixed effects: any value gives the same results
            est[k] = 0.0
        keep = [k for k in cost_variables]
        V = np.zeros((len(keep), len(keep)))
        idx = [k for k in keep if k in names]
        pos = [keep.index(k) for k in idx]
        V[np.ix_(pos, pos)] = Vfull.loc[idx, idx].to_numpy()
        se = np.sqrt(np.diag(V))
    else:
        raise TypeError("coefficients must be a {variable: estimate} dict, a DataFrame with columns variable/estimate/"
                        f"std_error, or a fitted pyfixest Fepois result; got {type(coefficients).__name__}")
    missing = [k for k in cost_variables if k not in est]
    if missing:
        raise ValueError(f"no coefficient for cost variable(s) {missing}; coefficients given for {sorted(est)}")
    b = np.array([est[k] for k in cost_variables], dtype=float)
    if covariance is not None:
        if isinstance(covariance, pd.DataFrame):
            covariance = covariance.loc[cost_variables, cost_variables].to_numpy(float)
        V = np.asarray(covariance, dtype=float)
        if V.shape != (len(b), len(b)):
            raise ValueError(f"covariance must be {len(b)} x {len(b)} (one row per cost variable), got {V.shape}")
    elif V is None and se is not None and np.all(np.isfinite(se)):
        V = np.diag(se ** 2)  # standard errors only: a diagonal covariance (stated in GravityBaseline.covariance_source)
    return b, se, V


@dataclasses.dataclass
class GravityBaseline:
    """A prepared baseline: countries, covariates, coefficients, outputs, expenditures, solved MRs.

    Built by `baseline(...)`; pass it to `simulate`, `jacobian`, `standard_errors`, `monte_carlo`.
    Arrays are [exporter, importer]; `cost_data` is (K, N, N) in the order of `cost_variables`.
    """

    countries: list
    cost_variables: list
    coefficients: np.ndarray
    std_errors: np.ndarray | None
    covariance: np.ndarray | None
    covariance_source: str
    cost_data: np.ndarray
    cost_residual: np.ndarray
    Y: np.ndarray
    E: np.ndarray
    observed_trade: np.ndarray
    sigma: float
    reference: int
    spec: dict
    solution: Any = None

    @property
    def trade_cost(self) -> np.ndarray:
        """T = t^(1-sigma) = exp(b'x (+ residual)), gegravity's 'trade cost' (higher = more trade)."""
        return np.exp(np.tensordot(self.coefficients, self.cost_data, 1) + self.cost_residual)

    @property
    def mr_terms(self) -> pd.DataFrame:
        """Baseline IMR and OMR (P and Pi, not transformed) by country."""
        s = self.solution
        return pd.DataFrame({"baseline imr": np.asarray(s["imr"]), "baseline omr": np.asarray(s["omr"])},
                            index=pd.Index(self.countries, name="country"))

    @property
    def status(self) -> str:
        return STATUS_NAMES.get(int(self.solution.status), "unknown")

    def __repr__(self):
        return (f"GravityBaseline({len(self.countries)} countries, cost variables {self.cost_variables}, "
                f"sigma={self.sigma}, reference importer {self.countries[self.reference]}, status {self.status})")


def _square(data, exporter, importer, columns, countries=None):
    """(N, N) matrices of `columns`, raising on missing pairs, duplicates or missing values."""
    if countries is None:
        countries = sorted(set(data[exporter]) | set(data[importer]))
    dup = data.duplicated([exporter, importer])
    if dup.any():
        r = data[dup].iloc[0]
        raise ValueError(f"duplicate rows for the pair (exporter {r[exporter]}, importer {r[importer]})")
    full = pd.MultiIndex.from_product([countries, countries], names=[exporter, importer])
    d = data.set_index([exporter, importer])
    missing = full.difference(d.index)
    if len(missing):
        raise ValueError(f"the data are not square: {len(missing)} (exporter, importer) pair(s) missing, e.g. "
                         f"{tuple(missing[0])}; every ordered pair of the {len(countries)} countries, "
                         "intranational included, needs a row")
    d = d.reindex(full)
    n = len(countries)
    out = {}
    for c in columns:
        if c not in d.columns:
            raise KeyError(f"column '{c}' not in the data; columns: {list(data.columns)}")
        v = pd.to_numeric(d[c], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(v)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"column '{c}' is missing or not finite for the pair {tuple(full[k])}")
        out[c] = v.reshape(n, n)
    return countries, out


def baseline(data: pd.DataFrame, coefficients, cost_variables: list | None = None, *, exporter: str = "exporter",
             importer: str = "importer", year: str | None = "year", year_value=None, trade: str = "trade",
             output: str | None = "Y", expenditure: str | None = "E", sigma: float = 5.0,
             reference_importer: str | None = None, covariance=None, residual_costs: bool = False,
             solver_options: dict | None = None) -> GravityBaseline:
    """Prepare a baseline from gravity data (as gegravity's BaselineData + OneSectorGE + build_baseline).

    Trade costs are T_ij = exp(sum_k b_k x_ij,k) over `cost_variables`; outputs Y_i and expenditures
    E_j are read from the data (they must be constant within a country); the baseline MRs are solved
    with the reference importer's inward MR equal to 1.

    **Arguments:**

    - `data`: a long table with one row per ordered (exporter, importer) pair, intranational included.
    - `coefficients`: `{variable: estimate}`, a DataFrame with columns variable/estimate/std_error, or a
      fitted pyfixest `fepois` result (a cost variable absorbed by its fixed effects, e.g. `constant`,
      gets 0: constants change MR levels only, never a reported change).
    - `cost_variables`: covariates entering T (default: all variables with a coefficient).
    - `exporter`, `importer`, `year`, `trade`, `output`, `expenditure`: column names. `output=None`
      and `expenditure=None` take Y and E as the row and column sums of `trade` (flow data).
    - `year_value`: the year to keep (compared as a string, like gegravity); required if the data hold
      several years.
    - `sigma`: elasticity of substitution (> 1). `reference_importer`: country code (default: the
      first in alphabetical order).
    - `covariance`: the coefficients' covariance (K x K array or DataFrame); default from a pyfixest
      fit, else diag(std_error^2) if standard errors are given.
    - `residual_costs`: if True, T_ij also absorbs the gravity residual so that modeled baseline flows
      equal the observed `trade` (the ge_gravity / exact-hat-algebra baseline); counterfactuals then
      scale T by exp(b'(x' - x)).
    - `solver_options`: keyword arguments for `jaxoff.solve`.

    **Returns:** a `GravityBaseline` (its `.status` names the outcome of the baseline MR solve).
    """
    import jaxoff as jo

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not sigma > 1:
        raise ValueError(f"sigma must be > 1, got {sigma}")
    d = data
    if year is not None and year in d.columns:
        years = d[year].astype(str).unique()
        if year_value is None:
            if len(years) > 1:
                raise ValueError(f"the data hold several years {sorted(years)}: choose one with year_value=")
        else:
            d = d[d[year].astype(str) == str(year_value)]
            if d.empty:
                raise ValueError(f"no rows with {year} == {year_value}; years in the data: {sorted(years)}")
    if cost_variables is None:
        if isinstance(coefficients, dict):
            cost_variables = list(coefficients)
        elif isinstance(coefficients, pd.DataFrame):
            cost_variables = list(coefficients.iloc[:, 0].astype(str))
        else:
            cost_variables = [str(k) for k in coefficients.coef().index]
    cost_variables = list(cost_variables)
    if not cost_variables:
        raise ValueError("cost_variables must name at least one covariate")
    b, se, V = _coefficients(coefficients, cost_variables, covariance)
    cov_source = ("given" if covariance is not None else "pyfixest vcov" if hasattr(coefficients, "_vcov")
                  else "diag(std_error^2)" if V is not None else "none")
    d = d.copy()
    if "constant" in cost_variables and "constant" not in d.columns:
        d["constant"] = 1.0
    cols = list(cost_variables) + [trade]
    countries, mats = _square(d, exporter, importer, cols)
    n = len(countries)
    X = mats[trade]
    if output is None or expenditure is None:
        Y, E = X.sum(1), X.sum(0)
    else:
        Y, E = [], []
        for col, key, vec in ((output, exporter, Y), (expenditure, importer, E)):
            if col not in d.columns:
                raise KeyError(f"column '{col}' not in the data; columns: {list(d.columns)}")
            g = pd.to_numeric(d[col], errors="coerce").groupby(d[key])
            spread = (g.max() - g.min()) / g.mean().abs()
            if not np.all(np.isfinite(g.mean().reindex(countries))):
                bad = g.mean().reindex(countries)
                raise ValueError(f"column '{col}' is missing for {list(bad[~np.isfinite(bad)].index)}")
            if (spread > 1e-9).any():
                raise ValueError(f"column '{col}' varies within country {spread.idxmax()} (it must be the {key}'s "
                                 "value, constant over its rows)")
            vec.extend(g.mean().reindex(countries).to_numpy(float))
        Y, E = np.array(Y), np.array(E)
    if np.any(Y <= 0) or np.any(E <= 0):
        raise ValueError("outputs and expenditures must be positive; non-positive for "
                         f"{[c for c, y, e in zip(countries, Y, E) if y <= 0 or e <= 0]}")
    if reference_importer is None:
        reference_importer = countries[0]
    if reference_importer not in countries:
        raise ValueError(f"reference_importer '{reference_importer}' is not a country of the data")
    x = np.stack([mats[k] for k in cost_variables])
    resid = np.zeros((n, n))
    if residual_costs:
        if np.any(X <= 0):
            raise ValueError("residual_costs=True needs positive trade flows for every pair")
        # T_ij proportional to X_ij / (y_i e_j) reproduces the observed flows exactly (matrix scaling)
        resid = np.log(X / np.outer(Y / Y.sum(), E / E.sum())) - np.tensordot(b, x, 1)
        resid -= resid.mean()
    gb = GravityBaseline(countries, cost_variables, b, se, V, cov_source, x, resid, Y, E, X, float(sigma),
                         countries.index(reference_importer),
                         dict(exporter=exporter, importer=importer, year=year, year_value=year_value, trade=trade),
                         None)
    opts = {**SOLVER_DEFAULTS, **(solver_options or {})}
    gb.solution = jo.solve(BaselineMR(trade_cost=gb.trade_cost, Y=Y, E=E, sigma=sigma, reference=gb.reference), **opts)
    return gb


def _experiment_costs(model: GravityBaseline, experiment_data) -> np.ndarray:
    """(K, N, N) counterfactual covariates from an experiment table (or an array already in that form)."""
    if isinstance(experiment_data, (np.ndarray, jax.Array)):
        x = np.asarray(experiment_data, dtype=float)
        if x.shape != model.cost_data.shape:
            raise ValueError(f"experiment covariates must have shape {model.cost_data.shape}, got {x.shape}")
        return x
    s = model.spec
    d = experiment_data
    if s["year"] is not None and s["year"] in d.columns and s["year_value"] is not None:
        d = d[d[s["year"]].astype(str) == str(s["year_value"])]
    d = d.copy()
    if "constant" in model.cost_variables and "constant" not in d.columns:
        d["constant"] = 1.0
    _, mats = _square(d, s["exporter"], s["importer"], model.cost_variables, model.countries)
    return np.stack([mats[k] for k in model.cost_variables])


# -- the differentiable pipeline -------------------------------------------------------------------------
def _build(variant: str, b, x, x_cf, resid, Y, E, sigma, reference: int, flows=None):
    """The jaxoff Model of a variant from coefficients and covariates (traceable in b, x, x_cf)."""
    lnT = jnp.tensordot(b, x, 1) + resid
    lnT_cf = jnp.tensordot(b, x_cf, 1) + resid
    if variant in ("additive", "multiplicative"):
        return HatAlgebra(flows=flows, log_trade_cost_change=lnT_cf - lnT, theta=sigma - 1.0, deficits=variant)
    cls = {"gegravity": GegravityGE, "full": FullGE, "conditional": ConditionalGE}[variant]
    return cls(trade_cost=jnp.exp(lnT), trade_cost_cf=jnp.exp(lnT_cf), Y=Y, E=E, sigma=sigma, reference=reference)


def _check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {list(VARIANTS)} "
                         "('gegravity' = SG-G, 'full' = SG-F, 'additive'/'multiplicative' = SG-H)")


@eqx.filter_jit
def _run(variant: str, reference: int, opts: tuple, b, x, x_cf, resid, Y, E, sigma):
    """Solve a counterfactual; returns (outputs dict, status, residual_norm, steps). Traceable."""
    import jaxoff as jo

    kw = dict(opts)
    flows = None
    status0 = jnp.asarray(0)
    if variant in ("additive", "multiplicative"):
        lnT = jnp.tensordot(b, x, 1) + resid
        m0 = BaselineMR(trade_cost=jnp.exp(lnT), Y=Y, E=E, sigma=sigma, reference=reference)
        s0 = jo.solve(m0, **kw)
        flows, status0 = s0["baseline_flows"], s0.status
    m = _build(variant, b, x, x_cf, resid, Y, E, sigma, reference, flows)
    s = jo.solve(m, **kw)
    out = dict(s.outputs)
    status = jnp.where(status0 != 0, status0, s.status)
    if flows is not None:
        out = jax.tree_util.tree_map(lambda v: jnp.where(status == 0, v, jnp.nan), out)
        out.update(baseline_imr=s0["imr"], experiment_imr=jnp.full_like(Y, jnp.nan),
                   conditional_imr=jnp.full_like(Y, jnp.nan), baseline_omr=s0["omr"],
                   experiment_omr=jnp.full_like(Y, jnp.nan), conditional_omr=jnp.full_like(Y, jnp.nan),
                   factory_gate_price=out["nom_wage"])
    return out, status, s.residual_norm, s.steps


def _opts(solver_options):
    return tuple(sorted({**SOLVER_DEFAULTS, **(solver_options or {})}.items()))


def _args(model: GravityBaseline, x_cf, b=None):
    f = lambda a: jnp.asarray(a, dtype=jnp.float64)  # noqa: E731
    return (f(model.coefficients if b is None else b), f(model.cost_data), f(x_cf), f(model.cost_residual),
            f(model.Y), f(model.E), f(model.sigma))


@dataclasses.dataclass
class GravityResults:
    """Results of one counterfactual, in gegravity's tables.

    - `country_results`: DataFrame indexed by country with gegravity's 11 columns.
    - `bilateral_results`: indexed (exporter, importer): baseline modeled trade, experiment trade,
      trade change (percent).
    - `mr_terms`: baseline / conditional / experiment imr and omr (P, Pi).
    - `welfare_change`: 100 ((E'/P')/(E/P) - 1) by country (a gain is positive; gegravity's
      'welfare statistic' is the inverse ratio, below one for a gain).
    - `status` ('converged' or the failure's name), `residual_norm`, `steps`, `variant`, `outputs`
      (every named output as an array).
    """

    variant: str
    countries: list
    outputs: dict
    status: str
    residual_norm: float
    steps: int
    name: str = ""

    @property
    def country_results(self) -> pd.DataFrame:
        df = pd.DataFrame({v: np.asarray(self.outputs[k]) for k, v in COUNTRY_COLUMNS.items()},
                          index=pd.Index(self.countries, name="country"))
        return df

    @property
    def welfare_change(self) -> pd.Series:
        return pd.Series(np.asarray(self.outputs["welfare_change_pct"]), index=pd.Index(self.countries, name="country"),
                         name="welfare change (percent)")

    @property
    def bilateral_results(self) -> pd.DataFrame:
        X0 = np.asarray(self.outputs["baseline_flows"])
        X1 = np.asarray(self.outputs["experiment_flows"])
        idx = pd.MultiIndex.from_product([self.countries, self.countries], names=["exporter", "importer"])
        return pd.DataFrame({"baseline modeled trade": X0.ravel(), "experiment trade": X1.ravel(),
                             "trade change (percent)": 100 * (X1 / X0 - 1).ravel()}, index=idx)

    @property
    def mr_terms(self) -> pd.DataFrame:
        return pd.DataFrame({v: np.asarray(self.outputs[k]) for k, v in MR_COLUMNS.items()},
                            index=pd.Index(self.countries, name="country"))

    def summary(self, top: int = 10) -> str:
        """A short text report: status and the largest welfare changes."""
        w = self.welfare_change.sort_values(key=np.abs, ascending=False)
        lines = [f"structural gravity counterfactual {self.name or ''} (variant '{self.variant}', "
                 f"{VARIANTS[self.variant]}): status {self.status}, max |residual| {self.residual_norm:.1e}, "
                 f"{self.steps} Newton steps", f"largest welfare changes (percent, gain > 0):"]
        lines += [f"  {c}: {v:+.4f}" for c, v in w.head(top).items()]
        return "\n".join(lines)

    def __repr__(self):
        return f"GravityResults(variant={self.variant!r}, status={self.status!r}, {len(self.countries)} countries)"


def simulate(model: GravityBaseline, experiment_data, variant: str = "full", *, solver_options: dict | None = None,
             name: str = "") -> GravityResults:
    """Simulate a counterfactual: the same cost coefficients, the experiment's covariates.

    **Arguments:**

    - `model`: a `GravityBaseline` from `baseline(...)`.
    - `experiment_data`: a copy of the baseline data with modified covariates (or a (K, N, N) array).
    - `variant`: "full" (SG-F, the converged full endowment equilibrium), "gegravity" (SG-G,
      gegravity's one-pass numbers), "additive" or "multiplicative" (SG-H, exact hat algebra on the
      modeled baseline flows with theta = sigma - 1), "conditional" (SG-C).
    - `solver_options`: keyword arguments for `jaxoff.solve`.

    **Returns:** a `GravityResults`. A failed solve gives NaN results and a named `status`.
    """
    _check_variant(variant)
    x_cf = _experiment_costs(model, experiment_data)
    out, status, rn, steps = _run(variant, model.reference, _opts(solver_options), *_args(model, x_cf))
    return GravityResults(variant, list(model.countries), {k: np.asarray(v) for k, v in out.items()},
                          STATUS_NAMES.get(int(status), "unknown"), float(rn), int(steps), name)


def simulate_years(data: pd.DataFrame, coefficients, experiment: Callable | dict, years: list, *,
                   variant: str = "full", solver_options: dict | None = None, **baseline_kwargs) -> dict:
    """The same counterfactual on the baseline of several years, in one vmapped solve.

    **Arguments:**

    - `data`: a panel (one row per pair and year); `coefficients`, `baseline_kwargs`: as `baseline`.
    - `experiment`: a function `(year, year_data) -> experiment_data`, or a dict year -> experiment data.
    - `years`: the years to use (all must have the same countries).
    - `variant`, `solver_options`: as `simulate`.

    **Returns:** dict year -> `GravityResults`.
    """
    _check_variant(variant)
    ycol = baseline_kwargs.get("year", "year")
    models, xcfs = [], []
    for y in years:
        m = baseline(data, coefficients, year_value=y, solver_options=solver_options, **baseline_kwargs)
        yd = data[data[ycol].astype(str) == str(y)]
        e = experiment(y, yd) if callable(experiment) else experiment[y]
        models.append(m)
        xcfs.append(_experiment_costs(m, e))
    if any(m.countries != models[0].countries or m.reference != models[0].reference for m in models):
        raise ValueError("all years must have the same countries and reference importer")
    args = [jnp.stack(a) for a in zip(*[_args(m, xc) for m, xc in zip(models, xcfs)])]
    f = jax.vmap(lambda *a: _run(variant, models[0].reference, _opts(solver_options), *a))
    out, status, rn, steps = f(*args)
    res = {}
    for k, y in enumerate(years):
        res[y] = GravityResults(variant, list(models[0].countries), {n: np.asarray(v[k]) for n, v in out.items()},
                                STATUS_NAMES.get(int(status[k]), "unknown"), float(rn[k]), int(steps[k]), f"year {y}")
    return res


# -- derivatives, standard errors, Monte Carlo ------------------------------------------------------------
JAC_QUANTITIES = tuple(COUNTRY_COLUMNS) + ("welfare_change_pct",)


@eqx.filter_jit
def _jac(variant, reference, opts, mode, b, x, x_cf, resid, Y, E, sigma):
    """Jacobians of every country result (JAC_QUANTITIES) w.r.t. the coefficients b (N, K) and
    shifts d of ln T' (N, N, N), in one compiled program shared by `jacobian` and `standard_errors`."""
    n = Y.shape[0]
    k = b.shape[0]

    def f(bb, d):  # d shifts ln T': an extra covariate with coefficient 1, zero in the baseline
        out = _run(variant, reference, opts, jnp.concatenate([bb, jnp.ones(1)]),
                   jnp.concatenate([x, jnp.zeros((1, n, n))]), jnp.concatenate([x_cf, d[None]]),
                   resid, Y, E, sigma)[0]
        return {q: out[q] for q in JAC_QUANTITIES}
    if mode == "rev":
        J = jax.jacrev(f, argnums=(0, 1))(b, jnp.zeros((n, n)))
        return {q: v[0] for q, v in J.items()}, {q: v[1] for q, v in J.items()}
    Jb = jax.jacfwd(lambda bb: f(bb, jnp.zeros((n, n))))(b)
    return Jb, None


def jacobian(model: GravityBaseline, experiment_data, quantity="welfare_change_pct", wrt: str = "coefficients",
             *, variant: str = "full", solver_options: dict | None = None):
    """Exact derivatives of country results by reverse mode (implicit function theorem through the solve).

    **Arguments:**

    - `model`, `experiment_data`, `variant`: as `simulate`.
    - `quantity`: a per-country output name, e.g. "welfare_change_pct", "gdp_change_pct",
      "welfare_statistic", "factory_gate_price_change_pct" (see `COUNTRY_COLUMNS`), or a list of names.
    - `wrt`: "coefficients" (d quantity_c / d b_k, shape (N, K)) or "trade_cost"
      (d quantity_c / d ln T'_ij for the counterfactual bilateral trade costs, shape (N, N, N) =
      [country, exporter, importer]).

    **Returns:** a numpy array (a dict of arrays for a list of quantities); NaN if the solve failed.
    """
    _check_variant(variant)
    if wrt not in ("coefficients", "trade_cost"):
        raise ValueError(f"wrt must be 'coefficients' or 'trade_cost', got {wrt!r}")
    qs = (quantity,) if isinstance(quantity, str) else tuple(quantity)
    bad = [q for q in qs if q not in JAC_QUANTITIES]
    if bad:
        raise ValueError(f"jacobian quantities must be among {list(JAC_QUANTITIES)}; got {bad}")
    x_cf = _experiment_costs(model, experiment_data)
    Jb, Jd = _jac(variant, model.reference, _opts(solver_options), "rev", *_args(model, x_cf))
    J = {q: np.asarray(Jb[q] if wrt == "coefficients" else Jd[q]) for q in qs}
    return J[quantity] if isinstance(quantity, str) else J


def standard_errors(model: GravityBaseline, experiment_data, *, variant: str = "full", covariance=None,
                    quantities: list | None = None, mode: str = "rev",
                    solver_options: dict | None = None) -> pd.DataFrame:
    """Delta-method standard errors of GE results from the coefficient covariance.

    se(g) = sqrt(grad_b g' V grad_b g), with grad_b g exact (forward mode through the solve).

    **Arguments:**

    - `model`, `experiment_data`, `variant`: as `simulate`.
    - `covariance`: K x K (default: the baseline's covariance).
    - `quantities`: output names (default: gegravity's 11 country columns).
    - `mode`: "rev" (shares its compiled program with `jacobian`) or "fwd" (forward mode, K passes).

    **Returns:** a DataFrame indexed by country, one column per quantity (gegravity's names for its
    columns), of standard errors.
    """
    _check_variant(variant)
    V = model.covariance if covariance is None else np.asarray(covariance, dtype=float)
    if V is None:
        raise ValueError("no covariance: give covariance= (K x K) or coefficients with std_error / a pyfixest fit")
    x_cf = jnp.asarray(_experiment_costs(model, experiment_data))
    quantities = list(COUNTRY_COLUMNS) if quantities is None else list(quantities)
    bad = [q for q in quantities if q not in JAC_QUANTITIES]
    if bad:
        raise ValueError(f"quantities must be among {list(JAC_QUANTITIES)}; got {bad}")
    J = _jac(variant, model.reference, _opts(solver_options), mode, *_args(model, x_cf))[0]
    V = jnp.asarray(V)
    se = {COUNTRY_COLUMNS.get(q, q): np.sqrt(np.asarray(jnp.einsum("nk,kl,nl->n", J[q], V, J[q]))) for q in quantities}
    return pd.DataFrame(se, index=pd.Index(model.countries, name="country"))


@dataclasses.dataclass
class MonteCarloResults:
    """Monte Carlo over coefficient draws (gegravity MonteCarloGE).

    - `draws`: (S, K) coefficient draws; `status`: per-draw status names; `n_failed`.
    - `trials`: dict output name -> (S, N) array (NaN for failed draws).
    - `country_results`: long table like gegravity's: index country, column 'statistic'
      (mean, std, sem, median over successful draws; std with ddof = 1), then the 11 columns.
    """

    countries: list
    draws: np.ndarray
    trials: dict
    status: list
    n_failed: int

    @property
    def country_results(self) -> pd.DataFrame:
        frames = []
        ok = np.array([s == "converged" for s in self.status])
        for stat in ("mean", "std", "sem", "median"):
            cols = {}
            for k, v in COUNTRY_COLUMNS.items():
                a = self.trials[k][ok]
                cols[v] = {"mean": a.mean(0), "std": a.std(0, ddof=1) if len(a) > 1 else np.full(a.shape[1], np.nan),
                           "sem": a.std(0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.full(a.shape[1], np.nan),
                           "median": np.median(a, 0)}[stat]
            df = pd.DataFrame(cols, index=pd.Index(self.countries, name="country"))
            df.insert(0, "statistic", stat)
            frames.append(df)
        return pd.concat(frames).sort_index(kind="stable")


def monte_carlo(model: GravityBaseline, experiment_data, *, trials: int = 1000, seed: int | None = 1, draws=None,
                covariance=None, variant: str = "gegravity", allow_singular: bool = True,
                solver_options: dict | None = None) -> MonteCarloResults:
    """Monte Carlo over cost-coefficient draws b ~ Normal(b_hat, V), all draws in one vmapped solve.

    With the same `seed`, the draws are gegravity MonteCarloGE's (scipy `multivariate_normal(b, V,
    seed=seed).rvs()` once per trial); or pass `draws` (S x K) yourself.

    **Arguments:**

    - `model`, `experiment_data`, `variant`: as `simulate` (default "gegravity", as MonteCarloGE).
    - `trials`, `seed`, `allow_singular`: the draws; `covariance`: K x K (default: the baseline's;
      there is no silent identity default).
    - `draws`: an (S, K) array of coefficient vectors in the order of `model.cost_variables`.

    **Returns:** a `MonteCarloResults`; failed draws are NaN, counted in `n_failed` and dropped from the statistics.
    """
    _check_variant(variant)
    if draws is None:
        from scipy.stats import multivariate_normal

        V = model.covariance if covariance is None else np.asarray(covariance, dtype=float)
        if V is None:
            raise ValueError("monte_carlo needs a covariance matrix (covariance=...) or coefficients with std_error")
        dist = multivariate_normal(model.coefficients, V, seed=seed, allow_singular=allow_singular)
        draws = np.array([dist.rvs() for _ in range(trials)]).reshape(trials, -1)
    draws = np.asarray(draws, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != len(model.cost_variables):
        raise ValueError(f"draws must be (S, {len(model.cost_variables)}), got {draws.shape}")
    x_cf = _experiment_costs(model, experiment_data)
    a = _args(model, x_cf)
    opts = _opts(solver_options)
    out, status, _, _ = _mc(variant, model.reference, opts, jnp.asarray(draws), *a[1:])
    names = [STATUS_NAMES.get(int(s), "unknown") for s in np.asarray(status)]
    trials_out = {k: np.asarray(out[k]) for k in list(COUNTRY_COLUMNS) + ["welfare_change_pct"]}
    return MonteCarloResults(list(model.countries), draws, trials_out, names, sum(s != "converged" for s in names))


@eqx.filter_jit
def _mc(variant, reference, opts, draws, x, x_cf, resid, Y, E, sigma):
    return jax.vmap(lambda b: _run(variant, reference, opts, b, x, x_cf, resid, Y, E, sigma))(draws)


def estimate(data: pd.DataFrame, cost_variables: list, *, exporter: str = "exporter", importer: str = "importer",
             trade: str = "trade", year: str | None = None, fixed_effects: str | None = None, vcov="hetero"):
    """PPML gravity estimation with exporter and importer (or exporter-year, importer-year) fixed effects.

    A thin wrapper around pyfixest's `fepois` (a maintained high-dimensional fixed-effects PPML).

    **Arguments:**

    - `data`: long table, intranational flows included.
    - `cost_variables`: covariates (a `constant` is dropped: it is absorbed by the fixed effects).
    - `exporter`, `importer`, `trade`, `year`: column names; with `year`, the fixed effects are
      exporter-year and importer-year.
    - `fixed_effects`: a pyfixest fixed-effects string overriding the default (e.g. adding pair effects).
    - `vcov`: pyfixest's vcov argument (default "hetero"; e.g. {"CRV1": "pair"}).

    **Returns:** the fitted pyfixest `Fepois` result (pass it to `baseline` as `coefficients`).
    """
    try:
        import pyfixest as pf
    except ImportError as e:  # pragma: no cover
        raise ImportError("estimate() needs pyfixest: pip install pyfixest") from e
    rhs = [v for v in cost_variables if v != "constant"]
    if fixed_effects is None:
        fixed_effects = f"{exporter}^{year} + {importer}^{year}" if year else f"{exporter} + {importer}"
    return pf.fepois(f"{trade} ~ {' + '.join(rhs)} | {fixed_effects}", data=data, vcov=vcov)


# -- named example experiments -----------------------------------------------------------------------------
EXAMPLE_VARIABLES = list(EXAMPLE_COEFFICIENTS)


def _sample_model():
    data = load_sample_data()
    m = baseline(data, example_coefficients(), cost_variables=EXAMPLE_VARIABLES, year_value=2006, sigma=5,
                 reference_importer="DEU")
    return data, m


def pta_experiment(data: pd.DataFrame, members: list, exporter: str = "exporter", importer: str = "importer",
                   column: str = "pta") -> pd.DataFrame:
    """A copy of `data` with `column` = 1 for every pair of distinct `members` (a new trade agreement).

    **Arguments:** `data`, `members` (country codes), column names.

    **Returns:** the experiment DataFrame.
    """
    exp = data.copy()
    sel = exp[exporter].isin(members) & exp[importer].isin(members) & (exp[exporter] != exp[importer])
    exp.loc[sel, column] = 1
    return exp


def _can_jpn_pta(variant: str = "gegravity"):
    data, m = _sample_model()
    return simulate(m, pta_experiment(data, ["CAN", "JPN"]), variant=variant, name="can_jpn_pta")


def _east_asia_pta(variant: str = "gegravity"):
    data, m = _sample_model()
    return simulate(m, pta_experiment(data, ["CHN", "JPN", "KOR"]), variant=variant, name="east_asia_pta")


def _eu_enlargement(variant: str = "full"):
    """ge_gravity's example: EU enlargements 2000-2014 on the year-2000 WIOD flows, theta = 4."""
    d = load_wiod()
    d0, d14 = d[d.year == 2000].copy(), d[d.year == 2014]
    m = baseline(d0, {"eu_enlargement": EU_ENLARGEMENT_BETA}, ["eu_enlargement"], year_value=2000, output=None,
                 expenditure=None, sigma=5.0, reference_importer="USA", residual_costs=True)
    exp = d0.copy()
    exp["eu_enlargement"] = d14.set_index(["exporter", "importer"]).loc[
        list(zip(d0.exporter, d0.importer)), "eu_enlargement"].to_numpy()
    return simulate(m, exp, variant=variant, name="eu_enlargement")


EXPERIMENTS = {
    "can_jpn_pta": _can_jpn_pta,
    "east_asia_pta": _east_asia_pta,
    "eu_enlargement": _eu_enlargement,
}
