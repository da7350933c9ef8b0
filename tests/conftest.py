import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)

# Compilation dominates the suite's CPU time: XLA's CPU backend at optimization level 0 compiles about
# a quarter faster (measured on tests/test_core.py + tests/test_many_country_core.py, cold cache: 257 s
# instead of 327 s of CPU) and gives the same numbers up to the last bits (no fast-math at any level).
# Set before any computation (XLA reads XLA_FLAGS when the backend starts) and inherited by
# subprocesses. JAXOFF_TEST_XLA_DEFAULT=1, or an explicit level in XLA_FLAGS, keeps XLA's default.
if os.environ.get("JAXOFF_TEST_XLA_DEFAULT") != "1" and "xla_backend_optimization_level" not in os.environ.get(
        "XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # `pytest -n 2` distributes single tests ("load"): a module's tests then land on both workers, and
    # every module-scoped fixture (a batch of solved equilibria, a calibration) and every compiled
    # function is built twice. Whole files per worker ("loadfile") build each once. An explicitly
    # chosen other mode (loadscope, loadgroup, worksteal) is left alone.
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadfile"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("JAXOFF_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set JAXOFF_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# Share compiled XLA programs between test files and xdist workers (and between CI steps):
# compilation, not solving, dominates the suite's time. JAX_COMPILATION_CACHE_DIR, if set, wins (a
# cold-cache measurement points it at an empty directory; subprocesses inherit it). The threshold is
# jaxoff's own (0.05 s): the two xdist workers and the CLI/notebook subprocesses compile many of the
# same small solvers, and a cache hit costs milliseconds.
_cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
# Subprocesses (CLI calls, notebook kernels, Ray workers, crash-and-resume scripts) read the same cache
# through JAX's environment variables instead of compiling everything again (tests of jaxoff's own
# cache policy remove these variables in their fresh interpreters).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")


def pytest_sessionfinish(session):
    # xdist gives a finishing worker 5 s before it sends SIGINT; pytest's repeated cleanup
    # collections over JAX's many objects can take longer, and the interrupt then lands in JAX's
    # gc callback (a KeyboardInterrupt traceback at the end of a green run). Freezing the
    # survivors makes those collections cheap.
    import gc

    gc.collect()
    gc.freeze()
