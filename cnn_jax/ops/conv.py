"""Convolution over volumes, from the course's multiply-and-sum to fast matmul forms.

Layout: inputs `x [N, *spatial, C_in]` (NHWC for images, NWC for sequences, NDHWC for
volumes), kernels `w [*k, C_in // groups, C_out]` (HWIO), outputs `[N, *out, C_out]` with,
per spatial dim (course formula, dilation d, padding (lo, hi), see `ops.padding`):

    n_out = floor((n + lo + hi - (d (f - 1) + 1)) / s) + 1

Every formulation computes the *cross-correlation* that deep-learning layers (Flax, PyTorch,
TensorFlow, and `cnn_jax.nn.conv.Conv`) call "convolution":

    y[b, o, q] = bias[q] + sum_{k, c} x_pad[b, o * s + k * d, g(q) * C_g + c] * w[k, c, q]

where o, k run over the spatial dims, C_g = C_in / groups and g(q) = q // (C_out / groups) is
the group of output channel q. The course's *true* convolution flips the kernel first
(`true_convolution`); for learned kernels the two are the same family of functions.

Formulations (`conv(..., impl=...)`, all equal to `lax.conv_general_dilated`):
  'direct'  the course's multiply-and-sum over gathered windows: readable, small inputs only.
  'xla'     `lax.conv_general_dilated` (XLA's own convolution emitter).
  'im2col'  shifted strided slices stacked into a patch matrix, then one matmul.
  'taps'    per-tap matmul accumulation with a `custom_vjp` whose backward passes are
            also per-tap matmuls: see `ops.conv_taps`.
  'winograd' F(2x2, 3x3) for 2-D 3x3 stride-1 dense convs (else 'xla'): `ops.conv_winograd`.
  'fast'    per pass (forward, dx, dw) the formulation measured fastest for the shape, in a
            `custom_vjp`: see `ops.conv_fast`. The one to use for speed.
"""
import itertools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops.padding import Padding, as_tuple, explicit_padding


def dimension_numbers(rank: int) -> lax.ConvDimensionNumbers:
  """lax dimension numbers for channels-last `[N, *spatial, C]` and `[*k, I, O]` kernels."""
  spatial = 'DHW'[-rank:] if rank <= 3 else None
  if spatial is None:
    raise ValueError(f'Spatial rank {rank} > 3 is not supported.')
  return lax.conv_dimension_numbers((1,) * (rank + 2), (1,) * (rank + 2),
                                    ('N' + spatial + 'C', spatial + 'IO', 'N' + spatial + 'C'))


def _check(x: jax.Array, w: jax.Array, groups: int) -> int:
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


def _geometry(x, w, strides, padding, dilation):
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
  rank = _check(x, w, groups)
  strides, dilation, pads, out = _geometry(x, w, strides, padding, dilation)
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
  rank = _check(x, w, groups)
  strides, dilation, pads, _ = _geometry(x, w, strides, padding, dilation)
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
  _check(x, w, groups)
  strides, dilation, pads, out = _geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, pads)
  cols = [tap_slice(xp, t, out, strides, dilation) for t in taps(w.shape[:-2])]
  patches = jnp.stack(cols, axis=-2)                                 # [N, *out, K, C_in]
  n, c_in, c_out = x.shape[0], x.shape[-1], w.shape[-1]
  m = n * math.prod(out)
  y = grouped_matmul(patches.reshape(m, len(cols), c_in), w.reshape(len(cols), -1, c_out), groups)
  return y.reshape(n, *out, c_out)


def _impls() -> dict[str, Callable]:
  # The matmul-heavy forms live in their own files (they import this one).
  from cnn_jax.ops import conv_fast, conv_taps, conv_winograd
  return {'direct': conv_direct, 'xla': conv_xla, 'im2col': conv_im2col,
          'taps': conv_taps.conv_taps, 'winograd': conv_winograd.conv_winograd,
          'fast': conv_fast.conv_fast}


IMPLS = ('direct', 'xla', 'im2col', 'taps', 'winograd', 'fast')


