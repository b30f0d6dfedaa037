r"""Shared recipe of the transfer_mobilenet_* experiments (not an experiment itself).

ImageNet MobileNetV2 (torchvision's weights, read offline from a pip data carrier) on
MNIST-5k digits resized to 64x64 and repeated to RGB, with only N labelled training images
per class (N = 10, 50 or 200: the config argument), tested on the 1,000 test digits.
Three regimes, one file each, same data, steps and optimizer:
  probe     ImageNet backbone frozen (weights and batch-norm statistics), new head trained
  finetune  ImageNet backbone trained at 0.1x the head's learning rate
  scratch   the same network from random initialisation
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))
REGIMES = ('probe', 'finetune', 'scratch')


def transfer_config(regime: str, arg: str | None) -> ml_collections.ConfigDict:
  if regime not in REGIMES:
    raise ValueError(f'Unknown regime {regime!r}; choose one of {REGIMES}.')
  smoke = arg == 'smoke'
  per_class = 2 if smoke else int(arg or 50)
  c = _FAMILY['base']()
  c.model = ml_collections.ConfigDict(dict(
      name='mobilenet_v2', num_classes=10, conv_impl='taps'))  # taps: fast depthwise on CPU
  c.data.update(name='mnist', image_size=64, resize='resize', channels=3, batch_size=32,
                eval_batch_size=200, normalize='imagenet', train_per_class=per_class)
  c.init_from = '' if regime == 'scratch' else 'imagenet'
  c.transfer.reinit = ()  # the 1000-class head is left out of the loaded file
  c.optimizer.update(name='adamw', learning_rate=1e-3, weight_decay=0.05)
  c.optimizer.lr_mults = {'probe': (('features/.*', 0.0),),
                          'finetune': (('features/.*', 0.1),), 'scratch': ()}[regime]
  c.loss.label_smoothing = 0.1
  c.schedule.update(name='cosine', warmup_steps=10, end_fraction=0.0)
  c.train.update(steps=150, log_every=10, eval_every=150, checkpoint_every=150)
  if smoke:
    c.data.update(image_size=32, batch_size=8, eval_batch_size=200)
    c.model.alpha = 0.35 if regime == 'scratch' else 1.0
    c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  return c
