"""Cheap-to-compile helpers for the zoo tests (2-core CPU budget)."""
import math

import jax
import numpy as np

# XLA's lowest backend optimisation level: compiles several times faster, runs slower.
FAST_COMPILE = {'xla_backend_optimization_level': 0}


def key(seed: int) -> jax.Array:
  """A PRNG key whose generator compiles fast on CPU (threefry's takes seconds per shape)."""
  return jax.random.key(seed, impl='rbg')


def numpy_variables(model, x, seed: int = 0, **kwargs) -> dict:
  """Variables of `model` for input `x` without compiling its initializers: conv kernels
  He-normal N(0, 2 / fan_in), dense kernels LeCun-normal N(0, 1 / fan_in), batch-norm scale
  1 and variance 1, biases and means 0 (shapes from `jax.eval_shape(model.init)`)."""
  rng = np.random.default_rng(seed)
  abstract = jax.eval_shape(lambda x: model.init(key(0), x, **kwargs), x)

  def make(path, leaf):
    name = path[-1].key
    if name == 'kernel':
      gain = 2.0 if len(leaf.shape) == 4 else 1.0
      std = math.sqrt(gain / math.prod(leaf.shape[:-1]))
      return (rng.standard_normal(leaf.shape) * std).astype(np.float32)
    return (np.ones if name in ('scale', 'var') else np.zeros)(leaf.shape, np.float32)

  return dict(jax.tree_util.tree_map_with_path(make, abstract))
