"""The architecture zoo against torchvision / Keras: counts, names, numbers, variants, summary.

Parameter counts and name mapping use `jax.eval_shape` (nothing compiled); numerical checks
run small torchvision blocks stored in tests/fixtures/torchvision_blocks.npz.
"""
import functools
import json
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.models.summary import InputShapeError
from cnn_jax.nn.blocks import conv_factory, norm_factory
from cnn_jax.nn.inception import Inception
from cnn_jax.nn.pooling import AdaptiveAvgPool, MaxPool
from cnn_jax.nn.residual import BasicBlock, Bottleneck
from cnn_jax.nn.sequential import IndexedSequential
from torchvision_names import flatten, flax_path, flax_shape, to_flax_variables
from zoo_testing import FAST_COMPILE, key, numpy_variables

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
TORCHVISION = json.loads((FIXTURES / 'torchvision_zoo.json').read_text())['models']
# fixture name -> (registry name, kwargs) where they differ.
FIXTURE_MODELS = {'googlenet_aux': ('googlenet', dict(aux_logits=True)),
                  'mobilenet_v2_w0.35': ('mobilenet_v2', dict(alpha=0.35)),
                  'mobilenet_v2_w1.4': ('mobilenet_v2', dict(alpha=1.4))}
# The issue's figures (torchvision's documentation; Keras' for MobileNet v1).
REFERENCE_PARAMS = {
    'alexnet': 61_100_840, 'vgg16': 138_357_544, 'vgg19': 143_667_240, 'resnet18': 11_689_512,
    'resnet34': 21_797_672, 'resnet50': 25_557_032, 'resnet101': 44_549_160,
    'resnet152': 60_192_808, 'googlenet': 6_624_904, 'mobilenet_v2': 3_504_872,
    'mobilenet_v1': 4_231_976}
SMALL = dict(small_input=True)


def abstract_variables(model, shape=(224, 224, 3)):
  x = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
  return jax.eval_shape(lambda x: model.init({'params': jax.random.key(0)}, x), x)


@functools.lru_cache(maxsize=None)
def registered_variables(name: str, **kwargs):
  """Abstract variables of registered model `name` at 224x224x3 (cached across tests)."""
  return abstract_variables(models.create(name, **kwargs))


def count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize('name', sorted(REFERENCE_PARAMS))
def test_parameter_counts_equal_the_references(name):
  assert count(registered_variables(name)['params']) == REFERENCE_PARAMS[name]


def test_mobilenet_v1_batch_norm_statistics_equal_keras():
  variables = registered_variables('mobilenet_v1')
  assert count(variables['params']) == 4_231_976
  assert count(variables['batch_stats']) == 21_888  # Keras' non-trainable parameters


@pytest.mark.parametrize('fixture_name', sorted(TORCHVISION))
def test_torchvision_state_dict_maps_one_to_one(fixture_name):
  """Every torchvision entry has exactly one variable of its shape; none is left over."""
  reference = TORCHVISION[fixture_name]
  name, kwargs = FIXTURE_MODELS.get(fixture_name, (fixture_name, {}))
  variables = registered_variables(name, **kwargs)
  ours = flatten(dict(variables))
  mapped = {}
  for tv_key, shape in reference['state']:
    path = flax_path(tv_key, len(shape))
    if path is not None:
      assert path not in mapped, f'{tv_key} collides with another entry on {path}'
      mapped[path] = flax_shape(shape)
  assert sorted(set(mapped) - set(ours)) == []  # torchvision entries without a variable
  assert sorted(set(ours) - set(mapped)) == []  # variables torchvision does not have
  assert {p: ours[p] for p in mapped} == mapped
  assert count(variables['params']) == reference['trainable']


def _tv_case(arrays, name):
  prefix = f'{name}/'
  case = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
  return case.pop('__input__'), case.pop('__output__'), to_flax_variables(case)


def _blocks():
  conv, norm = conv_factory(), norm_factory(train=False)
  return {
      'basic_block': BasicBlock(16, 2, conv_layer=conv, norm_layer=norm),
      'bottleneck': Bottleneck(4, 2, conv_layer=conv, norm_layer=norm),
      'inception': Inception(4, 4, 6, 2, 4, 3, conv_layer=conv,
                             norm_layer=norm_factory(train=False, epsilon=1e-3)),
      'mobilenet_v2': models.create('mobilenet_v2', alpha=0.1, num_classes=10),
      'maxpool_ceil': MaxPool((3, 3), (2, 2), padding=1, ceil_mode=True),
      'maxpool_ceil_nopad': MaxPool((3, 3), (2, 2), ceil_mode=True),
      'adaptive_7': AdaptiveAvgPool((7, 7)),
      'adaptive_4': AdaptiveAvgPool((4, 4)),
  }


