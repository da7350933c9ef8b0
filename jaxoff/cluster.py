"""Ray engine shared by `calibrate_many(engine="ray")` and `sweep(engine="ray")` (extra `jaxoff[ray]`).

Work is cut into chunks and sent to a pool of Ray actors, one per worker. An actor is a long-lived
Python process: it imports jaxoff once and keeps its compiled programs (JAX's in-memory caches), so
only its first chunk of a given model structure compiles. The driver schedules the chunks, receives
every result and writes the checkpoints. A chunk whose actor dies (killed, out of memory, node lost)
is resubmitted (Ray restarts the actor) up to `max_retries` times; work still lost is reported and
not checkpointed, so a rerun with the same checkpoint directory recomputes exactly that.

Multi-node clusters: start the head with `ray start --head --port=6379`, on every other machine
`ray start --address=<head-ip>:6379`, install the same jaxoff (and your model code) everywhere, and
pass `ray_options={"address": "auto"}` on the head (or connect first with
`ray.init(address="<head-ip>:6379")`; an initialized Ray is used as is). `num_workers` defaults to
the cluster's CPU count. Checkpoints are written by the driver, so the checkpoint directory only
needs to be on the driver's disk. On GPU pods, give each actor a GPU (`ray_options=
{"num_gpus_per_worker": 1}`); for one large computation spread over several hosts' accelerators,
use `jax.distributed` instead (`jax.distributed.initialize(...)` in every process, then shard with
`jax.sharding`), which is a different model from this engine's independent chunks.
"""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["worker_pool", "shutdown_pool", "pool_for", "run_chunks", "validate_options", "RAY_OPTIONS"]

#: Keys accepted in `ray_options` by the engines.
RAY_OPTIONS = frozenset({"address", "num_workers", "chunk_size", "max_retries", "num_cpus_per_worker",
                         "num_gpus_per_worker", "on_submit"})

#: Longest total wait (seconds, per run) for actors that Ray is restarting before their chunks count as lost.
UNAVAILABLE_WAIT = 300.0

_POOL: dict = {}  # (num_workers, cpus, gpus) -> list of actor handles, kept across calls


def require_ray():
    """Import Ray, or say how to install it."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - exercised only without ray
        raise ImportError("engine='ray' needs Ray: pip install 'jaxoff[ray]' (ray[default])") from e
    return ray


class _Worker:
    """One per worker process; jaxoff and its compiled programs stay loaded between chunks."""

    def pid(self):
        return os.getpid()

    def calibrate(self, model, sub_df, free, moments, opts, sub_se):
        import warnings

        from jaxoff.calibrate._many import calibrate_many

        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calibrate_many(model, sub_df, free, moments, moment_se=sub_se, checkpoint_dir=None, progress=False,
                           on_result=lambda uid, row: rows.append((uid, row)), warn=False, **opts)
        return rows

    def sweep(self, model, points, kwargs):
        from jaxoff.sweep import sweep

        df = sweep(model, grid="zip", progress=False, **kwargs, **points)
        return {c: df[c].to_numpy() for c in df.columns}


def validate_options(ray_options: dict | None) -> dict:
    ro = dict(ray_options or {})
    unknown = set(ro) - RAY_OPTIONS
    if unknown:
        raise ValueError(f"unknown ray_options {sorted(unknown)}; known: {sorted(RAY_OPTIONS)}")
    return ro


def worker_pool(num_workers=None, address=None, num_cpus_per_worker=1, num_gpus_per_worker=0):
    """The Ray actors of the engine (created once per shape and reused across calls and engines).

    **Arguments:** `num_workers` (default: the cluster's CPUs / `num_cpus_per_worker`), `address`
    (passed to `ray.init` when Ray is not initialized yet; None starts a local cluster), resources per
    actor.

    **Returns:** a list of actor handles.
    """
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    if num_workers is None:
        num_workers = max(1, int(ray.cluster_resources().get("CPU", 1) // max(num_cpus_per_worker, 1e-9)))
    key = (int(num_workers), float(num_cpus_per_worker), float(num_gpus_per_worker))
    pool = _POOL.get(key)
    if pool is None:
        cls = ray.remote(num_cpus=num_cpus_per_worker, num_gpus=num_gpus_per_worker, max_restarts=-1,
                         max_task_retries=0)(_Worker)
        pool = [cls.remote() for _ in range(key[0])]
        _POOL[key] = pool
    return pool


def pool_for(ro: dict):
    """The actor pool described by validated `ray_options` `ro` (see `worker_pool`)."""
    return worker_pool(ro.get("num_workers"), ro.get("address"), ro.get("num_cpus_per_worker", 1),
                       ro.get("num_gpus_per_worker", 0))


def shutdown_pool():
    """Kill the cached actors (e.g. before `ray.shutdown()` or to free their memory)."""
    ray = require_ray()
    for key, pool in list(_POOL.items()):
        for a in pool:
            try:
                ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        del _POOL[key]


def run_chunks(chunks: list, submit: Callable[[Any, Any], Any], done: Callable[[Any, Any], None],
               lost: Callable[[Any, str], None], ro: dict) -> None:
    """Run `chunks` on the pool of `ro` (validated `ray_options`), at most one chunk per actor.

    `submit(actor, chunk)` returns the object ref of the actor call; `done(chunk, result)` receives
    each result; `lost(chunk, reason)` each chunk given up (its actor died more than `max_retries`
    times, or the call raised inside the worker).
    """
    ray = require_ray()
    from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

    pool = pool_for(ro)
    queue = deque((c, 0) for c in chunks)
    max_retries = int(ro.get("max_retries", 2))
    idle, pending = list(pool), {}
    waited = 0.0  # seconds spent waiting for restarting actors
    while queue or pending:
        while queue and idle:
            chunk, attempt = queue.popleft()
            actor = idle.pop(0)
            pending[submit(actor, chunk)] = (actor, chunk, attempt)
            if ro.get("on_submit") is not None:
                ro["on_submit"](actor, chunk)
        ready, _ = ray.wait(list(pending), num_returns=1)
        actor, chunk, attempt = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ActorUnavailableError:
            # the actor is being restarted (after a death already counted, or a lost connection):
            # not a new failure of this chunk; wait a little and send it again
            if waited < UNAVAILABLE_WAIT:
                time.sleep(0.25)
                waited += 0.25
                queue.appendleft((chunk, attempt))
            else:
                lost(chunk, f"Ray worker unavailable for more than {UNAVAILABLE_WAIT:.0f} s")
        except RayActorError as e:  # the worker process died: resubmit (Ray restarts the actor)
            if attempt < max_retries:
                queue.append((chunk, attempt + 1))
            else:
                lost(chunk, f"Ray worker died ({type(e).__name__}) after {attempt + 1} attempts")
        except RayTaskError as e:  # an exception inside the chunk (not a lost worker): report it
            lost(chunk, f"{type(e.cause).__name__ if e.cause else 'RayTaskError'}: {str(e.cause or e)[:300]}")
        else:
            done(chunk, result)
        idle.append(actor)
