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
            (These three: `ops.conv_basic`; the geometry they share: `ops.conv_geometry`.)
  'taps'    per-tap matmul accumulation with a `custom_vjp` whose backward passes are
            also per-tap matmuls: see `ops.conv_taps`.
  'winograd' F(2x2, 3x3) for 2-D 3x3 stride-1 dense convs (else 'xla'): `ops.conv_winograd`.
  'winograd4' F(4x4, 3x3), the same with 4x4 output tiles: 4x fewer multiplies than the
            direct sum (2.25x for 'winograd'), ~1e-5 relative float32 error.
  'toeplitz' 2-D dense convs as one matmul of stacked input rows with a banded (block-Toeplitz)
            matrix built from the kernel (else 'xla'): `ops.conv_toeplitz`.
  'fast'    per pass (forward, dx, dw) a fixed rule's formulation (measured on one CPU), in a
            `custom_vjp`: see `ops.conv_fast`.
  'auto'    per pass the formulation timed fastest on *this* machine for the shape, chosen
            while tracing and cached on disk: see `ops.conv_autotune`. The one to use for speed.
"""
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from cnn_jax.ops import conv_autotune, conv_basic, conv_fast
from cnn_jax.ops.padding import Padding, as_tuple, explicit_padding

# The formulations: the teaching one, those a planned conv can run per pass
# (`conv_fast.PASS_IMPLS`, the one list a new formulation joins; 'depth2d' is the planned
# 3-D helper, not a user-facing impl), and the two planners. Each lives in its own module (a
# leaf: it imports `ops.conv_geometry`, never this dispatcher).
_FORMULATIONS: dict[str, Callable] = {
    'direct': conv_basic.conv_direct,
    **{name: fn for name, fn in conv_fast.PASS_IMPLS.items() if name != 'depth2d'},
    'fast': conv_fast.conv_fast, 'auto': conv_autotune.conv_auto}
IMPLS = tuple(_FORMULATIONS)


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
    impl: one of `IMPLS` ('direct', 'xla', 'im2col', 'taps', 'winograd', 'winograd4',
      'toeplitz', 'fast', 'auto').
  Returns:
    `[N, *out, C_out]`.
  """
  if impl not in _FORMULATIONS:
    raise ValueError(f'Unknown conv impl {impl!r}; choose one of {list(IMPLS)}.')
  rank = w.ndim - 2
  input_dilation = as_tuple(input_dilation, rank, 'input_dilation')
  if any(i != 1 for i in input_dilation):
    if isinstance(padding, str) and padding.upper() == 'SAME':
      sizes = [(n - 1) * i + 1 for n, i in zip(x.shape[1:-1], input_dilation)]
      padding = explicit_padding('SAME', sizes, w.shape[:-2], as_tuple(strides, rank),
                                 as_tuple(dilation, rank))
    x = lax.pad(x, jnp.zeros((), x.dtype),
                [(0, 0, 0), *((0, 0, i - 1) for i in input_dilation), (0, 0, 0)])
  y = _FORMULATIONS[impl](x, w, strides=strides, padding=padding, dilation=dilation, groups=groups)
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
