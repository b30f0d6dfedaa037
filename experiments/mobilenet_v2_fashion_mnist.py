r"""MobileNetV2 (32x32 variant, alpha 0.5) on Fashion-MNIST.

SGD momentum 0.9, weight decay 4e-5 (torchvision's MobileNetV2 recipe; not on batch norm
or biases), label smoothing 0.1, dropout 0.2. small_input: features.0 and the first
24-channel block at stride 1 (32 -> 4x4 at features.18). conv_impl='taps': on CPU, XLA's
depthwise-convolution gradients are several times slower (measured in docs/zoo.md).
0.70 M parameters at alpha 0.5.

Command:
  python launch.py --config experiments/mobilenet_v2_fashion_mnist.py --workdir runs/mobilenet_v2_fashion_mnist

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
      name='mobilenet_v2', num_classes=10, small_input=True, alpha=0.5, conv_impl='taps'))
  c.optimizer.weight_decay = 4e-5
  if arg == 'smoke':
    c.model.alpha = 0.25
  return c
