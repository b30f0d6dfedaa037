"""Per-tap matmul convolution with a custom VJP whose backward passes are also per-tap matmuls.

For kernel taps k (prod(kernel) of them) and strided slices of the padded input,

    forward   y      = sum_k  slice_k(x_pad) @ w[k]              [M, C_in] @ [C_in, C_out]
    backward  dw[k]  = slice_k(x_pad)^T @ dy                     [C_in, M] @ [M, C_out]
              dx_pad = sum_k  place_k(dy @ w[k]^T)               [M, C_out] @ [C_out, C_in]

with M = N prod(out); slice_k reads x_pad[:, o s + k d] and place_k is its transpose (a
`lax.pad` with s - 1 interior zeros at offset k d). No patch matrix is ever built: memory
traffic per pass is prod(k) reads of x-sized slices, the matmuls have K = C_in or C_out.
Groups are batched matmuls over the group axis; depthwise (C_in/groups = 1) becomes pure
elementwise multiply-adds, which XLA fuses into a single pass. A depthwise dw is a sum of
products per tap, all of them computed by one variadic reduction (`_depthwise_weight_grad`).

Only reverse mode is defined (`jax.custom_vjp`): `jax.grad`/`jax.vjp` work to any order,
`jax.jvp` does not.
"""
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops.conv_geometry import check, geometry, pad_input, tap_slice, taps
from cnn_jax.ops.padding import Padding


