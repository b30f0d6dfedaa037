"""Transfer learning plumbing: init_from, reinit heads, frozen params AND frozen BN stats."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import load_config
from cnn_jax.nn.freeze import running_average_batchnorm
from cnn_jax.tasks import _supervised, classification
from cnn_jax.train import optim
from cnn_jax.train.pretrained import merge_pretrained


def test_lr_mults_scale_freeze_and_skip_weight_decay():
  opt = ml_collections.ConfigDict(dict(name='adamw', learning_rate=1.0, weight_decay=0.1,
                                       lr_mults=[('backbone/.*', 0.0), ('neck/.*', 0.1)]))
  tx, _ = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10)
  params = {k: {'kernel': jnp.ones((2, 2))} for k in ('backbone', 'neck', 'head')}
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), tx.init(params), params)
  u = {k: float(v['kernel'][0, 0]) for k, v in updates.items()}
  assert u['backbone'] == 0.0  # frozen: no step, no decoupled decay either
  assert u['neck'] == pytest.approx(0.1 * u['head'])
  assert u['head'] == pytest.approx(-(1.0 + 0.1), rel=1e-4)  # Adam's unit step + decay 0.1 * 1


def test_frozen_batchnorm_uses_running_statistics_and_keeps_them():
  class Net(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
      x = nn.BatchNorm(use_running_average=not train, name='frozen_bn')(x)
      return nn.BatchNorm(use_running_average=not train, name='live_bn')(x)

  net = Net()
  x = jax.random.normal(jax.random.key(0), (16, 3)) * 5 + 2
  v = net.init(jax.random.key(1), x)
  v = {'params': v['params'], 'batch_stats': {
      'frozen_bn': {'mean': jnp.full(3, 1.0), 'var': jnp.full(3, 4.0)},
      'live_bn': v['batch_stats']['live_bn']}}
  with running_average_batchnorm(lambda path: path == 'frozen_bn'):
    feats, new = net.apply(v, x, train=True, mutable=['batch_stats'], capture_intermediates=True)
  frozen_out = new['intermediates']['frozen_bn']['__call__'][0]
  np.testing.assert_allclose(frozen_out, (x - 1.0) / np.sqrt(4.0 + 1e-5), rtol=1e-5)
  assert np.array_equal(new['batch_stats']['frozen_bn']['mean'], v['batch_stats']['frozen_bn']['mean'])
  assert not np.array_equal(new['batch_stats']['live_bn']['mean'], v['batch_stats']['live_bn']['mean'])


def test_merge_pretrained_reports_and_refuses_mismatches():
  fresh = {'params': {'body': {'w': np.zeros((2, 2))}, 'head': {'w': np.zeros((2, 5))}}}
  pre = {'params': {'body': {'w': np.ones((2, 2))}, 'head': {'w': np.ones((2, 1000))}}}
  with pytest.raises(ValueError, match=r'head/w has shape \(2, 1000\).*config.transfer.reinit'):
    merge_pretrained(fresh, pre)
  merged, loaded, kept = merge_pretrained(fresh, pre, reinit=['params/head/.*'])
  assert loaded == ['params/body/w'] and kept == ['params/head/w']
  assert merged['params']['body']['w'].sum() == 4 and merged['params']['head']['w'].sum() == 0
  with pytest.raises(ValueError, match='entries the model lacks'):
    merge_pretrained(fresh, {'params': {'neck': {'w': np.ones(1)}}})


def _same(a, b):
  return all(jax.tree.leaves(jax.tree.map(
      lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


def test_init_from_another_workdir_with_a_new_head(smoke_config, tmp_path, no_pictures):
  source = classification.run(smoke_config, str(tmp_path / 'source'))
  config = load_config('lenet5_mnist')
  config.unlock()
  config.init_from = str(tmp_path / 'source')
  config.transfer = dict(reinit=['params/Softmax/.*'])
  config.train.update(steps=3, eval_every=3, checkpoint_every=3)  # step 0 has lr 0 (warmup)
  config.optimizer.lr_mults = [('CONV.*', 0.0)]
  tuned = classification.run(config, str(tmp_path / 'tuned'))
  assert _same(source.state.params['CONV1'], tuned.state.params['CONV1'])
  assert not _same(source.state.params['FC3'], tuned.state.params['FC3'])


@pytest.mark.slow
def test_linear_probe_on_imagenet_mobilenet_keeps_backbone_and_bn_stats_bit_identical(tmp_path):
  """The real ImageNet MobileNetV2 (offline carrier; fetched once into the cache), backbone
  frozen: after training, its weights and batch-norm statistics equal the file's exactly."""
  from cnn_jax import weights
  config = load_config('transfer_mobilenet_probe')
  result = classification.run(config, str(tmp_path))
  pretrained = weights.load('mobilenet_v2', 'imagenet', num_classes=10)
  assert _same(pretrained['params']['features'], result.state.params['features'])
  assert _same(pretrained['batch_stats'], result.state.model_state['batch_stats'])
  fresh = _supervised.init_variables(config, _supervised.build_model(config, 10),
                                     (32, 32, 3), jax.random.split(jax.random.key(0))[0])
  assert not _same(fresh['params']['classifier'], result.state.params['classifier'])
