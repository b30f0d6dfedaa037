"""Convolution geometry shared by every formulation: shape checks, padding, output sizes, taps.

Per spatial dim, with dilation d and padding (lo, hi) (`ops.padding`), the course formula

    n_out = floor((n + lo + hi - (d (f - 1) + 1)) / s) + 1

and kernel tap k meets the padded input cells o s + k d (o = 0 .. n_out - 1): one strided
slice per tap (`tap_slice`). Layout as `ops.conv`: x `[N, *spatial, C_in]`, w `[*k, C_g, C_out]`.
The formulations (`conv_basic`, `conv_taps`, `conv_winograd`, `conv_fast`) import this module
and nothing of each other's dispatcher, so `ops.conv` can import them all.
"""
import itertools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops.padding import as_tuple, explicit_padding


def dimension_numbers(rank: int) -> lax.ConvDimensionNumbers:
  """lax dimension numbers for channels-last `[N, *spatial, C]` and `[*k, I, O]` kernels."""
  spatial = 'DHW'[-rank:] if rank <= 3 else None
  if spatial is None:
    raise ValueError(f'Spatial rank {rank} > 3 is not supported.')
  return lax.conv_dimension_numbers((1,) * (rank + 2), (1,) * (rank + 2),
                                    ('N' + spatial + 'C', spatial + 'IO', 'N' + spatial + 'C'))


def check(x: jax.Array, w: jax.Array, groups: int) -> int:
  """Checks x `[N, *spatial, C_in]` against w `[*k, C_in/groups, C_out]`; returns the rank."""
  rank = w.ndim - 2
  if x.ndim != rank + 2:
    raise ValueError(f'Input {x.shape} must be [N, *spatial, C] with {rank} spatial dims to '
                     f'match kernel {w.shape} [*k, C_in/groups, C_out].')
  c_in, c_out = x.shape[-1], w.shape[-1]
  if c_in % groups or c_out % groups or c_in // groups != w.shape[-2]:
    raise ValueError(f'Input channels {c_in}, kernel {w.shape} and groups={groups} disagree: '
                     f'need C_in % groups == 0, C_out % groups == 0, w.shape[-2] == C_in/groups.')
  return rank


def pad_input(x: jax.Array, pads: Sequence[tuple[int, int]]) -> jax.Array:
  """Zero-pads (or, for negative entries, crops) the spatial dims of `[N, *spatial, C]`."""
  if all(p == (0, 0) for p in pads):
    return x
  return lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads),
                                             (0, 0, 0)])


def tap_slice(xp: jax.Array, tap: Sequence[int], out: Sequence[int], strides: Sequence[int],
              dilation: Sequence[int]) -> jax.Array:
  """The cells of padded `xp [N, *spatial, C]` that kernel tap `tap` meets: `[N, *out, C]`.

  Entry o of the result is xp[:, o * s + tap * d, :], i.e. one strided slice per tap.
  """
  start = [t * d for t, d in zip(tap, dilation)]
  limit = [b + (o - 1) * s + 1 for b, o, s in zip(start, out, strides)]
  return lax.slice(xp, (0, *start, 0), (xp.shape[0], *limit, xp.shape[-1]), (1, *strides, 1))


def taps(kernel_size: Sequence[int]) -> list[tuple[int, ...]]:
  """All kernel taps in row-major order (the order of `w.reshape(-1, C_g, C_out)`)."""
  return list(itertools.product(*(range(f) for f in kernel_size)))


def geometry(x: jax.Array, w: jax.Array, strides, padding, dilation):
  """(strides, dilation, explicit pads, output sizes) per spatial dim; raises if empty."""
  rank = w.ndim - 2
  strides = as_tuple(strides, rank, 'strides')
  dilation = as_tuple(dilation, rank, 'dilation')
  pads = explicit_padding(padding, x.shape[1:-1], w.shape[:-2], strides, dilation)
  out = tuple(max((n + lo + hi - (d * (f - 1) + 1)) // s + 1, 0) for n, f, (lo, hi), s, d
              in zip(x.shape[1:-1], w.shape[:-2], pads, strides, dilation))
  if min(out) < 1:
    raise ValueError(f'Empty output {out}: kernel {w.shape[:-2]} (dilation {dilation}) does not '
                     f'fit input {x.shape[1:-1]} padded by {pads}.')
  return strides, dilation, pads, out
