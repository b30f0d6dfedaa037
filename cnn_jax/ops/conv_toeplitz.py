"""'toeplitz': a 2-D convolution as one matmul against a block-Toeplitz matrix of the kernel.

A convolution is linear in its input, so along the width it is a matrix product. Take output
row i and kernel row a: the padded input row `x_pad[n, i s_h + a d_h]`, flattened to a
vector of W_p C_in, times the banded matrix

    T[a][(j s_w + b d_w, c), (j, q)] = w[a, b, c, q]        (zero everywhere else)

of shape [W_p C_in, W_out C_out] gives that kernel row's share of the whole output row
`y[n, i]` ([W_out C_out]). Each column block of T holds one copy of the kernel row, shifted
down by s_w cells per output column: a Toeplitz band. Stacking the k_h input rows each output
row meets turns the conv into one matmul:

    rows[n, i, a] = x_pad[n, i s_h + a d_h]                       [N, H_out, k_h, W_p C_in]
    y[n, i]       = sum_a rows[n, i, a] @ T[a]                    [N H_out, k_h W_p C_in]
                                                                     @ [k_h W_p C_in, W_out C_out]

The matmul does W_p / k_w times the conv's multiply-adds (T is mostly zeros), but it has
two large, well-shaped operands where the direct forms of a thin conv have K = C_in (1 for a
grayscale input): LeNet-5's first conv (32x32x1 -> 28x28x6, b256) takes 3.2 ms this way
against 10.3 ms for XLA's convolution on the 2-core AVX2 machine. T is built from w by an
einsum with a constant 0/1 selector S[b, j_in, j] = [j_in == j s_w + b d_w], so autodiff
gives the backward passes as matmuls too: dx = dy @ T^T added back over the k_h row views,
dw = rows^T @ dy folded back along T's bands (the selector einsum transposed).

`worthwhile` bounds where the autotuner tries it (the multiply-add factor and T's size);
`conv_toeplitz` computes any 2-D dense conv, and sends 1-D, 3-D and grouped ones to
`conv_xla`, as 'winograd' does with the geometries it does not cover.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops.conv_basic import conv_xla
from cnn_jax.ops.conv_geometry import check, geometry, pad_input
from cnn_jax.ops.padding import Padding

MAX_WORK_FACTOR = 8.0     # W_p / k_w: how many times the conv's multiply-adds the matmul does
MAX_MATRIX_ELEMENTS = 2 ** 22   # T's k_h W_p C_in W_out C_out entries (16 MB in float32)


def supports(w_shape: Sequence[int], groups: int = 1) -> bool:
  """True for the 2-D dense convs this formulation computes (any stride, padding, dilation)."""
  return len(w_shape) == 4 and groups == 1


def worthwhile(x_shape: Sequence[int], w_shape: Sequence[int], pads, out: Sequence[int],
               groups: int = 1) -> bool:
  """Whether the autotuner should time it: a 2-D dense conv whose kernel is wider than one
  column (a 1 x k_w = 1 conv is one matmul already; T would repeat its kernel down a diagonal,
  W_p times the work), whose padded width W_p is at most MAX_WORK_FACTOR kernel widths and
  whose T has at most MAX_MATRIX_ELEMENTS entries."""
  if not supports(w_shape, groups) or w_shape[1] == 1:
    return False
  (kh, kw, c_in, c_out), padded_w = w_shape, x_shape[2] + sum(pads[1])
  return (padded_w <= MAX_WORK_FACTOR * kw
          and kh * padded_w * c_in * out[1] * c_out <= MAX_MATRIX_ELEMENTS)


def band_selector(padded_w: int, w_out: int, kw: int, stride: int, dilation: int) -> np.ndarray:
  """S [k_w, W_p, W_out]: S[b, j s + b d, j] = 1 (input column of kernel column b at output
  column j), 0 elsewhere."""
  s = np.zeros((kw, padded_w, w_out), np.float32)
  j = np.arange(w_out)
  for b in range(kw):
    s[b, j * stride + b * dilation, j] = 1.0
  return s


def toeplitz_matrix(w: jax.Array, padded_w: int, w_out: int, stride: int,
                    dilation: int) -> jax.Array:
  """T [k_h, W_p C_in, W_out C_out] from w [k_h, k_w, C_in, C_out] (module doc)."""
  kh, kw, c_in, c_out = w.shape
  sel = jnp.asarray(band_selector(padded_w, w_out, kw, stride, dilation), w.dtype)
  t = jnp.einsum('bjp,abcq->ajcpq', sel, w)       # [k_h, W_p, C_in, W_out, C_out]
  return t.reshape(kh, padded_w * c_in, w_out * c_out)


def conv_toeplitz(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                  padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                  groups: int = 1) -> jax.Array:
  """2-D conv as rows @ T (module doc); other ranks and grouped convs go to `conv_xla`.

  Args: x `[N, H, W, C_in]`, w `[k_h, k_w, C_in, C_out]`; see `ops.conv.conv`.
  Returns: `[N, H_out, W_out, C_out]`, equal to lax.conv up to float rounding.
  Differentiable by autodiff (both backward passes are matmuls).
  """
  check(x, w, groups)
  if not supports(w.shape, groups):
    return conv_xla(x, w, strides, padding, dilation, groups)
  (sh, sw), (dh, dw), pads, (h_out, w_out) = geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, pads)
  n, _, padded_w, c_in = xp.shape
  kh, c_out = w.shape[0], w.shape[-1]
  t = toeplitz_matrix(w, padded_w, w_out, sw, dw).astype(x.dtype)
  rows = jnp.stack([xp[:, a * dh: a * dh + (h_out - 1) * sh + 1: sh].reshape(
      n, h_out, padded_w * c_in) for a in range(kh)], axis=2)    # [N, H_out, k_h, W_p C_in]
  y = jnp.einsum('nhaj,ajp->nhp', rows, t)
  return y.reshape(n, h_out, w_out, c_out)
