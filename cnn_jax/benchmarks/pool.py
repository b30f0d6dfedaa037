"""Pooling formulations side by side: `lax.reduce_window` ('xla') against the elementwise
max / sum of strided tap slices ('slices'), forward and forward + backward.

Workloads: `_shapes.POOL` (LeNet-5's 2x2/2, the ResNet stem's 3x3/2 max pool at 112x112,
a padded 3x3 average, a 7x7 global average, a 3-D max pool). Pooling does no multiplies:
its "FLOPs" are window-cell operations, N prod(out) C prod(window) per forward and twice that
for forward + backward; the figures are memory-bound, so % of the matmul peak is tiny.

Config keys (besides those of `tasks.benchmark`): impls (subset of `ops.pool.IMPLS`),
passes (subset of ['fwd', 'fwd+bwd']), shapes (workload-name prefixes; [] = all), smoke.
"""
import math

import jax
import jax.numpy as jnp

from cnn_jax import bench
from cnn_jax.benchmarks import _shapes
from cnn_jax.ops import pool as pool_ops

BASELINE = 'xla'
COMPARE = 'torch'
PASSES = ('fwd', 'fwd+bwd')


def _case(workload, impl: str, mode: str) -> bench.Case:
  name, n, spatial, c, window, strides, padding, kind = workload
  out = [(s + lo + hi - f) // st + 1 for s, f, st, (lo, hi) in zip(spatial, window, strides,
                                                                       padding)]
  ops = float(n * math.prod(out) * c * math.prod(window))

  def f(x):
    return pool_ops.pool(x, kind, window, strides, padding, count_include_pad=True, impl=impl)

  def fwd_bwd(x, g):
    y, vjp = jax.vjp(f, x)
    return y, vjp(g)[0]

  def args():
    x = jax.random.normal(jax.random.key(0), (n, *spatial, c), jnp.float32)
    if mode == 'fwd':
      return (x,)
    return x, jax.random.normal(jax.random.key(1), (n, *out, c), jnp.float32)

  info = dict(x=[n, *spatial, c], window=list(window), strides=list(strides),
              padding=[list(p) for p in padding], kind=kind, mode=mode)
  return bench.Case(f'{name} {mode}', impl, f if mode == 'fwd' else fwd_bwd, args,
                    flops=ops if mode == 'fwd' else 2 * ops, info=info)


def cases(config) -> list[bench.Case]:
  """One case per (workload, pass, impl) from config.impls / passes / shapes / smoke."""
  workloads = _shapes.POOL_SMOKE if config.get('smoke', False) else _shapes.POOL
  prefixes = list(config.get('shapes', ()) or ())
  if prefixes:
    workloads = [w for w in workloads if any(w[0].startswith(p) for p in prefixes)]
  impls = list(config.get('impls', pool_ops.IMPLS))
  for impl in impls:
    if impl not in pool_ops.IMPLS:
      raise ValueError(f'Unknown pool impl {impl!r} in config.impls; choose from {pool_ops.IMPLS}.')
  passes = list(config.get('passes', PASSES))
  return [_case(w, impl, mode) for w in workloads for mode in passes for impl in impls]
