"""World input-output algebra: technical coefficients, Leontief inverse, value-added trade measures.

A world input-output table with N countries and S sectors, **country-major** ordering (row/column
index ``k = c * S + s`` for country ``c`` and sector ``s``):

* ``Z`` (N*S, N*S): intermediate flows; ``Z[i, j]`` is what supplier (country, sector) ``i`` sells to
  user (country, sector) ``j`` for use as an input.
* ``F`` (N*S, N): final demand; ``F[i, d]`` is what supplier ``i`` sells to final users in country ``d``.
* ``X`` (N*S,): gross output of each (country, sector).

With these (Leontief 1936; Miller and Blair 2009, ch. 2 and 6; Koopman, Wang and Wei 2014 for the
value-added decomposition of gross exports):

* technical coefficients   ``A[i, j] = Z[i, j] / X[j]``            (column ``j`` is 0 when ``X[j] = 0``)
* Leontief inverse         ``L = (I - A)^-1``                       (output needed per unit of final demand)
* value-added coefficients ``v[j] = 1 - sum_i A[i, j]``             (value added per unit of output)
* gross exports            ``E[i] = sum_{j not in c(i)} Z[i, j] + sum_{d != c(i)} F[i, d]``
* foreign value added in the exports of ``i``: ``FVA[i] = E[i] * sum_{k not in c(i)} v[k] L[k, i]``
* FVA share of gross exports of country ``c`` (TiVA's EXGR_FVASH concept, as a fraction):
  ``sum_{i in c} FVA[i] / sum_{i in c} E[i]``
* imported-input share of user ``j``: ``sum_{i not in c(j)} Z[i, j] / sum_i Z[i, j]``

Every function is pure ``jax.numpy`` and jitted (``n_countries`` and ``by_sector`` are static): it can
be vmapped over a stack of tables (e.g. years) and differentiated with respect to the flows.
Divisions by zero output use the double-``where``
pattern, so gradients stay finite; shares whose denominator is zero (a country with no exports, a
sector with no inputs) are NaN, never a made-up number.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

# Shape names in the annotations: n = N*S rows of the table (country-major), N countries, S sectors.

__all__ = [
    "technical_coefficients", "leontief_inverse", "value_added_coefficients", "gross_exports",
    "value_added_origin", "fva_share_of_gross_exports", "imported_input_shares", "country_index",
]


def _safe_divide(num, den, fill=0.0):
    """num / den where den != 0, else `fill`; gradient-safe (double where)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), fill)


def _check_square(Z, name="Z"):
    if Z.ndim != 2 or Z.shape[0] != Z.shape[1]:
        raise ValueError(f"{name} must be a square (N*S, N*S) matrix of intermediate flows, got shape {Z.shape}")


def _n_sectors(size: int, n_countries: int) -> int:
    n_countries = int(n_countries)
    if n_countries < 1 or size % n_countries:
        raise ValueError(f"n_countries={n_countries} does not divide the table dimension {size} "
                         "(expected N*S rows, country-major)")
    return size // n_countries


def country_index(n_countries: int, n_sectors: int) -> Int[Array, " n"]:
    """Country of each row/column of a country-major table.

    **Arguments:** ``n_countries`` N, ``n_sectors`` S.

    **Returns:** integer array (N*S,) with entry ``c`` at positions ``c*S ... c*S + S - 1``.
    """
    return jnp.repeat(jnp.arange(int(n_countries)), int(n_sectors))


@jax.jit
def technical_coefficients(Z: Float[ArrayLike, "n n"], X: Float[ArrayLike, " n"]) -> Float[Array, "n n"]:
    """Input coefficients ``A = Z / X`` (column-wise), with ``A[:, j] = 0`` where ``X[j] = 0``.

    **Arguments:** ``Z`` (n, n) intermediate flows (row supplier, column user); ``X`` (n,) gross output.

    **Returns:** ``A`` (n, n), ``A[i, j] = Z[i, j] / X[j]``: input from ``i`` per unit of output of ``j``.
    """
    Z = jnp.asarray(Z, dtype=jnp.float64)
    X = jnp.asarray(X, dtype=jnp.float64)
    _check_square(Z)
    if X.shape != Z.shape[-1:]:
        raise ValueError(f"X must have shape ({Z.shape[0]},) to match Z, got {X.shape}")
    return _safe_divide(Z, X[None, :])


