r"""MobileNetV2 (32x32 variant) on CIFAR-10 through TFDS.

SGD momentum 0.9, lr 0.1, weight decay 5e-4 on kernels only, dropout 0.2, no label
smoothing, 200 epochs (kuangliu/pytorch-cifar's recipe: 94.4%). On a CPU set
conv_impl='auto' (the default) times the formulations once per machine (docs/conv_bench.md).
Data, batch (128), augmentation (pad-and-crop + flip), warmup and cosine over 200 epochs as
experiments/_cifar10.py (the shared recipe); needs a prepared TFDS cifar10 (see there).
Command:
  python launch.py --config experiments/mobilenet_v2_cifar10.py --workdir runs/mobilenet_v2_cifar10
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
      name='mobilenet_v2', num_classes=10, small_input=True, alpha=1.0, conv_impl='auto'))
  if arg == 'smoke':
    c.model.alpha = 0.25
  return c