def _tap_matmul(cols: jax.Array, wk: jax.Array, groups: int) -> jax.Array:
  """cols `[M, C_in]` @ wk `[C_in/G, C_out]` per group -> `[M, C_out]`."""
  m, c_in = cols.shape
  c_g, c_out = wk.shape
  if groups == 1:
    return cols @ wk
  if c_g == 1:  # depthwise: every output channel scales one input channel
    mult = c_out // groups
    return (cols[:, :, None] * wk.reshape(groups, mult)).reshape(m, c_out)
  return jnp.einsum('mgc,cgo->mgo', cols.reshape(m, groups, c_g),
                    wk.reshape(c_g, groups, c_out // groups)).reshape(m, c_out)


def _tap_matmul_t(dy: jax.Array, wk: jax.Array, groups: int) -> jax.Array:
  """dy `[M, C_out]` @ wk^T per group (groups > 1) -> `[M, C_in]` (the input-gradient of
  `_tap_matmul`; `_conv_taps_bwd` does groups = 1 for all taps in one matmul)."""
  m, c_out = dy.shape
  c_g = wk.shape[0]
  mult = c_out // groups
  if c_g == 1:
    return (dy.reshape(m, groups, mult) * wk.reshape(groups, mult)).sum(-1)
  return jnp.einsum('mgo,cgo->mgc', dy.reshape(m, groups, mult),
                    wk.reshape(c_g, groups, mult)).reshape(m, groups * c_g)


def _tap_weight_grad(cols: jax.Array, dy: jax.Array, groups: int, c_g: int) -> jax.Array:
  """cols^T @ dy per group: `[M, C_in]`, `[M, C_out]` -> `[C_in/G, C_out]`."""
  m, c_out = dy.shape
  if groups == 1:
    return cols.T @ dy
  mult = c_out // groups
  if c_g == 1:
    return (cols[:, :, None] * dy.reshape(m, groups, mult)).sum(0).reshape(1, c_out)
  return jnp.einsum('mgc,mgo->cgo', cols.reshape(m, groups, c_g),
                    dy.reshape(m, groups, mult)).reshape(c_g, c_out)


def _depthwise_weight_grad(xp: jax.Array, dy: jax.Array, w_shape, out, strides,
                           dilation) -> jax.Array:
  """dw of a depthwise conv (C_in/groups = 1), `[*k, 1, C_out]`, from padded x `[N, *sp,
  C_in]` and dy `[N, *out, C_out]`: dw[k, c] = sum over N and positions of slice_k(x_pad) dy.

  One variadic reduction computes every tap's products and sums them over the innermost
  spatial axis in one pass over x and dy, then a plain sum over the batch and the other
  axes (a W-fold smaller array) finishes. A reduction per tap, as for dense convs, writes
  and reads back a product array the size of dy for each tap and recomputes dy's producers
  in each: MobileNetV2's 32x32x144 (b32) dw takes 8.5 ms this way against 27 ms, the
  16x16x192 one 3.2 against 7.7 (2-core AVX2; reducing all axes at once: 19 ms)."""
  groups, c_out = xp.shape[-1], w_shape[-1]
  dyg = dy.reshape(*dy.shape[:-1], groups, c_out // groups)
  prods = tuple((tap_slice(xp, t, out, strides, dilation)[..., None] * dyg).reshape(dy.shape)
                for t in taps(w_shape[:-2]))
  zeros = (jnp.zeros((), dy.dtype),) * len(prods)
  inner = lax.reduce(prods, zeros, lambda a, b: tuple(p + q for p, q in zip(a, b)),
                     (dy.ndim - 2,))
  return jnp.stack([p.sum(tuple(range(p.ndim - 1))) for p in inner]).reshape(w_shape)


def _forward(x, w, strides, dilation, pads, out, groups):
  xp = pad_input(x, pads)
  c_in, c_out = x.shape[-1], w.shape[-1]
  wk = w.reshape(-1, w.shape[-2], c_out)
  y = None
  for i, t in enumerate(taps(w.shape[:-2])):
    term = _tap_matmul(tap_slice(xp, t, out, strides, dilation).reshape(-1, c_in), wk[i], groups)
    y = term if y is None else y + term
  return y.reshape(x.shape[0], *out, c_out)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _conv_taps(x, w, strides, dilation, pads, out, groups):
  return _forward(x, w, strides, dilation, pads, out, groups)


def _conv_taps_fwd(x, w, strides, dilation, pads, out, groups):
  return _forward(x, w, strides, dilation, pads, out, groups), (x, w)


def _conv_taps_bwd(strides, dilation, pads, out, groups, residuals, dy):
  x, w = residuals
  xp = pad_input(x, pads)
  c_in, c_g, c_out = x.shape[-1], w.shape[-2], w.shape[-1]
  wk = w.reshape(-1, c_g, c_out)
  dy2 = dy.reshape(-1, c_out)
  depthwise = c_g == 1 and groups > 1
  dws, dxp = [], None
  if groups == 1:
    # Every tap's dy @ w[k]^T as one matmul, [M, C_out] @ [C_out, K C_in]: one weight
    # transpose instead of one slice-and-transpose kernel per tap for XLA to compile
    # (ResNet-18's stride-2 3x3 dx: 9 kernels, ~0.3 s of code generation per conv).
    backs = (dy2 @ wk.transpose(2, 0, 1).reshape(c_out, -1)).reshape(dy2.shape[0], -1, c_in)
  for i, t in enumerate(taps(w.shape[:-2])):
    if not depthwise:
      cols = tap_slice(xp, t, out, strides, dilation).reshape(-1, c_in)
      dws.append(_tap_weight_grad(cols, dy2, groups, c_g))
    back = (backs[:, i] if groups == 1 else _tap_matmul_t(dy2, wk[i], groups)
            ).reshape(x.shape[0], *out, c_in)
    # place_k: the transpose of tap_slice, cell o -> x_pad[o s + k d].
    place = [(k * d, size - (k * d + (o - 1) * s + 1), s - 1)
             for k, d, s, o, size in zip(t, dilation, strides, out, xp.shape[1:-1])]
    term = lax.pad(back, jnp.zeros((), back.dtype), [(0, 0, 0), *place, (0, 0, 0)])
    dxp = term if dxp is None else dxp + term
  dx = pad_input(dxp, [(-lo, -hi) for lo, hi in pads])
  dw = (_depthwise_weight_grad(xp, dy, w.shape, out, strides, dilation) if depthwise
        else jnp.stack(dws).reshape(w.shape))
  return dx.astype(x.dtype), dw.astype(w.dtype)


_conv_taps.defvjp(_conv_taps_fwd, _conv_taps_bwd)


def conv_taps(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
              padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
              groups: int = 1) -> jax.Array:
  """Per-tap matmul accumulation y = sum_k slice_k(x_pad) @ w[k], matmul backward passes.

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `ops.conv.conv`.
  Returns: `[N, *out, C_out]`.
  """
  check(x, w, groups)
  strides, dilation, pads, out = geometry(x, w, strides, padding, dilation)
  return _conv_taps(x, w, strides, dilation, pads, out, groups)
