"""Per-tap matmul convolution: y = sum over kernel taps k of slice_k(x) @ w[k].

    y[b, o, :] = sum_k x_pad[b, o * s + k * d, :] @ w[k]          ([C_in] @ [C_in, C_out])

No patch matrix is ever built: each tap reads one strided slice of the padded input.
"""
from typing import Sequence

import jax
import jax.numpy as jnp

from cnn_jax.ops.conv import _check, _geometry, grouped_matmul, pad_input, tap_slice, taps
from cnn_jax.ops.padding import Padding


def conv_taps(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
              padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
              groups: int = 1) -> jax.Array:
  """Per-tap matmul accumulation, y = sum_k slice_k(x_pad) @ w[k].

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `ops.conv.conv`.
  Returns: `[N, *out, C_out]`.
  """
  _check(x, w, groups)
  strides, dilation, pads, out = _geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, pads)
  n, c_in, c_out = x.shape[0], x.shape[-1], w.shape[-1]
  wk = w.reshape(-1, w.shape[-2], c_out)
  y = jnp.zeros((n * _prod(out), c_out), jnp.result_type(x, w))
  for i, t in enumerate(taps(w.shape[:-2])):
    cols = tap_slice(xp, t, out, strides, dilation).reshape(-1, 1, c_in)
    y = y + grouped_matmul(cols, wk[i:i + 1], groups)
  return y.reshape(n, *out, c_out)


def _prod(v):
  p = 1
  for i in v:
    p *= i
  return p