@jax.jit
def leontief_inverse(A: Float[ArrayLike, "n n"]) -> Float[Array, "n n"]:
    """Leontief inverse ``L = (I - A)^-1`` (by an LU solve against the identity).

    ``L[i, j]`` is the output of ``i`` needed, directly and indirectly, per unit of final demand for ``j``.
    Functions that only need products with L (``value_added_origin``, ``fva_share_of_gross_exports``)
    solve with the few right-hand sides they need instead of forming L.

    **Arguments:** ``A`` (n, n) technical coefficients (column sums < 1 for a productive economy).

    **Returns:** ``L`` (n, n).
    """
    A = jnp.asarray(A, dtype=jnp.float64)
    _check_square(A, "A")
    eye = jnp.eye(A.shape[0], dtype=A.dtype)
    return jnp.linalg.solve(eye - A, eye)


@jax.jit
def value_added_coefficients(Z: Float[ArrayLike, "n n"], X: Float[ArrayLike, " n"]) -> Float[Array, " n"]:
    """Value added per unit of gross output, ``v[j] = 1 - sum_i Z[i, j] / X[j]``.

    Value added here is everything paid out of output that is not an intermediate input from the table
    (wages, profits, net product taxes, margins). A sector with ``X[j] = 0`` gets ``v[j] = 0``.

    **Arguments:** ``Z`` (n, n) intermediate flows; ``X`` (n,) gross output.

    **Returns:** ``v`` (n,).
    """
    A = technical_coefficients(Z, X)
    X = jnp.asarray(X, dtype=jnp.float64)
    return jnp.where(X != 0, 1.0 - A.sum(axis=0), 0.0)


@partial(jax.jit, static_argnames=("n_countries",))
def gross_exports(Z: Float[ArrayLike, "n n"], F: Float[ArrayLike, "n N"], n_countries: int) -> Float[Array, " n"]:
    """Gross exports of every (country, sector): sales of intermediates and final goods abroad.

    ``E[i] = sum_{j: c(j) != c(i)} Z[i, j] + sum_{d != c(i)} F[i, d]``.

    **Arguments:** ``Z`` (N*S, N*S), ``F`` (N*S, N) final demand by destination country,
    ``n_countries`` N.

    **Returns:** ``E`` (N*S,).
    """
    Z = jnp.asarray(Z, dtype=jnp.float64)
    F = jnp.asarray(F, dtype=jnp.float64)
    _check_square(Z)
    n = Z.shape[0]
    S = _n_sectors(n, n_countries)
    N = n // S
    if F.shape != (n, N):
        raise ValueError(f"F must have shape ({n}, {N}) (final demand by destination country), got {F.shape}")
    cty = country_index(N, S)
    foreign_col = cty[None, :] != cty[:, None]                     # (n, n)
    foreign_dest = jnp.arange(N)[None, :] != cty[:, None]          # (n, N)
    return (Z * foreign_col).sum(axis=1) + (F * foreign_dest).sum(axis=1)


@partial(jax.jit, static_argnames=("n_countries",))
def value_added_origin(Z: Float[ArrayLike, "n n"], X: Float[ArrayLike, " n"], n_countries: int,
                       va: Float[ArrayLike, " n"] | None = None) -> Float[Array, "N n"]:
    """Value-added content of one unit of each (country, sector)'s output, by country of origin.

    ``VB[c, j] = sum_{k in c} v[k] L[k, j]``: the value added of country ``c`` embodied in one unit of the
    output of ``j`` (columns sum to 1 when ``v`` is the residual ``1 - sum_i A[i, j]``). Computed by
    solving ``(I - A)' Y = V'`` with N right-hand sides, not by forming L.

    **Arguments:** ``Z`` (N*S, N*S), ``X`` (N*S,), ``n_countries`` N; ``va`` optional (N*S,) value added in
    levels (a table's VA row); default: the residual ``X - sum_i Z[i, :]``.

    **Returns:** ``VB`` (N, N*S).
    """
    Z = jnp.asarray(Z, dtype=jnp.float64)
    X = jnp.asarray(X, dtype=jnp.float64)
    A = technical_coefficients(Z, X)
    n = A.shape[0]
    S = _n_sectors(n, n_countries)
    N = n // S
    if va is None:
        v = value_added_coefficients(Z, X)
    else:
        va = jnp.asarray(va, dtype=jnp.float64)
        if va.shape != (n,):
            raise ValueError(f"va must have shape ({n},), got {va.shape}")
        v = _safe_divide(va, X)
    cty = country_index(N, S)
    V = v[None, :] * (jnp.arange(N)[:, None] == cty[None, :])       # (N, n) block value-added matrix
    eye = jnp.eye(n, dtype=A.dtype)
    return jnp.linalg.solve((eye - A).T, V.T).T                     # V L


