r"""ResNet-18 (CIFAR stem, 1/4 width) on Fashion-MNIST at 32x32, the torchvision-style recipe.

SGD momentum 0.9 (Nesterov), L2 weight decay 5e-4 on kernels only (not on batch-norm
params or biases), linear warmup then cosine decay, label smoothing 0.1 (torchvision's
current ResNet recipe). 28x28 images are zero-padded to 32x32, one channel.
`model.width_multiplier=0.25` (stages 16/32/64/128 channels, 0.70 M parameters) keeps a run
to minutes on a laptop CPU; `--config.model.width_multiplier=1` is the standard CIFAR
ResNet-18 (11.2 M). Needs Debian's dataset-fashion-mnist (or --config.data.name=mnist).

Command:
  python launch.py --config experiments/resnet_fashion_mnist.py --workdir runs/resnet_fashion_mnist

Produces checkpoints/, metrics.jsonl, TensorBoard events, config.json, curves.png,
confusion.png, predictions.png. Time and result on a 2-core CPU: see docs/zoo.md.
`:smoke` is a tiny few-step variant (1/16 width) that the tests run.
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
      name='resnet18', num_classes=10, small_input=True, width_multiplier=0.25,
      zero_init_residual=False, conv_impl='auto'))
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
