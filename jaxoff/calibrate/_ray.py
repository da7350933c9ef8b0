"""The Ray engine of `calibrate_many` (`engine="ray"`, optional extra `jaxoff[ray]`).

Units are cut into chunks and sent to a pool of Ray actors, one per worker. An actor is a long-lived
Python process: it imports jaxoff once and keeps its compiled programs (JAX's in-memory caches), so
only its first chunk compiles. Each chunk is calibrated in the actor by the local `calibrate_many`
(same options, no checkpoints there); the driver records every returned unit and writes its
checkpoint. A chunk whose actor dies (killed, out of memory, node lost) is resubmitted (the actor is
restarted by Ray) up to `max_retries` times; units still lost are reported as failed and not
checkpointed, so rerunning with the same `checkpoint_dir` recomputes exactly them.

Results are identical to the local run when each unit's calibration does not depend on the units
before it, i.e. with `warm_start=False` (or with `batch_size > 1`, where chunks are multiples of
`batch_size`). With `warm_start=True` each chunk starts cold, so estimates agree with the local run
to the optimizer's tolerance, not bit for bit.

Multi-node clusters: start the head with `ray start --head --port=6379`, on every other machine
`ray start --address=<head-ip>:6379`, install the same jaxoff (and model code) everywhere, and call
`calibrate_many(..., engine="ray", ray_options={"address": "auto"})` on the head (or connect first
with `ray.init(address="<head-ip>:6379")`; an initialized Ray is used as is). `num_workers` defaults
to the cluster's CPU count. Checkpoints are written by the driver, so `checkpoint_dir` only needs to
be on the driver's disk. On GPU pods, give each actor a GPU (`ray_options={"num_gpus_per_worker":
1}`); for one large computation spread over several hosts' accelerators, use `jax.distributed`
(`jax.distributed.initialize(coordinator_address=..., num_processes=..., process_id=...)` in every
process, then shard the batched calibration with `jax.sharding`), which is a different model from
this engine's independent units.
"""
from __future__ import annotations

import math
import os
from collections import deque

_POOL: dict = {}  # (num_workers, cpus, gpus) -> list of actor handles, kept across calls


def _require_ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - exercised only without ray
        raise ImportError("engine='ray' needs Ray: pip install 'jaxoff[ray]' (ray[default])") from e
    return ray


class _CalibrationWorker:
    """One per worker process; jaxoff and its compiled programs stay loaded between chunks."""

    def pid(self):
        return os.getpid()

    def run(self, model, sub_df, free, moments, opts, sub_se):
        import warnings

        from jaxoff.calibrate._many import calibrate_many

        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calibrate_many(model, sub_df, free, moments, moment_se=sub_se, checkpoint_dir=None, progress=False,
                           on_result=lambda uid, row: rows.append((uid, row)), warn=False, **opts)
        return rows


def worker_pool(num_workers=None, address=None, num_cpus_per_worker=1, num_gpus_per_worker=0):
    """The Ray actors of the calibration engine (created once per shape and reused across calls).

    **Arguments:** `num_workers` (default: the cluster's CPUs / `num_cpus_per_worker`), `address`
    (passed to `ray.init` when Ray is not initialized yet; None starts a local cluster), resources per
    actor.

    **Returns:** a list of actor handles.
    """
    ray = _require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    if num_workers is None:
        num_workers = max(1, int(ray.cluster_resources().get("CPU", 1) // max(num_cpus_per_worker, 1e-9)))
    key = (int(num_workers), float(num_cpus_per_worker), float(num_gpus_per_worker))
    pool = _POOL.get(key)
    if pool is None:
        cls = ray.remote(num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker, max_restarts=-1,
                         max_task_retries=0)(_CalibrationWorker)
        pool = [cls.remote() for _ in range(key[0])]
        _POOL[key] = pool
    return pool


def shutdown_pool():
    """Kill the cached actors (e.g. before `ray.shutdown()` or to free their memory)."""
    ray = _require_ray()
    for key, pool in list(_POOL.items()):
        for a in pool:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        del _POOL[key]


def run_ray(model, df, todo, free, moments, moment_se, opts, record, ray_options=None):
    """Calibrate the units `todo` of `df` on Ray actors; `record(uid, row, save)` receives each unit.

    `opts` are `calibrate_many`'s options for every chunk (method, weights, warm_start, batch_size,
    and `calibrate` keyword arguments). `ray_options`: `address`, `num_workers`, `chunk_size`,
    `max_retries` (resubmissions of a chunk whose actor died; default 2), `num_cpus_per_worker`,
    `num_gpus_per_worker`, `on_submit(actor, chunk)` (called after each submission, e.g. for monitoring).
    """
    import pandas as pd

    ray = _require_ray()
    from ray.exceptions import RayActorError, RayTaskError

    ro = dict(ray_options or {})
    unknown = set(ro) - {"address", "num_workers", "chunk_size", "max_retries", "num_cpus_per_worker",
                         "num_gpus_per_worker", "on_submit"}
    if unknown:
        raise ValueError(f"unknown ray_options {sorted(unknown)}")
    pool = worker_pool(ro.get("num_workers"), ro.get("address"), ro.get("num_cpus_per_worker", 1),
                       ro.get("num_gpus_per_worker", 0))
    if not todo:
        return
    batch = int(opts.get("batch_size", 1) or 1)
    size = ro.get("chunk_size") or max(1, math.ceil(len(todo) / (4 * len(pool))))
    if batch > 1:
        size = batch * math.ceil(size / batch)  # whole batches: same compiled shapes as the local run
    chunks = deque((todo[i:i + size], 0) for i in range(0, len(todo), size))
    max_retries = int(ro.get("max_retries", 2))
    model_ref = ray.put(model)
    idle, pending = list(pool), {}

    def submit(actor, chunk, attempt):
        sub = df.loc[chunk]
        se = moment_se.loc[chunk] if isinstance(moment_se, pd.DataFrame) else moment_se
        pending[actor.run.remote(model_ref, sub, free, moments, opts, se)] = (actor, chunk, attempt)
        if ro.get("on_submit") is not None:
            ro["on_submit"](actor, chunk)

    while chunks or pending:
        while chunks and idle:
            chunk, attempt = chunks.popleft()
            submit(idle.pop(0), chunk, attempt)
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        actor, chunk, attempt = pending.pop(ref)
        try:
            rows = ray.get(ref)
        except RayActorError as e:  # the worker process died: resubmit (Ray restarts the actor)
            if attempt < max_retries:
                chunks.append((chunk, attempt + 1))
            else:
                for uid in chunk:  # reported, not checkpointed: a rerun recomputes them
                    record(uid, {"status": f"error: Ray worker died ({type(e).__name__}) after {attempt + 1} "
                                           "attempts", "converged": False}, False)
        except RayTaskError as e:  # an exception inside the chunk (not a lost worker): report it
            for uid in chunk:
                record(uid, {"status": f"error: {type(e.cause).__name__ if e.cause else 'RayTaskError'}: "
                                       f"{str(e.cause or e)[:300]}", "converged": False}, False)
        else:
            for uid, row in rows:
                row = {k: v for k, v in row.items() if k != "id"}
                record(uid, row, True)
        idle.append(actor)
