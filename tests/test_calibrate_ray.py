"""calibrate_many(engine="ray") and jo.sweep(engine="ray") on a local Ray cluster started here (2 CPUs,
no dashboard; one pool of actors serves both engines).

Oracle: the local engine (`engine="local"`, same options) on the same table; the units are
independent (`warm_start=False`), so the Ray run must give the same numbers bit for bit. A worker is
killed with SIGKILL while it holds a chunk: the chunk is resubmitted (or, with `max_retries=0`,
reported and left out of the checkpoints), and a rerun with the same checkpoint_dir recomputes
exactly the lost units.
"""
import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
from test_calibrate import FREE, SK, targets_at

from jaxoff.calibrate import calibrate_many
from jaxoff.models.trading_tasks import SUBMODELS

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'jaxoff[ray]')")
import jaxoff as jo  # noqa: E402
from jaxoff import cluster as jr  # noqa: E402

M1 = SUBMODELS["M1"]
BETAS = [1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.2, 2.4]
OPTS = dict(warm_start=False, progress=False, warn=False, solve_kwargs=SK)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    pool = jr.worker_pool(num_workers=2)
    yield pool
    jr.shutdown_pool()
    ray.shutdown()


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame.from_dict({f"C{i}": targets_at(b, 0.9) for i, b in enumerate(BETAS)}, orient="index")


@pytest.fixture(scope="module")
def local(table):
    return calibrate_many(M1(), table, FREE, **OPTS).table


def _killer(pool, at):
    """An on_submit hook that SIGKILLs the worker process that just received submission number `at`."""
    pids = {a._actor_id: ray.get(a.pid.remote()) for a in pool}
    subs = []

    def hook(actor, chunk):
        subs.append(list(chunk))
        if len(subs) == at:
            os.kill(pids[actor._actor_id], signal.SIGKILL)

    return hook, subs


def test_ray_equals_local_and_survives_a_killed_worker(cluster, table, local, tmp_path):
    ckpt = tmp_path / "ckpt"
    hook, subs = _killer(cluster, at=2)
    out = calibrate_many(M1(), table, FREE, engine="ray", checkpoint_dir=ckpt,
                         ray_options={"num_workers": 2, "chunk_size": 2, "on_submit": hook}, **OPTS)
    # the killed chunk (and any chunk sent to the dead process before Ray noticed) was resubmitted
    assert len(subs) > len(BETAS) // 2 and subs.count(subs[1]) >= 2
    assert not out.failed
    pd.testing.assert_frame_equal(out.table, local, check_exact=True)
    files = sorted(p.name for p in ckpt.glob("C*.json"))
    assert files == [f"C{i}.json" for i in range(len(BETAS))]
    # a second run with the same checkpoint_dir recomputes nothing and gives the same table
    again = calibrate_many(M1(), table, FREE, engine="ray", checkpoint_dir=ckpt,
                           ray_options={"num_workers": 2}, **OPTS)
    pd.testing.assert_frame_equal(again.table, local, check_exact=True)


@pytest.mark.slow  # a second killed worker and a fresh Ray worker's compilations; the engine, a killed
# worker and checkpoint reruns are covered by test_ray_equals_local_and_survives_a_killed_worker
def test_lost_units_are_reported_not_checkpointed_and_a_rerun_recomputes_them(cluster, table, local, tmp_path):
    ckpt = tmp_path / "ckpt"
    hook, subs = _killer(cluster, at=1)
    out = calibrate_many(M1(), table, FREE, engine="ray", checkpoint_dir=ckpt,
                         ray_options={"num_workers": 2, "chunk_size": 2, "on_submit": hook, "max_retries": 0},
                         **OPTS)
    lost = subs[0]
    assert sorted(out.failed) == sorted(lost)
    assert all("Ray worker died" in out.table.loc[u, "status"] for u in lost)
    assert not any((ckpt / f"{u}.json").exists() for u in lost)
    done = [u for u in table.index if u not in lost]
    assert all(json.loads((ckpt / f"{u}.json").read_text())["converged"] for u in done)
    seen = []
    res = calibrate_many(M1(), table, FREE, engine="ray", checkpoint_dir=ckpt,
                         ray_options={"num_workers": 2}, on_result=lambda u, r: seen.append(u), **OPTS)
    assert sorted(seen) == sorted(lost)
    pd.testing.assert_frame_equal(res.table, local, check_exact=True)


def test_bad_engine_name():
    with pytest.raises(ValueError, match="engine"):
        calibrate_many(M1(), pd.DataFrame({"g": [0.2]}, index=["A"]), {"beta": "log"}, engine="dask",
                       progress=False)


def test_sweep_on_ray_equals_local_survives_a_killed_worker_and_resumes(cluster, tmp_path):
    # the same actors as the calibrations (the pool is shared); oracle: the local sweep, bit for bit
    kw = dict(beta=np.linspace(1.5, 2.5, 40), derivatives=[("w", "beta")], progress=False, chunk_size=8)
    local = jo.sweep(M1(), **kw)
    hook, subs = _killer(cluster, at=2)
    out = jo.sweep(M1(), engine="ray", checkpoint_dir=tmp_path,
                   ray_options={"num_workers": 2, "chunk_size": 8, "on_submit": hook}, **kw)
    assert len(subs) > 5 and subs.count(subs[1]) >= 2  # 5 slices; the killed one was resubmitted
    pd.testing.assert_frame_equal(out, local, check_exact=True)
    assert len(list(tmp_path.glob("sweep-*.npz"))) == 5
    again = jo.sweep(M1(), engine="ray", checkpoint_dir=tmp_path, ray_options={"num_workers": 2}, **kw)
    assert again.attrs["slices_computed"] == 0
    pd.testing.assert_frame_equal(again, local, check_exact=True)
