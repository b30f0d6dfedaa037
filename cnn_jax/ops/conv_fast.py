"""'fast': per pass, the formulation that measured fastest on the 2-core CPU for that shape.

A conv's three passes are three different problems: the forward y = conv(x, w), the input
gradient dx (a conv of dy with the flipped kernel), and the weight gradient dw (a reduction
over N and all positions: "large kernel, tiny output"). XLA:CPU is excellent at some and poor
at others, so a `jax.custom_vjp` picks each pass separately (`plan`). The rules are the
autotuner's per-pass timings (`ops.conv_autotune`; docs/conv_bench.md) on an AVX2 CPU (AMD
EPYC, 2 cores, JAX 0.10.2, XLA's convolutions on Eigen as `cnn_jax._xla_flags` sets by
default), for the convs of the three benchmark workloads (LeNet-5 b256, ResNet-18 and
MobileNetV2 small-input b32). 'fast' is what multi-process runs use (every process must
compile the same program, so none may time) and what untimed traces use:

  depthwise (C_g = 1)     'taps' for every pass: per-tap elementwise multiply-adds, one fused
                          loop each; XLA's grouped conv is 9-48x slower forward, 11-200x for dx
                          and 2.5-15x for dw.
  pointwise 1x1           plain matmuls: forward and dx 'im2col' (a reshape), dw 'taps'
                          (XLA: 1.8-2.8x slower forward/dx, 2.5-19x dw); a strided 1x1's
                          forward stays 'xla' (no strided-slice copy: 2.3x faster).
  tiny C_in (<= 4), a stem  C_out <= 16 (LeNet-5's first conv): forward and dx 'toeplitz'
                          where `conv_toeplitz.worthwhile` (one well-shaped matmul: 2.8x
                          and 1.5x per pass; the whole LeNet-5 step 31 -> 23 ms), dw 'xla';
                          else forward 'taps' (K = C_in matmuls become fused multiply-adds,
                          7x alone, but recomputed by each consumer in a step), dx 'im2col';
                          wider (ResNet's CIFAR stem, 3 -> 64): forward and dx 'im2col' (1.7x
                          forward; XLA has no dx there), dw 'xla' (2.42 vs 2.6 ms).
  3x3 / stride 1, C_in >= 64     forward and dx by Winograd (dx: Winograd's forward of the
                          transposed conv): F(4x4, 3x3) 'winograd4' where the output is at
                          least 8x8 and divides into 4x4 tiles (ResNet-18's 32x32x64 and
                          8x8x256: 1.4-2.0x over 'xla'; at 16x16x128 4-8% behind F(2x2, 3x3),
                          the autotuner's pick there), else F(2x2, 3x3) 'winograd' (4x4x512:
                          1.3x); dw 'winograd' (the autodiff of its transforms) for
                          C_in >= 256 (1.2-1.3x), else 'xla' (Winograd's 1.1-1.9x slower).
  narrow and thin (C_in <= 8, `conv_toeplitz.worthwhile`; LeNet-5's second conv): dx
                          'toeplitz' (2.3x), forward and dw 'xla'.
  output <= 8x8           forward 'xla', dx 'im2col', dw 'xla' (ResNet's strided convs into
                          8x8 and 4x4).
  3-D                     'depth2d' for every pass: a sum over depth taps of 2-D convs of
                          depth slices folded into the batch (`conv3d_as_2d`); XLA's own 3-D
                          conv does not reach its fast 2-D emitter (~5x slower).
  grouped (ResNeXt)       'xla' for every pass (not measured here).
  otherwise               'xla' for every pass, except a strided conv's dx: 'taps' (1.2x).

With XLA's convolutions on Eigen, XLA's weight gradient of every dense k x k conv measured
here beats the per-tap matmuls (1.3-1.8x on ResNet-18's stages): the rules taken when XLA
used YNNPACK for convolutions had 'taps' there (XLA's was then 1.4-13x slower).
"""
import dataclasses
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from cnn_jax.ops import conv_taps, conv_toeplitz, conv_winograd
from cnn_jax.ops.conv_basic import conv_im2col, conv_xla
from cnn_jax.ops.conv_geometry import check, geometry, pad_input
from cnn_jax.ops.padding import Padding

