"""Winograd F(2x2, 3x3): a 3x3 stride-1 conv in 16 batched matmuls instead of 36 multiplies
per 2x2 output tile (2.25x fewer multiplies), written in jax.numpy so that autodiff of the
forward *is* the Winograd backward (dw and dx are batched matmuls with the same transforms).

Lavin & Gray (2015). For each 4x4 input tile d (stride 2) and 3x3 kernel g, per channel pair:

    Y (2x2) = A^T [ (G g G^T) . (B^T d B) ] A         (. = elementwise over the 4x4 grid)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

and the sum over input channels moves inside: for each of the 16 grid points k,
M[k] = V[k] @ U[k] with V[k] `[tiles, C_in]` (input transform) and U[k] `[C_in, C_out]`
(kernel transform): 16 matmuls with K = C_in. Only for 2-D, 3x3, stride 1, dilation 1,
groups 1 (`supports`); `conv(..., impl='winograd')` falls back to 'xla' otherwise.
`input_gradient` computes dx as Winograd's forward of the transposed conv, 3-4x faster than
the autodiff; the planned convs ('auto', 'fast') use it as 'winograd''s dx pass.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops.conv_basic import conv_xla
from cnn_jax.ops.conv_geometry import check, geometry, pad_input
from cnn_jax.ops.padding import Padding, as_tuple

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def supports(w_shape: Sequence[int], strides=1, dilation=1, groups: int = 1) -> bool:
  """True for the 2-D 3x3, stride 1, dilation 1, dense convs that F(2x2, 3x3) computes."""
  return (len(w_shape) == 4 and tuple(w_shape[:2]) == (3, 3) and groups == 1
          and as_tuple(strides, 2) == (1, 1) and as_tuple(dilation, 2) == (1, 1))


def _combine(terms, coeffs):
  """sum_i coeffs[i] * terms[i], skipping zeros (the transforms are sparse +-1, 1/2)."""
  out = None
  for c, t in zip(coeffs, terms):
    if c == 0:
      continue
    t = t if c == 1 else (-t if c == -1 else t * c)
    out = t if out is None else out + t
  return out


def kernel_transform(w: jax.Array) -> jax.Array:
  """U = G g G^T for every (C_in, C_out) pair: `[3, 3, C_in, C_out]` -> `[16, C_in, C_out]`.

  One matmul, U = kron(G, G) @ w.reshape(9, C_in C_out), so no per-plane temporaries.
  """
  gg = jnp.asarray(np.kron(G, G), w.dtype)                              # [16, 9]
  return (gg @ w.reshape(9, -1)).reshape(16, *w.shape[2:])


def conv_winograd(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
                  padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
                  groups: int = 1) -> jax.Array:
  """3x3 stride-1 conv by Winograd F(2x2, 3x3); other geometries go to `conv_xla`.

  Args: x `[N, H, W, C_in]`, w `[3, 3, C_in, C_out]`; see `ops.conv.conv`.
  Returns: `[N, H_out, W_out, C_out]`, equal to lax.conv up to float rounding.
  """
  check(x, w, groups)
  if not supports(w.shape, strides, dilation, groups):
    return conv_xla(x, w, strides, padding, dilation, groups)
  _, _, pads, (h_out, w_out) = geometry(x, w, strides, padding, dilation)
  th, tw = -(-h_out // 2), -(-w_out // 2)                    # 2x2 output tiles per dim
  # Pad so every 4x4 tile (stride 2) lies inside: 2 t + 2 rows/cols.
  extra = [(lo, hi + 2 * t + 2 - (n + lo + hi)) for (lo, hi), t, n in
           zip(pads, (th, tw), x.shape[1:3])]
  xp = pad_input(x, extra)
  n, c_in, c_out = x.shape[0], x.shape[-1], w.shape[-1]
  # d[u][v] = xp[:, 2 i + u, 2 j + v, :] for tile (i, j): 16 strided views [N, th, tw, C].
  d = [[xp[:, u:u + 2 * th:2, v:v + 2 * tw:2, :] for v in range(4)] for u in range(4)]
  # V = B^T d B, row transform then column transform; 16 maps of [N th tw, C_in].
  rows = [[_combine([d[u][v] for u in range(4)], B_T[a]) for v in range(4)] for a in range(4)]
  v_maps = [_combine(rows[a], B_T[b]) for a in range(4) for b in range(4)]
  v_mat = jnp.stack(v_maps).reshape(16, n * th * tw, c_in)
  m = jnp.einsum('kmc,kco->kmo', v_mat, kernel_transform(w).astype(x.dtype))
  m = m.reshape(4, 4, n, th, tw, c_out)
  # Y = A^T M A: 2x2 outputs per tile; output (r, s) of every tile lands at (2 i + r, 2 j + s),
  # placed by interior-padded pads that XLA fuses with the sum (no interleaving copy).
  cols = [[_combine([m[a, b] for a in range(4)], A_T[r]) for b in range(4)] for r in range(2)]
  zero = jnp.zeros((), x.dtype)
  y = None
  for r in range(2):
    for s in range(2):
      part = _combine(cols[r], A_T[s])                                  # [N, th, tw, C_out]
      part = jax.lax.pad(part, zero, [(0, 0, 0), (r, 1 - r, 1), (s, 1 - s, 1), (0, 0, 0)])
      y = part if y is None else y + part
  return y[:, :h_out, :w_out, :]


def transposes(w_shape: Sequence[int], strides, pads, dilation, groups: int) -> bool:
  """True where `input_gradient` applies: a conv `supports` covers with pads <= 2 per side."""
  return (supports(w_shape, strides, dilation, groups)
          and all(0 <= lo <= 2 and 0 <= hi <= 2 for lo, hi in pads))


def input_gradient(w: jax.Array, dy: jax.Array, pads) -> jax.Array:
  """dx `[N, H, W, C_in]` of a 3x3 stride-1 conv (`transposes`) at cotangent dy, by
  Winograd's *forward*.

  dx is itself a 3x3 stride-1 conv: of dy padded by (2 - lo, 2 - hi), with the kernel flipped
  in space and its in/out channels swapped (w'[a, b, o, c] = w[2 - a, 2 - b, c, o]), so
  F(2x2, 3x3) computes it with 16 matmuls of K = C_out. Autodiff of the forward (the
  transposed transforms) runs 3-4x slower: on the 2-core AVX2 machine, ResNet-18's 16x16x128
  dx takes 11.6 ms this way, 49 by autodiff and 14.7 for XLA's (the autotuner's timings).
  """
  w_t = jnp.flip(w, (0, 1)).swapaxes(2, 3)
  return conv_winograd(dy, w_t, 1, [(2 - lo, 2 - hi) for lo, hi in pads], 1, 1)
