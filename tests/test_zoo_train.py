"""Every zoo family trains: its `:smoke` config's model, loss and optimizer (the classification
task's own loss_fn and the train library's optimizer) take a few steps on one real MNIST batch
and the loss falls. The TFDS recipe configs build; one (AlexNet CIFAR-10 smoke on mock
data) runs end to end through the classification task.

Kept cheap on a 2-core CPU: variables start from He-normal numpy arrays of the shapes
`jax.eval_shape(model.init)` gives (the real initializers' compile would dominate), and the
step compiles at XLA's lowest backend optimisation level.
"""
import jax
import numpy as np
import pytest

from cnn_jax.data import sources
from cnn_jax.data.transforms import prepare_images
from cnn_jax.tasks import _supervised, classification
from cnn_jax.train import optim
from conftest import load_config
from zoo_testing import FAST_COMPILE, numpy_variables

# GoogLeNet's and MobileNetV2's compiles are the longest (~25 s each): run with pytest -m slow.
FAMILIES = ['alexnet', 'vgg', 'resnet', pytest.param('googlenet', marks=pytest.mark.slow),
            'mobilenet_v1', pytest.param('mobilenet_v2', marks=pytest.mark.slow)]
STEPS = 5


@pytest.fixture(scope='module')
def mnist_batch():
  """8 real MNIST digits (one per class 0..7), fitted to 32x32x1 as the configs ask."""
  train = sources.load('mnist').train
  labels = train.get(np.arange(len(train)))['label']
  idx = np.array([np.flatnonzero(labels == k)[0] for k in range(8)])
  batch = train.get(idx)
  return {'image': prepare_images(batch['image'], 32, 'pad', 1), 'label': batch['label']}


@pytest.mark.parametrize('family', FAMILIES)
def test_family_trains_and_loss_falls(family, mnist_batch):
  config = load_config(f'{family}_fashion_mnist', 'smoke')
  model = _supervised.build_model(config, num_classes=10)
  key = jax.random.key(config.seed, impl='rbg')  # fast-compiling generator on CPU
  variables = numpy_variables(model, mnist_batch['image'])
  params = variables.pop('params')
  tx, _ = optim.make_optimizer(config.optimizer, config.schedule, STEPS)
  loss_fn = _supervised.make_loss_fn(classification.Classification(config), model)

  @jax.jit(compiler_options=FAST_COMPILE)
  def step(params, model_state, opt_state, key):
    (loss, (model_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, model_state, mnist_batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p + u, params, updates), model_state, opt_state, loss

  opt_state, losses = tx.init(params), []
  for i in range(STEPS):
    params, variables, opt_state, loss = step(params, variables, opt_state, jax.random.fold_in(key, i))
    losses.append(float(loss))
  assert np.all(np.isfinite(losses)), losses
  assert losses[-1] < losses[0], losses
  if variables:  # batch statistics moved in training
    assert 'batch_stats' in variables


TFDS_CONFIGS = [f'{f}_{d}' for f in ('alexnet', 'vgg', 'resnet', 'googlenet') for d in ('cifar10', 'imagenet')] + [
    'mobilenet_v1_cifar10', 'mobilenet_v2_cifar10', 'mobilenet_imagenet']


@pytest.mark.parametrize('name', TFDS_CONFIGS)
def test_tfds_recipe_configs_build(name):
  """Full and smoke configs: model, input size, optimizer, schedule and augmentation build."""
  from cnn_jax import models
  from cnn_jax.data.transforms import host_augment
  from cnn_jax.ops.augment import make_augment, parse_spec
  for arg in (None, 'smoke'):
    config = load_config(name, arg)
    assert config.data.name == ('tfds:cifar10' if name.endswith('cifar10') else 'tfds:imagenet2012')
    model = _supervised.build_model(config, 10 if name.endswith('cifar10') else 1000)
    models.check_input_shape(model, (config.data.image_size, config.data.image_size, 3))
    optim.make_optimizer(config.optimizer, config.schedule, config.train.steps)
    if name.endswith('imagenet'):  # Inception crop + flip of the decoded image on the host
      assert host_augment(config.data.host_augment, config.data.image_size) is not None
      assert not {'random_resized_crop', 'flip_lr'} & {s for s, _ in parse_spec(config.data.augment)}
    else:
      assert make_augment(config.data.augment).steps
    assert config.optimizer.name == 'momentum' and not config.optimizer.decay_norm_and_bias


def test_cifar10_smoke_config_runs_through_the_classification_task(tmp_path):
  """A TFDS recipe end to end (mock CIFAR-10, on-device augmentation, eval, checkpoints)."""
  import tensorflow_datasets as tfds
  config = load_config('alexnet_cifar10', 'smoke')
  with tfds.testing.mock_data(num_examples=16):
    result = classification.run(config, str(tmp_path))
  assert int(result.state.step) == config.train.steps and int(result.eval['count']) == 16
  assert (tmp_path / 'metrics.jsonl').exists() and (tmp_path / 'curves.png').exists()
