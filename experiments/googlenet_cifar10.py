r"""GoogLeNet (32x32 variant) on CIFAR-10 through TFDS.

SGD momentum 0.9, lr 0.1, weight decay 5e-4 on kernels only, dropout 0.2, no auxiliary
heads, no label smoothing, 200 epochs (the CIFAR recipe of kuangliu/pytorch-cifar).
Data, batch (128), augmentation (pad-and-crop + flip), warmup and cosine over 200 epochs as
experiments/_cifar10.py (the shared recipe); needs a prepared TFDS cifar10 (see there).
With `--config.model.aux_logits=True` the two auxiliary heads train too, each adding
config.loss.aux_weight (0.3, the paper's) times its cross-entropy to the loss.
Command:
  python launch.py --config experiments/googlenet_cifar10.py --workdir runs/googlenet_cifar10
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
      name='googlenet', num_classes=10, small_input=True, width_multiplier=1.0, conv_impl='auto'))
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
