"""Data parallelism with `jax.jit` and `NamedSharding` over a ('data',) mesh.

Parameters and optimizer state are replicated; batches are split along their leading dim.
Multi-host: each process feeds its own slice and `global_batch` assembles the global array.
"""
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


def make_mesh(num_devices: int = 0) -> jax.sharding.Mesh:
  """A 1-D ('data',) mesh over the first `num_devices` devices (0 = all, on all hosts)."""
  total = jax.device_count()
  n = num_devices or total
  if not 0 < n <= total:
    raise ValueError(f'Asked for {n} devices but {total} exist (config.devices; 0 = all).')
  # Auto axes: shardings are given at the jit boundary and XLA propagates them inside.
  return jax.make_mesh((n,), ('data',), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=jax.devices()[:n])


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device of `mesh`."""
  return NamedSharding(mesh, P())


def batch_sharded(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Sharding that splits the leading (batch) dim across the 'data' axis."""
  return NamedSharding(mesh, P('data'))


def replicate(tree, mesh: jax.sharding.Mesh):
  """Places every leaf of `tree` fully on every device of `mesh`."""
  return jax.device_put(tree, replicated(mesh))


def global_batch(local_batch, mesh: jax.sharding.Mesh):
  """Builds global arrays from this process's slice `[B / num_processes, ...]` of each leaf."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      local_batch)
