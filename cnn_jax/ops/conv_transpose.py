"""Transpose convolution ("deconvolution", the upsampling conv of U-Net and GAN decoders).

The course's description: every input element multiplies the whole kernel, the product is
projected onto the output at stride s, and overlapping contributions are summed:

    full[b, i s + k d, q] += sum_c x[b, i, c] w[k, c, q]        for every input i and tap k
    y = full[p : F - p + output_padding]          (crop p each side; output_padding re-adds)

per spatial dim, with F = (n - 1) s + d (f - 1) + 1 the uncropped size, so (PyTorch's formula)

    n_out = (n - 1) s - 2p + d (f - 1) + output_padding + 1

Semantics are PyTorch's `conv_transpose{1,2,3}d(x, weight, stride=s, padding=p,
output_padding=op, groups=g, dilation=d)` with weight `[C_in, C_out/g, *k]` = our
`w.transpose(rank, rank + 1, *range(rank))`, i.e. ours is `w [*k, C_in, C_out/g]`.

Mapping to lax: it is the gradient of a conv, i.e. a conv of the input dilated by s
(s - 1 zeros between cells) with the spatially flipped kernel, I/O swapped, padded by
d (f - 1) - p below and d (f - 1) - p + op above:

    lax.conv_transpose(x, w, strides=s, padding=[(d(f-1) - p, d(f-1) - p + op)] per dim,
                       rhs_dilation=d, dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                       transpose_kernel=True)          # groups = 1; w as [*k, C_out, C_in]!

(with transpose_kernel=True lax reads the kernel as the *forward* conv's [*k, C_out, C_in],
so our w is passed with its last two axes swapped.)
"""
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops import conv as conv_ops
from cnn_jax.ops.conv_geometry import pad_input, taps
from cnn_jax.ops.padding import as_tuple


def output_size(n: int, f: int, s: int = 1, p: int = 0, output_padding: int = 0,
                d: int = 1) -> int:
  """n_out = (n - 1) s - 2p + d (f - 1) + output_padding + 1 (PyTorch's formula)."""
  return (n - 1) * s - 2 * p + d * (f - 1) + output_padding + 1


def _args(x, w, strides, padding, output_padding, dilation, groups):
  rank = w.ndim - 2
  if x.ndim != rank + 2:
    raise ValueError(f'Input {x.shape} must be [N, *spatial, C_in] with {rank} spatial dims '
                     f'to match kernel {w.shape} [*k, C_in, C_out/groups].')
  if x.shape[-1] != w.shape[-2] or x.shape[-1] % groups:
    raise ValueError(f'Input channels {x.shape[-1]} must equal w.shape[-2] ({w.shape[-2]}) and '
                     f'be divisible by groups={groups}.')
  s = as_tuple(strides, rank, 'strides')
  p = as_tuple(padding, rank, 'padding')
  op = as_tuple(output_padding, rank, 'output_padding')
  d = as_tuple(dilation, rank, 'dilation')
  for o, si, di in zip(op, s, d):
    if o >= max(si, di):
      raise ValueError(f'output_padding {op} must be smaller than stride {s} or dilation {d}.')
  out = [output_size(*a) for a in zip(x.shape[1:-1], w.shape[:-2], s, p, op, d)]
  if min(out) < 1:
    raise ValueError(f'Output size {out} < 1 for input {x.shape[1:-1]}, kernel {w.shape[:-2]}, '
                     f'strides {s}, padding {p}: (n - 1) s - 2p + d (f - 1) + op + 1 must be >= 1.')
  return rank, s, p, op, d