def conv(x: jax.Array, w: jax.Array, bias: jax.Array | None = None,
         strides: int | Sequence[int] = 1, padding: Padding = 'VALID',
         dilation: int | Sequence[int] = 1, groups: int = 1,
         input_dilation: int | Sequence[int] = 1, impl: str = 'xla') -> jax.Array:
  """Convolution (cross-correlation) over volumes of any spatial rank 1-3, with bias.

  n_out = floor((n_dil + lo + hi - (d (f - 1) + 1)) / s) + 1 per spatial dim, where
  n_dil = (n - 1) * input_dilation + 1 (input dilation = zeros between input cells).

  Args:
    x: `[N, *spatial, C_in]`.
    w: `[*k, C_in // groups, C_out]` (HWIO). Depthwise: groups = C_in, w `[*k, 1, C_in * mult]`.
    bias: `[C_out]` or None.
    strides: s, an int or one per spatial dim.
    padding: 'VALID', 'SAME', int, or per-dim ints / (lo, hi) pairs (`ops.padding`).
    dilation: kernel dilation d (atrous), int or per dim.
    groups: feature groups; C_in and C_out must both be divisible by it.
    input_dilation: zeros inserted between input cells (the transpose-conv trick).
    impl: one of `IMPLS` ('direct', 'xla', 'im2col', 'taps', 'winograd', 'fast').
  Returns:
    `[N, *out, C_out]`.
  """
  impls = _impls()
  if impl not in impls:
    raise ValueError(f'Unknown conv impl {impl!r}; choose one of {sorted(impls)}.')
  rank = w.ndim - 2
  input_dilation = as_tuple(input_dilation, rank, 'input_dilation')
  if any(i != 1 for i in input_dilation):
    if isinstance(padding, str) and padding.upper() == 'SAME':
      sizes = [(n - 1) * i + 1 for n, i in zip(x.shape[1:-1], input_dilation)]
      padding = explicit_padding('SAME', sizes, w.shape[:-2], as_tuple(strides, rank),
                                 as_tuple(dilation, rank))
    x = lax.pad(x, jnp.zeros((), x.dtype),
                [(0, 0, 0), *((0, 0, i - 1) for i in input_dilation), (0, 0, 0)])
  y = impls[impl](x, w, strides=strides, padding=padding, dilation=dilation, groups=groups)
  if bias is not None:
    y = y + bias.astype(y.dtype)
  return y


def true_convolution(x: jax.Array, w: jax.Array, **kwargs) -> jax.Array:
  """The course's (mathematical) convolution: flip the kernel in every spatial dim, then
  cross-correlate: y[o] = sum_k x[o - k] w[k] (up to the output offset).

  Layers use cross-correlation (`conv`); this exists to show the difference. Args as `conv`.
  """
  flipped = w[tuple(slice(None, None, -1) for _ in range(w.ndim - 2))]
  return conv(x, flipped, **kwargs)


def conv_1x1(x: jax.Array, w: jax.Array, bias: jax.Array | None = None) -> jax.Array:
  """1x1 (pointwise) convolution: a matmul over channels at every position.

  Args: x `[N, *spatial, C_in]`, w `[C_in, C_out]` or `[1, ..., 1, C_in, C_out]`, bias `[C_out]`.
  Returns: `[N, *spatial, C_out]`;  y[b, o, q] = bias[q] + sum_c x[b, o, c] w[c, q].
  """
  w = w.reshape(w.shape[-2], w.shape[-1])
  y = x @ w
  return y if bias is None else y + bias


def depthwise_separable(x: jax.Array, w_depthwise: jax.Array, w_pointwise: jax.Array,
                        strides: int | Sequence[int] = 1, padding: Padding = 'SAME',
                        impl: str = 'xla') -> jax.Array:
  """Depthwise-separable convolution (MobileNet): depthwise then 1x1 pointwise.

  Cost per output position: f^2 C_in (depthwise) + C_in C_out (pointwise) multiplies, against
  f^2 C_in C_out for a full conv.

  Args:
    x: `[N, *spatial, C_in]`.
    w_depthwise: `[*k, 1, C_in * mult]` (one filter per input channel, groups = C_in).
    w_pointwise: `[C_in * mult, C_out]` or `[1, ..., 1, C_in * mult, C_out]`.
  Returns: `[N, *out, C_out]`.
  """
  h = conv(x, w_depthwise, strides=strides, padding=padding, groups=x.shape[-1], impl=impl)
  return conv_1x1(h, w_pointwise)
