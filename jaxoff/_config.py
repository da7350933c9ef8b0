"""Process-wide settings jaxoff applies on import: float64 and JAX's persistent compilation cache.

**Float64.** Equilibria are solved to residuals of 1e-8 and their derivatives come from the implicit
function theorem, which needs double precision. `import jaxoff` therefore switches JAX to float64
(`jax_enable_x64`) for the whole process. To keep JAX in float32, set the environment variable
`JAXOFF_ENABLE_X64=0` before importing jaxoff; `jo.solve` then refuses to run with an error that
says how to switch float64 back on (`jax.config.update("jax_enable_x64", True)`).

**Compilation cache.** Compiled solvers are stored on disk with JAX's persistent compilation cache,
so the second run of the same model (a new Python process, a second `jaxoff solve`) skips most of the
compilation. Location: `$JAXOFF_CACHE_DIR` if set, else `$XDG_CACHE_HOME/jaxoff/jax`, else
`~/.cache/jaxoff/jax`. Opt out with `JAXOFF_COMPILATION_CACHE=0`. If you configured JAX's own cache
(`jax_compilation_cache_dir` or `JAX_COMPILATION_CACHE_DIR`), jaxoff leaves it alone.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["x64_enabled", "require_x64", "cache_dir", "enable_compilation_cache", "X64Error"]

_FALSE = {"0", "false", "no", "off", ""}

# Entries smaller than this compile time are not worth a disk round trip (JAX's own default is 1 s;
# a jaxoff CLI call is dominated by a handful of 0.1-1 s compilations).
_MIN_COMPILE_SECS = 0.05


def _env_flag(name: str, default: bool = True) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() not in _FALSE


class X64Error(RuntimeError):
    """Raised when a jaxoff solver runs while JAX is in float32 mode."""


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default.

    **Returns:** `True` if `jax_enable_x64` is on.
    """
    return bool(jax.config.jax_enable_x64)  # type: ignore[attr-defined]


def require_x64(what: str = "jaxoff") -> None:
    """Raise `X64Error` with instructions unless float64 is enabled.

    **Arguments:**

    - `what`: the name of the caller, used in the message.

    **Returns:** nothing; raises `X64Error` when `jax_enable_x64` is off.
    """
    if not x64_enabled():
        raise X64Error(
            f"{what}: jaxoff needs float64, but JAX is in float32 mode (jax_enable_x64 is off"
            + (", because JAXOFF_ENABLE_X64=0" if not _env_flag("JAXOFF_ENABLE_X64") else "")
            + "). Enable it with jax.config.update('jax_enable_x64', True) before creating any array, "
            "or unset JAXOFF_ENABLE_X64 (jaxoff then enables float64 on import)."
        )


def _apply_x64_policy() -> None:
    if _env_flag("JAXOFF_ENABLE_X64"):
        jax.config.update("jax_enable_x64", True)


def cache_dir() -> Path:
    """The directory of jaxoff's persistent compilation cache.

    **Returns:** `$JAXOFF_CACHE_DIR`, else `$XDG_CACHE_HOME/jaxoff/jax`, else `~/.cache/jaxoff/jax`.
    """
    if os.environ.get("JAXOFF_CACHE_DIR"):
        return Path(os.environ["JAXOFF_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxoff" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None, *, force: bool = False) -> Path | None:
    """Switch on JAX's persistent compilation cache in jaxoff's cache directory.

    Called on `import jaxoff`; calling it again is harmless. Does nothing if
    `JAXOFF_COMPILATION_CACHE=0` (unless `force=True`) or if JAX's own cache directory is already set.

    **Arguments:**

    - `path`: cache directory (default: `cache_dir()`).
    - `force`: enable even when `JAXOFF_COMPILATION_CACHE=0`.

    **Returns:** the cache directory in use, or `None` if the cache is off or managed by the user.
    """
    if not force and not _env_flag("JAXOFF_COMPILATION_CACHE"):
        return None
    current = jax.config.jax_compilation_cache_dir  # type: ignore[attr-defined]
    target = Path(path).expanduser() if path is not None else cache_dir()
    if current and Path(current) != target and path is None:
        return None  # the user configured JAX's cache: respect it
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # read-only home etc.: run without the cache
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_SECS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return target
