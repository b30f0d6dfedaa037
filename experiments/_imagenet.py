r"""The ImageNet recipe shared by the *_imagenet experiments (not an experiment itself).

Goyal et al. / torchvision's ResNet-50 reference: SGD momentum 0.9, batch 256, lr 0.1 x
batch / 256, weight decay 1e-4 on kernels only, 5-epoch linear warmup then cosine over 90
epochs, label smoothing 0.1, random-resized-crop + flip at 224 px. Needs a prepared TFDS
imagenet2012 (manual download; --config.data.dir=<its data dir>). Offline this stops with an
error that says so. Keys: experiments/_classification.py.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))
TRAIN_IMAGES = 1_281_167
BATCH = 256
STEPS_PER_EPOCH = TRAIN_IMAGES // BATCH  # 5,004


def recipe(smoke: bool) -> ml_collections.ConfigDict:
  """The recipe; `smoke`: the tests' 2-step variant (64 px, batch 8)."""
  c = _FAMILY['base']()
  c.data.update(name='tfds:imagenet2012', image_size=224, resize='resize', channels=3,
                batch_size=BATCH, eval_batch_size=1000,
                augment='random_resized_crop(scale=(0.08, 1.0))|flip_lr')
  c.loss.label_smoothing = 0.1
  c.optimizer.update(name='momentum', learning_rate=0.1 * BATCH / 256, momentum=0.9,
                     nesterov=False, weight_decay=1e-4, decay_norm_and_bias=False)
  c.schedule.update(name='cosine', warmup_steps=5 * STEPS_PER_EPOCH, end_fraction=0.0)
  c.train.update(steps=90 * STEPS_PER_EPOCH, log_every=100, eval_every=5 * STEPS_PER_EPOCH,
                 checkpoint_every=STEPS_PER_EPOCH)
  if smoke:
    _FAMILY['smoke'](c, steps=2)
    c.data.image_size = 64
    c.train.log_every = 1
  return c
