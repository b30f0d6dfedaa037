r"""MobileNetV2 (or `:mobilenet_v1`) on ImageNet through TFDS, torchvision's recipe.

SGD momentum 0.9, batch 256, lr 0.045, weight decay 4e-5 on kernels only, 300 epochs
(cosine instead of torchvision's 0.98 per epoch), no label smoothing, dropout 0.2.
torchvision's figure for MobileNetV2: 71.9% top-1 (Keras' v1: 70.4%).
Data (TFDS imagenet2012 at 224x224, batch 256), warmup and cosine as
experiments/_imagenet.py (the shared recipe: host Inception crop + flip, validation
split, the data directory layout).
Command:
  python launch.py --config experiments/mobilenet_imagenet.py --workdir runs/mobilenet_imagenet
`:smoke` is a 2-step tiny variant at 64x64.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_imagenet.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  model = arg if arg and arg != 'smoke' else 'mobilenet_v2'
  c = _RECIPE['recipe'](arg == 'smoke')
  epoch = _RECIPE['STEPS_PER_EPOCH']
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=1000, alpha=1.0, conv_impl='auto'))
  c.optimizer.update(learning_rate=0.045, weight_decay=4e-5)
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.alpha = 0.25
  else:
    c.schedule.warmup_steps = 5 * epoch
    c.train.steps = 300 * epoch
  return c
