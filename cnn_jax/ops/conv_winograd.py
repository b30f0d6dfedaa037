"""Winograd F(m x m, 3 x 3): a 3x3 stride-1 conv as (m + 2)^2 batched matmuls over m x m
output tiles, instead of 9 m^2 multiplies per tile: m = 2 (`conv_winograd`, 'winograd':
2.25x fewer multiplies) and m = 4 (`conv_winograd4`, 'winograd4': 4x fewer), written in
jax.numpy so that autodiff of the forward is a Winograd backward too.

Lavin & Gray (2015). For each (m + 2) x (m + 2) input tile d (stride m) and 3x3 kernel g, per
channel pair, with the tile size's matrices B^T, G, A^T (`TRANSFORMS`):

    Y (m x m) = A^T [ (G g G^T) . (B^T d B) ] A         (. = elementwise over the tile grid)

    m = 2 (points 0, 1, -1, inf):
      B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
      G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
      A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
    m = 4 (points 0, 1, -1, 2, -2, inf): 6x6 B^T, 6x3 G, 4x6 A^T below.

and the sum over input channels moves inside: for each grid point k, M[k] = V[k] @ U[k] with
V[k] `[tiles, C_in]` (input transform) and U[k] `[C_in, C_out]` (kernel transform): K = C_in.
F(4x4, 3x3) does 36 multiplies per 16 outputs where F(2x2, 3x3) does 16 per 4, and its
transformed tiles are 2.25x the input's size against 4x; its larger coefficients cost float32
accuracy: ~1e-5 relative error against ~1e-6 (ResNet-18's stages, against lax.conv).
Only for 2-D, 3x3, stride 1, dilation 1, groups 1 (`supports`); other geometries fall back
to 'xla'. `input_gradient` computes dx as Winograd's forward of the transposed conv, 3-4x
faster than the autodiff; the planned convs ('auto', 'fast') use it as the Winograd dx pass.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops.conv_basic import conv_xla
from cnn_jax.ops.conv_geometry import check, geometry, pad_input
from cnn_jax.ops.padding import Padding, as_tuple

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)
B_T4 = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)
G4 = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float64)
A_T4 = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                 [0, 1, -1, 8, -8, 1]], np.float64)
TRANSFORMS = {2: (B_T, G, A_T), 4: (B_T4, G4, A_T4)}  # output tile m -> (B^T, G, A^T)


def supports(w_shape: Sequence[int], strides=1, dilation=1, groups: int = 1) -> bool:
  """True for the 2-D 3x3, stride 1, dilation 1, dense convs that F(m x m, 3x3) computes."""
  return (len(w_shape) == 4 and tuple(w_shape[:2]) == (3, 3) and groups == 1
          and as_tuple(strides, 2) == (1, 1) and as_tuple(dilation, 2) == (1, 1))


def tile4_accurate(dtype) -> bool:
  """True for dtypes with at least float32's 23-bit mantissa. F(4x4, 3x3)'s coefficients
  (up to 8, and 1/24) cost ~4 bits over F(2x2, 3x3): ~1e-5 relative error in float32, but
  percent-level in bfloat16 or float16, so the planned convs keep it to float32 and wider."""
  return jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).nmant >= 23


def _combine(terms, coeffs):
  """sum_i coeffs[i] * terms[i], skipping zeros (the transforms are sparse, small integers)."""
  out = None
  for c, t in zip(coeffs, terms):
    if c == 0:
      continue
    t = t if c == 1 else (-t if c == -1 else t * float(c))
    out = t if out is None else out + t
  return out


def kernel_transform(w: jax.Array, m: int = 2) -> jax.Array:
  """U = G g G^T for every (C_in, C_out) pair: `[3, 3, C_in, C_out]` -> `[(m+2)^2, C_in, C_out]`.

  One matmul, U = kron(G, G) @ w.reshape(9, C_in C_out), so no per-plane temporaries.
  """
  g = TRANSFORMS[m][1]
  gg = jnp.asarray(np.kron(g, g), w.dtype)                              # [(m+2)^2, 9]
  return (gg @ w.reshape(9, -1)).reshape(-1, *w.shape[2:])


# The transforms are elementwise in C, and XLA:CPU's code generator (LLVM) fully unrolls a
# short innermost loop, so a 256-512 long one compiles 2-3x slower than a 64 long one
# (ResNet-18's 4x4x512 forward: 0.94 -> 0.42 s): they see channels in blocks of this width.
_BLOCK = 64


def _split_channels(a: jax.Array) -> jax.Array:
  """`[..., C]` -> `[..., C / _BLOCK, _BLOCK]` where C is a multiple of the block above 128."""
  c = a.shape[-1]
  return (a.reshape(*a.shape[:-1], c // _BLOCK, _BLOCK) if c > 2 * _BLOCK and c % _BLOCK == 0
          else a)


def _winograd(x: jax.Array, w: jax.Array, pads, m: int) -> jax.Array:
  """F(m x m, 3x3) of x `[N, H, W, C_in]`, w `[3, 3, C_in, C_out]`, explicit pads."""
  b_t, _, a_t = TRANSFORMS[m]
  t = m + 2                                                  # input tile size
  _, _, pads, (h_out, w_out) = geometry(x, w, 1, pads, 1)
  th, tw = -(-h_out // m), -(-w_out // m)                    # m x m output tiles per dim
  # Pad so every t x t tile (stride m) lies inside: m th + 2 rows, m tw + 2 columns.
  extra = [(lo, hi + m * n_t + 2 - (n + lo + hi)) for (lo, hi), n_t, n in
           zip(pads, (th, tw), x.shape[1:3])]
  xp = pad_input(x, extra)
  n, h_p, w_p = xp.shape[:3]
  c_in, c_out = x.shape[-1], w.shape[-1]
  # Each stage below is one stacked array, which XLA writes in one fused pass (36 separate
  # transforms and a stack cost 1.5-2x more at ResNet-18's 32x32x64), and sees its data with
  # as few axes as its slices allow: every axis is a loop nest for XLA:CPU's code generator,
  # which unrolls the short ones (ResNet-18's four stages, forward and dx: 1.42 -> 1.16 s to
  # compile, no slower to run). Each slice is taken once and shared by the t combinations.
  # V = B^T d B, separably. Rows: tile row u of tile i is padded row m i + u; W and C
  # merge (in channel blocks where C allows).
  flat = xp.reshape(n, h_p, -1, _BLOCK) if c_in % _BLOCK == 0 else xp.reshape(n, h_p, -1)
  row_taps = [flat[:, u:u + m * th:m] for u in range(t)]
  rows = jnp.stack([_combine(row_taps, b_t[a]) for a in range(t)])   # [t, N, th, W_p C]
  # Columns, over [t N th, W_p, C].
  rows = _split_channels(rows.reshape(t * n * th, w_p, c_in))
  col_taps = [rows[:, v:v + m * tw:m] for v in range(t)]
  v_mat = jnp.stack([_combine(col_taps, b_t[b]).reshape(t, n * th * tw, c_in)
                     for b in range(t)], 1).reshape(t * t, n * th * tw, c_in)
  prod = jnp.einsum('kmc,kco->kmo', v_mat, kernel_transform(w, m).astype(x.dtype))
  # Y = A^T M A, columns then rows, each output (r, s) of tile (i, j) placed next to its
  # tile index so that a reshape puts it at (m i + r, m j + s). The rows are one small
  # matmul with A^T: XLA fuses an elementwise last stage into the conv's consumer (batch
  # norm and its backward), a kernel per layer that its code generator compiles slowly, and
  # a matmul leaves the consumer only a transpose (ResNet-18's step: 14 -> 10 s of code
  # generation on two cores, 8.4-8.9 -> 6.3-6.8 s to compile, and no slower to run).
  prod = _split_channels(prod.reshape(t, t, n * th * tw, c_out))
  prod_b = [prod[:, b] for b in range(t)]
  cols = jnp.stack([_combine(prod_b, a_t[s]) for s in range(m)], 2)  # [t, N th tw, m, C]
  cols = cols.reshape(t, n, th, tw, m, c_out)
  y = jnp.moveaxis(jnp.einsum('ra,a...->r...', jnp.asarray(a_t, x.dtype), cols), 0, 2)
  return y.reshape(n, m * th, m * tw, c_out)[:, :h_out, :w_out, :]


def _conv(x, w, strides, padding, dilation, groups, m: int) -> jax.Array:
  """F(m x m, 3x3) where it applies (`supports`), else `conv_xla`."""
  check(x, w, groups)
  if not supports(w.shape, strides, dilation, groups):
    return conv_xla(x, w, strides, padding, dilation, groups)
  return _winograd(x, w, geometry(x, w, strides, padding, dilation)[2], m)


def conv_winograd(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                  padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                  groups: int = 1) -> jax.Array:
  """3x3 stride-1 conv by Winograd F(2x2, 3x3); other geometries go to `conv_xla`.

  Args: x `[N, H, W, C_in]`, w `[3, 3, C_in, C_out]`; see `ops.conv.conv`.
  Returns: `[N, H_out, W_out, C_out]`, equal to lax.conv up to float rounding.
  """
  return _conv(x, w, strides, padding, dilation, groups, 2)


def conv_winograd4(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                   padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                   groups: int = 1) -> jax.Array:
  """3x3 stride-1 conv by Winograd F(4x4, 3x3); other geometries go to `conv_xla`.

  Args: x `[N, H, W, C_in]`, w `[3, 3, C_in, C_out]`; see `ops.conv.conv`.
  Returns: `[N, H_out, W_out, C_out]`, equal to lax.conv up to float rounding (~1e-5
  relative in float32).
  """
  return _conv(x, w, strides, padding, dilation, groups, 4)


def transposes(w_shape: Sequence[int], strides, pads, dilation, groups: int) -> bool:
  """True where `input_gradient` applies: a conv `supports` covers with pads <= 2 per side."""
  return (supports(w_shape, strides, dilation, groups)
          and all(0 <= lo <= 2 and 0 <= hi <= 2 for lo, hi in pads))


def dx_is_forward_program(w_shape: Sequence[int], strides, pads, dilation,
                          groups: int) -> bool:
  """True where `input_gradient` runs the very program of the conv's forward: C_out = C_in
  and pads of 1 ('same' output, and the transposed pads 2 - 1 = 1), so dy has x's shape and
  the transposed kernel w's; one tile size then shares every transform kernel of the two."""
  return (transposes(w_shape, strides, pads, dilation, groups)
          and w_shape[-1] == w_shape[-2] and all(lo == hi == 1 for lo, hi in pads))


def input_gradient(w: jax.Array, dy: jax.Array, pads, m: int = 2) -> jax.Array:
  """dx `[N, H, W, C_in]` of a 3x3 stride-1 conv (`transposes`) at cotangent dy, by
  Winograd's *forward*.

  dx is itself a 3x3 stride-1 conv: of dy padded by (2 - lo, 2 - hi), with the kernel flipped
  in space and its in/out channels swapped (w'[a, b, o, c] = w[2 - a, 2 - b, c, o]), so
  F(m x m, 3x3) computes it with (m + 2)^2 matmuls of K = C_out. Autodiff of the forward (the
  transposed transforms) runs 3-4x slower: on the 2-core AVX2 machine, ResNet-18's 16x16x128
  dx takes 11.6 ms this way, 49 by autodiff and 14.7 for XLA's (the autotuner's timings).
  """
  w_t = jnp.flip(w, (0, 1)).swapaxes(2, 3)
  return _winograd(dy, w_t, [(2 - lo, 2 - hi) for lo, hi in pads], m)
