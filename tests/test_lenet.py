"""LeNet-5 against the course's table, and the model registry's errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models


def _table(rows):
  return [(r.layer, r.shape, r.params) for r in rows]


def test_summary_reproduces_the_course_table():
  rows = models.summarize(models.create('lenet5'), (32, 32, 3))
  assert _table(rows)[:-1] == [
      ('Input', (32, 32, 3), 0), ('CONV1', (28, 28, 6), 456), ('POOL1', (14, 14, 6), 0),
      ('CONV2', (10, 10, 16), 2416), ('POOL2', (5, 5, 16), 0), ('FC3', (120,), 48120),
      ('FC4', (84,), 10164), ('Softmax', (10,), 850)]
  assert [r.size for r in rows[1:-1]] == [4704, 1176, 1600, 400, 120, 84, 10]
  assert rows[-1].params == 456 + 2416 + 48120 + 10164 + 850


def test_summary_with_8_filters():
  rows = {r.layer: r.params for r in models.summarize(models.create('lenet5', filters=(8, 16)),
                                                      (32, 32, 3))}
  assert (rows['CONV1'], rows['CONV2']) == (608, 3216)  # (5*5*3+1)*8, (5*5*8+1)*16


def test_format_summary_prints_every_layer():
  text = models.format_summary(models.summarize(models.create('lenet5'), (32, 32, 3)))
  for token in ('CONV1', 'POOL2', 'Softmax', '48,120', '(28, 28, 6)', 'Total'):
    assert token in text


@pytest.mark.parametrize('activation', ['relu', 'tanh', 'sigmoid'])
@pytest.mark.parametrize('pooling', ['max', 'avg'])
def test_variants_run_and_pool_as_asked(activation, pooling):
  model = models.create('lenet5', activation=activation, pooling=pooling, num_classes=7)
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1))
  variables = model.init(jax.random.key(1), x)
  feats = models.features(model, variables, x, ['CONV1', 'POOL1'])
  act = {'relu': jax.nn.relu, 'tanh': jnp.tanh, 'sigmoid': jax.nn.sigmoid}[activation]
  a = np.asarray(act(feats['CONV1'])).reshape(2, 14, 2, 14, 2, 6)
  expected = a.max(axis=(2, 4)) if pooling == 'max' else a.mean(axis=(2, 4))
  np.testing.assert_allclose(feats['POOL1'], expected, rtol=1e-5, atol=1e-6)
  assert model.apply(variables, x).shape == (2, 7)


def test_features_under_jit_and_grad():
  model = models.create('lenet5')
  x = jnp.ones((1, 32, 32, 1))
  variables = model.init(jax.random.key(0), x)
  f = jax.jit(lambda v, x: models.features(model, v, x, ['FC4'])['FC4'].sum())
  g = jax.grad(f, argnums=1)(variables, x)
  assert g.shape == x.shape and np.isfinite(np.asarray(g)).all()
  with pytest.raises(KeyError, match='CONV9'):
    models.features(model, variables, x, ['CONV9'])


def test_input_too_small_names_the_layer():
  with pytest.raises(models.summary.InputShapeError, match="'CONV2'.*window is larger"):
    models.check_input_shape(models.create('lenet5'), (8, 8, 1))
  models.check_input_shape(models.create('lenet5'), (32, 32, 1))  # fits


def test_registry_errors_list_the_choices():
  assert 'lenet5' in models.names()
  with pytest.raises(ValueError, match=r"Unknown model 'lenet6'.*lenet5"):
    models.create('lenet6')
  with pytest.raises(ValueError, match=r"bad arguments \['filter'\].*filters"):
    models.create('lenet5', filter=3)
  with pytest.raises(ValueError, match='Unknown activation'):
    models.create('lenet5', activation='gelu').init(jax.random.key(0), jnp.ones((1, 32, 32, 1)))


def test_total_activation_size_counts_each_activation_once():
  from cnn_jax.nn.pooling import MaxPool
  import flax.linen as nn

  class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
      return MaxPool((2, 2), name='pool')(nn.Conv(4, (3, 3), name='conv')(x))

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
      return Block(name='block')(x)

  deep = models.summarize(Net(), (8, 8, 1), depth=2)
  assert [r.layer for r in deep] == ['Input', 'block', 'block/conv', 'block/pool', 'Total']
  assert deep[-1].size == 64 + 8 * 8 * 4 + 4 * 4 * 4  # input + conv + pool, not 'block' again


def _lenet_flax_linen(params, x):
  """LeNet-5 written out with `flax.linen.Conv` / `Dense` (what the model used before it took
  `conv_impl`): the reference its default formulation must equal bit for bit."""
  import flax.linen as nn
  from cnn_jax.nn.pooling import MaxPool
  conv = lambda p, x: nn.Conv(p['kernel'].shape[-1], (5, 5), padding='VALID').apply({'params': p}, x)
  dense = lambda p, x: nn.Dense(p['kernel'].shape[-1]).apply({'params': p}, x)
  pool = lambda x: MaxPool((2, 2)).apply({}, x)
  x = pool(jax.nn.relu(conv(params['CONV1'], x)))
  x = pool(jax.nn.relu(conv(params['CONV2'], x)))
  x = x.reshape(x.shape[0], -1)
  x = jax.nn.relu(dense(params['FC3'], x))
  x = jax.nn.relu(dense(params['FC4'], x))
  return dense(params['Softmax'], x)


def _values_and_grads(apply):
  """(outputs, d sum(out^2) / d (params, x)) of `apply(params, x)`."""
  return lambda params, x: (apply(params, x), jax.grad(
      lambda p, x: (apply(p, x) ** 2).sum(), argnums=(0, 1))(params, x))


def test_xla_conv_impl_equals_flax_linen_conv_bit_for_bit():
  model = models.create('lenet5', conv_impl='xla')
  x = jax.random.uniform(jax.random.key(0), (4, 32, 32, 1))
  params = model.init(jax.random.key(1), x)['params']
  ours = jax.jit(_values_and_grads(lambda p, x: model.apply({'params': p}, x)))(params, x)
  reference = jax.jit(_values_and_grads(_lenet_flax_linen))(params, x)
  jax.tree.map(np.testing.assert_array_equal, ours, reference)


def test_matmul_conv_impls_give_the_same_values_and_gradients():
  """'taps' and 'fast' (custom VJPs, the speed candidates) against 'xla' on LeNet-5's 5x5
  valid convs (every impl against lax.conv on many shapes: tests/test_conv.py)."""
  impls = ('xla', 'taps', 'fast')
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1))
  params = models.create('lenet5').init(jax.random.key(1), x)['params']
  nets = {impl: models.create('lenet5', conv_impl=impl) for impl in impls}
  out = jax.jit(lambda p, x: {impl: _values_and_grads(lambda p, x: m.apply({'params': p}, x))(p, x)
                              for impl, m in nets.items()},
                compiler_options={'xla_backend_optimization_level': 0})(params, x)
  for impl in impls:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5, err_msg=impl),
                 out[impl], out['xla'])
  with pytest.raises(ValueError, match='Unknown conv impl'):
    models.create('lenet5', conv_impl='fft').init(jax.random.key(0), x)