def conv3d_as_2d(x: jax.Array, w: jax.Array, strides: Sequence[int], padding: Padding,
                 dilation: Sequence[int], groups: int = 1) -> jax.Array:
  """A 3-D conv as a sum over depth taps of 2-D convs (XLA's fast 2-D path):

      y[:, o] = sum_kd conv2d(x_pad[:, o s_d + kd d_d], w[kd])   for every output depth o,

  each 2-D conv taking all output depths at once, folded into the batch.
  Args: x `[N, D, H, W, C_in]`, w `[k_d, k_h, k_w, C_in/groups, C_out]`. Returns `[N, *out, C_out]`.
  """
  strides, dilation, pads, out = geometry(x, w, strides, padding, dilation)
  xp = pad_input(x, [pads[0], (0, 0), (0, 0)])                          # depth padding only
  n, s, d = x.shape[0], strides[0], dilation[0]
  y = None
  for kd in range(w.shape[0]):
    planes = xp[:, kd * d: kd * d + (out[0] - 1) * s + 1: s]           # [N, D_out, H, W, C]
    term = conv_xla(planes.reshape(-1, *planes.shape[2:]), w[kd], strides[1:], pads[1:],
                    dilation[1:], groups)
    y = term if y is None else y + term
  return y.reshape(n, *out, w.shape[-1])


PASS_IMPLS: dict[str, Callable] = {
    'xla': conv_xla, 'im2col': conv_im2col, 'taps': conv_taps.conv_taps,
    'winograd': conv_winograd.conv_winograd, 'winograd4': conv_winograd.conv_winograd4,
    'toeplitz': conv_toeplitz.conv_toeplitz, 'depth2d': conv3d_as_2d}
WINOGRAD_TILES = {'winograd': 2, 'winograd4': 4}  # impl -> output tile size m of F(m x m, 3x3)


@dataclasses.dataclass(frozen=True)
class Plan:
  """The formulation of each pass: forward, input gradient, weight gradient."""
  fwd: str
  dx: str
  dw: str


