"""The three plain convolution formulations: the course's multiply-and-sum, XLA's, im2col.

Layout and formula as `ops.conv` (the dispatcher): x `[N, *spatial, C_in]`, w `[*k, C_g, C_out]`,

    y[b, o, q] = sum_{k, c} x_pad[b, o * s + k * d, g(q) * C_g + c] * w[k, c, q].
"""
import math
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops.conv_geometry import (check, dimension_numbers, geometry, pad_input, tap_slice,
                                       taps)
from cnn_jax.ops.padding import Padding


def conv_direct(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                groups: int = 1) -> jax.Array:
  """The course's multiply-and-sum, literally: gather every window, multiply, sum.

  windows[b, o, k, c] = x_pad[b, o * s + k * d, c] for every output position o and tap k,
  then y[b, o, q] = sum_{k, c} windows[b, o, k, g(q) C_g + c] * w[k, c, q].
  Memory is N * prod(out) * prod(k) * C_in * C_out / groups: teaching and tests only.

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `conv`.
  Returns: `[N, *out, C_out]`.
  """
  rank = check(x, w, groups)
  strides, dilation, pads, out = geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, pads)
  windows = xp
  for i, (o, f, s, d) in enumerate(zip(out, w.shape[:-2], strides, dilation)):
    index = jnp.arange(o)[:, None] * s + jnp.arange(f)[None, :] * d    # [out_i, k_i]
    windows = jnp.take(windows, index, axis=1 + 2 * i)                # axis i -> (out_i, k_i)
  # [N, o0, k0, o1, k1, ..., C] -> [N, *out, *k, G, C_g, 1]
  order = (0, *range(1, 2 * rank, 2), *range(2, 2 * rank + 1, 2), 2 * rank + 1)
  windows = windows.transpose(order)
  c_g, c_out = w.shape[-2], w.shape[-1]
  windows = windows.reshape(*windows.shape[:-1], groups, c_g, 1)
  kernel = w.reshape(*w.shape[:-2], c_g, groups, c_out // groups)      # [*k, C_g, G, O_g]
  kernel = jnp.moveaxis(kernel, -2, -3)                                 # [*k, G, C_g, O_g]
  products = windows * kernel                                           # [N, *out, *k, G, C_g, O_g]
  summed = products.sum(axis=(*range(1 + rank, 1 + 2 * rank), -2))    # over taps and C_g
  return summed.reshape(x.shape[0], *out, c_out)


def conv_xla(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
             padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
             groups: int = 1) -> jax.Array:
  """`lax.conv_general_dilated` with channels-last dimension numbers (the reference).

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `conv`.
  Returns: `[N, *out, C_out]`.
  """
  rank = check(x, w, groups)
  strides, dilation, pads, _ = geometry(x, w, strides, padding, dilation)
  return lax.conv_general_dilated(x, w, strides, pads, rhs_dilation=dilation,
                                  dimension_numbers=dimension_numbers(rank),
                                  feature_group_count=groups)


def grouped_matmul(patches: jax.Array, w: jax.Array, groups: int) -> jax.Array:
  """y[m, q] = sum_{k, c} patches[m, k, g(q) C_g + c] * w[k, c, q] as one (batched) matmul.

  Args:
    patches: `[M, K, C_in]` (K kernel taps). w: `[K, C_in/groups, C_out]`.
  Returns: `[M, C_out]`.
  """
  m, k, c_in = patches.shape
  c_g, c_out = w.shape[-2], w.shape[-1]
  if groups == 1:
    return patches.reshape(m, k * c_in) @ w.reshape(k * c_in, c_out)
  p = patches.reshape(m, k, groups, c_g)
  kernel = w.reshape(k, c_g, groups, c_out // groups)
  return jnp.einsum('mkgc,kcgo->mgo', p, kernel).reshape(m, c_out)


def conv_im2col(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                groups: int = 1) -> jax.Array:
  """im2col: one strided slice per kernel tap, stacked to a patch matrix, one matmul.

  patches[b, o, k, c] = x_pad[b, o * s + k * d, c]  (prod(k) slices, no gather), then
  y = patches.reshape(N prod(out), prod(k) C_in) @ w.reshape(prod(k) C_in, C_out).
  Its gradient (JAX autodiff) is the matmul transposes plus col2im: the sum of padded slices.

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `conv`.
  Returns: `[N, *out, C_out]`.
  """
  check(x, w, groups)
  strides, dilation, pads, out = geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, pads)
  cols = [tap_slice(xp, t, out, strides, dilation) for t in taps(w.shape[:-2])]
  patches = jnp.stack(cols, axis=-2)                                 # [N, *out, K, C_in]
  n, c_in, c_out = x.shape[0], x.shape[-1], w.shape[-1]
  m = n * math.prod(out)
  y = grouped_matmul(patches.reshape(m, len(cols), c_in), w.reshape(len(cols), -1, c_out), groups)
  return y.reshape(n, *out, c_out)
