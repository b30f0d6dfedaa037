r"""VGG-16 on ImageNet through TFDS, the paper's recipe (`:vgg19_bn` etc. for others).

Simonyan & Zisserman: SGD momentum 0.9, batch 256, lr 0.01, weight decay 5e-4 on kernels
only, dropout 0.5, no label smoothing, 74 epochs (cosine instead of /10 on plateaus).
torchvision's figures: vgg16 71.6%, vgg16_bn 73.4% top-1.
Data (TFDS imagenet2012 at 224x224, batch 256), warmup and cosine as
experiments/_imagenet.py (the shared recipe: host Inception crop + flip, validation
split, the data directory layout).
Command:
  python launch.py --config experiments/vgg_imagenet.py --workdir runs/vgg_imagenet
`:smoke` is a 2-step tiny variant at 64x64.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_imagenet.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  model = arg if arg and arg != 'smoke' else 'vgg16'
  c = _RECIPE['recipe'](arg == 'smoke')
  epoch = _RECIPE['STEPS_PER_EPOCH']
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=1000, width_multiplier=1.0, conv_impl='auto'))
  c.optimizer.update(learning_rate=0.01, weight_decay=5e-4)
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  else:
    c.schedule.warmup_steps = 1 * epoch
    c.train.steps = 74 * epoch
  return c