@partial(jax.jit, static_argnames=("n_countries", "by_sector"))
def fva_share_of_gross_exports(Z: Float[ArrayLike, "n n"], F: Float[ArrayLike, "n N"], X: Float[ArrayLike, " n"],
                               n_countries: int, *, by_sector: bool = False, va: Float[ArrayLike, " n"] | None = None
                               ) -> Float[Array, " N"] | tuple[Float[Array, " N"], Float[Array, "N S"]]:
    """Foreign value-added share of gross exports (TiVA's EXGR_FVASH concept), as a fraction.

    With ``VB = V L`` (``value_added_origin``) and gross exports ``E`` (``gross_exports``):

    * per (country, sector) ``i``: ``fva[i] = sum_{c != c(i)} VB[c, i]`` (foreign value added per unit
      of exports of ``i``; it does not depend on where ``i`` exports to);
    * per country ``c``: ``sum_{i in c} E[i] fva[i] / sum_{i in c} E[i]``.

    Countries (or sectors) with zero gross exports get NaN.

    **Arguments:** ``Z`` (N*S, N*S) intermediate flows, ``F`` (N*S, N) final demand by destination,
    ``X`` (N*S,) gross output, ``n_countries`` N; ``by_sector`` also return the per-(country, sector)
    shares; ``va`` optional (N*S,) value added in levels (default: residual ``X - sum_i Z[i, :]``).

    **Returns:** (N,) shares by country; with ``by_sector=True`` a tuple ``(by_country (N,), by_country_sector
    (N, S))``, the latter being FVA per unit of gross exports of each sector (NaN where its exports are 0).
    """
    Z = jnp.asarray(Z, dtype=jnp.float64)
    n = Z.shape[0]
    S = _n_sectors(n, n_countries)
    N = n // S
    E = gross_exports(Z, F, N)
    VB = value_added_origin(Z, X, N, va=va)
    cty = country_index(N, S)
    foreign = (VB * (jnp.arange(N)[:, None] != cty[None, :])).sum(axis=0)     # (n,)
    fva_level = (E * foreign).reshape(N, S).sum(axis=1)
    exports = E.reshape(N, S).sum(axis=1)
    share = _safe_divide(fva_level, exports, jnp.nan)
    if not by_sector:
        return share
    sector = jnp.where(E != 0, foreign, jnp.nan).reshape(N, S)
    return share, sector


@partial(jax.jit, static_argnames=("n_countries",))
def imported_input_shares(Z: Float[ArrayLike, "n n"], n_countries: int) -> Float[Array, "N S"]:
    """Share of imported inputs in each (country, sector)'s intermediate purchases.

    ``m[c, s] = sum_{i: c(i) != c} Z[i, (c, s)] / sum_i Z[i, (c, s)]`` (Feenstra and Hanson's broad
    offshoring measure, from the world table); NaN for a sector that buys no inputs.

    **Arguments:** ``Z`` (N*S, N*S) intermediate flows, ``n_countries`` N.

    **Returns:** (N, S) shares by country (rows) and using sector (columns).
    """
    Z = jnp.asarray(Z, dtype=jnp.float64)
    _check_square(Z)
    n = Z.shape[0]
    S = _n_sectors(n, n_countries)
    N = n // S
    cty = country_index(N, S)
    imported = (Z * (cty[:, None] != cty[None, :])).sum(axis=0)
    total = Z.sum(axis=0)
    return _safe_divide(imported, total, jnp.nan).reshape(N, S)
