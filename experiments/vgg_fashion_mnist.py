r"""VGG-11 with batch norm (32x32 variant, 1/4 width) on Fashion-MNIST.

SGD momentum 0.9, weight decay 5e-4 (not on batch norm or biases), dropout 0.5, no label
smoothing (VGG's recipe; batch norm allows lr 0.05 at batch 64). small_input: 1x1 adaptive
pool, so the classifier takes 128 features (512 at full width). 1.77 M parameters at 1/4.

Command:
  python launch.py --config experiments/vgg_fashion_mnist.py --workdir runs/vgg_fashion_mnist

Recipe on top of experiments/_fashion_mnist.py (the shared data: Fashion-MNIST 32x32x1,
batch 64, 800 steps, SGD momentum, no weight decay on batch-norm params and biases, warmup
+ cosine). Time and result on a 2-core CPU: see docs/zoo.md. `:smoke` is the tests' variant.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_fashion_mnist.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  c.model = ml_collections.ConfigDict(dict(
      name='vgg11_bn', num_classes=10, small_input=True, width_multiplier=0.25, dropout=0.5,
      conv_impl='auto'))
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
