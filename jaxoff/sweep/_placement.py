"""Where a sweep's chunks run: one device, a shard_map over a mesh, or host devices in turn."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..model import Model
from ._points import _batch, _Spec

# Number of times each compiled entry point has been traced (i.e. compiled). Tests use it to check that a
# sweep compiles once per model structure, not once per chunk.
_TRACES = {"sweep": 0, "fallback": 0, "continuation": 0}


def trace_count(kind: str = "sweep") -> int:
    """How many times the jitted sweep ("sweep", "fallback": the re-solve of failed points) or
    continuation ("continuation") function has been traced so far in this process (each trace is one
    compilation)."""
    return _TRACES[kind]


def _chunk_impl(base, params, guess, spec, mesh, counter):
    _TRACES[counter] += 1  # runs only while tracing
    if mesh is None:
        return _batch(base, params, guess, spec)
    # Each device solves its own slice of the points with the one-device program (shard_map: no
    # collectives, so a device's Newton loop never waits for another's); every point's arithmetic is
    # the same as on one device.
    per_device = jax.shard_map(lambda b, p, g: _batch(b, p, g, spec), mesh=mesh,
                               in_specs=(P(), P("points"), P()), out_specs=P("points"), check_vma=False)
    return per_device(base, params, guess)


_chunk_jit = jax.jit(_chunk_impl, static_argnames=("spec", "mesh", "counter"))


#: Host (CPU) devices run their slices one after another. jaxlib 0.10's batched LAPACK kernels
#: (LU, triangular solves) split their batch over the CPU thread pool and wait for it; two forced
#: host devices running them at once can fill that pool and wait for each other forever (observed on
#: a 2-core machine: M2 sweeps with 1024 points per device hung at random). Accelerators are not
#: affected and run their shards concurrently under shard_map.
SERIAL_HOST_DEVICES = True


def _serial_host_devices() -> bool:
    # The switch users (and the multi-device test) set is `jaxoff.sweep.SERIAL_HOST_DEVICES`.
    import jaxoff.sweep as package

    return bool(getattr(package, "SERIAL_HOST_DEVICES", SERIAL_HOST_DEVICES))


class _Placement:
    """Where a sweep's chunks run: one device, a shard_map over a device mesh, or host devices in turn."""

    def __init__(self, model: Model, guess: dict, devs: list):
        self.devs = devs
        self.serial = len(devs) > 1 and _serial_host_devices() and all(d.platform == "cpu" for d in devs)
        self.mesh = Mesh(np.asarray(devs), ("points",)) if len(devs) > 1 and not self.serial else None
        if self.mesh is not None:
            rep = NamedSharding(self.mesh, P())
            self.base, self.guess = jax.device_put(model, rep), jax.device_put(guess, rep)
            self._points = NamedSharding(self.mesh, P("points"))
        elif self.serial:
            self.base = [jax.device_put(model, d) for d in devs]
            self.guess = [jax.device_put(guess, d) for d in devs]
        else:
            self.base, self.guess = model, guess

    def put(self, a: np.ndarray):
        """A chunk's parameter column, placed for `run` (host slices stay on the host until then)."""
        if self.serial:
            return a
        return jax.device_put(a, self._points) if self.mesh is not None else jax.device_put(a)

    def run(self, params: dict, spec: _Spec, counter: str):
        if not self.serial:
            return _chunk_jit(self.base, params, self.guess, spec=spec, mesh=self.mesh, counter=counter)
        size = len(next(iter(params.values())))
        parts = []
        slices = np.array_split(np.arange(size), len(self.devs))
        for d, base, guess, idx in zip(self.devs, self.base, self.guess, slices):
            p = {k: jax.device_put(v[idx], d) for k, v in params.items()}
            parts.append(jax.block_until_ready(_chunk_jit(base, p, guess, spec=spec, mesh=None, counter=counter)))
        return jax.tree_util.tree_map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *parts)


