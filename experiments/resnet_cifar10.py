r"""ResNet-18 (CIFAR stem) on CIFAR-10 through TensorFlow Datasets, the standard CIFAR recipe.

He et al. 2015 (sec. 4.2) as most CIFAR ResNet-18s train it: SGD momentum 0.9 (Nesterov),
batch 128, lr 0.1, weight decay 5e-4 on kernels only (no decay on batch-norm params and
biases), 1-epoch linear warmup then cosine to 0 over 200 epochs (78,200 steps), no label
smoothing; augmentation on device: random crop from 4-pixel zero padding + horizontal flip.
Reference accuracy of this recipe: about 95% (e.g. kuangliu/pytorch-cifar reports 95.4%).
`:<model>` picks another registered model with the same recipe (e.g. `:resnet50`).

Needs a prepared TFDS cifar10 (`tfds build cifar10 --file_format=array_record` where there is
network; --config.data.dir=<its data dir>). Offline this stops with an error that says so.
Command:
  python launch.py --config experiments/resnet_cifar10.py --workdir runs/resnet_cifar10
`:smoke` is a 4-step, 1/16-width variant (the tests run it on tfds.testing.mock_data).
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_cifar10.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  model = arg if arg and arg != 'smoke' else 'resnet18'
  c = _RECIPE['recipe'](arg == 'smoke')
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=10, small_input=True, width_multiplier=1.0, conv_impl='auto'))
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
