r"""AlexNet (32x32 variant, 1/4 width) on Fashion-MNIST, the original recipe.

SGD momentum 0.9, weight decay 5e-4, dropout 0.5 in the classifier, no label smoothing
(Krizhevsky et al.; torchvision trains it at lr 0.01). No batch norm in AlexNet, so the
learning rate stays at 0.01 after a 100-step warmup. small_input: first conv 3x3/1, 1x1
adaptive pool (see cnn_jax/models/alexnet.py). 1.28 M parameters at width 1/4.

Command:
  python launch.py --config experiments/alexnet_fashion_mnist.py --workdir runs/alexnet_fashion_mnist

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
      name='alexnet', num_classes=10, small_input=True, width_multiplier=0.25, dropout=0.5,
      conv_impl='auto'))
  c.optimizer.update(learning_rate=0.01, nesterov=False)
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
