"""Max and average pooling over `[N, *spatial, C]`, any spatial rank; global pooling.

Per spatial dim the window of size f moves by stride s over the input padded by (lo, hi):

    n_out = floor((n + lo + hi - f) / s) + 1          (course formula, `ops.padding`)
    max:  y[b, o, c] = max_k  x_pad[b, o s + k, c]      (padding cells are -inf: never win)
    avg:  y[b, o, c] = sum_k  x_pad[b, o s + k, c] / D  (padding cells are 0)

with D = prod(f) when padded cells are counted (`count_include_pad=True`, PyTorch's default)
or D = the number of real cells in the window otherwise. Pooling has no parameters and acts
on each channel separately. Formulations (`impl`):
  'xla'     `lax.reduce_window` (its gradient is XLA's select-and-scatter).
  'slices'  the elementwise max / sum of one strided slice per window tap, as in im2col but
            reduced on the fly: every tap is one fused elementwise pass, no patch matrix.
"""
import itertools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cnn_jax.ops.padding import Padding, as_tuple, explicit_padding

IMPLS = ('xla', 'slices')


def _geometry(x, window, strides, padding):
  rank = x.ndim - 2
  if rank < 1:
    raise ValueError(f'Input {x.shape} must be [N, *spatial, C] with at least one spatial dim.')
  window = as_tuple(window, rank, 'window')
  strides = as_tuple(strides if strides is not None else window, rank, 'strides')
  pads = explicit_padding(padding, x.shape[1:-1], window, strides)
  return window, strides, pads


def _reduce(x, init, op, window, strides, pads, impl):
  if impl == 'xla':
    # A concrete numpy init lets JAX pick its differentiable max/add window reducers.
    return lax.reduce_window(x, np.array(init, x.dtype), op, (1, *window, 1), (1, *strides, 1),
                             ((0, 0), *pads, (0, 0)))
  if impl != 'slices':
    raise ValueError(f'Unknown pool impl {impl!r}; choose one of {list(IMPLS)}.')
  xp = lax.pad(x, jnp.array(init, x.dtype), [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads),
                                             (0, 0, 0)])
  out = [(n + lo + hi - f) // s + 1 for n, f, s, (lo, hi)
         in zip(x.shape[1:-1], window, strides, pads)]
  result = None
  for tap in itertools.product(*(range(f) for f in window)):
    limit = [t + (o - 1) * s + 1 for t, o, s in zip(tap, out, strides)]
    cells = lax.slice(xp, (0, *tap, 0), (xp.shape[0], *limit, xp.shape[-1]), (1, *strides, 1))
    result = cells if result is None else op(result, cells)
  return result


def max_pool(x: jax.Array, window: int | Sequence[int], strides: int | Sequence[int] | None = None,
             padding: Padding = 'VALID', impl: str = 'xla') -> jax.Array:
  """Max pooling: y[b, o, c] = max over the window at o s of x (padding never wins).

  Args:
    x: `[N, *spatial, C]`.
    window: f, int or one per spatial dim. strides: s (default: the window, non-overlapping).
    padding: 'VALID', 'SAME', int, or per-dim ints / (lo, hi) pairs.
    impl: 'xla' (reduce_window) or 'slices'.
  Returns: `[N, *out, C]`, n_out = floor((n + 2p - f) / s) + 1.
  """
  window, strides, pads = _geometry(x, window, strides, padding)
  init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
  return _reduce(x, init, lax.max, window, strides, pads, impl)


def avg_pool(x: jax.Array, window: int | Sequence[int], strides: int | Sequence[int] | None = None,
             padding: Padding = 'VALID', count_include_pad: bool = True,
             impl: str = 'xla') -> jax.Array:
  """Average pooling: window sum / D (D = prod(f), or real cells if not count_include_pad).

  Args:
    x: `[N, *spatial, C]`, floating.
    window, strides, padding, impl: as `max_pool`.
    count_include_pad: True divides by the full window everywhere (PyTorch's default);
      False divides each output by the number of non-padding cells its window covers.
  Returns: `[N, *out, C]`.
  """
  window, strides, pads = _geometry(x, window, strides, padding)
  sums = _reduce(x, 0.0, lax.add, window, strides, pads, impl)
  if count_include_pad or all(p == (0, 0) for p in pads):
    size = 1
    for f in window:
      size *= f
    return sums / size
  # Real cells per window: the same windowed sum over a ones image (one channel, batch 1).
  ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
  counts = _reduce(ones, 0.0, lax.add, window, strides, pads, 'xla')
  return sums / counts


def global_avg_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
  """Mean over all spatial dims: `[N, *spatial, C] -> [N, C]` (or `[N, 1.., C]`)."""
  return x.mean(axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


def global_max_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
  """Max over all spatial dims: `[N, *spatial, C] -> [N, C]` (or `[N, 1.., C]`)."""
  return x.max(axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


def pool(x: jax.Array, kind: str, window: int | Sequence[int],
         strides: int | Sequence[int] | None = None, padding: Padding = 'VALID',
         count_include_pad: bool = True, impl: str = 'xla') -> jax.Array:
  """`max_pool` (kind='max') or `avg_pool` (kind='avg'); a single entry point for configs."""
  if kind == 'max':
    return max_pool(x, window, strides, padding, impl=impl)
  if kind == 'avg':
    return avg_pool(x, window, strides, padding, count_include_pad, impl=impl)
  raise ValueError(f"Unknown pool kind {kind!r}; choose 'max' or 'avg'.")