def forward_kernel(w: jax.Array, groups: int = 1) -> jax.Array:
  """The equivalent forward-conv kernel: flip every spatial dim, swap I/O within each group.

  w `[*k, C_in, C_out/g]` -> `[*k, C_in/g, C_out]` with
  kf[k, c, g C_out/g + o] = w[f - 1 - k, g C_in/g + c, o], so `conv(dilated x, kf, groups=g)`
  is the transpose conv.
  """
  rank = w.ndim - 2
  flipped = w[(slice(None, None, -1),) * rank]
  k, c_in, c_out_g = w.shape[:-2], w.shape[-2], w.shape[-1]
  per_group = flipped.reshape(*k, groups, c_in // groups, c_out_g)    # [*k, G, Cin_g, Cout_g]
  return jnp.moveaxis(per_group, -3, -2).reshape(*k, c_in // groups, groups * c_out_g)


def conv_transpose(x: jax.Array, w: jax.Array, bias: jax.Array | None = None,
                   strides: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                   output_padding: int | Sequence[int] = 0, dilation: int | Sequence[int] = 1,
                   groups: int = 1, impl: str = 'xla') -> jax.Array:
  """Transpose convolution with PyTorch's `conv_transpose{1,2,3}d` semantics.

  Args:
    x: `[N, *spatial, C_in]`.
    w: `[*k, C_in, C_out // groups]` (PyTorch weight `[C_in, C_out/g, *k]` moved to the back).
    bias: `[C_out]` or None.
    strides, padding, output_padding, dilation: ints or one per spatial dim (PyTorch's).
    groups: C_in and C_out split into this many independent groups.
    impl: 'direct' (the course's scatter-and-sum, `conv_transpose_direct`) or any
      `ops.conv.IMPLS` formulation of the equivalent input-dilated forward conv.
  Returns:
    `[N, *out, C_out]`, n_out = (n - 1) s - 2p + d (f - 1) + output_padding + 1.
  """
  rank, s, p, op, d = _args(x, w, strides, padding, output_padding, dilation, groups)
  if impl == 'direct':
    y = conv_transpose_direct(x, w, s, p, op, d, groups)
  else:
    pads = [(di * (f - 1) - pi, di * (f - 1) - pi + oi)
            for f, pi, oi, di in zip(w.shape[:-2], p, op, d)]
    # Negative pads (p > d (f - 1)) crop: do that on the result, conv only takes pads >= 0.
    crop = [(max(-lo, 0), max(-hi, 0)) for lo, hi in pads]
    pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
    y = conv_ops.conv(x, forward_kernel(w, groups), strides=1, padding=pads, dilation=d,
                      groups=groups, input_dilation=s, impl=impl)
    if any(c != (0, 0) for c in crop):
      y = pad_input(y, [(-lo, -hi) for lo, hi in crop])
  return y if bias is None else y + bias.astype(y.dtype)


def conv_transpose_direct(x: jax.Array, w: jax.Array, strides: Sequence[int],
                          padding: Sequence[int], output_padding: Sequence[int],
                          dilation: Sequence[int], groups: int = 1) -> jax.Array:
  """The course's form: each input element times the kernel, projected, overlaps summed.

  For each tap k: the products x[b, i, :] @ w[k] land at output cell i s + k d (`lax.pad`
  with s - 1 interior zeros and k d leading zeros places them); the taps' canvases are summed
  and cropped by p (minus output_padding at the end). Args as `conv_transpose`, per-dim tuples.
  """
  n, spatial, c_in = x.shape[0], x.shape[1:-1], x.shape[-1]
  full = [(i - 1) * s + d * (f - 1) + 1 for i, f, s, d in zip(spatial, w.shape[:-2], strides,
                                                               dilation)]
  c_out = w.shape[-1] * groups
  xg = x.reshape(n, *spatial, groups, c_in // groups)
  y = jnp.zeros((n, *full, c_out), jnp.result_type(x, w))
  for t in taps(w.shape[:-2]):
    wt = w[t].reshape(groups, c_in // groups, -1)                         # [G, Cin_g, Cout_g]
    prod = jnp.einsum('...gc,gco->...go', xg, wt).reshape(n, *spatial, c_out)
    place = [(k * d, f_full - ((i - 1) * s + 1) - k * d, s - 1)
             for k, d, s, i, f_full in zip(t, dilation, strides, spatial, full)]
    y = y + lax.pad(prod, jnp.zeros((), prod.dtype), [(0, 0, 0), *place, (0, 0, 0)])
  return pad_input(y, [(-p, -p + o) for p, o in zip(padding, output_padding)])
