"""Convolution: every formulation equals lax.conv_general_dilated (values and gradients) over
ranks 1-3, strides, paddings, dilations and groups; the size formula; the padding rules; true
convolution, 1x1 and depthwise-separable; the Flax `Conv` module against flax.linen.Conv."""
import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

from cnn_jax.nn.conv import Conv
from cnn_jax.ops import conv as C
from cnn_jax.ops import conv_winograd as winograd
from cnn_jax.ops.conv_fast import pass_fn
from cnn_jax.ops import padding as P



def test_output_size_and_padding_rules():
  assert P.output_size(6, 3) == 4                                # course: 6x6 * 3x3 -> 4x4
  assert P.output_size(7, 3, p=0, s=2) == 3                      # floor((7 - 3) / 2) + 1
  assert P.output_size(5, 3, p=1) == 5                           # 'same' for odd f
  assert P.output_size(10, 3, p=(0, 1), s=2, d=2) == 4           # f_eff = 5: (10+1-5)//2+1
  assert P.same_padding(5, 3) == (1, 1)                          # p = (f - 1) / 2
  assert P.same_padding(5, 4) == (1, 2)                          # even f: extra cell at the end
  assert P.same_padding(6, 3, s=2) == (0, 1)                     # TF rule, n_out = ceil(n / s)
  assert P.same_padding(7, 3, s=2) == (1, 1)
  assert P.explicit_padding('VALID', (5, 6), (3, 3)) == ((0, 0), (0, 0))
  assert P.explicit_padding(2, (5,), (3,)) == ((2, 2),)
  assert P.explicit_padding([1, (0, 2)], (5, 6), (3, 3)) == ((1, 1), (0, 2))
  with pytest.raises(ValueError, match='Unknown padding'):
    P.explicit_padding('FULL', (5,), (3,))
  with pytest.raises(ValueError, match='one entry per spatial dim'):
    P.explicit_padding([1, 1, 1], (5, 5), (3, 3))


def _padding(draw, rank, kernel):
  kind = draw(st.sampled_from(['VALID', 'SAME', 'int', 'pairs']))
  if kind == 'int':
    return draw(st.integers(0, 2))
  if kind == 'pairs':
    return [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank)]
  return kind


