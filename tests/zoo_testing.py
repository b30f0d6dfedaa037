"""Cheap-to-compile helpers for the zoo tests (2-core CPU budget)."""
import jax

from cnn_jax.benchmarks.models import host_variables

# XLA's lowest backend optimisation level: compiles several times faster, runs slower.
FAST_COMPILE = {'xla_backend_optimization_level': 0}


def key(seed: int) -> jax.Array:
  """A PRNG key whose generator compiles fast on CPU (threefry's takes seconds per shape)."""
  return jax.random.key(seed, impl='rbg')


def numpy_variables(model, x, seed: int = 0, **kwargs) -> dict:
  """`host_variables`: He/LeCun-normal numpy arrays of the model's variable shapes, so no
  initializer is compiled (see cnn_jax.benchmarks.models.host_variables)."""
  return host_variables(model, x, seed, **kwargs)
