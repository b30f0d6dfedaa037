"""Pooling: PyTorch's max/avg pool (stored fixtures, values and gradients), both
formulations, global pooling, output sizes."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnn_jax.ops import padding as P
from cnn_jax.ops import pool

FIXTURES = np.load(os.path.join(os.path.dirname(__file__), 'fixtures', 'torch_conv_pool.npz'))
CASES = [c for c in json.loads(str(FIXTURES['cases'])) if c['op'].endswith('_pool')]


@pytest.mark.parametrize('case', CASES, ids=[c['name'] for c in CASES])
@pytest.mark.parametrize('impl', pool.IMPLS)
def test_matches_pytorch(case, impl):
  a = {k: FIXTURES[f"{case['name']}/{k}"] for k in ('x', 'y', 'g', 'dx')}
  kw = dict(case['kwargs'])
  window = kw.pop('kernel_size')
  strides = kw.pop('stride', window)
  padding = kw.pop('padding', 0)
  kind = case['op'].split('_')[0]
  f = lambda x: pool.pool(x, kind, window, strides, padding, impl=impl, **kw)
  y, dx = jax.jit(lambda x, g: (f(x), jax.vjp(f, x)[1](g)[0]))(a['x'], a['g'])
  np.testing.assert_allclose(y, a['y'], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dx, a['dx'], rtol=1e-5, atol=1e-5)


@settings(max_examples=5, deadline=None)
@given(rank=st.integers(1, 3), n=st.integers(3, 8), f=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 1), kind=st.sampled_from(['max', 'avg']), incl=st.booleans())
def test_formulations_agree_and_size_formula(rank, n, f, s, p, kind, incl):
  p = min(p, f // 2)  # PyTorch's rule: padding at most half the window
  x = jax.random.normal(jax.random.key(n), (2, *([n] * rank), 3))
  both = jax.jit(lambda x: [pool.pool(x, kind, f, s, p, count_include_pad=incl, impl=i)
                            for i in pool.IMPLS])
  ys = both(x)
  np.testing.assert_allclose(ys[0], ys[1], rtol=1e-6, atol=1e-6)
  assert ys[0].shape == (2, *([P.output_size(n, f, p, s)] * rank), 3)


def test_global_and_known_values():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  np.testing.assert_allclose(pool.global_avg_pool(x), x.mean((1, 2)))
  np.testing.assert_allclose(pool.global_max_pool(x, keepdims=True), x[:, -1:, -1:, :])
  # Course example: 2x2/2 max pool of a 4x4 map.
  m = jnp.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], jnp.float32)
  y = pool.max_pool(m[None, :, :, None], 2)[0, :, :, 0]
  np.testing.assert_array_equal(y, [[9, 2], [6, 3]])
  y = pool.avg_pool(m[None, :, :, None], 2)[0, :, :, 0]
  np.testing.assert_allclose(y, [[3.75, 1.25], [3.75, 2.0]])


def test_jit_vmap_and_errors():
  x = jax.random.normal(jax.random.key(0), (3, 2, 6, 6, 2))
  f = jax.jit(lambda x: pool.avg_pool(x, 3, 2, 1, count_include_pad=False, impl='slices'))
  np.testing.assert_allclose(jax.vmap(f)(x), jnp.stack([f(xi) for xi in x]), rtol=1e-6)
  with pytest.raises(ValueError, match='Unknown pool impl'):
    pool.max_pool(x[0], 2, impl='nope')
  with pytest.raises(ValueError, match='Unknown pool kind'):
    pool.pool(x[0], 'min', 2)