@st.composite
def conv_problems(draw, max_rank=3):
  rank = draw(st.integers(1, max_rank))
  size = {1: 9, 2: 7, 3: 5}[rank]
  kernel = [draw(st.integers(1, 3 if rank < 3 else 2)) for _ in range(rank)]  # <= 9 taps
  dilation = [draw(st.integers(1, 2)) for _ in range(rank)]
  strides = [draw(st.integers(1, 3)) for _ in range(rank)]
  spatial = [draw(st.integers(d * (k - 1) + 1, size)) for k, d in zip(kernel, dilation)]
  groups = draw(st.sampled_from([1, 2, 3]))
  c_in = groups * draw(st.integers(1, 2))
  c_out = groups * draw(st.integers(1, 2))
  padding = _padding(draw, rank, kernel)
  seed = draw(st.integers(0, 2 ** 16))
  kx, kw = jax.random.split(jax.random.key(seed))
  x = jax.random.normal(kx, (2, *spatial, c_in))
  w = jax.random.normal(kw, (*kernel, c_in // groups, c_out))
  return x, w, dict(strides=strides, padding=padding, dilation=dilation, groups=groups)


# 'auto' is lax.conv's plan in the suite (tests/conftest.py); tests/test_autotune.py checks it.
FIXED = [i for i in C.IMPLS if i != 'auto']


def _all_impls(x, w, kw, with_grads, impls=FIXED):
  """One jit computing every formulation (and its vjp): one compile per example."""

  def run(x, w, g):
    outs = {}
    for impl in impls:
      f = lambda x, w: C.conv(x, w, impl=impl, **kw)
      if with_grads:
        y, vjp = jax.vjp(f, x, w)
        outs[impl] = (y, *vjp(g))
      else:
        outs[impl] = (f(x, w),)
    return outs

  y_shape = jax.eval_shape(lambda x, w: C.conv(x, w, **kw), x, w).shape
  g = jax.random.normal(jax.random.key(7), y_shape)
  return jax.jit(run)(x, w, g)


@settings(max_examples=6, deadline=None)
@given(conv_problems())
def test_formulations_equal_lax_and_output_size(problem):
  x, w, kw = problem
  outs = _all_impls(x, w, kw, with_grads=False,
                    impls=[i for i in FIXED if not i.startswith('winograd')])
  ref = outs['xla'][0]
  for impl in outs:
    np.testing.assert_allclose(outs[impl][0], ref, rtol=1e-4, atol=1e-4, err_msg=impl)
  # n_out = floor((n + lo + hi - d (f - 1) - 1) / s) + 1 per dim, whatever the formulation.
  pads = P.explicit_padding(kw['padding'], x.shape[1:-1], w.shape[:-2], kw['strides'],
                            kw['dilation'])
  expect = [P.output_size(n, f, p, s, d) for n, f, p, s, d in
            zip(x.shape[1:-1], w.shape[:-2], pads, kw['strides'], kw['dilation'])]
  assert list(ref.shape) == [x.shape[0], *expect, w.shape[-1]]


@settings(max_examples=4, deadline=None)
@given(conv_problems())
def test_gradients_agree_across_formulations(problem):
  """jax.grad through im2col and toeplitz (autodiff), taps and fast (custom VJPs) equals lax.conv's
  ('direct' and 'winograd' are gradient-checked on the fixed cases below)."""
  x, w, kw = problem
  outs = _all_impls(x, w, kw, with_grads=True, impls=('xla', 'im2col', 'taps', 'toeplitz', 'fast'))
  for impl in ('im2col', 'taps', 'toeplitz', 'fast'):
    for name, got, want in zip(('y', 'dx', 'dw'), outs[impl], outs['xla']):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-4, err_msg=f'{impl} {name}')


def test_check_grads_numerically_and_second_order():
  """taps' hand-written VJP against finite differences (exact up to rounding: conv is
  linear), and its second order (the backward is itself differentiable) against lax's."""
  x = jax.random.normal(jax.random.key(0), (1, 4, 5, 4))
  w = jax.random.normal(jax.random.key(1), (3, 2, 2, 4))
  kw = dict(strides=(2, 1), padding='SAME', groups=2)
  check_grads(lambda x, w: C.conv(x, w, impl='taps', **kw), (x, w), order=1, modes=['rev'],
              eps=1e-2, atol=2e-2, rtol=2e-2)

  # jvp of a custom_vjp is undefined, so take the second order in reverse over reverse.
  def rr(impl):
    loss = lambda x, w: jnp.sum(jnp.tanh(C.conv(x, w, impl=impl, **kw)) ** 2)
    g = lambda x, w: jnp.vdot(jax.grad(loss, argnums=1)(x, w), w)
    return jax.grad(g, argnums=(0, 1))(x, w)

  got, want = jax.jit(lambda: (rr('taps'), rr('xla')))()
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # 'direct' (a gather) differentiates like the rest.
  grads = jax.jit(lambda: [jax.grad(lambda x, w: jnp.sum(C.conv(x, w, impl=i, **kw) ** 2),
                                    argnums=(0, 1))(x, w) for i in ('direct', 'xla')])()
  for a, b in zip(*grads):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('x_shape,w_shape,kw', [
    ((2, 6, 5, 8), (1, 1, 8, 6), {}),                                    # pointwise
    ((2, 7, 7, 4), (3, 3, 1, 8), dict(groups=4, padding='SAME')),         # depthwise x2
    ((2, 9, 9, 1), (5, 5, 1, 3), {}),                                     # tiny C_in
    ((1, 5, 4, 6, 6), (3, 3, 3, 6, 4), dict(padding=1)),                  # 3-D
    ((2, 5, 4, 256), (3, 3, 256, 8), dict(padding='SAME')),               # winograd
    ((2, 7, 6, 6), (3, 3, 6, 5), dict(padding=((2, 0), (1, 1)))),         # winograd, odd
], ids=['pointwise', 'depthwise', 'tiny_cin', '3d', 'winograd_plan', 'winograd_odd'])
def test_fast_and_winograd_every_plan_branch(x_shape, w_shape, kw):
  """Each branch of `conv_fast.plan` (and Winograd, whose backward is its autodiff) gives
  lax.conv's values and gradients."""
  x = jax.random.normal(jax.random.key(0), x_shape)
  w = jax.random.normal(jax.random.key(1), w_shape) * 0.3
  geometry = {k: v for k, v in kw.items() if k != 'padding'}
  impls = (('winograd', 'winograd4', 'fast') if winograd.supports(w_shape, **geometry)
           else ('fast',))
  outs = _all_impls(x, w, kw, with_grads=True, impls=('xla', *impls))
  for impl in impls:
    for name, got, want in zip(('y', 'dx', 'dw'), outs[impl], outs['xla']):
      np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-4, err_msg=f'{impl} {name}')


