"""jo.sweep sharded over several (forced host) devices gives the one-device results.

The device count is fixed when JAX starts, so the check runs in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import jax
    import jaxoff as jo
    from jaxoff.models import get

    M1 = get("trading_tasks/M1")
    betas = np.round(np.arange(0.95, 4.5, 0.1), 10)  # invalid, out-of-regime and fine points
    kw = dict(derivatives=[("w", "beta")], elasticities=[("w", "beta")], chunk_size=16, progress=False)
    many = jo.sweep(M1(), beta=betas, **kw)
    one = jo.sweep(M1(), beta=betas, devices=jax.local_devices()[:1], **kw)
    same, close = {}, {}
    for c in many.columns:
        a, b = many[c].to_numpy(), one[c].to_numpy()
        if many[c].dtype.kind == "f":
            same[c] = bool(np.array_equal(a, b, equal_nan=True))
            ok = np.isfinite(b)
            close[c] = bool(np.array_equal(np.isnan(a), np.isnan(b))
                            and np.all(np.abs(a[ok] - b[ok]) <= 1e-13 * np.maximum(np.abs(b[ok]), 1e-3)))
        else:
            same[c] = close[c] = bool((many[c] == one[c]).all())
    b = many["beta"].to_numpy()
    fine = (b > 12 / 11) & (b < 4)
    w_oracle = (b[fine] + 4) ** 2 / (16 * b[fine])  # spec O2
    print(json.dumps({
        "n_devices": len(jax.devices()), "devices_used": many.attrs["devices"],
        "one_device_used": one.attrs["devices"], "n_chunks": many.attrs["n_chunks"],
        "same": same, "close": close, "w_err": float(np.max(np.abs(many["w"].to_numpy()[fine] - w_oracle))),
        "statuses": sorted(set(many["status"].astype(str))),
    }))
    """
)


def test_sweep_sharded_over_four_devices_equals_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 4 and res["devices_used"] == 4 and res["one_device_used"] == 1
    assert res["n_chunks"] == 3  # 36 points in chunks of 16 (a multiple of 4 devices)
    # statuses, flags, step counts and unknowns: identical; every float column equal to rounding (the
    # partitioned program may fuse the derivative arithmetic differently: ~1 ulp)
    exact = ["status", "converged", "steps", "regime:diversified", "w", "s", "I", "x", "y"]
    assert all(res["same"][c] for c in exact if c in res["same"]), res["same"]
    bad = [c for c, ok in res["close"].items() if not ok]
    assert not bad, f"columns differing between 4 devices and 1: {bad}"
    assert res["w_err"] < 1e-12
    assert res["statuses"] == ["converged", "invalid_parameters", "out_of_regime"]
