r"""AlexNet (32x32 variant) on CIFAR-10 through TFDS, the AlexNet recipe.

SGD momentum 0.9, lr 0.01 (no batch norm in AlexNet), weight decay 5e-4 on kernels only,
dropout 0.5, no label smoothing (Krizhevsky et al. 2012), 100 epochs.
Data, batch (128), augmentation (pad-and-crop + flip), warmup and cosine over 100 epochs as
experiments/resnet_cifar10.py; needs a prepared TFDS cifar10 (see there).
Command:
  python launch.py --config experiments/alexnet_cifar10.py --workdir runs/alexnet_cifar10
`:smoke` is a 4-step tiny variant (the tests run it on tfds.testing.mock_data).
"""
import os
import runpy

import ml_collections

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), 'resnet_cifar10.py'))
STEPS_PER_EPOCH = _BASE['STEPS_PER_EPOCH']


def get_config(arg: str | None = None):
  c = _BASE['get_config']('smoke' if arg == 'smoke' else None)
  c.model = ml_collections.ConfigDict(dict(
      name='alexnet', num_classes=10, small_input=True, width_multiplier=1.0, conv_impl='xla'))
  c.optimizer.update(learning_rate=0.01, nesterov=False)
  c.train.steps = 100 * STEPS_PER_EPOCH
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
    c.train.steps = 4
  return c