@pytest.mark.parametrize('x_shape,w_shape,kw', [
    ((2, 7, 9, 4), (3, 3, 1, 4), dict(padding='SAME', groups=4)),                      # MobileNet
    ((2, 8, 7, 3), (3, 2, 1, 6), dict(strides=(2, 1), dilation=(1, 2), padding=1, groups=3)),
    ((3, 11, 2), (3, 1, 4), dict(strides=2, padding=((2, 0),), groups=2)),             # 1-D
    ((2, 4, 5, 6, 2), (2, 2, 3, 1, 2), dict(padding='SAME', groups=2)),                # 3-D
], ids=['mobilenet', 'multiplier_2_strided_dilated', '1d', '3d'])
def test_depthwise_weight_gradient_equals_lax(x_shape, w_shape, kw):
  """taps' depthwise dw (one variadic reduction over the innermost spatial axis, then the
  rest) against lax.conv's, in float64: channel multipliers, strides, dilation, ranks 1-3."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), x_shape, jnp.float64)
    w = jax.random.normal(jax.random.key(1), w_shape, jnp.float64)
    grads = {impl: jax.grad(lambda x, w, impl=impl: jnp.sum(jnp.sin(C.conv(x, w, impl=impl, **kw))),
                            argnums=(0, 1))(x, w) for impl in ('taps', 'xla')}
    for got, want in zip(grads['taps'], grads['xla']):
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('x_shape', [(2, 7, 9, 3), (1, 13, 6, 2), (1, 3, 3, 2)])
def test_winograd_forward_equals_lax_for_both_tile_sizes(x_shape):
  """F(2x2, 3x3) and F(4x4, 3x3) against lax in float64: sizes that the output tiles do not
  divide, asymmetric and zero pads (the B^T, G, A^T matrices and the tile bookkeeping)."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), x_shape, jnp.float64)
    w = jax.random.normal(jax.random.key(1), (3, 3, x_shape[-1], 4), jnp.float64)
    for pads in (((1, 1), (1, 1)), ((0, 2), (2, 0)), ((0, 0), (1, 0))):
      want = C.conv(x, w, padding=pads, impl='xla')
      for impl in ('winograd', 'winograd4'):
        got = C.conv(x, w, padding=pads, impl=impl)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=f'{impl} {pads}')


@pytest.mark.parametrize('impl', ['winograd', 'winograd4'])
@pytest.mark.parametrize('pads,strides', [
    (((1, 1), (1, 1)), (1, 1)),      # SAME: ResNet's 3x3 stages
    (((0, 0), (2, 1)), (1, 1)),      # VALID rows, asymmetric columns
    (((3, 0), (1, 1)), (1, 1)),      # a pad beyond 2: the autodiff fallback
    (((1, 1), (1, 1)), (2, 2)),      # strided: not Winograd's, the autodiff fallback (-> lax)
])
def test_winograd_input_gradient_equals_lax(pads, strides, impl):
  """The planned Winograd dx (Winograd's forward of the flipped, channel-swapped kernel on
  dy) against lax's dx in float64."""
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 5), jnp.float64)
    w = jax.random.normal(jax.random.key(1), (3, 3, 5, 4), jnp.float64)
    ref = lambda x: C.conv(x, w, strides=strides, padding=pads, impl='xla')  # noqa: E731
    y, vjp = jax.vjp(ref, x)
    dy = jnp.cos(y)
    got = jax.jit(pass_fn('dx', impl, strides, pads, (1, 1), 1))(x, w, dy)
    np.testing.assert_allclose(got, vjp(dy)[0], rtol=1e-10, atol=1e-10)


def test_stride_larger_than_kernel_and_input_dilation():
  x = jax.random.normal(jax.random.key(0), (1, 11, 10, 2))
  w = jax.random.normal(jax.random.key(1), (2, 2, 2, 3))
  for kw in (dict(strides=3), dict(input_dilation=2, padding=((1, 1), (0, 2)))):
    outs = jax.jit(lambda x, w: [C.conv(x, w, impl=i, **kw) for i in FIXED])(x, w)
    for got in outs[1:]:
      np.testing.assert_allclose(got, outs[0], rtol=1e-5, atol=1e-5)


