r"""GoogLeNet / Inception v1 (32x32 variant, 1/4 width) on Fashion-MNIST.

SGD momentum 0.9, weight decay 5e-4 (not on batch norm or biases), dropout 0.2 before fc,
no label smoothing, no auxiliary heads (torchvision's batch-norm GoogLeNet trains without
needing them). small_input: conv1 stride 1, no maxpool1, so the inception stages run at
16/8/4 cells. 0.36 M parameters at width 1/4.

With `--config.model.aux_logits=True` the two auxiliary heads train too, each adding
config.loss.aux_weight (0.3, the paper's) times its cross-entropy to the loss.
Command:
  python launch.py --config experiments/googlenet_fashion_mnist.py --workdir runs/googlenet_fashion_mnist

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
      name='googlenet', num_classes=10, small_input=True, width_multiplier=0.25,
      aux_logits=False, conv_impl='auto'))
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
