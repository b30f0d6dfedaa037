"""Transpose convolution: PyTorch's conv_transpose{1,2,3}d (stored fixtures), the course's
scatter form, lax.conv_transpose, output sizes and gradients."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnn_jax.ops import conv_transpose as T

FIXTURES = np.load(os.path.join(os.path.dirname(__file__), 'fixtures', 'torch_conv_pool.npz'))
CASES = [c for c in json.loads(str(FIXTURES['cases'])) if c['op'] == 'conv_transpose']
IMPLS = ['direct', 'xla', 'im2col', 'taps']


def _kwargs(kw):
  return dict(strides=kw.get('stride', 1), padding=kw.get('padding', 0),
              output_padding=kw.get('output_padding', 0), dilation=kw.get('dilation', 1),
              groups=kw.get('groups', 1))


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
def test_matches_pytorch_values_and_gradients(case):
  a = {k: FIXTURES[f"{case['name']}/{k}"] for k in ('x', 'w', 'b', 'y', 'g', 'dx', 'dw')}
  kw = _kwargs(case['kwargs'])
  for impl in IMPLS:
    @jax.jit
    def run(x, w, b, g):
      y, vjp = jax.vjp(lambda x, w: T.conv_transpose(x, w, b, impl=impl, **kw), x, w)
      return (y, *vjp(g))
    y, dx, dw = run(a['x'], a['w'], a['b'], a['g'])
    np.testing.assert_allclose(y, a['y'], rtol=1e-4, atol=1e-4, err_msg=impl)
    np.testing.assert_allclose(dx, a['dx'], rtol=1e-4, atol=1e-4, err_msg=impl)
    np.testing.assert_allclose(dw, a['dw'], rtol=1e-4, atol=2e-4, err_msg=impl)
    # n_out = (n - 1) s - 2p + d (f - 1) + op + 1 (per dim)
    rank = a['w'].ndim - 2
    dims = [T.output_size(n, f, *(T.as_tuple(kw[k], rank)[i] for k in
                                  ('strides', 'padding', 'output_padding', 'dilation')))
            for i, (n, f) in enumerate(zip(a['x'].shape[1:-1], a['w'].shape[:-2]))]
    assert list(y.shape[1:-1]) == dims


def test_lax_conv_transpose_mapping():
  """The docstring's mapping: lax.conv_transpose with pads d(f-1)-p, d(f-1)-p+op."""
  case = next(c for c in CASES if c['name'] == 'tconv2d_output_padding_odd')
  a = {k: FIXTURES[f"{case['name']}/{k}"] for k in ('x', 'w', 'b', 'y')}
  s, p, op, f = 2, 1, 1, 3
  pads = [(f - 1 - p, f - 1 - p + op)] * 2
  y = lax.conv_transpose(a['x'], jnp.swapaxes(a['w'], -1, -2), (s, s), pads,
                         dimension_numbers=('NHWC', 'HWIO', 'NHWC'), transpose_kernel=True)
  np.testing.assert_allclose(y + a['b'], a['y'], rtol=1e-4, atol=1e-4)


def test_is_the_gradient_of_conv():
  """conv_transpose(g, w) equals the input-gradient of conv(x, w) (same geometry)."""
  from cnn_jax.ops import conv as C
  x = jax.random.normal(jax.random.key(0), (2, 9, 8, 3))
  w = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  conv = lambda x: C.conv(x, w, strides=2, padding=((1, 1), (1, 1)))
  g = jax.random.normal(jax.random.key(2), (2, 5, 4, 4))
  # out = (n_y - 1) 2 - 2 + 3 + op must give back 9 and 8: op = (0, 1).
  dx = jax.jit(lambda g: T.conv_transpose(g, jnp.swapaxes(w, -1, -2), strides=2, padding=1,
                                          output_padding=(0, 1)))(g)
  np.testing.assert_allclose(dx, jax.jit(lambda g: jax.vjp(conv, x)[1](g)[0])(g), rtol=1e-5,
                             atol=1e-5)


def test_jit_vmap_and_errors():
  x = jax.random.normal(jax.random.key(0), (3, 2, 4, 4, 2))
  w = jax.random.normal(jax.random.key(1), (2, 2, 2, 3))
  f = jax.jit(lambda x: T.conv_transpose(x, w, strides=2, impl='taps'))
  np.testing.assert_allclose(jax.vmap(f)(x), jnp.stack([f(xi) for xi in x]), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='output_padding'):
    T.conv_transpose(x[0], w, strides=2, output_padding=2)
  with pytest.raises(ValueError, match='Output size'):
    T.conv_transpose(x[0], w, padding=3)