@pytest.mark.parametrize('name', sorted(_blocks()))
def test_blocks_reproduce_torchvision_outputs(name):
  x, expected, variables = _tv_case(np.load(FIXTURES / 'torchvision_blocks.npz'), name)
  block = _blocks()[name]
  kwargs = dict(train=False) if name == 'mobilenet_v2' else {}
  out = jax.jit(lambda v, x: block.apply(v, x, **kwargs), compiler_options=FAST_COMPILE)(variables, x)
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)


def _has_xla_convolution(model) -> bool:
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(model.init, key(0), x)
  return 'conv_general_dilated' in str(jax.make_jaxpr(lambda v, x: model.apply(v, x))(variables, x))


@pytest.mark.parametrize('name', ['alexnet', 'resnet18', 'googlenet', 'mobilenet_v1', 'mobilenet_v2'])
def test_conv_impl_reaches_every_conv(name):
  """With conv_impl='im2col' no XLA convolution is left in the model's program."""
  assert not _has_xla_convolution(models.create(name, small_input=True, conv_impl='im2col'))


def test_conv_impl_gives_the_same_numbers():
  x, expected, variables = _tv_case(np.load(FIXTURES / 'torchvision_blocks.npz'), 'bottleneck')
  block = Bottleneck(4, 2, conv_layer=conv_factory('im2col'), norm_layer=norm_factory(train=False))
  out = jax.jit(block.apply, compiler_options=FAST_COMPILE)(variables, x)
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)
  # The default 'fast' keeps XLA's conv where it measured fastest (ResNet's 64-channel stage).
  assert _has_xla_convolution(models.create('resnet18', small_input=True))
  with pytest.raises(ValueError, match='conv impl'):
    jax.eval_shape(models.create('resnet18', conv_impl='nonsense').init, key(0), x[:1])


# name -> (kwargs, layer whose output shows the small-image geometry, its shape at 32x32x1)
SMALL_VARIANTS = {
    'alexnet': (SMALL, 'features/12', (3, 3, 256)),
    'vgg11_bn': (SMALL, 'features/28', (1, 1, 512)),
    'resnet18': (SMALL, 'layer4', (4, 4, 512)),
    'resnet50': (SMALL, 'layer4', (4, 4, 2048)),
    'googlenet': (dict(SMALL, aux_logits=True), 'inception5b', (4, 4, 1024)),
    'mobilenet_v1': (SMALL, 'block_13', (2, 2, 1024)),
    'mobilenet_v2': (SMALL, 'features/18', (4, 4, 1280)),
}


@pytest.mark.parametrize('name', sorted(SMALL_VARIANTS))
def test_small_image_variants_any_classes_and_channels(name):
  kwargs, layer, shape = SMALL_VARIANTS[name]
  model = models.create(name, num_classes=7, **kwargs)
  rows = {r.layer: r for r in models.summarize(model, (32, 32, 1), depth=2)}
  assert rows[layer].shape == shape
  out = jax.eval_shape(lambda x: model.init_with_output(jax.random.key(0), x)[0],
                       jax.ShapeDtypeStruct((2, 32, 32, 5), jnp.float32))
  assert (out.shape, out.dtype) == ((2, 7), jnp.float32)


def test_reference_stem_on_tiny_images_names_the_failing_layer():
  with pytest.raises(InputShapeError, match="features/"):
    models.check_input_shape(models.create('alexnet'), (32, 32, 3))
  models.check_input_shape(models.create('alexnet', small_input=True), (32, 32, 3))


def _tiny(name, **kwargs):
  widths = {'alexnet': dict(width_multiplier=1 / 16), 'resnet18': dict(width_multiplier=0.125),
            'googlenet': dict(width_multiplier=0.125), 'mobilenet_v2': dict(alpha=0.25)}
  return models.create(name, num_classes=5, small_input=True, **widths.get(name, {}), **kwargs)


