r"""ResNet-50 on ImageNet (ILSVRC-2012) through TensorFlow Datasets, torchvision's recipe.

SGD momentum 0.9, batch 256, lr 0.1 (x batch / 256, Goyal et al.), weight decay 1e-4 on
kernels only (no decay on batch-norm params and biases), 5-epoch linear warmup then cosine
over 90 epochs, label smoothing 0.1, zero-initialised last BN of each block; augmentation on
the host, from each decoded image of any size: the Inception crop (area 8-100%, aspect
3/4-4/3) resized to 224x224 + horizontal flip; evaluation on 'validation': shorter side 256,
centre 224 crop (experiments/_imagenet.py). torchvision's figures for ResNet-50 v1.5: 76.1% top-1 (its 90-epoch step
schedule), 80.9% with its longer "new recipe".
`:<model>` picks another registered model with the same recipe (e.g. `:resnet18`, `:resnet152`).

Needs a prepared TFDS imagenet2012 (manual download + `tfds build imagenet2012
--file_format=array_record`; --config.data.dir=<its data dir>; the directory layout:
experiments/_imagenet.py). Offline this stops with an error that says so.
Command:
  python launch.py --config experiments/resnet_imagenet.py --workdir runs/resnet_imagenet
`:smoke` is a 2-step, 1/16-width, 64x64 variant.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_imagenet.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  model = arg if arg and arg != 'smoke' else 'resnet50'
  c = _RECIPE['recipe'](arg == 'smoke')
  epoch = _RECIPE['STEPS_PER_EPOCH']
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=1000, zero_init_residual=True, width_multiplier=1.0,
      conv_impl='auto'))
  del epoch  # the recipe's schedule as it is
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  return c
