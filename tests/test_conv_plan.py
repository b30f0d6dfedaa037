"""`conv_fast.plan`, the models' default conv formulation: every branch it can pick gives
lax.conv's values and gradients, and the three benchmark workloads' convs get the passes
the per-pass measurements chose (docs/conv_bench.md, "Per-pass plan")."""
import jax
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.ops import conv as C
from cnn_jax.ops.conv_fast import Plan, plan
from cnn_jax.ops.padding import as_tuple

# (x shape, w shape, conv kwargs, the plan it must get)
BRANCHES = {
    'depthwise': ((2, 8, 8, 6), (3, 3, 1, 6), dict(groups=6, padding='SAME'),
                  Plan('taps', 'taps', 'taps')),
    'grouped': ((2, 6, 6, 8), (3, 3, 2, 8), dict(groups=4, padding='SAME'), Plan('xla', 'xla', 'xla')),
    'pointwise': ((2, 6, 6, 8), (1, 1, 8, 5), {}, Plan('im2col', 'im2col', 'taps')),
    'pointwise_s2': ((2, 6, 6, 8), (1, 1, 8, 5), dict(strides=2), Plan('xla', 'im2col', 'taps')),
    'stem_narrow': ((2, 9, 9, 1), (5, 5, 1, 3), {}, Plan('toeplitz', 'toeplitz', 'xla')),
    'stem_narrow_wide_image': ((1, 48, 48, 1), (5, 5, 1, 3), {}, Plan('taps', 'im2col', 'xla')),
    'stem_wide': ((2, 9, 9, 3), (3, 3, 3, 20), dict(padding=1), Plan('im2col', 'im2col', 'xla')),
    'winograd_512': ((1, 4, 4, 512), (3, 3, 512, 4), dict(padding=1),
                     Plan('winograd', 'winograd', 'winograd')),
    'winograd_128': ((1, 4, 4, 128), (3, 3, 128, 4), dict(padding=1),
                     Plan('winograd', 'winograd', 'xla')),
    'winograd4_64': ((1, 8, 8, 64), (3, 3, 64, 4), dict(padding=1),
                     Plan('winograd4', 'winograd4', 'xla')),
    'thin_narrow': ((2, 9, 9, 6), (5, 5, 6, 4), {}, Plan('xla', 'toeplitz', 'xla')),
    'small_output': ((2, 16, 16, 16), (3, 3, 16, 4), dict(strides=2, padding=1),
                     Plan('xla', 'im2col', 'xla')),
    'otherwise': ((2, 12, 12, 16), (3, 3, 16, 4), dict(padding=1), Plan('xla', 'xla', 'xla')),
    'otherwise_strided': ((2, 20, 20, 16), (3, 3, 16, 4), dict(padding=1, strides=2),
                          Plan('xla', 'taps', 'xla')),
}


def _plan_of(x_shape, w_shape, kw):
  rank = len(w_shape) - 2
  strides = as_tuple(kw.get('strides', 1), rank)
  return plan(x_shape, w_shape, strides, (1,) * rank, kw.get('groups', 1))


@pytest.mark.slow
def test_every_plan_branch_equals_lax_conv_in_values_and_gradients():
  cases = {}
  for name, (x_shape, w_shape, kw, want) in BRANCHES.items():
    assert _plan_of(x_shape, w_shape, kw) == want, name
    x = jax.random.normal(jax.random.key(0), x_shape)
    w = jax.random.normal(jax.random.key(1), w_shape) * 0.3
    cases[name] = (x, w)

  def run(cases):
    out = {}
    for name, (x, w) in cases.items():
      kw = BRANCHES[name][2]
      for impl in ('fast', 'xla'):
        f = lambda x, w: C.conv(x, w, impl=impl, **kw)
        y, vjp = jax.vjp(f, x, w)
        out[name, impl] = (y, *vjp(jax.numpy.cos(y)))
    return out

  out = jax.jit(run, compiler_options={'xla_backend_optimization_level': 0})(cases)
  for name in BRANCHES:
    # Winograd's transforms add rounding that grows with C_in (sums of 512 products here).
    atol = 2e-3 if name.startswith('winograd') else 2e-4
    for part, got, want in zip(('y', 'dx', 'dw'), out[name, 'fast'], out[name, 'xla']):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol, err_msg=f'{name} {part}')


@pytest.mark.parametrize('x_shape,w_shape,kw,want', [
    # LeNet-5, batch 256: conv1 (the stem's dx is never needed in training), conv2.
    ((256, 32, 32, 1), (5, 5, 1, 6), {}, Plan('toeplitz', 'toeplitz', 'xla')),
    ((256, 14, 14, 6), (5, 5, 6, 16), {}, Plan('xla', 'toeplitz', 'xla')),
    # ResNet-18 small input, batch 32: stem, stage 1, strided 1 -> 2 and 2 -> 3, stages 2-4.
    ((32, 32, 32, 3), (3, 3, 3, 64), {}, Plan('im2col', 'im2col', 'xla')),
    ((32, 32, 32, 64), (3, 3, 64, 64), {}, Plan('winograd4', 'winograd4', 'xla')),
    ((32, 32, 32, 64), (3, 3, 64, 128), dict(strides=2), Plan('xla', 'taps', 'xla')),
    ((32, 16, 16, 128), (3, 3, 128, 128), {}, Plan('winograd4', 'winograd4', 'xla')),
    ((32, 16, 16, 128), (3, 3, 128, 256), dict(strides=2), Plan('xla', 'im2col', 'xla')),
    ((32, 8, 8, 256), (3, 3, 256, 256), {}, Plan('winograd4', 'winograd4', 'winograd')),
    ((32, 4, 4, 512), (3, 3, 512, 512), {}, Plan('winograd', 'winograd', 'winograd')),
    # MobileNetV2: a depthwise conv and a 1x1 expansion.
    ((32, 32, 32, 144), (3, 3, 1, 144), dict(groups=144), Plan('taps', 'taps', 'taps')),
    ((32, 32, 32, 16), (1, 1, 16, 96), {}, Plan('im2col', 'im2col', 'taps')),
])
def test_the_workloads_convs_get_the_measured_passes(x_shape, w_shape, kw, want):
  assert _plan_of(x_shape, w_shape, kw) == want


def test_models_default_to_the_autotuner():
  for name in ('lenet5', 'resnet18', 'mobilenet_v2', 'vgg11', 'alexnet', 'googlenet',
               'mobilenet_v1'):
    assert models.create(name).conv_impl == 'auto', name
