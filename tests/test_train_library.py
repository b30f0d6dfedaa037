"""The generic train library on toy problems: steps, batch statistics, optimizers, devices."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from cnn_jax.train import optim, sharding
from cnn_jax.train.state import TrainState
from cnn_jax.train.evaluate import make_eval_step
from cnn_jax.train.step import make_train_step


class TinyBN(nn.Module):
  """Dense -> BatchNorm -> Dense regressor, to exercise a mutable collection."""

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Dense(8)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.5)(x)
    return nn.Dense(1)(nn.relu(x))[:, 0]


def _setup(mesh, lr=0.05, name='momentum'):
  model = TinyBN()
  x = jax.random.normal(jax.random.key(0), (64, 4)) * 3 + 1
  y = x @ jnp.array([1.0, -2.0, 0.5, 3.0])
  variables = model.init(jax.random.key(1), x)
  opt = ml_collections.ConfigDict(dict(name=name, learning_rate=lr, momentum=0.9))
  tx, sched = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 100)

  def loss_fn(params, model_state, batch, key):
    pred, new_state = model.apply({'params': params, **model_state}, batch['x'], train=True,
                                  mutable=['batch_stats'])
    return jnp.mean((pred - batch['y']) ** 2), (dict(new_state), {})

  def metric_fn(params, model_state, batch):
    pred = model.apply({'params': params, **model_state}, batch['x'], train=False)
    return {'se': (pred - batch['y']) ** 2}

  state = sharding.replicate(TrainState.create(variables['params'], {'batch_stats': variables['batch_stats']},
                                               tx, jax.random.key(2)), mesh)
  batch = sharding.global_batch({'x': x, 'y': y, 'mask': jnp.ones(64)}, mesh)
  return state, batch, make_train_step(loss_fn, tx, mesh, sched), make_eval_step(metric_fn, mesh)


def test_train_step_lowers_the_loss_and_updates_batch_stats():
  mesh = sharding.make_mesh()
  state, batch, step, eval_step = _setup(mesh)
  stats0 = jax.device_get(state.model_state['batch_stats'])
  losses = []
  for _ in range(30):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  assert losses[-1] < 0.2 * losses[0]
  assert int(state.step) == 30 and float(metrics['learning_rate']) == pytest.approx(0.05)
  stats = jax.device_get(state.model_state['batch_stats'])
  # BN's running mean moved toward the batch mean of the first layer's outputs ...
  assert not np.allclose(stats['BatchNorm_0']['mean'], stats0['BatchNorm_0']['mean'])
  # ... and eval uses it: resetting the statistics changes the eval error.
  sums = eval_step(state, batch)
  reset = state.replace(model_state={'batch_stats': jax.tree.map(jnp.zeros_like, state.model_state['batch_stats'])})
  assert float(sums['count']) == 64
  assert float(eval_step(reset, batch)['se']) != pytest.approx(float(sums['se']))


def test_one_and_four_devices_give_the_same_losses():
  """Same global batch, 1 vs 4 devices: XLA's cross-device sums reorder float additions,
  so losses agree to 1e-5 relative, not bitwise."""
  assert jax.device_count() == 4
  runs = []
  for n in (1, 4):
    mesh = sharding.make_mesh(n)
    state, batch, step, _ = _setup(mesh)
    losses = []
    for _ in range(10):
      state, metrics = step(state, batch)
      losses.append(float(metrics['loss']))
    runs.append(losses)
  np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)


def test_eval_step_ignores_padding():
  mesh = sharding.make_mesh()
  state, batch, _, eval_step = _setup(mesh)
  full = eval_step(state, batch)
  masked = dict(jax.device_get(batch))
  masked['mask'] = np.r_[np.ones(60), np.zeros(4)].astype(np.float32)
  masked['y'] = np.asarray(masked['y']).copy()
  masked['y'][60:] = 1e6  # garbage in padding must not count
  part = eval_step(state, sharding.global_batch(masked, mesh))
  assert float(part['count']) == 60
  assert float(part['se']) < float(full['se']) + 1


@pytest.mark.parametrize('name', optim.OPTIMIZERS)
def test_every_optimizer_trains(name):
  state, batch, step, _ = _setup(sharding.make_mesh(), lr=0.01 if 'adam' in name else 0.005, name=name)
  first = float(step(state, batch)[1]['loss'])
  state, batch, step, _ = _setup(sharding.make_mesh(), lr=0.01 if 'adam' in name else 0.005, name=name)
  for _ in range(15):
    state, metrics = step(state, batch)
  assert float(metrics['loss']) < first


def test_schedules_follow_their_formulas():
  cfg = lambda **kw: ml_collections.ConfigDict(kw)
  s = optim.make_schedule(cfg(name='cosine', warmup_steps=10, end_fraction=0.0), 1.0, 110)
  assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(0.5) and float(s(10)) == pytest.approx(1.0)
  assert float(s(60)) == pytest.approx(0.5, abs=1e-6)  # half-way down the cosine: (1 + cos(pi/2)) / 2
  assert float(s(110)) == pytest.approx(0.0, abs=1e-7)
  w = optim.make_schedule(cfg(name='warmup_constant', warmup_steps=4), 2.0, 100)
  assert [float(w(i)) for i in (0, 2, 4, 50)] == pytest.approx([0, 1, 2, 2])
  st = optim.make_schedule(cfg(name='step', boundaries=[10, 20], decay_rate=0.1), 1.0, 100)
  assert [float(st(i)) for i in (9, 10, 25)] == pytest.approx([1, 0.1, 0.01])


def test_weight_decay_skips_biases_and_norm_params():
  params = {'Dense_0': {'kernel': jnp.ones((3, 2)), 'bias': jnp.ones(2)},
            'BatchNorm_0': {'scale': jnp.ones(2)}}
  opt = ml_collections.ConfigDict(dict(name='sgd', learning_rate=1.0, weight_decay=0.5,
                                       decay_norm_and_bias=False))
  tx, _ = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10)
  zero = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  assert float(updates['Dense_0']['kernel'][0, 0]) == pytest.approx(-0.5)
  assert float(jnp.abs(updates['Dense_0']['bias']).max()) == 0.0
  assert float(jnp.abs(updates['BatchNorm_0']['scale']).max()) == 0.0


def test_unknown_optimizer_and_schedule_list_the_choices():
  c = ml_collections.ConfigDict
  with pytest.raises(ValueError, match=r"Unknown optimizer 'adamm'.*adamw"):
    optim.make_optimizer(c(dict(name='adamm', learning_rate=1.0)), c(dict(name='constant')), 1)
  with pytest.raises(ValueError, match=r"Unknown schedule 'cosin'.*cosine"):
    optim.make_schedule(c(dict(name='cosin')), 1.0, 1)
  with pytest.raises(ValueError, match='Asked for 5 devices but 4 exist'):
    sharding.make_mesh(5)