def test_true_convolution_flips_the_kernel():
  """1-D: np.convolve (true convolution) vs cross-correlation (what layers compute)."""
  signal = np.array([1., 2., 0., -1., 3., 1.], np.float32)
  kernel = np.array([1., 0., -2.], np.float32)
  x, w = signal[None, :, None], kernel[:, None, None]
  np.testing.assert_allclose(C.true_convolution(x, w)[0, :, 0],
                             np.convolve(signal, kernel, 'valid'), rtol=1e-6)
  np.testing.assert_allclose(C.conv(x, w)[0, :, 0], np.correlate(signal, kernel, 'valid'),
                             rtol=1e-6)


def test_pointwise_depthwise_and_separable():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
  w1 = jax.random.normal(jax.random.key(1), (4, 5))
  np.testing.assert_allclose(C.conv_1x1(x, w1), C.conv(x, w1[None, None]), rtol=1e-5, atol=1e-5)
  wd = jax.random.normal(jax.random.key(2), (3, 3, 1, 8))     # depthwise, multiplier 2
  y = C.depthwise_separable(x, wd, w1.repeat(2, 0)[:8], impl='taps')
  ref = C.conv(C.conv(x, wd, padding='SAME', groups=4), w1.repeat(2, 0)[None, None, :8])
  np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
  # Depthwise = each channel filtered on its own.
  dw = C.conv(x, wd[..., ::2], padding='SAME', groups=4, impl='im2col')
  for c in range(4):
    np.testing.assert_allclose(dw[..., c], C.conv(x[..., c:c + 1], wd[..., 2 * c:2 * c + 1],
                                                  padding='SAME')[..., 0], rtol=1e-5, atol=1e-5)


def test_vmap_bias_and_errors():
  x = jax.random.normal(jax.random.key(0), (3, 2, 7, 7, 4))
  w = jax.random.normal(jax.random.key(1), (3, 3, 4, 5))
  b = jnp.arange(5.0)
  f = jax.vmap(lambda x: C.conv(x, w, b, padding='SAME', impl='taps'))
  g = lambda x: C.conv(x.reshape(6, 7, 7, 4), w, b, padding='SAME').reshape(3, 2, 7, 7, 5)
  got, want = jax.jit(lambda x: (f(x), g(x)))(x)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='Unknown conv impl'):
    C.conv(x[0], w, impl='fft')
  with pytest.raises(ValueError, match='groups=3 disagree'):
    C.conv(x[0], w, groups=3)
  with pytest.raises(ValueError, match='Empty output'):
    C.conv(x[0, :, :2], w, impl='im2col')


@pytest.mark.parametrize('kw', [
    dict(features=6, kernel_size=(3, 3)),
    dict(features=4, kernel_size=(4, 3), strides=2, padding='SAME', use_bias=False),
    dict(features=6, kernel_size=(3, 3), feature_group_count=2, padding=((1, 2), (0, 1)),
         kernel_dilation=2),
    dict(features=4, kernel_size=3, padding='CAUSAL'),
    dict(features=4, kernel_size=(3, 3), padding='CIRCULAR'),
    dict(features=3, kernel_size=(2, 2, 2), padding=1),
], ids=['default', 'stride_same_nobias', 'groups_dilation', 'causal1d', 'circular', '3d'])
def test_module_is_a_drop_in_for_flax_conv(kw):
  rank = 1 if isinstance(kw['kernel_size'], int) else len(kw['kernel_size'])
  x = jax.random.normal(jax.random.key(0), (3, 2, *([6] * rank), 4))   # two batch dims
  ref = fnn.Conv(**kw)
  variables = jax.jit(ref.init)(jax.random.key(1), x)
  want = jax.jit(ref.apply)(variables, x)
  for impl in ('xla', 'fast') if kw['kernel_size'] == (3, 3) else ('xla',):
    mine = Conv(**kw, impl=impl)
    shapes = jax.eval_shape(mine.init, jax.random.key(1), x)      # no compile needed
    assert jax.tree.map(jnp.shape, shapes) == jax.tree.map(jnp.shape, variables)
    y = jax.jit(mine.apply)(variables, x)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4, err_msg=impl)
  # Same initializers and parameter names: the same key gives the same weights.
  ours = jax.jit(Conv(**kw).init)(jax.random.key(1), x)
  np.testing.assert_array_equal(ours['params']['kernel'], variables['params']['kernel'])
  with pytest.raises(ValueError, match="Unknown conv impl 'fft'; choose one of"):
    Conv(**kw, impl='fft').init(jax.random.key(1), x)