def plan(x_shape: Sequence[int], w_shape: Sequence[int], strides: Sequence[int],
         dilation: Sequence[int], groups: int, dtype=jnp.float32) -> Plan:
  """Chooses each pass's formulation from the shapes and dtype (rules in the module
  docstring; below float32's precision F(4x4, 3x3) gives way to F(2x2, 3x3),
  `conv_winograd.tile4_accurate`)."""
  rank = len(w_shape) - 2
  kernel, c_g, c_in = tuple(w_shape[:-2]), w_shape[-2], x_shape[-1]
  if c_g == 1 and groups > 1:
    return Plan('taps', 'taps', 'taps')
  if rank == 3:
    return Plan('depth2d', 'depth2d', 'depth2d')
  if groups > 1:
    return Plan('xla', 'xla', 'xla')
  if all(k == 1 for k in kernel):  # a matmul; XLA's strided 1x1 skips the slice copy
    return Plan('xla' if any(s > 1 for s in strides) else 'im2col', 'im2col', 'taps')
  out = [-(-n // s) for n, s in zip(x_shape[1:-1], strides)]  # ~ the output size
  # `plan` sees no pads: judged unpadded, which differs from the autotuner's test by at
  # most k - 1 columns of W_p.
  narrow = conv_toeplitz.worthwhile(x_shape, w_shape, ((0, 0), (0, 0)), out, groups)
  if c_in <= 4:  # a stem
    if w_shape[-1] > 16:
      return Plan('im2col', 'im2col', 'xla')
    return Plan('toeplitz', 'toeplitz', 'xla') if narrow else Plan('taps', 'im2col', 'xla')
  if conv_winograd.supports(w_shape, strides, dilation, groups) and c_in >= 64:
    tiles4 = (min(out) >= 8 and all(n % 4 == 0 for n in out)
              and conv_winograd.tile4_accurate(dtype))
    fwd = 'winograd4' if tiles4 else 'winograd'
    return Plan(fwd, fwd, 'winograd' if c_in >= 256 else 'xla')
  if narrow and c_in <= 8:
    return Plan('xla', 'toeplitz', 'xla')
  if max(out) <= 8:
    return Plan('xla', 'im2col', 'xla')
  return Plan('xla', 'taps' if any(s > 1 for s in strides) else 'xla', 'xla')


def fixed_plan(pass_: str, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> str:
  """`plan`'s formulation for one pass ('fwd', 'dx' or 'dw'): the chooser of impl 'fast'."""
  return getattr(plan(x_shape, w_shape, strides, dilation, groups, dtype), pass_)


def pass_fn(pass_: str, impl: str, strides, pads, dilation, groups) -> Callable:
  """One pass of one formulation as a function: 'fwd' (x, w) -> y; 'dx' (x, w, dy) -> dx;
  'dw' (x, w, dy) -> dw, each the VJP of that formulation with respect to one argument
  (XLA drops the other cotangent), except the Winograd formulations' dx: Winograd's forward
  of the transposed conv (`conv_winograd.input_gradient`). The planned conv and the autotuner's
  timer use exactly these, so what is timed is what runs."""
  conv = functools.partial(PASS_IMPLS[impl], strides=strides, padding=pads, dilation=dilation,
                           groups=groups)
  if pass_ == 'fwd':
    return conv
  if pass_ == 'dx':
    def dx(x, w, dy):
      if impl in WINOGRAD_TILES and conv_winograd.transposes(w.shape, strides, pads, dilation,
                                                             groups):
        return conv_winograd.input_gradient(w, dy, pads, WINOGRAD_TILES[impl]).astype(x.dtype)
      return jax.vjp(lambda x: conv(x, w), x)[1](dy)[0]
    return dx
  if pass_ == 'dw':
    return lambda x, w, dy: jax.vjp(lambda w: conv(x, w), w)[1](dy)[0]
  raise ValueError(f'Unknown conv pass {pass_!r}; one of fwd, dx, dw.')


# chooser(pass, x_shape, w_shape, dtype, strides, pads, dilation, groups) -> formulation name:
# a static (hashable) argument, so the choice is made on the host while tracing.
@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def conv_planned(x, w, strides, pads, dilation, groups, chooser):
  """Convolution whose forward, dx and dw each use the formulation `chooser` names for them.

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`, strides / dilation tuples,
  pads explicit (lo, hi) per spatial dim. Returns `[N, *out, C_out]`.
  """
  impl = chooser('fwd', x.shape, w.shape, x.dtype, strides, pads, dilation, groups)
  return pass_fn('fwd', impl, strides, pads, dilation, groups)(x, w)


def _fwd(x, w, strides, pads, dilation, groups, chooser):
  return conv_planned(x, w, strides, pads, dilation, groups, chooser), (x, w)


def _bwd(strides, pads, dilation, groups, chooser, residuals, dy):
  x, w = residuals
  key = (x.shape, w.shape, x.dtype, strides, pads, dilation, groups)
  dx = pass_fn('dx', chooser('dx', *key), strides, pads, dilation, groups)(x, w, dy)
  dw = pass_fn('dw', chooser('dw', *key), strides, pads, dilation, groups)(x, w, dy)
  return dx, dw


conv_planned.defvjp(_fwd, _bwd)


def conv_fast(x: jax.Array, w: jax.Array, strides: int | Sequence[int] = 1,
              padding: Padding = 'VALID', dilation: int | Sequence[int] = 1,
              groups: int = 1) -> jax.Array:
  """Convolution whose forward, dx and dw passes each use the fastest formulation (`plan`).

  Args: x `[N, *spatial, C_in]`, w `[*k, C_in/groups, C_out]`; see `ops.conv.conv`.
  Returns: `[N, *out, C_out]`. Reverse-mode differentiable (custom VJP), to any order.
  """
  check(x, w, groups)
  strides, dilation, pads, _ = geometry(x, w, strides, padding, dilation)
  return conv_planned(x, w, strides, tuple(map(tuple, pads)), dilation, groups, fixed_plan)
