"""Conv formulations side by side: forward, and forward + both backward passes.

Workloads: `_shapes.CONV` (LeNet-5's convs, ResNet-18's 3x3 stages at 32x32, a MobileNet
depthwise 3x3 at 112x112, a 1x1 pointwise, a 3-D conv). FLOPs are counted, not asked of XLA:
forward = 2 N prod(out) prod(k) C_in/groups C_out, and forward + backward = 3x forward
(dx and dw each cost one forward). The 'fwd+bwd' function returns y, dx and dw so that no
part of the work can be dead-code eliminated.

Config keys (besides those of `tasks.benchmark`): impls (list of `ops.conv.IMPLS`; the
Winograd ones are skipped on workloads where they would only be their 'xla' fallback),
passes (subset of ['fwd', 'fwd+bwd']), shapes (list of workload-name prefixes; empty = all),
smoke (tiny shapes), transpose (also time the transpose-conv workloads `TRANSPOSE`: each
config.impl on `ops.conv_transpose`'s input-dilated forward conv, its 'direct' scatter-and-sum,
and `lax.conv_transpose` as 'lax'; FLOPs = 2 N prod(in) prod(k) C_in C_out, the scattered
products).
"""
import jax
import jax.numpy as jnp

from cnn_jax import bench
from cnn_jax.benchmarks import _shapes
from cnn_jax.ops import conv as conv_ops
from cnn_jax.ops import conv_transpose as ct_ops
from cnn_jax.ops import conv_winograd

BASELINE = 'xla'
COMPARE = 'torch'
PASSES = ('fwd', 'fwd+bwd')
# (name, N, spatial, C_in, kernel, C_out, strides): the U-Net's 2x2/2 up-conv (no overlap)
# and a 3x3/2 one whose scattered patches overlap (the course's picture).
TRANSPOSE = [('unet upconv 16x16 128->64 2x2/2', 8, (16, 16), 128, (2, 2), 64, (2, 2)),
             ('upconv 32x32 32->32 3x3/2', 8, (32, 32), 32, (3, 3), 32, (2, 2))]
TRANSPOSE_SMOKE = [('smoke upconv 4x4 4->4 3x3/2', 2, (4, 4), 4, (3, 3), 4, (2, 2))]


def _case(workload, impl: str, mode: str) -> bench.Case:
  name, n, spatial, c_in, kernel, c_out, strides, padding, groups = workload
  flops = _shapes.conv_flops(n, spatial, c_in, kernel, c_out, strides, padding, groups)

  def args():
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (n, *spatial, c_in), jnp.float32)
    w = jax.random.normal(kw, (*kernel, c_in // groups, c_out), jnp.float32) * 0.1
    if mode == 'fwd':
      return x, w
    y = jax.eval_shape(lambda x, w: conv(x, w), x, w)
    return x, w, jax.random.normal(kg, y.shape, jnp.float32)

  def conv(x, w):
    return conv_ops.conv(x, w, strides=strides, padding=padding, groups=groups, impl=impl)

  def fwd_bwd(x, w, g):
    y, vjp = jax.vjp(conv, x, w)
    dx, dw = vjp(g)
    return y, dx, dw

  info = dict(x=[n, *spatial, c_in], w=[*kernel, c_in // groups, c_out], strides=list(strides),
              padding=[list(p) for p in padding], groups=groups, mode=mode)
  return bench.Case(f'{name} {mode}', impl, conv if mode == 'fwd' else fwd_bwd, args,
                    flops=flops if mode == 'fwd' else 3 * flops, info=info)


def cases(config) -> list[bench.Case]:
  """One case per (workload, pass, impl) from config.impls / passes / shapes / smoke."""
  workloads = _shapes.CONV_SMOKE if config.get('smoke', False) else _shapes.CONV
  prefixes = list(config.get('shapes', ()) or ())
  if prefixes:
    workloads = [w for w in workloads if any(w[0].startswith(p) for p in prefixes)]
  impls = list(config.get('impls', ('xla', 'im2col', 'taps', 'winograd', 'winograd4', 'fast')))
  for impl in impls:
    if impl not in conv_ops.IMPLS:
      raise ValueError(f'Unknown conv impl {impl!r} in config.impls; choose from {conv_ops.IMPLS}.')
  passes = list(config.get('passes', PASSES))
  out = [_case(w, impl, mode) for w in workloads for mode in passes for impl in impls
         if not impl.startswith('winograd') or _winograd_applies(w)]
  if config.get('transpose', False):
    transposes = TRANSPOSE_SMOKE if config.get('smoke', False) else TRANSPOSE
    transposes = [w for w in transposes
                  if not prefixes or any(w[0].startswith(p) for p in prefixes)]
    out += [_transpose_case(w, impl, mode) for w in transposes for mode in passes
            for impl in [i for i in impls if not i.startswith('winograd')] + ['direct', 'lax']]
  return out


def _transpose_case(workload, impl: str, mode: str) -> bench.Case:
  name, n, spatial, c_in, kernel, c_out, strides = workload
  flops = 2.0 * n * spatial[0] * spatial[1] * kernel[0] * kernel[1] * c_in * c_out

  def conv_t(x, w):
    if impl == 'lax':  # HWIO kernel [k, k, C_in, C_out]: lax flips it unless transpose_kernel
      return jax.lax.conv_transpose(x, w, strides, 'VALID', transpose_kernel=True,
                                    dimension_numbers=('NHWC', 'HWOI', 'NHWC'))
    return ct_ops.conv_transpose(x, w, strides=strides, impl=impl)

  def args():
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (n, *spatial, c_in), jnp.float32)
    w = jax.random.normal(kw, (*kernel, c_in, c_out), jnp.float32) * 0.1
    if mode == 'fwd':
      return x, w
    return x, w, jax.random.normal(kg, jax.eval_shape(conv_t, x, w).shape, jnp.float32)

  def fwd_bwd(x, w, g):
    y, vjp = jax.vjp(conv_t, x, w)
    return (y, *vjp(g))

  info = dict(x=[n, *spatial, c_in], w=[*kernel, c_in, c_out], strides=list(strides), mode=mode,
              transpose=True)
  return bench.Case(f'{name} {mode}', impl, conv_t if mode == 'fwd' else fwd_bwd, args,
                    flops=flops if mode == 'fwd' else 3 * flops, info=info)


def _winograd_applies(workload) -> bool:
  """Winograd only where it is not just its 'xla' fallback (2-D 3x3 stride-1 dense)."""
  _, _, _, _, kernel, c_out, strides, _, groups = workload
  return conv_winograd.supports((*kernel, 1, c_out), strides, 1, groups)
