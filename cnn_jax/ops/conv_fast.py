"""'fast': per pass, the formulation that measured fastest on the 2-core CPU for that shape.

A conv's three passes are three different problems: the forward y = conv(x, w), the input
gradient dx (a conv of dy with the flipped kernel), and the weight gradient dw (a reduction
over N and all positions: "large kernel, tiny output"). XLA:CPU (its YNNPACK convolution)
is excellent at some and poor at others, so a `jax.custom_vjp` picks each pass separately
(`plan`), from measurements in docs/conv_bench.md:

  pointwise 1x1           every pass is a plain matmul ('im2col' of a 1x1 is a reshape):
                          XLA's 1x1 weight gradient is ~5x slower.
  depthwise (C_g = 1)     forward and dx as per-tap elementwise multiply-adds ('taps', one
                          fused pass, ~10-20x XLA); dw stays 'xla' (the per-tap reductions lose).
  tiny C_in (<= 4)        forward 'taps' (K = C_in matmuls become fused multiply-adds, ~20x),
                          dx 'im2col', dw 'xla' (LeNet-5's first conv).
  3x3 / stride 1 / 2-D    'winograd' F(2x2, 3x3) for every pass when C_in >= 256 (2.25x
  dense, wide             fewer multiplies, batched matmuls with K = C_in); narrower layers
                          keep 'xla': their 4x-sized transformed tiles cost more memory
                          traffic than the multiplies saved.
  3-D                     'depth2d' for every pass: a sum over depth taps of 2-D convs of
                          depth slices folded into the batch (`conv3d_as_2d`); XLA's own 3-D
                          conv does not reach its fast 2-D emitter (~5x slower).
  otherwise               'xla' for every pass (ResNet's 64- and 128-channel stages, LeNet-5's
                          second conv): no other formulation measured faster there.
"""
import dataclasses
import functools
from typing import Callable, Sequence

import jax

from cnn_jax.ops import conv_taps, conv_winograd
from cnn_jax.ops.conv import _check, _geometry, conv_im2col, conv_xla, pad_input
from cnn_jax.ops.padding import Padding

def conv3d_as_2d(x: jax.Array, w: jax.Array, strides: Sequence[int], padding: Padding,
                 dilation: Sequence[int], groups: int = 1) -> jax.Array:
  """A 3-D conv as a sum over depth taps of 2-D convs (XLA's fast 2-D path):

      y[:, o] = sum_kd conv2d(x_pad[:, o s_d + kd d_d], w[kd])   for every output depth o,

  each 2-D conv taking all output depths at once, folded into the batch.
  Args: x `[N, D, H, W, C_in]`, w `[k_d, k_h, k_w, C_in/groups, C_out]`. Returns `[N, *out, C_out]`.
  """
  strides, dilation, pads, out = _geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, [pads[0], (0, 0), (0, 0)])                          # depth padding only
  n, s, d = x.shape[0], strides[0], dilation[0]
  y = None
  for kd in range(w.shape[0]):
    planes = xp[:, kd * d: kd * d + (out[0] - 1) * s + 1: s]           # [N, D_out, H, W, C]
    term = conv_xla(planes.reshape(-1, *planes.shape[2:]), w[kd], strides[1:], pads[1:],
                    dilation[1:], groups)
    y = term if y is None else y + term
  return y.reshape(n, *out, w.shape[-1])


_PASS_IMPLS: dict[str, Callable] = {
    'xla': conv_xla, 'im2col': conv_im2col, 'taps': conv_taps.conv_taps,
    'winograd': conv_winograd.conv_winograd, 'depth2d': conv3d_as_2d}


@dataclasses.dataclass(frozen=True)
class Plan:
  """The formulation of each pass: forward, input gradient, weight gradient."""
  fwd: str
  dx: str
  dw: str


def plan(x_shape: Sequence[int], w_shape: Sequence[int], strides: Sequence[int],
         dilation: Sequence[int], groups: int) -> Plan:
  """Chooses each pass's formulation from the shapes (rules in the module docstring)."""
  rank = len(w_shape) - 2
  kernel, c_g, c_in = tuple(w_shape[:-2]), w_shape[-2], x_shape[-1]
  if all(k == 1 for k in kernel) and groups == 1:
    return Plan('im2col', 'im2col', 'im2col')
  if c_g == 1 and groups > 1:
    return Plan('taps', 'taps', 'xla')
  if groups == 1 and c_in <= 4:
    return Plan('taps', 'im2col', 'xla')
  if rank == 3:
    return Plan('depth2d', 'depth2d', 'depth2d')
  if conv_winograd.supports(w_shape, strides, dilation, groups) and c_in >= 256:
    return Plan('winograd', 'winograd', 'winograd')
  return Plan('xla', 'xla', 'xla')


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _conv_fast(x, w, strides, pads, dilation, groups):
  p = plan(x.shape, w.shape, strides, dilation, groups)
  return _PASS_IMPLS[p.fwd](x, w, strides, pads, dilation, groups)


def _fwd(x, w, strides, pads, dilation, groups):
  return _conv_fast(x, w, strides, pads, dilation, groups), (x, w)


def _bwd(strides, pads, dilation, groups, residuals, dy):
  x, w = residuals
  p = plan(x.shape, w.shape, strides, dilation, groups)
  conv_x, conv_w = _PASS_IMPLS[p.dx], _PASS_IMPLS[p.dw]
  # Each gradient is the VJP of one formulation w.r.t. one argument: XLA drops the rest.
  dx = jax.vjp(lambda x: conv_x(x, w, strides, pads, dilation, groups), x)[1](dy)[0]
  dw = jax.vjp(lambda w: conv_w(x, w, strides, pads, dilation, groups), w)[1](dy)[0]
  return dx, dw


_conv_fast.defvjp(_fwd, _bwd)


def conv_fast(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
              padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
              groups: int = 1) -> jax.Array:
  """Convolution whose forward, dx and dw passes each use the fastest formulation (`plan`).

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `ops.conv.conv`.
  Returns: `[N, *out, C_out]`. Reverse-mode differentiable (custom VJP), to any order.
  """
  _check(x, w, groups)
  strides, dilation, pads, _ = _geometry(x, w, strides, padding, dilation)
  return _conv_fast(x, w, strides, pads, dilation, groups)