def test_train_flag_drives_batch_norm():
  """train=True: batch statistics normalise and the running ones move by PyTorch's momentum
  0.1 (Flax 0.9); train=False: running statistics, so each example is independent."""
  model = _tiny('resnet18')
  x = jax.random.uniform(key(0), (4, 32, 32, 3))
  variables = numpy_variables(model, x)

  @jax.jit(compiler_options=FAST_COMPILE)
  def run(variables, x):
    train_out, state = model.apply(variables, x, train=True, mutable=['batch_stats'])
    train_one = model.apply(variables, x[:1], train=True, mutable=['batch_stats'])[0]
    stem = jax.lax.conv_general_dilated(x, variables['params']['conv1']['kernel'], (1, 1),
                                        ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return (train_out, train_one, state, stem.mean(axis=(0, 1, 2)),
            model.apply(variables, x, train=False), model.apply(variables, x[:1], train=False))

  train_out, train_one, state, batch_mean, eval_out, eval_one = run(variables, x)
  moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), state['batch_stats'],
                       variables['batch_stats'])
  assert all(jax.tree.leaves(moved))  # every running statistic moved
  np.testing.assert_allclose(state['batch_stats']['bn1']['mean'], 0.1 * batch_mean,
                             rtol=1e-4, atol=1e-6)  # 0.9 * 0 + 0.1 * batch mean
  np.testing.assert_allclose(eval_out[:1], eval_one, rtol=1e-5, atol=1e-6)
  assert not np.allclose(train_out[:1], train_one)


@pytest.mark.parametrize('name', ['alexnet', 'vgg11'])
def test_train_flag_drives_dropout(name):
  model = _tiny(name) if name != 'vgg11' else models.create(
      'vgg11', num_classes=5, small_input=True, width_multiplier=1 / 16)
  x = jax.random.uniform(key(0), (2, 32, 32, 3))
  variables = numpy_variables(model, x)
  mutable = ['batch_stats'] if 'batch_stats' in variables else False

  @jax.jit(compiler_options=FAST_COMPILE)
  def run(variables, key):
    train = model.apply(variables, x, train=True, rngs={'dropout': key}, mutable=mutable)
    return train[0] if mutable else train, model.apply(variables, x, train=False)

  (first, eval_first), (second, eval_second) = run(variables, key(2)), run(
      variables, key(3))
  assert not np.allclose(first, second)
  np.testing.assert_array_equal(eval_first, eval_second)


def test_googlenet_auxiliary_heads_run_in_training_only():
  model = _tiny('googlenet', aux_logits=True)
  x = jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(model.init, key(1), x)
  assert {'aux1', 'aux2'} <= set(variables['params'])
  train = jax.eval_shape(lambda v, x: model.apply(
      v, x, train=True, return_aux=True, rngs={'dropout': key(2)},
      mutable=['batch_stats'])[0], variables, x)
  assert [o.shape for o in train] == [(2, 5)] * 3  # logits, aux2, aux1
  logits, aux2, aux1 = jax.eval_shape(lambda v, x: model.apply(v, x, return_aux=True), variables, x)
  assert aux1 is None and aux2 is None and logits.shape == (2, 5)


def test_features_by_torchvision_layer_name():
  model = _tiny('resnet18')
  x = jax.random.uniform(key(0), (2, 32, 32, 3))
  variables = numpy_variables(model, x)
  names = ['layer1', 'layer2/0', 'layer2/0/downsample', 'fc']
  acts, logits = jax.jit(lambda v, x: (models.features(model, v, x, names), model.apply(v, x)),
                         compiler_options=FAST_COMPILE)(variables, x)
  assert {k: v.shape for k, v in acts.items()} == {
      'layer1': (2, 32, 32, 8), 'layer2/0': (2, 16, 16, 16), 'layer2/0/downsample': (2, 16, 16, 16),
      'fc': (2, 5)}
  np.testing.assert_allclose(acts['fc'], logits, rtol=1e-5, atol=1e-6)


def test_indexed_sequential_names_by_position_and_rejects_instances():
  layers = (functools.partial(nn.Dense, 3), nn.relu, functools.partial(nn.Dense, 2))
  params = IndexedSequential(layers).init(key(0), jnp.ones((1, 4)))['params']
  assert sorted(params) == ['0', '2']
  with pytest.raises(TypeError, match='functools.partial'):
    IndexedSequential((nn.Dense(3),)).init(key(0), jnp.ones((1, 4)))


