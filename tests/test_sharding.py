"""jo.sweep sharded over several (forced host) devices gives the one-device results.

The device count is fixed when JAX starts, so the 4-device sweep runs in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 and sends its frame back as JSON (floats round-trip
exactly); the one-device reference is computed here, with the same options as tests/test_sweep.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pandas as pd
import pytest

import jaxoff as jo
from jaxoff.models import get

BETAS = np.round(np.arange(0.95, 4.5, 0.1), 10)  # 36 points: invalid, out-of-regime and fine
KW = dict(derivatives=[("w", "beta")], elasticities=[("w", "beta")], chunk_size=32, progress=False)

SCRIPT = textwrap.dedent(
    f"""
    import json
    import numpy as np
    import jax
    import sys
    import importlib
    import jaxoff as jo
    from jaxoff.models import get

    importlib.import_module("jaxoff.sweep").SERIAL_HOST_DEVICES = sys.argv[1] == "serial"
    df = jo.sweep(get("trading_tasks/M1")(), beta=np.array({BETAS.tolist()!r}), **{KW!r})
    df["status"] = df["status"].astype(str)
    print(json.dumps({{"n_devices": len(jax.devices()), "attrs": {{k: df.attrs[k] for k in ("devices", "n_chunks")}},
                      "frame": df.to_dict(orient="list")}}))
    """
)


# "serial" costs ~70 s (a JAX process compiling per device): slow-marked; "shard_map" exercises the same
# 4-device split and the same one-device oracle in the default run.
@pytest.mark.parametrize("mode", [pytest.param("serial", marks=pytest.mark.slow), "shard_map"])
def test_sweep_sharded_over_four_devices_equals_one_device(mode):
    # "serial": host devices take their slices in turn (the CPU default); "shard_map": the accelerator
    # path, run here on forced host devices with 8 points per device (below the sizes at which
    # jaxlib 0.10's threaded batched LAPACK kernels were seen to deadlock)
    # keep the suite's own XLA flags (tests/conftest.py): the one-device reference below is compiled with them
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags)
    cache = jax.config.jax_compilation_cache_dir  # the suite's persistent cache (tests/conftest.py)
    if cache:
        env.setdefault("JAX_COMPILATION_CACHE_DIR", cache)
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 4 and res["attrs"] == {"devices": 4, "n_chunks": 2}
    many = pd.DataFrame(res["frame"])

    one = jo.sweep(get("trading_tasks/M1")(), beta=BETAS, devices=1, **KW)
    assert one.attrs["devices"] == 1 and list(many.columns) == list(one.columns)
    # statuses, flags, step counts and unknowns: identical
    for c in ["status", "converged", "steps", "regime:diversified", "w", "s", "I", "x", "y"]:
        a, b = many[c].to_numpy(), one[c].astype(str).to_numpy() if c == "status" else one[c].to_numpy()
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), c
    # every float column equal to rounding: the partitioned program may fuse the derivative arithmetic
    # differently (about one ulp)
    for c in one.columns:
        if one[c].dtype.kind == "f":
            a, b = many[c].to_numpy(dtype=float), one[c].to_numpy()
            assert np.array_equal(np.isnan(a), np.isnan(b)), c
            ok = np.isfinite(b)
            assert np.all(np.abs(a[ok] - b[ok]) <= 1e-13 * np.maximum(np.abs(b[ok]), 1e-3)), c
    b = BETAS[(BETAS > 12 / 11) & (BETAS < 4)]
    np.testing.assert_allclose(many.set_index("beta").loc[b, "w"], (b + 4) ** 2 / (16 * b), rtol=1e-12)  # O2
    assert set(many["status"]) == {"converged", "invalid_parameters", "out_of_regime"}
