r"""AlexNet (32x32 variant) on CIFAR-10 through TFDS, the AlexNet recipe.

SGD momentum 0.9, lr 0.01 (no batch norm in AlexNet), weight decay 5e-4 on kernels only,
dropout 0.5, no label smoothing (Krizhevsky et al. 2012), 100 epochs.
Data, batch (128), augmentation (pad-and-crop + flip), warmup and cosine over 100 epochs as
experiments/_cifar10.py (the shared recipe); needs a prepared TFDS cifar10 (see there).
Command:
  python launch.py --config experiments/alexnet_cifar10.py --workdir runs/alexnet_cifar10
`:smoke` is a 4-step tiny variant (the tests run it on tfds.testing.mock_data).
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_cifar10.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  c.model = ml_collections.ConfigDict(dict(
      name='alexnet', num_classes=10, small_input=True, width_multiplier=1.0, conv_impl='auto'))
  c.optimizer.update(learning_rate=0.01, nesterov=False)
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  else:
    c.train.steps = 100 * _RECIPE['STEPS_PER_EPOCH']
  return c