# One model per family: (name, depth-2 rows that must appear with their activation shapes).
SUMMARY_ROWS = {
    'alexnet': {'features/0': (55, 55, 64), 'features/12': (6, 6, 256), 'avgpool': (6, 6, 256),
                'classifier/6': (1000,)},
    'vgg16_bn': {'features/0': (224, 224, 64), 'features/43': (7, 7, 512), 'classifier/6': (1000,)},
    'resnet50': {'maxpool': (56, 56, 64), 'layer1/0': (56, 56, 256), 'layer4/2': (7, 7, 2048),
                 'fc': (1000,)},
    'googlenet': {'maxpool2': (28, 28, 192), 'inception3a': (28, 28, 256),
                  'inception4e': (14, 14, 832), 'inception5b': (7, 7, 1024), 'fc': (1000,)},
    'mobilenet_v1': {'conv1': (112, 112, 32), 'block_13': (7, 7, 1024), 'conv_preds': (1, 1, 1000)},
    'mobilenet_v2': {'features/0': (112, 112, 32), 'features/17': (7, 7, 320),
                     'features/18': (7, 7, 1280), 'classifier/1': (1000,)},
}


@pytest.mark.parametrize('name', sorted(SUMMARY_ROWS))
def test_summary_table_has_the_reference_shapes_and_total(name):
  rows = models.summarize(models.create(name), (224, 224, 3), depth=2)
  assert rows[0].layer == 'Input' and rows[-1].layer == 'Total'
  shapes = {r.layer: r.shape for r in rows}
  assert {k: shapes.get(k) for k in SUMMARY_ROWS[name]} == SUMMARY_ROWS[name]
  assert rows[-1].params == REFERENCE_PARAMS.get(name, 138_365_992)  # vgg16_bn: torchvision's
  text = models.format_summary(rows)
  assert 'Total' in text and f'{rows[-1].params:,}' in text


def test_every_registered_model_is_summarised_by_the_config():
  import runpy
  get_config = runpy.run_path(str(pathlib.Path(__file__).parents[1] / 'experiments' / 'summary.py'))['get_config']
  for name in models.names():
    assert get_config(name).model.name == name


def test_model_benchmark_suite_builds_every_workload_and_a_real_train_step():
  from cnn_jax.benchmarks import models as suite
  from conftest import load_config
  full = suite.cases(load_config('bench_models', None))  # builds models only: nothing traced
  assert len(full) == 2 * len(suite.WORKLOADS)  # impls default and xla
  assert 'resnet50 224px b8 train' in {c.name for c in full}
  smoke = suite.cases(load_config('bench_models', 'smoke'))
  assert {(c.name, c.impl) for c in smoke} == {
      (f'{m} 32px b4 train', impl) for m in ('resnet18', 'mobilenet_v2')
      for impl in ('default', 'xla')}
  default = next(c for c in smoke if c.impl == 'default')
  assert callable(default.compiler_options)  # the runner's choice (off in the suite: XLA's own)
  assert default.compiler_options(default.args()) == {}
  assert default.info['step_options'] == 'default'
  assert all(c.compiler_options is None for c in smoke if c.impl != 'default')
  args = smoke[0].args()
  params, state, _, loss = jax.eval_shape(smoke[0].fn, *args)
  assert loss.shape == () and jax.tree.structure(params) == jax.tree.structure(args[0])
  assert set(state) == {'batch_stats'}
  memory = suite.compiled_memory_mb(jax.jit(lambda x: (x @ x.T).sum()).lower(jnp.ones((64, 64))).compile())
  assert memory['argument_mb'] == pytest.approx(64 * 64 * 4 / 1e6, abs=0.01)


@pytest.mark.parametrize('window', [(2, 2), (2, 3)])
def test_block_max_pool_equals_reduce_window_bit_for_bit_with_ties(window):
  """MaxPool's non-overlapping fast path (`nn.pooling.block_max_pool`) against lax's
  reduce_window max (flax's nn.max_pool): values and gradients, ReLU-zero and positive ties
  included (the gradient goes to the first maximum, as select-and-scatter does)."""
  from cnn_jax.nn.pooling import block_max_pool
  x = jax.random.normal(key(0), (2, 8, 12, 3))
  x = jnp.where(x < 0.3, 0.0, x).at[:, :2, :3].set(1.5)
  dy = jax.random.normal(key(1), (2, 8 // window[0], 12 // window[1], 3))
  ours, ours_vjp = jax.vjp(lambda x: block_max_pool(x, window), x)
  ref, ref_vjp = jax.vjp(lambda x: nn.max_pool(x, window, window), x)
  np.testing.assert_array_equal(ours, ref)
  np.testing.assert_array_equal(ours_vjp(dy)[0], ref_vjp(dy)[0])
  assert MaxPool(window).apply({}, x).shape == ref.shape
