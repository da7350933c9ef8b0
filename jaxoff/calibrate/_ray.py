"""The Ray engine of `calibrate_many` (`engine="ray"`, optional extra `jaxoff[ray]`).

Units are cut into chunks and run on the actor pool of `jaxoff.cluster` (which also says how to use
a multi-node cluster or GPU pods). Each chunk is calibrated in the actor by the local
`calibrate_many` (same options, no checkpoints there); the driver records every returned unit and
writes its checkpoint. A chunk whose actor dies (killed, out of memory, node lost) is resubmitted (the actor is
restarted by Ray) up to `max_retries` times; units still lost are reported as failed and not
checkpointed, so rerunning with the same `checkpoint_dir` recomputes exactly them.

Results are identical to the local run when each unit's calibration does not depend on the units
before it, i.e. with `warm_start=False` (or with `batch_size > 1`, where chunks are multiples of
`batch_size`). With `warm_start=True` each chunk starts cold, so estimates agree with the local run
to the optimizer's tolerance, not bit for bit.
"""
from __future__ import annotations

import math

from ..cluster import pool_for, run_chunks, shutdown_pool, validate_options, worker_pool

__all__ = ["run_ray", "worker_pool", "shutdown_pool"]


def run_ray(model, df, todo, free, moments, moment_se, opts, record, ray_options=None):
    """Calibrate the units `todo` of `df` on Ray actors; `record(uid, row, save)` receives each unit.

    `opts` are `calibrate_many`'s options for every chunk (method, weights, warm_start, batch_size,
    and `calibrate` keyword arguments). `ray_options`: `address`, `num_workers`, `chunk_size`,
    `max_retries` (resubmissions of a chunk whose actor died; default 2), `num_cpus_per_worker`,
    `num_gpus_per_worker`, `on_submit(actor, chunk)` (called after each submission, e.g. for monitoring).
    """
    import pandas as pd
    import ray

    ro = validate_options(ray_options)
    pool = pool_for(ro)
    if not todo:
        return
    batch = int(opts.get("batch_size", 1) or 1)
    size = ro.get("chunk_size") or max(1, math.ceil(len(todo) / (4 * len(pool))))
    if batch > 1:
        size = batch * math.ceil(size / batch)  # whole batches: same compiled shapes as the local run
    model_ref = ray.put(model)

    def submit(actor, chunk):
        se = moment_se.loc[chunk] if isinstance(moment_se, pd.DataFrame) else moment_se
        return actor.calibrate.remote(model_ref, df.loc[chunk], free, moments, opts, se)

    def done(chunk, rows):
        for uid, row in rows:
            record(uid, {k: v for k, v in row.items() if k != "id"}, True)

    def lost(chunk, reason):
        for uid in chunk:  # reported, not checkpointed: a rerun recomputes them
            record(uid, {"status": f"error: {reason}", "converged": False}, False)

    run_chunks([todo[i:i + size] for i in range(0, len(todo), size)], submit, done, lost, ro)
